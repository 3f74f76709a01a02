// kelk::solve_adjoint: gradients of a loss L(s_1..s_T) through the recurrence, with respect to
// the initial states, the inputs and the step map's parameters (ALGORITHMS.md section 12). The
// adjoint recurrence lambda_t = g_t + J_{t+1}^T lambda_{t+1} is linear and solved exactly, by a
// reverse sweep, a reverse affine scan of transposed Jacobians, or reverse block sweeps.
#pragma once

#include <kelk/impl/kelk_block_jacobi.hpp>
#include <kelk/impl/kelk_iteration.hpp>
#include <kelk/impl/kelk_kernels.hpp>
#include <kelk/kelk_affine.hpp>
#include <kelk/kelk_scan.hpp>
#include <kelk/kelk_solve.hpp>
#include <kelk/kelk_step_map.hpp>
#include <kelk/kelk_views.hpp>

#include <Kokkos_Core.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace kelk {

/// How the adjoint recurrence is solved (ALGORITHMS.md section 12).
enum class AdjointMethod {
  sequential,   ///< the reverse sweep t = T..1 (the reference); across ranks in turn
  scan,         ///< a reverse affine scan of the transposed dense Jacobians: O(T D^2) memory
  block_sweeps  ///< reverse sweeps of time blocks, relaxed at block boundaries: no Jacobians
};

inline std::string to_string(AdjointMethod m) {
  switch (m) {
    case AdjointMethod::sequential:
      return "sequential";
    case AdjointMethod::scan:
      return "scan";
    case AdjointMethod::block_sweeps:
      return "block_sweeps";
  }
  return "?";
}

/// The method named `name` ("sequential", "scan", "block_sweeps"); throws
/// std::invalid_argument listing the names otherwise.
inline AdjointMethod parse_adjoint_method(const std::string& name) {
  for (const auto m : {AdjointMethod::sequential, AdjointMethod::scan, AdjointMethod::block_sweeps})
    if (name == to_string(m)) return m;
  throw std::invalid_argument("unknown adjoint method '" + name +
                              "'; known: sequential, scan, block_sweeps");
}

struct AdjointOptions {
  AdjointMethod method = AdjointMethod::block_sweeps;
  int chunks = 0;  ///< scan: time chunks per sequence (0: automatic, as for deer)
  int blocks = 0;  ///< block_sweeps: time blocks per sequence and rank (0: as block_jacobi's)
};

struct AdjointResult {
  AdjointMethod method = AdjointMethod::block_sweeps;
  /// block_sweeps: the sweeps that reran blocks (the last check, which found none to rerun, is
  /// not counted); 1 for the other methods.
  int sweeps = 0;
  /// Vector-Jacobian products the sweeps evaluated, over all ranks (B T for one sweep; the
  /// gradient pass adds B T more, not counted). 0 for the scan.
  std::int64_t steps_swept = 0;
  /// Every adjoint state lambda_t is finite (the gradients are then finite too).
  bool finite = true;
};

/// Where solve_adjoint writes. An empty View skips that output (no dL/du: leave `inputs`
/// empty, and so on); at least one must be given.
template <class Scalar, class MemorySpace = Kokkos::DefaultExecutionSpace::memory_space>
struct Gradients {
  BatchView<Scalar, MemorySpace> s0;              ///< (B, D): dL/ds_0
  SequenceView<Scalar, MemorySpace> inputs;       ///< (B, T, Din): dL/du_t
  Kokkos::View<Scalar*, MemorySpace> parameters;  ///< (parameter_count(map)): dL/dtheta
  /// (B, T, D): the adjoint states lambda_t = dL/ds_t (total derivative); when given, also
  /// the solver's buffer for them (saves B T D scalars).
  SequenceView<Scalar, MemorySpace> adjoint;
};

namespace impl {

/// The adjoint's elements for ChunkedScan, numbered from the end: element i is time
/// t = T - 1 - i, the affine map lambda -> J_{t+1}^T lambda + g_t, with J_t = df/ds at the
/// local step t (J of the step after the block from J_next on a block that does not end the
/// sequences; none at the sequences' last step). The summaries are dense affine ones (A | b).
/// The sweep writes lambda.
template <class Scalar, class MemorySpace>
struct AdjointScanAlgebra {
  using value_type = Scalar;
  Kokkos::View<const Scalar****, Kokkos::LayoutRight, MemorySpace> J;   ///< (B, T, D, D)
  Kokkos::View<const Scalar***, Kokkos::LayoutRight, MemorySpace> J_next;  ///< (B, D, D) or empty
  Kokkos::View<const Scalar***, Kokkos::LayoutRight, MemorySpace> g;    ///< (B, T, D) cotangents
  Kokkos::View<Scalar***, Kokkos::LayoutRight, MemorySpace> lambda;     ///< (B, T, D) out

  KOKKOS_FUNCTION int batch() const { return static_cast<int>(g.extent(0)); }
  KOKKOS_FUNCTION int length() const { return static_cast<int>(g.extent(1)); }
  KOKKOS_FUNCTION int dim() const { return static_cast<int>(g.extent(2)); }
  int summary_size() const { return dim() * dim() + dim(); }
  int state_size() const { return dim(); }
  int scratch_size() const { return dim() * dim() + dim(); }

  KOKKOS_FUNCTION int time(int i) const { return length() - 1 - i; }
  /// J_{t+1} (row-major; the element's matrix is its transpose), nullptr after the last step.
  KOKKOS_FUNCTION const Scalar* jacobian_after(int s, int t) const {
    if (t + 1 < length()) return &J(s, t + 1, 0, 0);
    return J_next.extent(0) > 0 ? &J_next(s, 0, 0) : nullptr;
  }

  KOKKOS_FUNCTION void summarize(int s, int i_begin, int i_end, Scalar* summary,
                                 Scalar* scratch) const {
    const int D = dim();
    Scalar* acc = summary;
    Scalar* next = scratch;
    const int t0 = time(i_begin);
    const Scalar* J0 = jacobian_after(s, t0);
    for (int r = 0; r < D; ++r)
      for (int c = 0; c < D; ++c) acc[r * D + c] = J0 != nullptr ? J0[c * D + r] : Scalar(0);
    impl::copy(&g(s, t0, 0), acc + D * D, D);
    for (int i = i_begin + 1; i < i_end; ++i) {
      const int t = time(i);
      const Scalar* Jt = jacobian_after(s, t);  // t < T - 1: never nullptr
      impl::gemm<Trans::Transpose, Trans::NoTranspose>(Scalar(1), Jt, acc, Scalar(0), next, D);
      impl::copy(&g(s, t, 0), next + D * D, D);
      impl::gemv_t(Scalar(1), Jt, D, D, acc + D * D, Scalar(1), next + D * D);
      Scalar* tmp = acc;
      acc = next;
      next = tmp;
    }
    if (acc != summary) impl::copy(acc, summary, D * D + D);
  }

  KOKKOS_FUNCTION void combine(const Scalar* earlier, const Scalar* later, Scalar* out,
                               Scalar*) const {
    impl::affine_combine(earlier, later, out, dim());
  }

  KOKKOS_FUNCTION void apply(const Scalar* summary, const Scalar* x_in, Scalar* x_out,
                             Scalar*) const {
    impl::affine_apply(summary, x_in, x_out, dim());
  }

  KOKKOS_FUNCTION void sweep(int s, int i_begin, int i_end, const Scalar* x_in, Scalar* x_out,
                             Scalar*) const {
    const int D = dim();
    const Scalar* prev = x_in;  // nullptr at the sequences' end: lambda_T = g_T
    for (int i = i_begin; i < i_end; ++i) {
      const int t = time(i);
      Scalar* l = &lambda(s, t, 0);
      impl::copy(&g(s, t, 0), l, D);
      const Scalar* Jt = jacobian_after(s, t);
      if (prev != nullptr && Jt != nullptr) impl::gemv_t(Scalar(1), Jt, D, D, prev, Scalar(1), l);
      prev = l;
    }
    if (x_out != nullptr) impl::copy(prev, x_out, D);
  }
};

/// Reverse block sweeps of the adjoint recurrence on one rank: B sequences x K blocks of the
/// local steps. A block's sweep runs t = end-1 .. begin: lambda_t = g_t + c, then
/// c = J_t^T lambda_t by the map's vjp, starting from the c its later neighbour passed on (the
/// vjp of that block's first step; zero after the sequences' last step). Sweep 1 runs every
/// block from c = 0; later sweeps rerun the blocks whose incoming c changed (bitwise), each
/// until its new lambda_t equals the stored one (bitwise: the rest of the block is then
/// unchanged). Block k from the end is final after sweep k, so the sweeps stop after at most
/// (blocks along the sequences) + 1, and the result is the reverse sweep's bit for bit.
/// With K = 1 and the incoming c from the next rank this is the sequential reverse sweep.
template <class ExecutionSpace, class StepMap>
class AdjointSweeps {
 public:
  using Scalar = typename StepMap::value_type;
  using memory_space = typename ExecutionSpace::memory_space;
  using Problem_ = Problem<ExecutionSpace, StepMap>;

  AdjointSweeps(const ExecutionSpace& space, const Problem_& p, int blocks)
      : space_(space),
        K_(blocks),
        used_(alloc("kelk::adjoint::block_incoming_used"), std::int64_t(p.B) * blocks, p.D),
        incoming_(alloc("kelk::adjoint::block_incoming"), std::int64_t(p.B) * blocks, p.D),
        out_("kelk::adjoint::block_outgoing", p.B, blocks, p.D),
        next_("kelk::adjoint::next_block_outgoing", p.B, p.D),
        active_(alloc("kelk::adjoint::block_active"), std::int64_t(p.B) * blocks),
        scratch_(alloc("kelk::adjoint::block_scratch"), std::int64_t(p.B) * blocks,
                 p.D + std::max(1, p.map.vjp_scratch_size())) {}

  /// The outgoing c of every block (B, K, D); slice 0 is what the previous rank needs.
  Kokkos::View<Scalar***, Kokkos::LayoutRight, memory_space> outgoing() const { return out_; }
  /// The next rank's block-0 outgoing c (B, D), read by the last block.
  BatchView<Scalar, memory_space> next() const { return next_; }

  /// Gathers the blocks' incoming c and marks the blocks to rerun; returns their count.
  /// `has_next`: the last block reads next() (else zero: the sequences end here).
  std::int64_t gather(const Problem_& p, int sweep, bool has_next) {
    const int K = K_, D = p.D;
    const auto used = used_, incoming = incoming_;
    const auto out = out_;
    const auto next = next_;
    const auto active = active_;
    std::int64_t count = 0;
    Kokkos::parallel_reduce(
        "kelk::adjoint::block_gather",
        Kokkos::RangePolicy<ExecutionSpace, Kokkos::IndexType<std::int64_t>>(space_, 0,
                                                                             std::int64_t(p.B) * K),
        KOKKOS_LAMBDA(std::int64_t i, std::int64_t & n) {
          const int b = int(i / K), j = int(i % K);
          bool moved = sweep == 1;
          for (int d = 0; d < D; ++d) {
            const Scalar c = j + 1 < K ? out(b, j + 1, d) : (has_next ? next(b, d) : Scalar(0));
            incoming(i, d) = c;
            moved |= !(c == used(i, d));
          }
          active(i) = moved ? 1 : 0;
          n += moved ? 1 : 0;
        },
        count);
    return count;
  }

  /// Reruns the active blocks; returns the vector-Jacobian products evaluated.
  std::int64_t sweep(const Problem_& p, int sweep,
                     const SequenceView<const Scalar, memory_space>& g,
                     const SequenceView<Scalar, memory_space>& lambda) {
    const int K = K_, D = p.D, T = p.T;
    const auto used = used_, incoming = incoming_;
    const auto out = out_;
    const auto active = active_;
    const auto scratch = scratch_;
    std::int64_t steps = 0;
    Kokkos::parallel_reduce(
        "kelk::adjoint::block_sweep",
        Kokkos::RangePolicy<ExecutionSpace, Kokkos::IndexType<std::int64_t>>(space_, 0,
                                                                             std::int64_t(p.B) * K),
        KOKKOS_LAMBDA(std::int64_t i, std::int64_t & n) {
          if (!active(i)) return;
          const int b = int(i / K), j = int(i % K);
          const int t0 = chunk_begin(j, T, K), t1 = chunk_begin(j + 1, T, K);
          Scalar* c = &scratch(i, 0);
          Scalar* work = c + D;
          for (int d = 0; d < D; ++d) used(i, d) = c[d] = incoming(i, d);
          bool merged = false;
          for (int t = t1 - 1; t >= t0 && !merged; --t) {
            Scalar* l = &lambda(b, t, 0);
            bool same = sweep > 1;
            for (int d = 0; d < D; ++d) {
              const Scalar v = g(b, t, d) + c[d];
              same &= v == l[d];
              l[d] = v;
            }
            if (same) {
              merged = true;  // the stored states of steps t0..t-1 follow from lambda_t
              break;
            }
            for (int d = 0; d < D; ++d) c[d] = Scalar(0);
            p.map.vjp(previous_state(p, b, t), input_at(p, b, t), l, c, nullptr, nullptr, work);
            ++n;
          }
          if (!merged)
            for (int d = 0; d < D; ++d) out(b, j, d) = c[d];
        },
        steps);
    return steps;
  }

 private:
  auto alloc(const std::string& label) const {
    return Kokkos::view_alloc(space_, Kokkos::WithoutInitializing, label);
  }

  ExecutionSpace space_;
  int K_;
  Kokkos::View<Scalar**, Kokkos::LayoutRight, memory_space> used_, incoming_;
  Kokkos::View<Scalar***, Kokkos::LayoutRight, memory_space> out_;  ///< zero: sweep 1's guess
  BatchView<Scalar, memory_space> next_;
  Kokkos::View<unsigned char*, memory_space> active_;
  Kokkos::View<Scalar**, Kokkos::LayoutRight, memory_space> scratch_;
};

/// dL/ds_0 (on a block that does not start the sequences: dL/d(the state entering it)) = the
/// vjp of every sequence's local step 0.
template <class ExecutionSpace, class StepMap>
void initial_state_gradient(const ExecutionSpace& space, const Problem<ExecutionSpace, StepMap>& p,
                            const SequenceView<typename StepMap::value_type,
                                               typename ExecutionSpace::memory_space>& lambda,
                            const BatchView<typename StepMap::value_type,
                                            typename ExecutionSpace::memory_space>& ds0) {
  using Scalar = typename StepMap::value_type;
  const int D = p.D;
  Kokkos::View<Scalar**, Kokkos::LayoutRight, typename ExecutionSpace::memory_space> scratch(
      Kokkos::view_alloc(space, Kokkos::WithoutInitializing, "kelk::adjoint::s0_scratch"), p.B,
      std::max(1, p.map.vjp_scratch_size()));
  Kokkos::parallel_for(
      "kelk::adjoint::initial_state_gradient", Kokkos::RangePolicy<ExecutionSpace>(space, 0, p.B),
      KOKKOS_LAMBDA(int b) {
        Scalar* ds = &ds0(b, 0);
        for (int d = 0; d < D; ++d) ds[d] = Scalar(0);
        p.map.vjp(previous_state(p, b, 0), input_at(p, b, 0), &lambda(b, 0, 0), ds, nullptr,
                  nullptr, &scratch(b, 0));
      });
}

/// The gradient pass of a map with bulk_vjp: tile by tile (the bulk linearisation's tiles),
/// the tile's dL/du rows and its share of dL/dtheta by the map's matrix-matrix products.
template <class ExecutionSpace, class StepMap, class Topology>
void bulk_gradient_pass(const ExecutionSpace& space, const Problem<ExecutionSpace, StepMap>& p,
                        const SequenceView<typename StepMap::value_type,
                                           typename ExecutionSpace::memory_space>& lambda,
                        const Gradients<typename StepMap::value_type,
                                        typename ExecutionSpace::memory_space>& out,
                        Topology& topology) {
  using Scalar = typename StepMap::value_type;
  using memory_space = typename ExecutionSpace::memory_space;
  using Rows = BulkRows<Scalar, memory_space>;
  const bool want_u = out.inputs.extent(0) > 0 && p.Din > 0;
  Scalar* theta = out.parameters.extent(0) > 0 ? out.parameters.data() : nullptr;
  std::optional<BulkWorkspace<ExecutionSpace, StepMap>> ws;
  topology.agree([&] { ws.emplace(space, p.map, p.steps()); });
  if (theta != nullptr) Kokkos::deep_copy(space, out.parameters, Scalar(0));
  for (std::int64_t begin = 0; begin < p.steps(); begin += ws->rows()) {
    const auto tile = stage_bulk_tile(space, p, *ws, begin);
    const BulkRows<const Scalar, memory_space> l(lambda.data() + begin * p.D, tile.n, p.D);
    const Rows du = want_u ? Rows(out.inputs.data() + begin * p.Din, tile.n, p.Din) : Rows();
    p.map.bulk_vjp(space, tile.previous, tile.inputs, l, Rows(ws->f.data(), tile.n, p.D),
                   Rows(ws->scratch.data(), tile.n, ws->scratch.extent(1)), du, theta);
  }
  if (out.s0.extent(0) > 0) initial_state_gradient(space, p, lambda, out.s0);
  if (theta != nullptr) topology.sum_over_ranks(space, out.parameters);
}

/// The gradient pass of a map without bulk_vjp: per step one vjp with lambda_t, giving
/// dL/du_t, the step's share of dL/dtheta and, at t = 0, dL/ds_0 (on a block that does not
/// start the sequences: dL/d(the state entering the block)). The parameter shares of `chunks`
/// runs of steps are summed into one row each, then over the rows and the ranks.
template <class ExecutionSpace, class StepMap, class Topology>
void step_gradient_pass(const ExecutionSpace& space, const Problem<ExecutionSpace, StepMap>& p,
                        const SequenceView<typename StepMap::value_type,
                                           typename ExecutionSpace::memory_space>& lambda,
                        const Gradients<typename StepMap::value_type,
                                        typename ExecutionSpace::memory_space>& out,
                        Topology& topology) {
  using Scalar = typename StepMap::value_type;
  using memory_space = typename ExecutionSpace::memory_space;
  const int D = p.D, Din = p.Din, T = p.T;
  const std::int64_t steps = p.steps();
  const std::int64_t n_theta = std::int64_t(out.parameters.extent(0));
  const bool want_u = out.inputs.extent(0) > 0, want_s0 = out.s0.extent(0) > 0;
  constexpr bool device = !Kokkos::SpaceAccessibility<Kokkos::HostSpace, memory_space>::accessible;
  // runs of steps: a few per thread; on a device capped so that the rows of parameter shares
  // stay within 256 MiB
  std::int64_t chunks = std::min<std::int64_t>(steps, std::max(1, space.concurrency()) *
                                                          (device ? 1 : 4));
  if (n_theta > 0)
    chunks = std::max<std::int64_t>(
        1, std::min<std::int64_t>(chunks, (std::int64_t(256) << 20) /
                                              (n_theta * std::int64_t(sizeof(Scalar)))));
  Kokkos::View<Scalar**, Kokkos::LayoutRight, memory_space> shares, scratch;
  topology.agree([&] {
    if (n_theta > 0) shares = decltype(shares)("kelk::adjoint::parameter_shares", chunks, n_theta);
    scratch = decltype(scratch)(
        Kokkos::view_alloc(space, Kokkos::WithoutInitializing, "kelk::adjoint::gradient_scratch"),
        chunks, D + std::max(1, p.map.vjp_scratch_size()));
  });
  const auto du = out.inputs;
  const auto ds0 = out.s0;
  const Kokkos::View<const Scalar***, Kokkos::LayoutRight, memory_space> l = lambda;
  Kokkos::parallel_for(
      "kelk::adjoint::gradients",
      Kokkos::RangePolicy<ExecutionSpace, Kokkos::IndexType<std::int64_t>>(space, 0, chunks),
      KOKKOS_LAMBDA(std::int64_t c) {
        Scalar* ds = &scratch(c, 0);
        Scalar* work = ds + D;
        Scalar* dtheta = n_theta > 0 ? &shares(c, 0) : nullptr;
        for (std::int64_t i = c * steps / chunks; i < (c + 1) * steps / chunks; ++i) {
          const int b = int(i / T), t = int(i % T);
          Scalar* dui = nullptr;
          if (want_u) {
            dui = &du(b, t, 0);
            for (int k = 0; k < Din; ++k) dui[k] = Scalar(0);
          }
          for (int d = 0; d < D; ++d) ds[d] = Scalar(0);
          p.map.vjp(previous_state(p, b, t), input_at(p, b, t), &l(b, t, 0), ds, dui, dtheta,
                    work);
          if (t == 0 && want_s0)
            for (int d = 0; d < D; ++d) ds0(b, d) = ds[d];
        }
      });
  if (n_theta == 0) return;
  const auto theta = out.parameters;
  Kokkos::parallel_for(
      "kelk::adjoint::sum_parameter_shares",
      Kokkos::RangePolicy<ExecutionSpace, Kokkos::IndexType<std::int64_t>>(space, 0, n_theta),
      KOKKOS_LAMBDA(std::int64_t k) {
        Scalar sum = Scalar(0);
        for (std::int64_t c = 0; c < chunks; ++c) sum += shares(c, k);
        theta(k) = sum;
      });
  topology.sum_over_ranks(space, theta);
}

/// The gradients (9b) from the adjoint states: by the map's matrix products where it has
/// bulk_vjp, else step by step.
template <class ExecutionSpace, class StepMap, class Topology>
void gradient_pass(const ExecutionSpace& space, const Problem<ExecutionSpace, StepMap>& p,
                   const SequenceView<typename StepMap::value_type,
                                      typename ExecutionSpace::memory_space>& lambda,
                   const Gradients<typename StepMap::value_type,
                                   typename ExecutionSpace::memory_space>& out,
                   Topology& topology) {
  if constexpr (provides_bulk_vjp_v<StepMap, ExecutionSpace>)
    bulk_gradient_pass(space, p, lambda, out, topology);
  else
    step_gradient_pass(space, p, lambda, out, topology);
}

/// Host-side checks of solve_adjoint's arguments; throws std::invalid_argument naming the
/// problem. Returns the forward problem (its states the trajectory, read only).
template <class ExecutionSpace, class StepMap>
Problem<ExecutionSpace, StepMap> make_adjoint_problem(
    const ExecutionSpace& space, const StepMap& map,
    const BatchView<const typename StepMap::value_type, typename ExecutionSpace::memory_space>& s0,
    const SequenceView<const typename StepMap::value_type, typename ExecutionSpace::memory_space>&
        inputs,
    const SequenceView<const typename StepMap::value_type, typename ExecutionSpace::memory_space>&
        states,
    const SequenceView<const typename StepMap::value_type, typename ExecutionSpace::memory_space>&
        cotangents,
    const Gradients<typename StepMap::value_type, typename ExecutionSpace::memory_space>& out,
    const AdjointOptions& options) {
  using Scalar = typename StepMap::value_type;
  using memory_space = typename ExecutionSpace::memory_space;
  const auto fail = [](const std::string& what) {
    throw std::invalid_argument("kelk::solve_adjoint: " + what);
  };
  // the trajectory is only read: a non-const alias for the forward problem's checks and kernels
  const SequenceView<Scalar, memory_space> trajectory(const_cast<Scalar*>(states.data()),
                                                      states.extent(0), states.extent(1),
                                                      states.extent(2));
  SolveOptions forward;
  forward.method = Method::sequential;
  std::optional<Problem<ExecutionSpace, StepMap>> checked;
  try {
    checked = make_problem(space, map, s0, inputs, trajectory, forward);
  } catch (const std::invalid_argument& e) {  // the same checks, named for this call
    std::string what = e.what();
    const std::string prefix = "kelk::solve: ";
    if (what.compare(0, prefix.size(), prefix) == 0) what.erase(0, prefix.size());
    fail(what);
  }
  Problem<ExecutionSpace, StepMap> p = *checked;
  // a (B, T, n) View's shape, or an error naming it (`tail` after the needed shape)
  const auto check_sequence = [&](const auto& v, int n, const std::string& what,
                                  const std::string& tail) {
    if (v.extent(0) != std::size_t(p.B) || v.extent(1) != std::size_t(p.T) ||
        v.extent(2) != std::size_t(n))
      fail(what + " have shape " + shape(v.extent(0), v.extent(1), v.extent(2)) + "; need " +
           shape(p.B, p.T, n) + tail);
  };
  check_sequence(cotangents, p.D, "the cotangents", ", the states' shape");
  if (out.s0.size() > 0 && (out.s0.extent(0) != std::size_t(p.B) ||
                            out.s0.extent(1) != std::size_t(p.D)))
    fail("the gradient for s0 has shape (" + std::to_string(out.s0.extent(0)) + ", " +
         std::to_string(out.s0.extent(1)) + "); need (B, D) = (" + std::to_string(p.B) + ", " +
         std::to_string(p.D) + ")");
  if (out.inputs.size() > 0) check_sequence(out.inputs, p.Din, "the input gradients", "");
  if (out.adjoint.size() > 0) check_sequence(out.adjoint, p.D, "the adjoint states", "");
  const std::size_t n_theta = parameter_count(map);
  if (out.parameters.size() > 0 && out.parameters.extent(0) != n_theta)
    fail("the parameter gradient has " + std::to_string(out.parameters.extent(0)) +
         " entries; the map has " + std::to_string(n_theta) + " parameters");
  if (out.s0.size() == 0 && out.inputs.size() == 0 && out.parameters.size() == 0 &&
      out.adjoint.size() == 0)
    fail("no output View given (s0, inputs, parameters, adjoint are all empty)");
  if (options.method == AdjointMethod::scan && !provides_jacobian_v<StepMap>)
    fail("method scan needs a step map with jacobian(); use block_sweeps or sequential");
  if (options.method == AdjointMethod::scan &&
      3 * std::size_t(p.D) * std::size_t(p.D) > std::size_t(std::numeric_limits<int>::max()))
    fail("method scan keeps dense D x D Jacobians; D = " + std::to_string(p.D) +
         " is beyond its limit 26754; use block_sweeps");
  if (options.chunks < 0) fail("chunks must be >= 0 (0: automatic)");
  if (options.blocks < 0) fail("blocks must be >= 0 (0: automatic)");
  if (options.blocks > p.T)
    fail("blocks = " + std::to_string(options.blocks) + " is more than the " +
         std::to_string(p.T) + " time steps to split (per rank when distributed)");
  if (count_non_finite(space, states) > 0)
    fail("the trajectory (states) contains NaN or Inf: there is no gradient through it");
  if (count_non_finite(space, cotangents) > 0) fail("the cotangents contain NaN or Inf");
  return p;
}

/// solve_adjoint's work on one rank, any Topology (SingleProcess or MPI).
template <class ExecutionSpace, class StepMap, class Topology>
AdjointResult adjoint_with(
    const ExecutionSpace& space, Problem<ExecutionSpace, StepMap> p,
    const SequenceView<const typename StepMap::value_type, typename ExecutionSpace::memory_space>&
        g,
    const Gradients<typename StepMap::value_type, typename ExecutionSpace::memory_space>& out,
    const AdjointOptions& options, Topology& topology) {
  using Scalar = typename StepMap::value_type;
  using memory_space = typename ExecutionSpace::memory_space;
  AdjointResult result;
  result.method = options.method;
  SequenceView<Scalar, memory_space> lambda = out.adjoint;
  topology.agree([&] {
    if (lambda.size() == 0)
      lambda = SequenceView<Scalar, memory_space>(
          Kokkos::view_alloc(space, Kokkos::WithoutInitializing, "kelk::adjoint::lambda"), p.B,
          p.T, p.D);
  });
  topology.exchange_boundary(space, p);  // p.prev0: the state before local step 0

  if (options.method == AdjointMethod::scan) {
    if constexpr (provides_jacobian_v<StepMap>) {
      using Matrices = Kokkos::View<Scalar****, Kokkos::LayoutRight, memory_space>;
      std::optional<BulkWorkspace<ExecutionSpace, StepMap>> bulk;
      Matrices J;
      Kokkos::View<Scalar***, Kokkos::LayoutRight, memory_space> J_next;
      topology.agree([&] {
        bulk.emplace(make_bulk_workspace(space, p.map, p.steps()));
        J = Matrices(Kokkos::view_alloc(space, Kokkos::WithoutInitializing, "kelk::adjoint::jacobians"),
                     p.B, p.T, p.D, p.D);
        if (!topology.last_time_block())
          J_next = decltype(J_next)(
              Kokkos::view_alloc(space, Kokkos::WithoutInitializing, "kelk::adjoint::J_next"),
              p.B, p.D, p.D);
      });
      linearize_dense(space, p, *bulk, J, lambda);  // lambda: scratch for the offsets here
      topology.shift_from_next(space, J, J_next);
      const AdjointScanAlgebra<Scalar, memory_space> algebra{J, J_next, g, lambda};
      const int chunks =
          options.chunks > 0 ? options.chunks : default_chunks(space, p.B, p.T, double(p.D));
      std::optional<ChunkedScan<ExecutionSpace, AdjointScanAlgebra<Scalar, memory_space>>> scan;
      topology.agree([&] { scan.emplace(space, algebra, chunks); });
      topology.backward_scan(*scan, algebra);
      result.sweeps = 1;
    }
  } else {
    const bool sequential = options.method == AdjointMethod::sequential;
    const int K = sequential ? 1
                  : options.blocks > 0
                      ? options.blocks
                      : default_blocks(space.concurrency(), p.B, p.T);
    std::optional<AdjointSweeps<ExecutionSpace, StepMap>> sweeps;
    topology.agree([&] { sweeps.emplace(space, p, K); });
    const bool has_next = !topology.last_time_block();
    if (sequential) {
      topology.chain_from_next(space, sweeps->next(), sweeps->outgoing(), [&] {
        sweeps->gather(p, 1, has_next);
        result.steps_swept = sweeps->sweep(p, 1, g, lambda);
      });
      result.sweeps = 1;
    } else {
      const std::int64_t limit = topology.blocks_along_time(K).second + 1;
      for (int sweep = 1; sweep <= limit; ++sweep) {
        topology.shift_from_next(space, sweeps->outgoing(), sweeps->next());
        std::int64_t active = sweeps->gather(p, sweep, has_next);
        topology.sum(&active, 1);
        if (sweep > 1 && active == 0) break;
        result.sweeps = sweep;
        result.steps_swept += sweeps->sweep(p, sweep, g, lambda);
      }
    }
    topology.sum(&result.steps_swept, 1);
  }
  std::int64_t non_finite = count_non_finite(space, lambda);
  topology.sum(&non_finite, 1);
  result.finite = non_finite == 0;
  gradient_pass(space, p, lambda, out, topology);
  return result;
}

/// Calls adjoint(s0, inputs, states, cotangents) on kelk's own View types: Views laid out as
/// LayoutRight's are used in place, any other is copied into a contiguous View first (labelled
/// `who`::s0_copy, ...).
template <class Scalar, class ExecutionSpace, class S0, class Inputs, class States,
          class Cotangents, class Adjoint>
AdjointResult adjoint_on_layout_right(const ExecutionSpace& space, const std::string& who,
                                      const S0& s0, const Inputs& inputs, const States& states,
                                      const Cotangents& cotangents, const Adjoint& adjoint) {
  using Memory = typename ExecutionSpace::memory_space;
  using Sequence = SequenceView<const Scalar, Memory>;
  return adjoint(
      as_layout_right<BatchView<const Scalar, Memory>>(space, s0, (who + "::s0_copy").c_str()),
      as_layout_right<Sequence>(space, inputs, (who + "::inputs_copy").c_str()),
      as_layout_right<Sequence>(space, states, (who + "::states_copy").c_str()),
      as_layout_right<Sequence>(space, cotangents, (who + "::cotangents_copy").c_str()));
}

}  // namespace impl

/// Gradients of a loss L(s_1, ..., s_T) through the recurrence s_t = f(s_{t-1}, u_t), given a
/// trajectory `states` that solves it (from kelk::solve) and the cotangents g_t = dL/ds_t
/// (partial derivatives, (B, T, D)): solves the adjoint recurrence
///   lambda_T = g_T,  lambda_t = g_t + J_{t+1}^T lambda_{t+1},  J_t = df/ds(s_{t-1}, u_t),
/// and writes dL/ds_0 = J_1^T lambda_1, dL/du_t = (df/du_t)^T lambda_t and
/// dL/dtheta = sum over sequences and t of (df/dtheta)^T lambda_t into `out`.
///
/// The map must provide vjp() (kelk_step_map.hpp); method scan also jacobian().
/// \throws std::invalid_argument for inconsistent shapes, NaN/Inf in states or cotangents,
///         invalid options, or a method the map cannot serve.
/// s0, inputs, states and cotangents may be Views of any layout, as for kelk::solve (those
/// not laid out as LayoutRight are copied); the Views of `out` are kelk's LayoutRight types.
template <class ExecutionSpace, class StepMap, class S0, class Inputs, class States,
          class Cotangents,
          class = std::enable_if_t<Kokkos::is_execution_space<ExecutionSpace>::value>>
AdjointResult solve_adjoint(const ExecutionSpace& space, const StepMap& map, const S0& s0,
                            const Inputs& inputs, const States& states,
                            const Cotangents& cotangents,
                            const Gradients<typename impl::value_type_or_double<StepMap>::type,
                                            typename ExecutionSpace::memory_space>& out,
                            const AdjointOptions& options = {}) {
  if constexpr (impl::check_arguments<ExecutionSpace, StepMap, S0, void, Inputs, States,
                                      Cotangents>()) {
    static_assert(provides_vjp_v<StepMap>,
                  "kelk::solve_adjoint: the step map must provide `int vjp_scratch_size() const` "
                  "and `KOKKOS_FUNCTION void vjp(s, u, lambda, ds, du, dtheta, scratch) const` "
                  "(see kelk_step_map.hpp)");
    return impl::adjoint_on_layout_right<typename StepMap::value_type>(
        space, "kelk::solve_adjoint", s0, inputs, states, cotangents,
        [&](const auto& s0_, const auto& inputs_, const auto& states_, const auto& g) {
          const auto p =
              impl::make_adjoint_problem(space, map, s0_, inputs_, states_, g, out, options);
          Kokkos::Profiling::pushRegion("kelk::solve_adjoint::" + to_string(options.method));
          impl::SingleProcess topology;
          const AdjointResult result = impl::adjoint_with(space, p, g, out, options, topology);
          Kokkos::Profiling::popRegion();
          return result;
        });
  } else {
    return {};
  }
}

/// solve_adjoint() on the default execution space.
template <class StepMap, class S0, class Inputs, class States, class Cotangents,
          class = std::enable_if_t<!Kokkos::is_execution_space<StepMap>::value>>
AdjointResult solve_adjoint(
    const StepMap& map, const S0& s0, const Inputs& inputs, const States& states,
    const Cotangents& cotangents,
    const Gradients<typename impl::value_type_or_double<StepMap>::type>& out,
    const AdjointOptions& options = {}) {
  return solve_adjoint(Kokkos::DefaultExecutionSpace(), map, s0, inputs, states, cotangents, out,
                       options);
}

}  // namespace kelk
