// The `block_jacobi` method (ALGORITHMS.md section 11): every sequence's steps are split into
// time blocks, each evaluated by the sequential recurrence from its start; the starts are
// relaxed at the block boundaries (block Jacobi over the boundaries, each block solved exactly:
// Parareal without a coarse propagator). A block whose start did not move is skipped; one whose
// start moved is recomputed from the new start until its states merge with the stored ones.
#pragma once

#include <kelk/impl/kelk_kernels.hpp>
#include <kelk/impl/kelk_sequential.hpp>
#include <kelk/impl/kelk_tiled.hpp>
#include <kelk/kelk_options.hpp>
#include <kelk/kelk_scan.hpp>
#include <kelk/kelk_step_map.hpp>

#include <Kokkos_Core.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <numeric>
#include <optional>
#include <string>

namespace kelk::impl {

/// Blocks per sequence for SolveOptions::blocks = 0 on `T` local steps of `B` sequences and
/// `concurrency` threads: the fewest blocks that give every thread the same number of
/// (sequence, block) items, concurrency / gcd(B, concurrency), but no block shorter than
/// 64 steps (below that the merge length, not the block, bounds the work).
inline int default_blocks(int concurrency, int B, int T) {
  const int c = std::max(1, concurrency);
  const int even = c / std::gcd(std::max(1, B), c);
  return std::max(1, std::min(even, T / 64));
}

/// One step s -> f(s, u) inside a block's sweep: through the projected form where the map has
/// one (the recurrent and the input product with the transposed weights, then finish_step),
/// else through `step`. scratch_size() scalars of scratch.
template <class StepMap, class MemorySpace, bool Projected>
struct BlockStep {
  using Scalar = typename StepMap::value_type;
  using Matrix = Kokkos::View<Scalar**, Kokkos::LayoutRight, MemorySpace>;
  StepMap map;
  Matrix WT, VT;  ///< W^T (D x P) and V^T (Din x P): projected form only
  int D = 0, Din = 0, P = 0;

  template <class ExecutionSpace>
  BlockStep(const ExecutionSpace& space, const StepMap& m)
      : map(m), D(m.state_dim()), Din(m.input_dim()) {
    if constexpr (Projected) {
      P = map.projection_dim();
      WT = transposed_copy<Matrix>(space, map.recurrent_weights(),
                                   "kelk::solve::block_W_transposed");
      VT = transposed_copy<Matrix>(space, map.input_weights(), "kelk::solve::block_V_transposed");
    }
  }

  int scratch_size() const { return Projected ? 2 * P : map.scratch_size(); }

  KOKKOS_INLINE_FUNCTION void operator()(const Scalar* s, const Scalar* u, Scalar* f,
                                         Scalar* scratch) const {
    if constexpr (Projected) {
      transposed_product(WT.data(), s, scratch, D, P);
      transposed_product(VT.data(), u, scratch + P, Din, P);
      map.finish_step(s, scratch, scratch + P, f);
    } else {
      map.step(s, u, f, scratch);
    }
  }
};

template <class StepMap, class ExecutionSpace>
using BlockStepOf =
    BlockStep<StepMap, typename ExecutionSpace::memory_space,
              provides_projected_form_v<StepMap, typename ExecutionSpace::memory_space>>;

/// |x - y| > atol + rtol |x| for some entry (non-finite differences count as moved).
template <class Scalar>
KOKKOS_INLINE_FUNCTION bool differs(const Scalar* x, const Scalar* y, int D, Scalar atol,
                                    Scalar rtol) {
  bool out = false;
  for (int d = 0; d < D; ++d) out |= !(abs_or_inf(x[d] - y[d]) <= atol + rtol * abs(x[d]));
  return out;
}

/// The state of a block_jacobi solve on one rank: B sequences x K blocks of the local steps.
/// Per (sequence, block) item it keeps the start its stored states were computed from and the
/// pending start (the previous block's end, gathered before a sweep); per step a merge mark
/// (the step keeps a stored state right after a recomputed one: a point where the residual
/// may be nonzero).
///
/// Blocks of L steps shorter than the merge length m need about m / L + 1 sweeps, as the
/// guess's error has to be carried over m steps block by block (Lorenz-96 with F = 0.25,
/// dt = 0.4, m ~ 60: 33 sweeps with 2-step blocks, 6 with 10-step ones). One-step blocks of a
/// map that halves a perturbation less than once per step may need as many sweeps as blocks:
/// every skip and merge leaves a mismatch of up to the tolerance, these pile up along the chain
/// above it, and their correction then travels one block per sweep to the end. The automatic
/// block count keeps blocks at least 64 steps long.
template <class ExecutionSpace, class StepMap>
class BlockJacobi {
 public:
  using Scalar = typename StepMap::value_type;
  using memory_space = typename ExecutionSpace::memory_space;
  using Counts = Kokkos::View<std::int64_t*, memory_space>;
  using Flags = Kokkos::View<unsigned char*, memory_space>;
  using Matrix = Kokkos::View<Scalar**, Kokkos::LayoutRight, memory_space>;
  /// The map has the projected form: sweeps can run batched (sweep_batched).
  static constexpr bool projected = provides_projected_form_v<StepMap, memory_space>;

  /// What a check (gather and compare) found, reduced over this rank's items.
  struct Check {
    double max_change = 0.0;   ///< max |pending start - stored start|
    std::int64_t active = 0;   ///< items the next sweep recomputes
  };
  /// What a sweep did.
  struct Work {
    std::int64_t steps = 0;    ///< steps evaluated over all items
    std::int64_t longest = 0;  ///< the most steps any item evaluated
  };

  /// `batched`: sweep all blocks in step with matrix products over the blocks (maps with the
  /// projected form only); unset: on devices, where one thread per block leaves the device
  /// mostly idle and reads the weights once per block and step.
  BlockJacobi(const ExecutionSpace& space, const Problem<ExecutionSpace, StepMap>& p, int blocks,
              std::int64_t first_block, double atol, double rtol,
              std::optional<bool> batched = std::nullopt)
      : space_(space),
        step_(space, p.map),
        K_(blocks),
        first_block_(first_block),
        atol_(Scalar(atol)),
        rtol_(Scalar(rtol)),
        starts_(alloc("kelk::solve::block_starts"), std::int64_t(p.B) * blocks, p.D),
        pending_(alloc("kelk::solve::block_pending_starts"), std::int64_t(p.B) * blocks, p.D),
        change_(alloc("kelk::solve::block_start_changes"), std::int64_t(p.B) * blocks),
        active_(alloc("kelk::solve::block_active"), std::int64_t(p.B) * blocks),
        steps_(alloc("kelk::solve::block_steps"), std::int64_t(p.B) * blocks),
        marks_("kelk::solve::merge_marks", p.size() / p.D) {
    if constexpr (projected) {
      batched_ = batched ? *batched
                         : !Kokkos::SpaceAccessibility<Kokkos::HostSpace, memory_space>::accessible;
      if (batched_) {
        const std::int64_t n = items(p);
        const int P = step_.P;
        W_ = p.map.recurrent_weights();
        V_ = p.map.input_weights();
        // zero-initialised: rows of blocks that never step stay finite in the products
        prev_ = Matrix("kelk::solve::block_batched_previous", n, p.D);
        u_ = Matrix("kelk::solve::block_batched_inputs", n, p.Din);
        ws_ = Matrix(alloc("kelk::solve::block_batched_recurrent_products"), n, P);
        vu_ = Matrix(alloc("kelk::solve::block_batched_input_products"), n, P);
        f_ = Matrix(alloc("kelk::solve::block_batched_f"), n, p.D);
        alive_ = Flags(alloc("kelk::solve::block_batched_alive"), n);
      }
    } else {
      (void)batched;
    }
  }

  std::int64_t items(const Problem<ExecutionSpace, StepMap>& p) const {
    return std::int64_t(p.B) * K_;
  }

  /// Gathers every block's pending start (the previous block's end state, p.prev0 for block 0;
  /// for `sweep` = 1 the initial guess unless it is provided) and marks the items sweep `sweep`
  /// recomputes: all on sweep 1; later, the blocks whose start moved beyond the tolerance,
  /// except those with global index <= sweep - 2, which are final (block g is exact after
  /// sweep g + 1, its start coming from a final block).
  Check gather(const Problem<ExecutionSpace, StepMap>& p, int sweep, InitialGuess guess) {
    const int K = K_, D = p.D, T = p.T;
    const auto starts = starts_, pending = pending_;
    const auto change = change_;
    const auto active = active_;
    const Scalar atol = atol_, rtol = rtol_;
    const std::int64_t final_below = std::int64_t(sweep) - 1 - first_block_;
    const bool from_guess = sweep == 1 && guess != InitialGuess::provided;
    const bool repeat = guess == InitialGuess::repeat_s0;
    Kokkos::parallel_for(
        "kelk::solve::block_gather", Kokkos::RangePolicy<ExecutionSpace>(space_, 0, items(p)),
        KOKKOS_LAMBDA(std::int64_t i) {
          const int b = int(i / K), j = int(i % K);
          const int t0 = chunk_begin(j, T, K);
          const bool sequence_start = j == 0 && p.starts_sequence;
          const Scalar* from = t0 == 0 ? &p.prev0(b, 0) : &p.states(b, t0 - 1, 0);
          if (from_guess && !sequence_start) from = repeat ? &p.s0(b, 0) : nullptr;
          for (int d = 0; d < D; ++d) pending(i, d) = from ? from[d] : Scalar(0);
          if (sweep == 1) {
            change(i) = 0;
            active(i) = 1;
            return;
          }
          Scalar c = 0;
          for (int d = 0; d < D; ++d) {
            const Scalar v = abs_or_inf(pending(i, d) - starts(i, d));
            if (v > c) c = v;
          }
          change(i) = c;
          active(i) = j >= final_below && differs(&pending(i, 0), &starts(i, 0), D, atol, rtol);
        });
    Check check;
    const auto h_change = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), change_);
    const auto h_active = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), active_);
    for (std::size_t i = 0; i < h_change.extent(0); ++i) {
      check.max_change = std::max(check.max_change, double(h_change(i)));
      check.active += h_active(i);
    }
    return check;
  }

  /// Recomputes the active items from their pending starts: on sweep 1 every step of the
  /// block; later step by step until the first step whose new state agrees with the stored
  /// one within the tolerance (the merge: that state and the rest of the block are kept).
  Work sweep(const Problem<ExecutionSpace, StepMap>& p, int sweep) {
    if constexpr (projected)
      if (batched_) return sweep_batched(p, sweep);
    const int K = K_, D = p.D, T = p.T;
    const auto step = step_;
    const auto starts = starts_, pending = pending_;
    const auto active = active_;
    const auto steps = steps_;
    const auto marks = marks_;
    const Scalar atol = atol_, rtol = rtol_;
    const bool merge = sweep > 1;
    const int map_scratch = step.scratch_size();
    tiled_max<Scalar>(
        "kelk::solve::block_sweep", space_, items(p), map_scratch + D,
        KOKKOS_LAMBDA(std::int64_t i, Scalar * scratch) {
          steps(i) = 0;
          if (!active(i)) return Scalar(0);
          const int b = int(i / K), j = int(i % K);
          const int t0 = chunk_begin(j, T, K), t1 = chunk_begin(j + 1, T, K);
          Scalar* f = scratch + map_scratch;
          for (int d = 0; d < D; ++d) starts(i, d) = pending(i, d);
          const Scalar* prev = &starts(i, 0);
          int t = t0;
          for (; t < t1; ++t) {
            Scalar* s = &p.states(b, t, 0);
            const std::int64_t bt = std::int64_t(b) * T + t;
            if (!merge) {
              step(prev, input_at(p, b, t), s, scratch);
            } else {
              step(prev, input_at(p, b, t), f, scratch);
              if (!differs(f, s, D, atol, rtol)) {
                marks(bt) = 1;
                ++t;
                break;
              }
              for (int d = 0; d < D; ++d) s[d] = f[d];
              marks(bt) = 0;
            }
            prev = s;
          }
          steps(i) = t - t0;
          return Scalar(0);
        });
    return work_done();
  }

  /// sweep() for maps with the projected form, all blocks in step: per step r, the previous
  /// states and the inputs of the blocks still stepping are gathered into rows, their recurrent
  /// and input products are two matrix products over the blocks ((items x D) W^T and
  /// (items x Din) V^T), then finish_step and the merge test run per block. Blocks that merged
  /// or ended keep their rows in the products (no compaction) until the last one stops.
  Work sweep_batched(const Problem<ExecutionSpace, StepMap>& p, int sweep) {
    using Rows = BulkRows<Scalar, memory_space>;
    using ConstRows = BulkRows<const Scalar, memory_space>;
    const int K = K_, D = p.D, T = p.T, Din = p.Din, P = step_.P;
    const std::int64_t n = items(p);
    const auto map = step_.map;
    const auto starts = starts_, pending = pending_, prev = prev_, u = u_, ws = ws_, vu = vu_,
               f = f_;
    const auto active = active_, alive = alive_, marks = marks_;
    const auto steps = steps_;
    const Scalar atol = atol_, rtol = rtol_;
    const bool merge = sweep > 1;
    const Kokkos::RangePolicy<ExecutionSpace, Kokkos::IndexType<std::int64_t>> all(space_, 0, n);
    Kokkos::parallel_for(
        "kelk::solve::block_batched_start", all, KOKKOS_LAMBDA(std::int64_t i) {
          steps(i) = 0;
          alive(i) = active(i);
          if (active(i))
            for (int d = 0; d < D; ++d) starts(i, d) = pending(i, d);
        });
    const int longest = (T + K - 1) / K;  // block sizes differ by at most one
    for (int r = 0; r < longest; ++r) {
      Kokkos::parallel_for(
          "kelk::solve::block_batched_gather", all, KOKKOS_LAMBDA(std::int64_t i) {
            if (!alive(i)) return;  // a finished block's rows keep their last values
            const int b = int(i / K), t = chunk_begin(int(i % K), T, K) + r;
            const Scalar* s = r == 0 ? &starts(i, 0) : &p.states(b, t - 1, 0);
            for (int d = 0; d < D; ++d) prev(i, d) = s[d];
            const Scalar* ui = input_at(p, b, t);
            for (int k = 0; k < Din; ++k) u(i, k) = ui[k];
          });
      {
        const ProjectionBatch<ExecutionSpace> batch(space_);
        project_rows(space_, ConstRows(prev.data(), n, D), W_, Scalar(0), Rows(ws.data(), n, P));
        project_rows(space_, ConstRows(u.data(), n, Din), V_, Scalar(0), Rows(vu.data(), n, P));
      }
      Kokkos::parallel_for(
          "kelk::solve::block_batched_finish", all, KOKKOS_LAMBDA(std::int64_t i) {
            if (!alive(i)) return;
            const int b = int(i / K), j = int(i % K);
            const int t = chunk_begin(j, T, K) + r, t1 = chunk_begin(j + 1, T, K);
            Scalar* fi = &f(i, 0);
            map.finish_step(&prev(i, 0), &ws(i, 0), &vu(i, 0), fi);
            Scalar* s = &p.states(b, t, 0);
            const std::int64_t bt = std::int64_t(b) * T + t;
            steps(i) += 1;
            if (merge && !differs(fi, s, D, atol, rtol)) {
              marks(bt) = 1;
              alive(i) = 0;
              return;
            }
            for (int d = 0; d < D; ++d) s[d] = fi[d];
            if (merge) marks(bt) = 0;
            if (t + 1 == t1) alive(i) = 0;
          });
      // after a merge sweep's first steps most blocks have merged: stop when all have
      if (merge && r % 16 == 15) {
        std::int64_t running = 0;
        Kokkos::parallel_reduce(
            "kelk::solve::block_batched_running", all,
            KOKKOS_LAMBDA(std::int64_t i, std::int64_t & c) { c += alive(i); }, running);
        if (running == 0) break;
      }
    }
    return work_done();
  }

  /// max |s_t - f(s_{t-1}, u_t)| of the stored states, evaluated where it can be nonzero: at
  /// every block's first step (from the pending start, gathered just before) and at the merge
  /// marks. Everywhere else s_t was computed as f(s_{t-1}, u_t) from the stored s_{t-1}.
  Scalar residual(const Problem<ExecutionSpace, StepMap>& p) const {
    const int K = K_, D = p.D, T = p.T;
    const auto step = step_;
    const auto pending = pending_;
    const auto marks = marks_;
    const int map_scratch = step.scratch_size();
    return tiled_max<Scalar>(
        "kelk::solve::block_residual", space_, items(p), map_scratch + D,
        KOKKOS_LAMBDA(std::int64_t i, Scalar * scratch) {
          const int b = int(i / K), j = int(i % K);
          const int t0 = chunk_begin(j, T, K), t1 = chunk_begin(j + 1, T, K);
          Scalar* f = scratch + map_scratch;
          step(&pending(i, 0), input_at(p, b, t0), f, scratch);
          Scalar r = step_residual(p, b, t0, f);
          for (int t = t0 + 1; t < t1; ++t) {
            if (!marks(std::int64_t(b) * T + t)) continue;
            step(&p.states(b, t - 1, 0), input_at(p, b, t), f, scratch);
            const Scalar v = step_residual(p, b, t, f);
            if (v > r) r = v;
          }
          return r;
        });
  }

 private:
  auto alloc(const std::string& label) const {
    return Kokkos::view_alloc(space_, Kokkos::WithoutInitializing, label);
  }

  /// The work of the sweep just run, from the per-item step counts.
  Work work_done() const {
    Work work;
    const auto h_steps = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), steps_);
    for (std::size_t i = 0; i < h_steps.extent(0); ++i) {
      work.steps += h_steps(i);
      work.longest = std::max(work.longest, h_steps(i));
    }
    return work;
  }

  ExecutionSpace space_;
  BlockStepOf<StepMap, ExecutionSpace> step_;
  int K_;
  std::int64_t first_block_;  ///< global index (along the sequences) of this rank's block 0
  Scalar atol_, rtol_;
  Matrix starts_, pending_;
  Kokkos::View<Scalar*, memory_space> change_;
  Flags active_;
  Counts steps_;
  Flags marks_;
  // the batched sweep's weights and rows
  bool batched_ = false;
  Kokkos::View<const Scalar**, Kokkos::LayoutRight, memory_space> W_, V_;
  Matrix prev_, u_, ws_, vu_, f_;
  Flags alive_;
};

/// The block_jacobi iteration: check (exchange the rank boundary, gather the starts), stop when
/// no block start moved, else sweep. Every rank takes the same decisions from reduced values.
/// `batched` as for BlockJacobi (unset: batched on devices for maps with the projected form).
template <class ExecutionSpace, class StepMap, class Topology>
SolveResult solve_block_jacobi(const ExecutionSpace& space, Problem<ExecutionSpace, StepMap> p,
                               const SolveOptions& options, Topology& topology,
                               std::optional<bool> batched = std::nullopt) {
  using Scalar = typename StepMap::value_type;
  const int K = options.blocks > 0 ? options.blocks : default_blocks(space.concurrency(), p.B, p.T);
  const auto [first_block, total] = topology.blocks_along_time(K);
  double along = double(total);
  topology.max(&along, 1);  // every rank iterates as often as the longest block chain needs
  const int max_iter = options.max_iter ? *options.max_iter : int(along);
  const double atol = options.atol ? *options.atol : default_atol<Scalar>();
  SolveResult result;
  result.method = Method::block_jacobi;
  if (max_iter == 0) {  // nothing evaluated: the initial guess is the result
    GuessValue<Scalar, typename ExecutionSpace::memory_space> guess{
        options.initial_guess, p.s0, {}, std::int64_t(p.T) * p.D, p.D};
    fill_initial_guess(space, p, guess);
    topology.exchange_boundary(space, p);
    double r = residual(space, p, make_bulk_workspace(space, p.map, p.steps()));
    topology.max(&r, 1);
    result.final_residual = r;
    return result;
  }
  std::optional<BlockJacobi<ExecutionSpace, StepMap>> blocks;
  const std::int64_t first = first_block;  // C++17 lambdas cannot capture structured bindings
  topology.agree([&] { blocks.emplace(space, p, K, first, atol, options.rtol, batched); });
  auto& solver = *blocks;
  double last_residual = 0.0;
  for (int sweep = 1;; ++sweep) {
    // 1. check: the starts of this sweep, how far they moved, the residual of the last sweep
    // (O(blocks) step evaluations, so it is computed on every check)
    if (sweep > 1 || options.initial_guess == InitialGuess::provided)
      topology.exchange_boundary(space, p);
    const auto check = solver.gather(p, sweep, options.initial_guess);
    double measures[2] = {check.max_change, sweep > 1 ? double(solver.residual(p)) : 0.0};
    std::int64_t active = check.active;
    topology.max(measures, 2);
    topology.sum(&active, 1);
    if (sweep > 1) {
      last_residual = measures[1];
      if (options.record_history) result.history.back().max_residual = last_residual;
      result.converged = active == 0;
      result.reason = active == 0 ? StopReason::converged : StopReason::max_iterations;
      if (active == 0 && !options.fixed_iterations) break;
      if (sweep > max_iter) break;
    }
    // 2. sweep
    const auto work = solver.sweep(p, sweep);
    std::int64_t steps = work.steps;
    double longest = double(work.longest);
    topology.sum(&steps, 1);
    topology.max(&longest, 1);
    result.iterations = sweep;
    result.final_update = measures[0];
    if (options.record_history)
      result.history.push_back({sweep, measures[0], 0.0, steps, std::int64_t(longest)});
    if (options.on_iteration) options.on_iteration({sweep, measures[0], last_residual});
  }
  result.final_residual = last_residual;
  result.returned_iteration = result.iterations;
  std::int64_t non_finite = count_non_finite(space, p.states);
  topology.sum(&non_finite, 1);
  if (non_finite > 0) {
    result.converged = false;
    result.reason = StopReason::non_finite;
  }
  return result;
}

}  // namespace kelk::impl
