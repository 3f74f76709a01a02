// The iteration shared by the single-process and the distributed solvers (ALGORITHMS.md
// sections 2-8): linearise, solve the linearised problem with scans, apply the safeguarded
// update, test convergence. What differs between one process and many ranks (halo exchange,
// the scans across blocks, reductions) goes through a Topology policy; SingleProcess is the
// trivial one, kelk::DistributedSolver supplies the MPI one.
#pragma once

#include <kelk/impl/kelk_block_jacobi.hpp>
#include <kelk/impl/kelk_kernels.hpp>
#include <kelk/impl/kelk_method_steps.hpp>
#include <kelk/impl/kelk_sequential.hpp>
#include <kelk/impl/kelk_trust_region.hpp>
#include <kelk/kelk_affine.hpp>
#include <kelk/kelk_kalman.hpp>
#include <kelk/kelk_options.hpp>
#include <kelk/kelk_scan.hpp>
#include <kelk/kelk_step_map.hpp>

#include <Kokkos_Core.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>

namespace kelk::impl {

/// The Topology of a single process: one block holds all of every sequence.
///   exchange_boundary(space, p): sets p.prev0 for the next linearisation (here: s0 already)
///   shift_from_next(space, first, next): next = the next time block's slice t = 0 of `first`
///     (called on every block; `next` is empty on the last one)
///   forward_scan / backward_scan(scan, algebra): a whole scan over all blocks
///   max(values, n), sum(values, n): reductions over all ranks (sum: of int64 or double)
///   last_time_block(): the block holds the sequences' last step
///   sequential(space, p): the plain loop over this block, after the blocks before it
///   blocks_along_time(K): {global index of this block's first of K block_jacobi blocks,
///     blocks along the whole sequences}
///   agree(f): runs f (the allocations of a solve); if it throws on any rank, throws on all
///   chain_from_next(space, next, out, run): next = the next time block's slice 0 of `out`
///     after that block ran `run` (in turn from the last block; here: just run)
///   sum_over_ranks(space, v): v = the sum of v over all ranks
struct SingleProcess {
  template <class ExecutionSpace, class Next, class Out, class F>
  void chain_from_next(const ExecutionSpace&, const Next&, const Out&, F&& run) const {
    run();
  }
  template <class ExecutionSpace, class V>
  void sum_over_ranks(const ExecutionSpace&, const V&) const {}
  template <class F>
  void agree(F&& f) const {
    f();
  }
  template <class ExecutionSpace, class P>
  void exchange_boundary(const ExecutionSpace&, P&) const {}
  template <class ExecutionSpace, class First, class Next>
  void shift_from_next(const ExecutionSpace&, const First&, const Next&) const {}
  template <class Scan, class Algebra>
  void forward_scan(Scan& scan, const Algebra& algebra) const {
    scan.run(algebra);
  }
  template <class Scan, class Algebra>
  void backward_scan(Scan& scan, const Algebra& algebra) const {
    scan.run(algebra);
  }
  void max(double*, int) const {}
  void sum(std::int64_t*, int) const {}
  void sum(double*, int) const {}
  bool last_time_block() const { return true; }
  std::pair<std::int64_t, std::int64_t> blocks_along_time(int K) const { return {0, K}; }
  template <class ExecutionSpace, class P>
  void sequential(const ExecutionSpace& space, P& p) const {
    evaluate_sequential(space, p);
  }
};

/// The iterative methods: each iteration runs the method's step (linearise and solve), then
/// the safeguarded update, the convergence test and the bookkeeping of ALGORITHMS.md section 7.
/// Every rank of a distributed solve takes the same decisions, from reduced values.
template <class ExecutionSpace, class StepMap, class Topology>
SolveResult iterate(const ExecutionSpace& space, Problem<ExecutionSpace, StepMap> p,
                    const SolveOptions& options, Topology topology) {
  using Scalar = typename StepMap::value_type;
  using memory_space = typename ExecutionSpace::memory_space;
  const auto alloc = [&](const std::string& label) {
    return Kokkos::view_alloc(space, Kokkos::WithoutInitializing, label);
  };
  // Every buffer is allocated before the first collective step, and every rank agrees that
  // all allocations succeeded (a rank short of memory must not leave the others waiting).
  std::unique_ptr<MethodStep<ExecutionSpace, StepMap, Topology>> workspace;
  // The initial guess, kept as a flat copy only when the safeguard may reset to it.
  GuessValue<Scalar, memory_space> guess{
      options.initial_guess, p.s0, {}, std::int64_t(p.T) * p.D, p.D};
  Kokkos::View<Scalar*, memory_space> best, guess_copy;
  topology.agree([&] {
    workspace = make_method_step(space, p, options, topology);
    if (options.initial_guess == InitialGuess::provided &&
        options.non_finite == NonFinitePolicy::reset_to_guess)
      guess_copy = decltype(guess_copy)(alloc("kelk::solve::initial_guess"), p.size());
    if (options.keep_best) best = decltype(best)(alloc("kelk::solve::best"), p.size());
  });
  auto& method = *workspace;
  if (guess_copy.size() > 0) {
    Kokkos::deep_copy(space, guess_copy,
                      Kokkos::View<const Scalar*, memory_space>(p.states.data(), p.size()));
    guess.provided = guess_copy;
  }
  fill_initial_guess(space, p, guess);

  const int max_iter =
      options.max_iter ? *options.max_iter : default_max_iter(options.method, p.global_T);
  const double atol = options.atol ? *options.atol : default_atol<Scalar>();
  UpdateKernel<Scalar, memory_space> update{
      p.states.data(),    method.next.data(),         best.data(),          guess,
      options.non_finite, Scalar(options.clip_value), Scalar(options.rtol), false};
  const auto global_residual = [&] {
    topology.exchange_boundary(space, p);
    double r = residual(space, p, method.bulk());
    topology.max(&r, 1);
    return r;
  };

  SolveResult result;
  result.method = options.method;
  double best_residual = std::numeric_limits<double>::infinity();
  int best_iteration = -1;
  const bool kalman = options.method == Method::elk || options.method == Method::quasi_elk;
  const double sigma2 = options.sigma2 ? *options.sigma2 : default_sigma2(options.method);
  // sigma2 auto (ALGORITHMS.md section 5.1): the trust region judges each candidate by its
  // linear model's error against the merit of the current iterate, both summed over all ranks
  const bool adaptive = kalman && options.sigma2_auto;
  AdaptiveSigma2 region(options.method, sigma2);
  double merit_now = 0;
  Problem<ExecutionSpace, StepMap> candidate = p;
  candidate.states = method.next;
  if (adaptive) {
    topology.exchange_boundary(space, p);
    merit_now = merit(space, p, method.bulk());
    topology.sum(&merit_now, 1);
    method.set_sigma2(region.sigma2());
  }
  bool linearized = false;  // the workspace holds the linearisation around the iterate
  double res = 0;           // and this is the iterate's residual
  bool stopped = false;     // sigma2 auto: the iterate's residual met atol
  // an iteration's history record and progress report
  const auto report = [&](int it, double update, double residual, double step_sigma2,
                          bool accepted, bool converged) {
    if (options.record_history)
      result.history.push_back({it, update, residual, 0, 0, step_sigma2, accepted});
    if (options.on_iteration)
      options.on_iteration({it, update, res, step_sigma2, accepted, converged});
  };
  for (int it = 1; it <= max_iter; ++it) {
    // 1. linearise around iterate it-1 (which yields its residual) and solve
    if (!linearized) {
      topology.exchange_boundary(space, p);
      res = method.linearize(p, topology);
      topology.max(&res, 1);
      linearized = true;
      if (options.record_history && it > 1) result.history.back().max_residual = res;
      update.save_best = options.keep_best && res < best_residual;
      if (update.save_best) {
        best_residual = res;
        best_iteration = it - 1;
      }
      if (adaptive && res <= atol && !options.fixed_iterations) {
        stopped = true;
        break;
      }
    }
    method.solve(topology);
    const double step_sigma2 = !kalman ? 0.0 : adaptive ? region.sigma2() : sigma2;
    if (adaptive) {
      // 1b. judge the candidate; a rejected one leaves the iterate and its linearisation as
      // they are, to be solved again with the smaller sigma^2
      topology.exchange_boundary(space, candidate);
      const auto local = method.candidate_merit(candidate);
      double sums[2] = {local.first, local.second};  // merit, model error
      topology.sum(sums, 2);
      const bool accept = region.judge(merit_now, sums[1], std::isfinite(sums[0]));
      method.set_sigma2(region.sigma2());
      if (!accept) {
        result.iterations = it;
        result.final_update = 0.0;
        result.reason = region.at_floor() ? StopReason::stalled : StopReason::max_iterations;
        report(it, 0.0, res, step_sigma2, false, false);  // the iterate, and its residual, stay
        if (region.at_floor()) break;
        continue;
      }
      merit_now = sums[0];
    }
    linearized = false;
    // 2. safeguarded update and convergence measures
    UpdateStats<Scalar> stats;
    Kokkos::parallel_reduce(
        "kelk::solve::update",
        Kokkos::RangePolicy<ExecutionSpace, Kokkos::IndexType<std::int64_t>>(space, 0, p.size()),
        update, stats);
    double measures[2] = {double(stats.max_update), double(stats.max_excess)};
    std::int64_t counts[2] = {stats.non_finite, stats.safeguarded};
    topology.max(measures, 2);
    topology.sum(counts, 2);
    result.iterations = it;
    result.final_update = measures[0];
    const bool met = measures[1] <= atol;
    // An iterate held in place by clipping or resetting stops moving without solving the
    // recurrence: that is a fixed point of the safeguard, not convergence.
    const bool converged = met && counts[1] == 0;
    // the residual comes at the next linearisation, where sigma2 auto also judges convergence
    report(it, measures[0], 0.0, step_sigma2, true, converged && !adaptive);
    if (counts[0] > 0 && options.non_finite == NonFinitePolicy::none) {
      result.reason = StopReason::non_finite;
      break;
    }
    if (adaptive) {  // converged once the residual meets atol (tested at the next linearisation;
                     // with fixed_iterations by the final residual below)
      result.reason = StopReason::max_iterations;
      continue;
    }
    result.converged = converged;
    result.reason = !met ? StopReason::max_iterations
                         : result.converged ? StopReason::converged : StopReason::stalled;
    if (met && !options.fixed_iterations) break;
  }
  if (stopped) {
    result.converged = true;
    result.reason = StopReason::converged;
  }
  result.final_residual = global_residual();
  result.returned_iteration = result.iterations;
  if (options.record_history && !result.history.empty())
    result.history.back().max_residual = result.final_residual;
  // An iterate that satisfies the recurrence to atol has converged even if its update did not
  // show it yet: e.g. after the T iterations that make every Newton-type method exact.
  if (result.reason == StopReason::max_iterations && result.final_residual <= atol) {
    result.converged = true;
    result.reason = StopReason::converged;
  }
  if (!result.converged && options.keep_best && best_residual < result.final_residual) {
    Kokkos::deep_copy(space, Kokkos::View<Scalar*, memory_space>(p.states.data(), p.size()), best);
    result.final_residual = best_residual;
    result.returned_iteration = best_iteration;
  }
  return result;
}

/// Any method: the sequential loop, block_jacobi's sweeps, or the iteration.
template <class ExecutionSpace, class StepMap, class Topology>
SolveResult solve_with(const ExecutionSpace& space, Problem<ExecutionSpace, StepMap> p,
                       const SolveOptions& options, Topology topology) {
  if (options.method == Method::block_jacobi)
    return solve_block_jacobi(space, p, options, topology);
  if (options.method != Method::sequential) return iterate(space, p, options, topology);
  topology.sequential(space, p);
  SolveResult result;
  result.method = Method::sequential;
  result.iterations = result.returned_iteration = 1;
  // No residual pass: every state is f of the one before it (across ranks too, from the
  // received halo), so the residual is 0 by construction and reported as such. But a
  // trajectory that overflowed (or NaN weights) is no solution: one vectorised read pass.
  std::int64_t non_finite = count_non_finite(space, p.states);
  topology.sum(&non_finite, 1);
  result.converged = non_finite == 0;
  result.reason = result.converged ? StopReason::converged : StopReason::non_finite;
  result.final_residual = 0.0;
  return result;
}

}  // namespace kelk::impl
