// The per-iteration kernels of kelk::solve: residual, linearisation of
// the step map around an iterate (ALGORITHMS.md sections 2-3), initial guess, and the update
// with the non-finite safeguard and the convergence measures (section 7).
#pragma once

#include <kelk/impl/kelk_bulk.hpp>
#include <kelk/impl/kelk_compat.hpp>
#include <kelk/impl/kelk_dense.hpp>
#include <kelk/impl/kelk_tiled.hpp>
#include <kelk/kelk_options.hpp>
#include <kelk/kelk_views.hpp>

#include <Kokkos_Core.hpp>

#include <algorithm>
#include <cstdint>
#include <utility>

namespace kelk::impl {

template <class T>
KOKKOS_INLINE_FUNCTION T infinity() {
  return Kokkos::Experimental::infinity<T>::value;
}

/// |x| for finite x, +inf otherwise, so that max-reductions see NaN.
template <class T>
KOKKOS_INLINE_FUNCTION T abs_or_inf(T x) {
  return is_finite(x) ? abs(x) : infinity<T>();
}

/// Everything a kernel needs to know about the problem; cheap to copy into lambdas.
template <class ExecutionSpace, class StepMap>
struct Problem {
  using value_type = typename StepMap::value_type;
  using memory_space = typename ExecutionSpace::memory_space;
  /// The map evaluates f and its linearisations tile by tile (kelk_bulk.hpp), before the kernels.
  static constexpr bool by_tiles = provides_bulk_v<StepMap, ExecutionSpace>;
  StepMap map;
  BatchView<const value_type, memory_space> s0;         ///< (B, D) initial states
  SequenceView<const value_type, memory_space> inputs;  ///< (B, T, Din)
  SequenceView<value_type, memory_space> states;        ///< (B, T, D): the iterate
  int B = 0, T = 0, D = 0, Din = 0;
  /// The state before local step 0: s0 when this block starts the sequences, the last state
  /// of the preceding time block (a halo) in a distributed solve.
  BatchView<const value_type, memory_space> prev0;
  /// Local step 0 is the sequences' first step, whose linearisation has A_0 = 0.
  bool starts_sequence = true;
  /// Length of the whole sequences (T unless the time axis is distributed).
  int global_T = 0;

  std::int64_t steps() const { return std::int64_t(B) * T; }
  std::int64_t size() const { return steps() * D; }
};

/// The previous state and the input of step (b, t); t = 0 reads prev0.
template <class P>
KOKKOS_INLINE_FUNCTION const typename P::value_type* previous_state(const P& p, int b, int t) {
  return t == 0 ? &p.prev0(b, 0) : &p.states(b, t - 1, 0);
}
template <class P>
KOKKOS_INLINE_FUNCTION const typename P::value_type* input_at(const P& p, int b, int t) {
  return p.inputs.data() + (std::int64_t(b) * p.T + t) * p.Din;
}

/// max_d |s_t - f_t| for one step, given f_t.
template <class P>
KOKKOS_INLINE_FUNCTION typename P::value_type step_residual(const P& p, int b, int t,
                                                            const typename P::value_type* f) {
  typename P::value_type r(0);
  for (int d = 0; d < p.D; ++d) {
    const auto v = abs_or_inf(p.states(b, t, d) - f[d]);
    if (v > r) r = v;
  }
  return r;
}

/// The staging buffers of the map's bulk evaluation; empty for maps without one.
template <class ExecutionSpace, class StepMap>
BulkWorkspace<ExecutionSpace, StepMap> make_bulk_workspace(const ExecutionSpace& space,
                                                           const StepMap& map, std::int64_t steps) {
  if constexpr (provides_bulk_v<StepMap, ExecutionSpace>)
    return BulkWorkspace<ExecutionSpace, StepMap>(space, map, steps);
  else
    return {};
}

/// max_{b,t,d} |s_t - f(s_{t-1}, u_t)| of the current iterate: f step by step inside the
/// kernel, or for a map with a bulk evaluation tile by tile into the workspace's tile of f.
template <class ExecutionSpace, class StepMap>
typename StepMap::value_type residual(const ExecutionSpace& space,
                                      const Problem<ExecutionSpace, StepMap>& p,
                                      const BulkWorkspace<ExecutionSpace, StepMap>& bulk) {
  using Scalar = typename StepMap::value_type;
  if constexpr (provides_bulk_v<StepMap, ExecutionSpace>) {
    const auto f = bulk.f;
    Scalar r(0);
    for (std::int64_t begin = 0; begin < p.steps(); begin += bulk.rows()) {
      const auto tile = stage_bulk_tile(space, p, bulk, begin);
      bulk_tile(space, p, bulk, tile, BulkOutput::value, f.data(), nullptr);
      const Scalar tile_r = tiled_max<Scalar>(
          "kelk::solve::residual", space, tile.n, 0, KOKKOS_LAMBDA(std::int64_t row, Scalar*) {
            const std::int64_t i = begin + row;
            return step_residual(p, int(i / p.T), int(i % p.T), &f(row, 0));
          });
      if (tile_r > r) r = tile_r;
    }
    return r;
  } else {
    // f needs D scalars of its own besides the map's scratch
    const int map_scratch = p.map.scratch_size();
    return tiled_max<Scalar>(
        "kelk::solve::residual", space, p.steps(), map_scratch + p.D,
        KOKKOS_LAMBDA(std::int64_t i, Scalar * scratch) {
          const int b = int(i / p.T), t = int(i % p.T);
          Scalar* f = scratch + map_scratch;
          p.map.step(previous_state(p, b, t), input_at(p, b, t), f, scratch);
          return step_residual(p, b, t, f);
        });
  }
}


/// sum_d (s_t - f_t)^2 of one step, in double (a float sum over B T D steps would lose the
/// differences the trust region judges); non-finite when s_t or f_t is.
template <class P>
KOKKOS_INLINE_FUNCTION double step_squares(const P& p, int b, int t,
                                           const typename P::value_type* f) {
  double sum = 0;
  for (int d = 0; d < p.D; ++d) {
    const double r = double(p.states(b, t, d)) - double(f[d]);
    sum += r * r;
  }
  return sum;
}

/// sum_{b,t} of squares(p, b, t, f_t), f_t = f(s_{t-1}, u_t) at p's states, on this rank: f
/// evaluated as residual() does, step by step or tile by tile. `Value` is what squares returns
/// (double, or a Kokkos::complex<double> carrying two sums through one reduction).
template <class Value, class ExecutionSpace, class StepMap, class Squares>
Value sum_over_steps(const ExecutionSpace& space, const Problem<ExecutionSpace, StepMap>& p,
                     const BulkWorkspace<ExecutionSpace, StepMap>& bulk, const Squares& squares) {
  using Scalar = typename StepMap::value_type;
  Value sum(0);
  if constexpr (provides_bulk_v<StepMap, ExecutionSpace>) {
    const auto f = bulk.f;
    for (std::int64_t begin = 0; begin < p.steps(); begin += bulk.rows()) {
      const auto tile = stage_bulk_tile(space, p, bulk, begin);
      bulk_tile(space, p, bulk, tile, BulkOutput::value, f.data(), nullptr);
      sum += tiled_reduce<Value, Kokkos::Sum>(
          "kelk::solve::merit", space, tile.n, 0, KOKKOS_LAMBDA(std::int64_t row, Value*) {
            const std::int64_t i = begin + row;
            return squares(p, int(i / p.T), int(i % p.T), &f(row, 0));
          });
    }
  } else {
    // f and the map's scratch, map_scratch + D Scalars, inside as many Values
    const int map_scratch = p.map.scratch_size();
    sum = tiled_reduce<Value, Kokkos::Sum>(
        "kelk::solve::merit", space, p.steps(), map_scratch + p.D,
        KOKKOS_LAMBDA(std::int64_t i, Value* raw) {
          const int b = int(i / p.T), t = int(i % p.T);
          Scalar* scratch = reinterpret_cast<Scalar*>(raw);
          Scalar* f = scratch + map_scratch;
          p.map.step(previous_state(p, b, t), input_at(p, b, t), f, scratch);
          return squares(p, b, t, f);
        });
  }
  return sum;
}

/// sum_{b,t} |s_t - f(s_{t-1}, u_t)|^2 at p's states on this rank: the merit of an iterate.
struct ResidualSquares {
  template <class P>
  KOKKOS_INLINE_FUNCTION double operator()(const P& p, int b, int t,
                                           const typename P::value_type* f) const {
    return step_squares(p, b, t, f);
  }
};
template <class ExecutionSpace, class StepMap>
double merit(const ExecutionSpace& space, const Problem<ExecutionSpace, StepMap>& p,
             const BulkWorkspace<ExecutionSpace, StepMap>& bulk) {
  return sum_over_steps<double>(space, p, bulk, ResidualSquares{});
}

/// The linearised recurrence s_t = A_t s_{t-1} + b_t of one iteration, dense (deer, elk) or
/// diagonal (quasi_deer, quasi_elk): model(b, t, d, prev) is its right-hand side's entry d.
template <class Scalar, class MemorySpace>
struct DenseModel {
  Kokkos::View<Scalar****, Kokkos::LayoutRight, MemorySpace> A;
  SequenceView<Scalar, MemorySpace> b;
  KOKKOS_INLINE_FUNCTION Scalar operator()(int s, int t, int d, const Scalar* prev) const {
    Scalar v = b(s, t, d);
    for (int e = 0; e < int(b.extent(2)); ++e) v += A(s, t, d, e) * prev[e];
    return v;
  }
};
template <class Scalar, class MemorySpace>
struct DiagonalModel {
  SequenceView<Scalar, MemorySpace> a, b;
  KOKKOS_INLINE_FUNCTION Scalar operator()(int s, int t, int d, const Scalar* prev) const {
    return b(s, t, d) + a(s, t, d) * prev[d];
  }
};

template <class Scalar, class MemorySpace>
struct BlockModel {
  Kokkos::View<Scalar***, Kokkos::LayoutRight, MemorySpace> A;  ///< (B, T, D k)
  SequenceView<Scalar, MemorySpace> b;
  int k;
  KOKKOS_INLINE_FUNCTION Scalar operator()(int s, int t, int d, const Scalar* prev) const {
    const int j = d / k, r = d % k;
    Scalar v = b(s, t, d);
    for (int c = 0; c < k; ++c) v += A(s, t, (j * k + r) * k + c) * prev[j * k + c];
    return v;
  }
};

/// A candidate's two sums in one pass: the merit |s_t - f_t|^2 (real part) and the model's
/// error |A_t s_{t-1} + b_t - f_t|^2 (imaginary part). One pass evaluates f once: measured on
/// the AR GRU example, ELK with sigma2 auto takes 0.57-0.60 s this way and 0.67-0.80 s with
/// two double reductions.
template <class Model>
struct CandidateSquares {
  Model model;
  template <class P>
  KOKKOS_INLINE_FUNCTION Kokkos::complex<double> operator()(
      const P& p, int b, int t, const typename P::value_type* f) const {
    const auto* prev = previous_state(p, b, t);
    double error = 0;
    for (int d = 0; d < p.D; ++d) {
      const double e = double(model(b, t, d, prev)) - double(f[d]);
      error += e * e;
    }
    return {step_squares(p, b, t, f), error};
  }
};

/// {merit, model error} of a candidate iterate (p's states) under the linearised model, on this
/// rank (sigma2 auto, ALGORITHMS.md section 5).
template <class ExecutionSpace, class StepMap, class Model>
std::pair<double, double> candidate_merit(const ExecutionSpace& space,
                                          const Problem<ExecutionSpace, StepMap>& p,
                                          const BulkWorkspace<ExecutionSpace, StepMap>& bulk,
                                          const Model& model) {
  const auto sums =
      sum_over_steps<Kokkos::complex<double>>(space, p, bulk, CandidateSquares<Model>{model});
  return {sums.real(), sums.imag()};
}

/// Inside a linearisation kernel: f (and per What the diagonal or the Jacobian into `out`) of
/// step (b, t), unless the map's bulk evaluation has filled them already. (A function rather
/// than an `if constexpr` in the kernel's lambda: CUDA lambdas cannot capture there.)
template <BulkOutput What, class P>
KOKKOS_INLINE_FUNCTION void evaluate_step(const P& p, int b, int t, typename P::value_type* f,
                                          typename P::value_type* out,
                                          typename P::value_type* scratch) {
  if constexpr (!P::by_tiles) {
    const auto* prev = previous_state(p, b, t);
    if constexpr (What == BulkOutput::value)
      p.map.step(prev, input_at(p, b, t), f, scratch);
    else if constexpr (What == BulkOutput::diagonal)
      p.map.jacobian_diagonal(prev, input_at(p, b, t), f, out, scratch);
    else
      p.map.jacobian(prev, input_at(p, b, t), f, out, scratch);
  } else {
    (void)p, (void)b, (void)t, (void)f, (void)out, (void)scratch;
  }
}

// Each linearisation finishes steps [begin, begin + n) in a kernel of its own (the finish_*
// functions): the whole range for maps without a bulk evaluation (f then comes from the map's
// step functions inside the kernel), or, for maps with one, each tile right after its bulk
// evaluation, while the tile's f and derivatives are still in cache.

/// Jacobi's finish: next_t = f(s_{t-1}, u_t); returns the steps' residual.
template <class ExecutionSpace, class StepMap>
typename StepMap::value_type finish_jacobi(
    const ExecutionSpace& space, const Problem<ExecutionSpace, StepMap>& p,
    const SequenceView<typename StepMap::value_type, typename ExecutionSpace::memory_space>& next,
    std::int64_t begin, std::int64_t n) {
  using Scalar = typename StepMap::value_type;
  constexpr bool by_tiles = Problem<ExecutionSpace, StepMap>::by_tiles;
  return tiled_max<Scalar>(
      "kelk::solve::linearize_jacobi", space, n, by_tiles ? 0 : p.map.scratch_size(),
      KOKKOS_LAMBDA(std::int64_t row, Scalar * scratch) {
        const std::int64_t i = begin + row;
        const int b = int(i / p.T), t = int(i % p.T);
        Scalar* f = &next(b, t, 0);
        evaluate_step<BulkOutput::value>(p, b, t, f, nullptr, scratch);
        return step_residual(p, b, t, f);
      });
}

/// DEER's finish: A_t = df/ds(s_{t-1}), b_t = f(s_{t-1}) - A_t s_{t-1}; at a sequence start
/// A_0 = 0, b_0 = f(s_0).
template <class ExecutionSpace, class StepMap>
typename StepMap::value_type finish_dense(
    const ExecutionSpace& space, const Problem<ExecutionSpace, StepMap>& p,
    const Kokkos::View<typename StepMap::value_type****, Kokkos::LayoutRight,
                       typename ExecutionSpace::memory_space>& A,
    const SequenceView<typename StepMap::value_type, typename ExecutionSpace::memory_space>& bvec,
    std::int64_t begin, std::int64_t n) {
  using Scalar = typename StepMap::value_type;
  constexpr bool by_tiles = Problem<ExecutionSpace, StepMap>::by_tiles;
  return tiled_max<Scalar>(
      "kelk::solve::linearize_dense", space, n, by_tiles ? 0 : p.map.scratch_size(),
      KOKKOS_LAMBDA(std::int64_t row, Scalar * scratch) {
        const std::int64_t i = begin + row;
        const int b = int(i / p.T), t = int(i % p.T), D = p.D;
        const Scalar* prev = previous_state(p, b, t);
        Scalar* f = &bvec(b, t, 0);
        Scalar* At = &A(b, t, 0, 0);
        evaluate_step<BulkOutput::jacobian>(p, b, t, f, At, scratch);
        const Scalar r = step_residual(p, b, t, f);
        if (t == 0 && p.starts_sequence)
          for (int k = 0; k < D * D; ++k) At[k] = Scalar(0);
        else
          gemv(Scalar(-1), At, D, D, prev, Scalar(1), f);
        return r;
      });
}

/// quasi-DEER's finish: a_t = diag(df/ds(s_{t-1})), b_t = f(s_{t-1}) - a_t * s_{t-1}; a_0 = 0
/// at a sequence start.
template <class ExecutionSpace, class StepMap>
typename StepMap::value_type finish_diagonal(
    const ExecutionSpace& space, const Problem<ExecutionSpace, StepMap>& p,
    const SequenceView<typename StepMap::value_type, typename ExecutionSpace::memory_space>& a,
    const SequenceView<typename StepMap::value_type, typename ExecutionSpace::memory_space>& bvec,
    std::int64_t begin, std::int64_t n) {
  using Scalar = typename StepMap::value_type;
  constexpr bool by_tiles = Problem<ExecutionSpace, StepMap>::by_tiles;
  return tiled_max<Scalar>(
      "kelk::solve::linearize_diagonal", space, n, by_tiles ? 0 : p.map.scratch_size(),
      KOKKOS_LAMBDA(std::int64_t row, Scalar * scratch) {
        const std::int64_t i = begin + row;
        const int b = int(i / p.T), t = int(i % p.T), D = p.D;
        const Scalar* prev = previous_state(p, b, t);
        Scalar* f = &bvec(b, t, 0);
        Scalar* at = &a(b, t, 0);
        evaluate_step<BulkOutput::diagonal>(p, b, t, f, at, scratch);
        const Scalar r = step_residual(p, b, t, f);
        for (int d = 0; d < D; ++d) {
          if (t == 0 && p.starts_sequence)
            at[d] = Scalar(0);
          else
            f[d] -= at[d] * prev[d];
        }
        return r;
      });
}

/// f and the diagonal k x k blocks of the Jacobian of one step (JacobianStructure::block): the
/// map's own jacobian_blocks, or the blocks of its full Jacobian, formed in the D^2 scalars
/// after the map's `map_scratch` = map.scratch_size() scalars (block_scratch_size in all;
/// map_scratch comes from the host: scratch_size() need not be callable in kernels).
template <class StepMap>
KOKKOS_INLINE_FUNCTION void jacobian_blocks(const StepMap& map, const typename StepMap::value_type* s,
                                            const typename StepMap::value_type* u, int k, int D,
                                            typename StepMap::value_type* f,
                                            typename StepMap::value_type* blocks,
                                            typename StepMap::value_type* scratch,
                                            int map_scratch) {
  if constexpr (provides_jacobian_blocks_v<StepMap>) {
    (void)D, (void)map_scratch;
    map.jacobian_blocks(s, u, k, f, blocks, scratch);
  } else {
    typename StepMap::value_type* jac = scratch + map_scratch;
    map.jacobian(s, u, f, jac, scratch);
    for (int j = 0; j < D / k; ++j)
      for (int r = 0; r < k; ++r)
        for (int c = 0; c < k; ++c)
          blocks[(j * k + r) * k + c] = jac[(j * k + r) * D + j * k + c];
  }
}
template <class StepMap>
int block_scratch_size(const StepMap& map) {
  if constexpr (provides_jacobian_blocks_v<StepMap>)
    return map.scratch_size();
  else
    return map.scratch_size() + map.state_dim() * map.state_dim();
}

/// quasi-DEER's linearisation with k x k blocks: A_t = the blocks of df/ds(s_{t-1}),
/// b_t = f(s_{t-1}) - A_t s_{t-1}; A_0 = 0 at a sequence start. Every step evaluates the map's
/// Jacobian functions in the kernel (a bulk evaluation, where the map has one, is not used).
/// Returns the residual of the current iterate.
template <class ExecutionSpace, class StepMap>
typename StepMap::value_type linearize_blocks(
    const ExecutionSpace& space, const Problem<ExecutionSpace, StepMap>& p,
    const Kokkos::View<typename StepMap::value_type***, Kokkos::LayoutRight,
                       typename ExecutionSpace::memory_space>& A,
    const SequenceView<typename StepMap::value_type, typename ExecutionSpace::memory_space>& bvec,
    int k) {
  using Scalar = typename StepMap::value_type;
  const int map_scratch = p.map.scratch_size();
  return tiled_max<Scalar>(
      "kelk::solve::linearize_blocks", space, p.steps(), block_scratch_size(p.map),
      KOKKOS_LAMBDA(std::int64_t i, Scalar * scratch) {
        const int b = int(i / p.T), t = int(i % p.T), D = p.D;
        const Scalar* prev = previous_state(p, b, t);
        Scalar* f = &bvec(b, t, 0);
        Scalar* At = &A(b, t, 0);
        jacobian_blocks(p.map, prev, input_at(p, b, t), k, D, f, At, scratch, map_scratch);
        const Scalar r = step_residual(p, b, t, f);
        if (t == 0 && p.starts_sequence)
          for (int q = 0; q < D * k; ++q) At[q] = Scalar(0);
        else
          for (int j = 0; j < D / k; ++j)
            gemv(Scalar(-1), At + j * k * k, k, k, prev + j * k, Scalar(1), f + j * k);
        return r;
      });
}

/// A linearisation: `finish(begin, n)` over all steps for maps without a bulk evaluation; for
/// maps with one, per tile, the map's bulk evaluation (f into `f`, per `what` the derivatives
/// into `out`, both flat) and then `finish` on that tile. Returns the largest residual.
/// (`finish` is a host callable; the kernels are in the finish_* functions, so no device lambda
/// is defined inside this template.)
template <class ExecutionSpace, class StepMap, class Finish>
typename StepMap::value_type linearize(const ExecutionSpace& space,
                                       const Problem<ExecutionSpace, StepMap>& p,
                                       const BulkWorkspace<ExecutionSpace, StepMap>& bulk,
                                       BulkOutput what, typename StepMap::value_type* f,
                                       typename StepMap::value_type* out, const Finish& finish) {
  using Scalar = typename StepMap::value_type;
  if constexpr (!Problem<ExecutionSpace, StepMap>::by_tiles) {
    (void)bulk, (void)what, (void)f, (void)out;
    return finish(std::int64_t(0), p.steps());
  } else {
    Scalar r(0);
    for (std::int64_t begin = 0; begin < p.steps(); begin += bulk.rows()) {
      const auto tile = stage_bulk_tile(space, p, bulk, begin);
      bulk_tile(space, p, bulk, tile, what, f + begin * p.D, out);
      r = std::max(r, finish(begin, tile.n));
    }
    return r;
  }
}

/// Jacobi: next_t = f(s_{t-1}, u_t). Returns the residual of the current iterate.
template <class ExecutionSpace, class StepMap>
typename StepMap::value_type linearize_jacobi(
    const ExecutionSpace& space, const Problem<ExecutionSpace, StepMap>& p,
    const BulkWorkspace<ExecutionSpace, StepMap>& bulk,
    const SequenceView<typename StepMap::value_type, typename ExecutionSpace::memory_space>& next) {
  return linearize(space, p, bulk, BulkOutput::value, next.data(), nullptr,
                   [&](std::int64_t begin, std::int64_t n) {
                     return finish_jacobi(space, p, next, begin, n);
                   });
}

/// DEER's linearisation (finish_dense). Returns the residual of the current iterate.
template <class ExecutionSpace, class StepMap>
typename StepMap::value_type linearize_dense(
    const ExecutionSpace& space, const Problem<ExecutionSpace, StepMap>& p,
    const BulkWorkspace<ExecutionSpace, StepMap>& bulk,
    const Kokkos::View<typename StepMap::value_type****, Kokkos::LayoutRight,
                       typename ExecutionSpace::memory_space>& A,
    const SequenceView<typename StepMap::value_type, typename ExecutionSpace::memory_space>& bvec) {
  return linearize(space, p, bulk, BulkOutput::jacobian, bvec.data(), A.data(),
                   [&](std::int64_t begin, std::int64_t n) {
                     return finish_dense(space, p, A, bvec, begin, n);
                   });
}

/// quasi-DEER's linearisation (finish_diagonal). Returns the residual of the current iterate.
template <class ExecutionSpace, class StepMap>
typename StepMap::value_type linearize_diagonal(
    const ExecutionSpace& space, const Problem<ExecutionSpace, StepMap>& p,
    const BulkWorkspace<ExecutionSpace, StepMap>& bulk,
    const SequenceView<typename StepMap::value_type, typename ExecutionSpace::memory_space>& a,
    const SequenceView<typename StepMap::value_type, typename ExecutionSpace::memory_space>& bvec) {
  return linearize(space, p, bulk, BulkOutput::diagonal, bvec.data(), a.data(),
                   [&](std::int64_t begin, std::int64_t n) {
                     return finish_diagonal(space, p, a, bvec, begin, n);
                   });
}

/// The value the initial guess gives entry i (flat index into (B, T, D)).
template <class Scalar, class MemorySpace>
struct GuessValue {
  InitialGuess kind;
  BatchView<const Scalar, MemorySpace> s0;
  Kokkos::View<const Scalar*, MemorySpace> provided;  ///< flat copy, when kind == provided
  std::int64_t TD;  ///< T D: one sequence's entries (may exceed 2^31)
  int D;
  KOKKOS_INLINE_FUNCTION Scalar operator()(std::int64_t i) const {
    switch (kind) {
      case InitialGuess::repeat_s0:
        return s0(int(i / TD), int(i % D));
      case InitialGuess::provided:
        return provided(i);
      default:
        return Scalar(0);
    }
  }
};

/// Fills the iterate with the initial guess (a provided guess is already in place).
template <class ExecutionSpace, class StepMap, class Guess>
void fill_initial_guess(const ExecutionSpace& space, const Problem<ExecutionSpace, StepMap>& p,
                        const Guess& guess) {
  if (guess.kind == InitialGuess::provided) return;
  auto flat = p.states.data();
  Kokkos::parallel_for(
      "kelk::solve::initial_guess",
      Kokkos::RangePolicy<ExecutionSpace, Kokkos::IndexType<std::int64_t>>(space, 0, p.size()),
      KOKKOS_LAMBDA(std::int64_t i) { flat[i] = guess(i); });
}

/// Measures of one update, reduced over all entries.
template <class Scalar>
struct UpdateStats {
  Scalar max_update;         ///< max |next - current| (+inf if any is non-finite)
  Scalar max_excess;         ///< max (|next - current| - rtol |next|): converged when <= atol
  std::int64_t non_finite;   ///< entries left non-finite after the safeguard
  std::int64_t safeguarded;  ///< entries the safeguard changed (clipped, zeroed or reset)
};

/// current <- safeguard(next), and best <- current first when save_best. Reduces UpdateStats.
template <class Scalar, class MemorySpace>
struct UpdateKernel {
  using value_type = UpdateStats<Scalar>;
  Scalar* current;
  const Scalar* next;
  Scalar* best;
  GuessValue<Scalar, MemorySpace> guess;
  NonFinitePolicy policy;
  Scalar clip, rtol;
  bool save_best;

  KOKKOS_INLINE_FUNCTION void operator()(std::int64_t i, value_type& acc) const {
    Scalar x = next[i];
    if (policy == NonFinitePolicy::clip_and_zero) {
      if (x != x || x > clip || x < -clip) {
        x = x != x ? Scalar(0) : (x > clip ? clip : -clip);
        ++acc.safeguarded;
      }
    } else if (policy == NonFinitePolicy::reset_to_guess && !is_finite(x)) {
      x = guess(i);
      ++acc.safeguarded;
    }
    const Scalar old = current[i];
    if (save_best) best[i] = old;
    current[i] = x;
    const Scalar delta = abs_or_inf(x - old);
    if (delta > acc.max_update) acc.max_update = delta;
    const Scalar excess = is_finite(x) ? delta - rtol * abs(x) : infinity<Scalar>();
    if (excess > acc.max_excess) acc.max_excess = excess;
    if (!is_finite(x)) ++acc.non_finite;
  }
  KOKKOS_INLINE_FUNCTION void init(value_type& v) const {
    v.max_update = Scalar(0);
    v.max_excess = -infinity<Scalar>();
    v.non_finite = 0;
    v.safeguarded = 0;
  }
  KOKKOS_INLINE_FUNCTION void join(value_type& dst, const value_type& src) const {
    if (src.max_update > dst.max_update) dst.max_update = src.max_update;
    if (src.max_excess > dst.max_excess) dst.max_excess = src.max_excess;
    dst.non_finite += src.non_finite;
    dst.safeguarded += src.safeguarded;
  }
#ifdef KELK_IMPL_NEEDS_VOLATILE_JOIN
  KOKKOS_INLINE_FUNCTION void join(volatile value_type& dst, const volatile value_type& src) const {
    if (src.max_update > dst.max_update) dst.max_update = src.max_update;
    if (src.max_excess > dst.max_excess) dst.max_excess = src.max_excess;
    dst.non_finite += src.non_finite;
    dst.safeguarded += src.safeguarded;
  }
#endif
};

/// Counts non-finite entries of a contiguous View (host-side input validation). Blocks of 4096
/// entries with a plain inner loop, which the compiler vectorises (the per-entry functor of a
/// reduction does not vectorise: it cost 10-15% of a sequential Elman evaluation at D = 8).
template <class ExecutionSpace, class View>
std::int64_t count_non_finite(const ExecutionSpace& space, const View& v) {
  const auto* data = v.data();
  constexpr std::int64_t block = 4096;
  const std::int64_t n = static_cast<std::int64_t>(v.span());
  std::int64_t count = 0;
  Kokkos::parallel_reduce(
      "kelk::solve::count_non_finite",
      Kokkos::RangePolicy<ExecutionSpace, Kokkos::IndexType<std::int64_t>>(
          space, 0, (n + block - 1) / block),
      KOKKOS_LAMBDA(std::int64_t k, std::int64_t & c) {
        const std::int64_t end = (k + 1) * block < n ? (k + 1) * block : n;
        int local = 0;
        for (std::int64_t i = k * block; i < end; ++i) local += is_finite(data[i]) ? 0 : 1;
        c += local;
      },
      count);
  return count;
}

/// The data check every entry point taking s0 and inputs shares (kelk::solve, kelk::probe, ...):
/// nullptr when both are finite, else what is wrong, for the caller to prefix with its name.
template <class ExecutionSpace, class S0, class Inputs>
const char* non_finite_data(const ExecutionSpace& space, const S0& s0, const Inputs& inputs) {
  if (count_non_finite(space, s0) > 0) return "s0 contains NaN or Inf";
  if (count_non_finite(space, inputs) > 0) return "inputs contain NaN or Inf";
  return nullptr;
}

}  // namespace kelk::impl
