// The step-map contract: how a recurrence s_t = f(s_{t-1}, u_t) is handed to kelk.
#pragma once

#include <Kokkos_Core.hpp>

#include <cstddef>
#include <string>
#include <type_traits>
#include <vector>

namespace kelk {

/// \page step_map_contract The step-map contract
///
/// A step map is a copyable functor type `M` (it is copied into Kokkos kernels, so hold
/// Kokkos Views, not host containers) providing:
///
/// \code
///   using value_type = double;           // or float: the scalar type of states and inputs
///   int state_dim() const;               // D >= 1            (called on the host)
///   int input_dim() const;               // Din >= 0          (called on the host)
///   int scratch_size() const;            // scalars of scratch one call may use (host)
///
///   // f = f(s, u)
///   KOKKOS_FUNCTION void step(const value_type* s, const value_type* u,
///                             value_type* f, value_type* scratch) const;
///
///   // optional, needed by deer (and elk): f = f(s, u) and the dense Jacobian
///   // jac[i * D + j] = d f_i / d s_j (row-major D x D)
///   KOKKOS_FUNCTION void jacobian(const value_type* s, const value_type* u, value_type* f,
///                                 value_type* jac, value_type* scratch) const;
///
///   // optional, needed by quasi_deer (and quasi_elk): f = f(s, u) and
///   // diag[i] = d f_i / d s_i, computed without forming the full Jacobian
///   KOKKOS_FUNCTION void jacobian_diagonal(const value_type* s, const value_type* u,
///                                          value_type* f, value_type* diag,
///                                          value_type* scratch) const;
/// \endcode
///
/// Optionally, for quasi_deer and quasi_elk with JacobianStructure::block: f and the D / k
/// diagonal k x k blocks of the Jacobian, block j over state entries [j k, (j + 1) k):
///
/// \code
///   // blocks[(j * k + r) * k + c] = d f_{jk+r} / d s_{jk+c}   (k divides D)
///   KOKKOS_FUNCTION void jacobian_blocks(const value_type* s, const value_type* u, int k,
///                                        value_type* f, value_type* blocks,
///                                        value_type* scratch) const;
/// \endcode
///
/// A map with `jacobian` but without `jacobian_blocks` gets its blocks from the full Jacobian
/// (formed in D*D scalars of extra scratch per thread, as costly as deer's linearisation), so
/// every map with a Jacobian, AutoDiff's included, can use blocks. A map whose Jacobian is
/// cheaper by blocks provides them. Blocks follow the state's order: a map puts the entries it
/// couples strongly next to each other (ALGORITHMS.md section 4.1).
///
/// Every pointer addresses contiguous memory of the solve's memory space: `s` and `f` hold D
/// scalars, `u` holds Din, `jac` D*D, `diag` D, `blocks` D*k, `scratch` scratch_size(). They
/// never alias.
/// The Jacobian functions also return `f` because every practical cell's Jacobian reuses the
/// intermediate values of `f` (gate activations, Runge-Kutta stages).
///
/// The functions run inside kernels on any backend: no exceptions, no allocation, no host-only
/// calls. Kokkos Kernels' batched serial routines (SerialGemv, ...) on unmanaged Views built
/// over the pointers are the intended way to do dense algebra inside them.
///
/// Optionally, a map can evaluate many steps at once with matrix-matrix products (the
/// iterations then linearise all steps through it; the sequential loop keeps using `step`):
///
/// \code
///   int bulk_scratch_size() const;  // scalars of scratch per row (host)
///
///   // Host-called; enqueues its work on `space`. Row r is one step: previous state prev(r, :),
///   // input u(r, :), f(r, :) = f(prev(r, :), u(r, :)). `what` says what else to write into
///   // `out` (nullptr for BulkOutput::value): the diagonals, n x D row-major, or the
///   // Jacobians, n x D x D row-major. scratch is n x bulk_scratch_size().
///   template <class ExecutionSpace>
///   void bulk(const ExecutionSpace& space, const BulkRows<const value_type, MemorySpace>& prev,
///             const BulkRows<const value_type, MemorySpace>& u,
///             const BulkRows<value_type, MemorySpace>& f,
///             const BulkRows<value_type, MemorySpace>& scratch, BulkOutput what,
///             value_type* out) const;
/// \endcode
///
/// It must agree with `step`, `jacobian` and `jacobian_diagonal` to round-off (summation order
/// may differ). The built-in Elman and GRU maps implement it with KokkosBlas::gemm, which runs
/// the host BLAS when Kokkos Kernels was built with it.
///
/// Optionally, a map of the form f(s, u) = g(s, W s, V u), with W (P x D) and V (P x Din) its
/// stacked recurrent and input weights (an RNN cell: P = D for Elman, 3D for a GRU), can say
/// so; the `sequential` method then projects the inputs of a whole tile of steps with one
/// matrix product, and per step computes W s in one pass over W (for a batch of sequences:
/// one matrix product over the batch) and finishes with g:
///
/// \code
///   using memory_space = ...;    // where the weights live
///   int projection_dim() const;  // P (host)
///   // host, called once per solve: W (P x D) and V (P x Din), row-major, in memory_space
///   Kokkos::View<const value_type**, Kokkos::LayoutRight, memory_space> recurrent_weights() const;
///   Kokkos::View<const value_type**, Kokkos::LayoutRight, memory_space> input_weights() const;
///   // f = g(s, ws, vu) from ws = W s and vu = V u (P scalars each; the map adds its biases)
///   KOKKOS_FUNCTION void finish_step(const value_type* s, const value_type* ws,
///                                    const value_type* vu, value_type* f) const;
/// \endcode
///
/// finish_step(s, W s, V u, f) must equal step(s, u, f, scratch) to round-off.
///
/// Optionally (needed by kelk::solve_adjoint), a vector-Jacobian product: for one step and a
/// cotangent lambda of f (D scalars) it *adds* lambda^T df/ds to ds (D), lambda^T df/du to du
/// (Din) and lambda^T df/dtheta to dtheta (the map's parameters, laid out as parameter_layout()
/// says); du and dtheta may be nullptr, and then that part is skipped (the adjoint sweeps need
/// only ds):
///
/// \code
///   int vjp_scratch_size() const;  // scalars of scratch one vjp call may use (host)
///   KOKKOS_FUNCTION void vjp(const value_type* s, const value_type* u,
///                            const value_type* lambda, value_type* ds, value_type* du,
///                            value_type* dtheta, value_type* scratch) const;
///   // optional: the parameters dtheta addresses, in order, each flattened row-major (host)
///   std::vector<kelk::ParameterBlock> parameter_layout() const;
/// \endcode
///
/// The built-in maps name their parameter blocks after the datasets of their model files
/// (docs/FILES.md). A map without parameter_layout() has no parameters (dtheta is never used).
///
/// A map with `bulk` may also evaluate the vector-Jacobian products of a whole tile of steps
/// (solve_adjoint's gradient pass then uses it instead of vjp per step): row r is one step,
/// du(r, :) is overwritten with lambda(r, :)^T df/du (du is empty when no input gradient is
/// wanted), dtheta accumulates the parameter gradient of all rows (nullptr: skip it); f and
/// scratch are bulk()'s buffers. It must agree with vjp() to round-off.
///
/// \code
///   template <class ExecutionSpace>
///   void bulk_vjp(const ExecutionSpace& space, const BulkRows<const value_type, MemorySpace>& prev,
///                 const BulkRows<const value_type, MemorySpace>& u,
///                 const BulkRows<const value_type, MemorySpace>& lambda,
///                 const BulkRows<value_type, MemorySpace>& f,
///                 const BulkRows<value_type, MemorySpace>& scratch,
///                 const BulkRows<value_type, MemorySpace>& du, value_type* dtheta) const;
/// \endcode

/// One named block of a map's parameters: `shape` row-major, flattened into the parameter
/// gradient at the block's offset (the sum of the sizes of the blocks before it).
struct ParameterBlock {
  std::string name;
  std::vector<std::size_t> shape;
  std::size_t size() const {
    std::size_t n = 1;
    for (const std::size_t e : shape) n *= e;
    return n;
  }
};

/// What a bulk evaluation writes besides f.
enum class BulkOutput { value, diagonal, jacobian };

/// Rows of a bulk evaluation: n x width, row-major, unmanaged.
template <class Scalar, class MemorySpace>
using BulkRows = Kokkos::View<Scalar**, Kokkos::LayoutRight, MemorySpace,
                              Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

namespace impl {

template <class M, class = void>
struct has_value_type : std::false_type {};
template <class M>
struct has_value_type<M, std::void_t<typename M::value_type>>
    : std::is_floating_point<typename M::value_type> {};

/// M::value_type, or double for a map without one (so that a signature naming the scalar type
/// does not fail before check_step_map() can say what is missing).
template <class M, class = void>
struct value_type_or_double {
  using type = double;
};
template <class M>
struct value_type_or_double<M, std::void_t<typename M::value_type>> {
  using type = typename M::value_type;
};

template <class M, class = void>
struct has_dims : std::false_type {};
template <class M>
struct has_dims<M, std::void_t<decltype(std::declval<const M&>().state_dim()),
                               decltype(std::declval<const M&>().input_dim()),
                               decltype(std::declval<const M&>().scratch_size())>>
    : std::bool_constant<
          std::is_convertible<decltype(std::declval<const M&>().state_dim()), int>::value &&
          std::is_convertible<decltype(std::declval<const M&>().input_dim()), int>::value &&
          std::is_convertible<decltype(std::declval<const M&>().scratch_size()), int>::value> {};

template <class M, class = void>
struct has_step : std::false_type {};
template <class M>
struct has_step<
    M, std::void_t<decltype(std::declval<const M&>().step(
           std::declval<const typename M::value_type*>(),
           std::declval<const typename M::value_type*>(), std::declval<typename M::value_type*>(),
           std::declval<typename M::value_type*>()))>> : std::true_type {};

template <class M, class = void>
struct has_jacobian : std::false_type {};
template <class M>
struct has_jacobian<
    M, std::void_t<decltype(std::declval<const M&>().jacobian(
           std::declval<const typename M::value_type*>(),
           std::declval<const typename M::value_type*>(), std::declval<typename M::value_type*>(),
           std::declval<typename M::value_type*>(), std::declval<typename M::value_type*>()))>>
    : std::true_type {};

template <class M, class = void>
struct has_jacobian_diagonal : std::false_type {};
template <class M>
struct has_jacobian_diagonal<
    M, std::void_t<decltype(std::declval<const M&>().jacobian_diagonal(
           std::declval<const typename M::value_type*>(),
           std::declval<const typename M::value_type*>(), std::declval<typename M::value_type*>(),
           std::declval<typename M::value_type*>(), std::declval<typename M::value_type*>()))>>
    : std::true_type {};

template <class M, class = void>
struct has_jacobian_blocks : std::false_type {};
template <class M>
struct has_jacobian_blocks<
    M, std::void_t<decltype(std::declval<const M&>().jacobian_blocks(
           std::declval<const typename M::value_type*>(),
           std::declval<const typename M::value_type*>(), 0,
           std::declval<typename M::value_type*>(), std::declval<typename M::value_type*>(),
           std::declval<typename M::value_type*>()))>> : std::true_type {};

template <class M, class ExecutionSpace, class = void>
struct has_bulk : std::false_type {};
template <class M, class ExecutionSpace>
struct has_bulk<
    M, ExecutionSpace,
    std::void_t<decltype(std::declval<const M&>().bulk_scratch_size()),
                decltype(std::declval<const M&>().bulk(
                    std::declval<const ExecutionSpace&>(),
                    std::declval<const BulkRows<const typename M::value_type,
                                                typename ExecutionSpace::memory_space>&>(),
                    std::declval<const BulkRows<const typename M::value_type,
                                                typename ExecutionSpace::memory_space>&>(),
                    std::declval<const BulkRows<typename M::value_type,
                                                typename ExecutionSpace::memory_space>&>(),
                    std::declval<const BulkRows<typename M::value_type,
                                                typename ExecutionSpace::memory_space>&>(),
                    BulkOutput::value, std::declval<typename M::value_type*>()))>>
    : std::true_type {};

template <class M, class = void>
struct has_finish_step : std::false_type {};
template <class M>
struct has_finish_step<
    M, std::void_t<decltype(std::declval<const M&>().finish_step(
           std::declval<const typename M::value_type*>(),
           std::declval<const typename M::value_type*>(),
           std::declval<const typename M::value_type*>(), std::declval<typename M::value_type*>()))>>
    : std::true_type {};

template <class M, class MemorySpace, class = void>
struct has_projected_form : std::false_type {};
template <class M, class MemorySpace>
struct has_projected_form<M, MemorySpace,
                          std::void_t<decltype(std::declval<const M&>().projection_dim()),
                                      decltype(std::declval<const M&>().recurrent_weights()),
                                      decltype(std::declval<const M&>().input_weights())>>
    : std::bool_constant<
          has_finish_step<M>::value &&
          std::is_convertible<decltype(std::declval<const M&>().projection_dim()), int>::value &&
          std::is_convertible<
              decltype(std::declval<const M&>().recurrent_weights()),
              Kokkos::View<const typename M::value_type**, Kokkos::LayoutRight, MemorySpace>>::value &&
          std::is_convertible<
              decltype(std::declval<const M&>().input_weights()),
              Kokkos::View<const typename M::value_type**, Kokkos::LayoutRight, MemorySpace>>::value> {
};

/// The projected form in the map's own memory_space (instantiated only for maps with finish_step).
template <class M>
struct has_complete_projected_form : has_projected_form<M, typename M::memory_space> {};

template <class M, class = void>
struct has_vjp : std::false_type {};
template <class M>
struct has_vjp<
    M, std::void_t<decltype(std::declval<const M&>().vjp_scratch_size()),
                   decltype(std::declval<const M&>().vjp(
                       std::declval<const typename M::value_type*>(),
                       std::declval<const typename M::value_type*>(),
                       std::declval<const typename M::value_type*>(),
                       std::declval<typename M::value_type*>(),
                       std::declval<typename M::value_type*>(),
                       std::declval<typename M::value_type*>(),
                       std::declval<typename M::value_type*>()))>> : std::true_type {};

template <class M, class = void>
struct has_parameter_layout : std::false_type {};
template <class M>
struct has_parameter_layout<M, std::void_t<decltype(std::declval<const M&>().parameter_layout())>>
    : std::is_convertible<decltype(std::declval<const M&>().parameter_layout()),
                          std::vector<ParameterBlock>> {};

}  // namespace impl

/// True when M provides the vector-Jacobian product (needed by kelk::solve_adjoint).
template <class M>
inline constexpr bool provides_vjp_v = impl::has_vjp<M>::value;

/// The parameter blocks of `map` (empty for a map without parameter_layout()).
template <class M>
std::vector<ParameterBlock> parameter_layout(const M& map) {
  if constexpr (impl::has_parameter_layout<M>::value)
    return map.parameter_layout();
  else
    return {};
}

/// The number of scalars in `map`'s parameter gradient.
template <class M>
std::size_t parameter_count(const M& map) {
  std::size_t n = 0;
  for (const auto& block : parameter_layout(map)) n += block.size();
  return n;
}

/// True when M has the projected form f(s, u) = g(s, W s, V u) with its weights in MemorySpace
/// (the optional `projection_dim`, `recurrent_weights`, `input_weights`, `finish_step`).
template <class M, class MemorySpace>
inline constexpr bool provides_projected_form_v = impl::has_projected_form<M, MemorySpace>::value;

namespace impl {
template <class M, class ExecutionSpace, class = void>
struct has_bulk_vjp : std::false_type {};
template <class M, class ExecutionSpace>
struct has_bulk_vjp<
    M, ExecutionSpace,
    std::void_t<decltype(std::declval<const M&>().bulk_vjp(
        std::declval<const ExecutionSpace&>(),
        std::declval<const BulkRows<const typename M::value_type,
                                    typename ExecutionSpace::memory_space>&>(),
        std::declval<const BulkRows<const typename M::value_type,
                                    typename ExecutionSpace::memory_space>&>(),
        std::declval<const BulkRows<const typename M::value_type,
                                    typename ExecutionSpace::memory_space>&>(),
        std::declval<const BulkRows<typename M::value_type, typename ExecutionSpace::memory_space>&>(),
        std::declval<const BulkRows<typename M::value_type, typename ExecutionSpace::memory_space>&>(),
        std::declval<const BulkRows<typename M::value_type, typename ExecutionSpace::memory_space>&>(),
        std::declval<typename M::value_type*>()))>> : has_bulk<M, ExecutionSpace> {};
}  // namespace impl

/// True when M evaluates the vector-Jacobian products of many steps at once (`bulk_vjp`).
template <class M, class ExecutionSpace>
inline constexpr bool provides_bulk_vjp_v = impl::has_bulk_vjp<M, ExecutionSpace>::value;

/// True when M evaluates many steps at once on ExecutionSpace (the optional `bulk`).
template <class M, class ExecutionSpace>
inline constexpr bool provides_bulk_v = impl::has_bulk<M, ExecutionSpace>::value;
/// True when M provides a dense Jacobian (needed by deer and elk).
template <class M>
inline constexpr bool provides_jacobian_v = impl::has_jacobian<M>::value;
/// True when M provides the Jacobian diagonal (needed by quasi_deer and quasi_elk).
template <class M>
inline constexpr bool provides_jacobian_diagonal_v = impl::has_jacobian_diagonal<M>::value;
/// True when M provides diagonal Jacobian blocks of its own (JacobianStructure::block); without
/// them a map with a Jacobian gets its blocks from the full Jacobian.
template <class M>
inline constexpr bool provides_jacobian_blocks_v = impl::has_jacobian_blocks<M>::value;

namespace impl {

// A member function named like a contract function, whatever its signature (a single
// non-template member function: `&M::name` is then well-formed). With the has_* traits above,
// it tells a misspelt signature, which would otherwise be silently ignored, from a missing one.
#define KELK_IMPL_MEMBER_NAMED(name)                                                      \
  template <class M, class = void>                                                        \
  struct has_member_named_##name : std::false_type {};                                    \
  template <class M>                                                                      \
  struct has_member_named_##name<M, std::void_t<decltype(&M::name)>>                      \
      : std::is_member_function_pointer<decltype(&M::name)> {};
KELK_IMPL_MEMBER_NAMED(step)
KELK_IMPL_MEMBER_NAMED(jacobian)
KELK_IMPL_MEMBER_NAMED(jacobian_diagonal)
KELK_IMPL_MEMBER_NAMED(jacobian_blocks)
KELK_IMPL_MEMBER_NAMED(vjp)
KELK_IMPL_MEMBER_NAMED(finish_step)
#undef KELK_IMPL_MEMBER_NAMED

/// The checks of check_step_map() in order; each holds when an earlier one fails (so that only
/// the first problem is reported).
template <class M>
struct step_map_checks {
  static constexpr bool copyable = std::is_copy_constructible<M>::value;
  static constexpr bool value_type = has_value_type<M>::value;
  static constexpr bool dims = !value_type || has_dims<M>::value;
  static constexpr bool step_signature =
      !(value_type && dims) || has_step<M>::value || !has_member_named_step<M>::value;
  static constexpr bool step = !(value_type && dims && step_signature) || has_step<M>::value;
  static constexpr bool mandatory = copyable && value_type && dims && step_signature && step;
  // optional functions: absent is fine, present with another signature is a mistake
  static constexpr bool jacobian =
      !mandatory || has_jacobian<M>::value || !has_member_named_jacobian<M>::value;
  static constexpr bool jacobian_diagonal = !mandatory || has_jacobian_diagonal<M>::value ||
                                            !has_member_named_jacobian_diagonal<M>::value;
  static constexpr bool jacobian_blocks = !mandatory || has_jacobian_blocks<M>::value ||
                                          !has_member_named_jacobian_blocks<M>::value;
  static constexpr bool vjp = !mandatory || has_vjp<M>::value || !has_member_named_vjp<M>::value;
  static constexpr bool finish_step =
      !mandatory || has_finish_step<M>::value || !has_member_named_finish_step<M>::value;
  static constexpr bool projected_form =
      !(mandatory && finish_step) ||
      std::disjunction<std::negation<has_finish_step<M>>,
                       has_complete_projected_form<M>>::value;
  static constexpr bool all =
      mandatory && jacobian && jacobian_diagonal && jacobian_blocks && vjp && finish_step &&
      projected_form;
};

}  // namespace impl

/// True when M meets the step-map contract as check_step_map() checks it.
template <class M>
inline constexpr bool is_step_map_v = impl::step_map_checks<M>::all;

/// Compile-time check of the step-map contract, with messages that say what is missing or which
/// function's signature differs from the contract's (only the first problem is reported).
/// Called by every solver entry point. Returns is_step_map_v<M>.
template <class M>
constexpr bool check_step_map() {
  using checks = impl::step_map_checks<M>;
  static_assert(checks::copyable,
                "kelk: a step map must be copyable (it is captured by value in kernels)");
  static_assert(checks::value_type,
                "kelk: a step map must define `using value_type = double;` (or float): the "
                "scalar type of its states and inputs");
  static_assert(checks::dims,
                "kelk: a step map must provide `int state_dim() const`, `int input_dim() const` "
                "and `int scratch_size() const`");
  static_assert(checks::step_signature,
                "kelk: the step map's `step` does not have the contract's signature; expected "
                "`KOKKOS_FUNCTION void step(const value_type* s, const value_type* u, "
                "value_type* f, value_type* scratch) const` (four pointers, const member)");
  static_assert(checks::step,
                "kelk: a step map must provide `KOKKOS_FUNCTION void step(const value_type* s, "
                "const value_type* u, value_type* f, value_type* scratch) const`");
  static_assert(checks::jacobian,
                "kelk: the step map's `jacobian` does not have the contract's signature, so deer "
                "and elk could not use it; expected `KOKKOS_FUNCTION void jacobian(const "
                "value_type* s, const value_type* u, value_type* f, value_type* jac, value_type* "
                "scratch) const` (five pointers, scratch last, const member)");
  static_assert(checks::jacobian_diagonal,
                "kelk: the step map's `jacobian_diagonal` does not have the contract's "
                "signature, so quasi_deer and quasi_elk could not use it; expected "
                "`KOKKOS_FUNCTION void jacobian_diagonal(const value_type* s, const value_type* "
                "u, value_type* f, value_type* diag, value_type* scratch) const`");
  static_assert(checks::jacobian_blocks,
                "kelk: the step map's `jacobian_blocks` does not have the contract's signature, "
                "so quasi_deer and quasi_elk could not use it; expected `KOKKOS_FUNCTION void "
                "jacobian_blocks(const value_type* s, const value_type* u, int k, value_type* f, "
                "value_type* blocks, value_type* scratch) const`");
  static_assert(checks::vjp,
                "kelk: the step map's `vjp` does not have the contract's signature (or "
                "`int vjp_scratch_size() const` is missing), so solve_adjoint could not use it; "
                "expected `KOKKOS_FUNCTION void vjp(const value_type* s, const value_type* u, "
                "const value_type* lambda, value_type* ds, value_type* du, value_type* dtheta, "
                "value_type* scratch) const`");
  static_assert(checks::finish_step,
                "kelk: the step map's `finish_step` does not have the contract's signature; "
                "expected `KOKKOS_FUNCTION void finish_step(const value_type* s, const "
                "value_type* ws, const value_type* vu, value_type* f) const`");
  static_assert(checks::projected_form,
                "kelk: a step map with `finish_step` (the projected form) must also provide "
                "`int projection_dim() const` and `recurrent_weights()` / `input_weights()` "
                "returning Kokkos::View<const value_type**, Kokkos::LayoutRight, memory_space>");
  return checks::all;
}

}  // namespace kelk
