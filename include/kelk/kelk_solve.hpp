// kelk::solve: evaluate s_t = f(s_{t-1}, u_t), t = 1..T, for a batch of sequences, by the
// sequential loop or in parallel over time with Jacobi, DEER or quasi-DEER iterations.
#pragma once

#include <kelk/impl/kelk_kernels.hpp>
#include <kelk/kelk_affine.hpp>
#include <kelk/kelk_kalman.hpp>
#include <kelk/kelk_options.hpp>
#include <kelk/kelk_scan.hpp>
#include <kelk/kelk_step_map.hpp>
#include <kelk/kelk_views.hpp>

#include <Kokkos_Core.hpp>

#include <cmath>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>

namespace kelk {

namespace impl {

[[noreturn]] inline void invalid(const std::string& what) {
  throw std::invalid_argument("kelk::solve: " + what);
}

inline std::string shape(std::size_t a, std::size_t b, std::size_t c) {
  return "(" + std::to_string(a) + ", " + std::to_string(b) + ", " + std::to_string(c) + ")";
}

/// Host-side checks of shapes, options and data; throws std::invalid_argument naming the
/// problem. Returns the problem description for the kernels.
template <class ExecutionSpace, class StepMap>
Problem<ExecutionSpace, StepMap> make_problem(
    const ExecutionSpace& space, const StepMap& map,
    const BatchView<const typename StepMap::value_type, typename ExecutionSpace::memory_space>& s0,
    const SequenceView<const typename StepMap::value_type, typename ExecutionSpace::memory_space>&
        inputs,
    const SequenceView<typename StepMap::value_type, typename ExecutionSpace::memory_space>& states,
    const SolveOptions& options) {
  Problem<ExecutionSpace, StepMap> p{map, s0, inputs, states};
  p.D = map.state_dim();
  p.Din = map.input_dim();
  p.B = static_cast<int>(s0.extent(0));
  p.T = static_cast<int>(states.extent(1));
  if (p.D < 1)
    invalid("the step map's state dimension D is " + std::to_string(p.D) + "; need D >= 1");
  if (p.Din < 0) invalid("the step map's input dimension Din is negative");
  if (p.B < 1) invalid("s0 holds no sequence (batch size B = 0); need B >= 1");
  if (s0.extent(1) != std::size_t(p.D))
    invalid("s0 has shape (" + std::to_string(s0.extent(0)) + ", " + std::to_string(s0.extent(1)) +
            ") but the step map has D = " + std::to_string(p.D) + "; need (B, D)");
  if (states.extent(0) != std::size_t(p.B) || states.extent(2) != std::size_t(p.D))
    invalid("states have shape " + shape(states.extent(0), states.extent(1), states.extent(2)) +
            "; need (B, T, D) with B = " + std::to_string(p.B) + ", D = " + std::to_string(p.D));
  if (p.T < 1) invalid("the sequence length T is 0; need T >= 1");
  if (inputs.extent(0) != std::size_t(p.B) || inputs.extent(1) != std::size_t(p.T) ||
      inputs.extent(2) != std::size_t(p.Din))
    invalid("inputs have shape " + shape(inputs.extent(0), inputs.extent(1), inputs.extent(2)) +
            " but (B, T, Din) = " + shape(p.B, p.T, p.Din) + " is needed");
  if (!states.span_is_contiguous() || !inputs.span_is_contiguous() || !s0.span_is_contiguous())
    invalid("s0, inputs and states must be contiguous Views");

  if (options.atol && !(*options.atol >= 0 && std::isfinite(*options.atol)))
    invalid("atol must be finite and >= 0, got " + std::to_string(*options.atol));
  if (!(options.rtol >= 0 && std::isfinite(options.rtol)))
    invalid("rtol must be finite and >= 0, got " + std::to_string(options.rtol));
  if (options.max_iter && *options.max_iter < 0)
    invalid("max_iter must be >= 0, got " + std::to_string(*options.max_iter));
  if (options.chunks < 0)
    invalid("chunks must be >= 0 (0: automatic), got " + std::to_string(options.chunks));
  if (!(options.clip_value > 0)) invalid("clip_value must be > 0");
  const Method m = options.method;
  if ((m == Method::deer || m == Method::elk) && !provides_jacobian_v<StepMap>)
    invalid("method " + to_string(m) + " needs a step map with jacobian()");
  if ((m == Method::quasi_deer || m == Method::quasi_elk) && !provides_jacobian_diagonal_v<StepMap>)
    invalid("method " + to_string(m) + " needs a step map with jacobian_diagonal()");
  if (options.sigma2 && !(*options.sigma2 > 0 && std::isfinite(*options.sigma2)))
    invalid("sigma2 must be finite and > 0, got " + std::to_string(*options.sigma2));

  if (count_non_finite(space, s0) > 0) invalid("s0 contains NaN or Inf");
  if (count_non_finite(space, inputs) > 0) invalid("inputs contain NaN or Inf");
  if (options.method != Method::sequential && options.initial_guess == InitialGuess::provided &&
      count_non_finite(space, states) > 0)
    invalid("the provided initial guess (the states on entry) contains NaN or Inf");
  return p;
}

/// The buffers and scans of one iterative method. step() linearises f around the current
/// iterate (returning that iterate's residual) and solves the linearised problem: a linear
/// recurrence (deer, quasi_deer), a Kalman filter and optional smoother (elk, quasi_elk), or
/// nothing (jacobi). Afterwards `next` holds the next iterate, before the safeguard.
template <class ExecutionSpace, class StepMap>
class MethodWorkspace {
 public:
  using Scalar = typename StepMap::value_type;
  using memory_space = typename ExecutionSpace::memory_space;
  using Sequence = SequenceView<Scalar, memory_space>;
  using Matrices = Kokkos::View<Scalar****, Kokkos::LayoutRight, memory_space>;

  Sequence next;

  MethodWorkspace(const ExecutionSpace& space, const Problem<ExecutionSpace, StepMap>& p,
                  const SolveOptions& options)
      : space_(space), method_(options.method) {
    const int B = p.B, T = p.T, D = p.D;
    const bool dense = method_ == Method::deer || method_ == Method::elk;
    const bool kalman = method_ == Method::elk || method_ == Method::quasi_elk;
    const bool smoother = kalman && options.kalman_smoother;
    // b_t of the linearisation; the next iterate too unless a smoother needs b_t afterwards
    b_ = Sequence(alloc("kelk::solve::offsets"), B, T, D);
    next = smoother ? Sequence(alloc("kelk::solve::means"), B, T, D) : b_;
    if (method_ == Method::jacobi) return;
    const int conc = space.concurrency();
    const auto chunks = [&](double summary_cost) {
      return options.chunks > 0 ? options.chunks : default_chunks(conc, B, T, summary_cost);
    };
    if (dense)
      A_ = Matrices(alloc("kelk::solve::jacobians"), B, T, D, D);
    else
      a_ = Sequence(alloc("kelk::solve::jacobian_diagonals"), B, T, D);
    const Scalar k =
        kalman ? kalman_gain(Scalar(options.sigma2 ? *options.sigma2 : default_sigma2(method_)))
               : Scalar(0);
    switch (method_) {
      case Method::deer:
        dense_affine_ = {A_, b_};
        dense_affine_scan_.emplace(space, dense_affine_, chunks(double(D)));
        break;
      case Method::quasi_deer:
        diag_affine_ = {a_, b_};
        diag_affine_scan_.emplace(space, diag_affine_, chunks(1.0));
        break;
      case Method::elk: {
        Matrices cov;
        if (smoother) cov = Matrices(alloc("kelk::solve::covariances"), B, T, D, D);
        dense_filter_ = {A_, b_, p.states, next, cov, k};
        dense_filter_scan_.emplace(space, dense_filter_, chunks(double(D)));
        if (smoother) {
          dense_smoother_ = {A_, b_, next, cov, false};
          dense_smoother_scan_.emplace(space, dense_smoother_, chunks(double(D)));
        }
        break;
      }
      case Method::quasi_elk: {
        Sequence cov;
        if (smoother) cov = Sequence(alloc("kelk::solve::variances"), B, T, D);
        scalar_filter_ = {a_, b_, p.states, next, cov, k};
        scalar_filter_scan_.emplace(space, scalar_filter_, chunks(1.0));
        if (smoother) {
          scalar_smoother_ = {a_, b_, next, cov, false};
          scalar_smoother_scan_.emplace(space, scalar_smoother_, chunks(1.0));
        }
        break;
      }
      default:
        break;
    }
  }

  Scalar step(const Problem<ExecutionSpace, StepMap>& p) {
    Scalar residual = 0;
    switch (method_) {
      case Method::jacobi:
        residual = linearize_jacobi(space_, p, b_);
        break;
      case Method::deer:
      case Method::elk:
        if constexpr (provides_jacobian_v<StepMap>) residual = linearize_dense(space_, p, A_, b_);
        break;
      case Method::quasi_deer:
      case Method::quasi_elk:
        if constexpr (provides_jacobian_diagonal_v<StepMap>)
          residual = linearize_diagonal(space_, p, a_, b_);
        break;
      default:
        break;
    }
    if (dense_affine_scan_) dense_affine_scan_->run(dense_affine_);
    if (diag_affine_scan_) diag_affine_scan_->run(diag_affine_);
    if (dense_filter_scan_) dense_filter_scan_->run(dense_filter_);
    if (dense_smoother_scan_) dense_smoother_scan_->run(dense_smoother_);
    if (scalar_filter_scan_) scalar_filter_scan_->run(scalar_filter_);
    if (scalar_smoother_scan_) scalar_smoother_scan_->run(scalar_smoother_);
    return residual;
  }

 private:
  auto alloc(const std::string& label) const {
    return Kokkos::view_alloc(space_, Kokkos::WithoutInitializing, label);
  }

  ExecutionSpace space_;
  Method method_;
  Sequence b_, a_;
  Matrices A_;
  DenseAffineAlgebra<Scalar, memory_space> dense_affine_;
  DiagonalAffineAlgebra<Scalar, memory_space> diag_affine_;
  DenseKalmanFilterAlgebra<Scalar, memory_space> dense_filter_;
  DenseRtsSmootherAlgebra<Scalar, memory_space> dense_smoother_;
  ScalarKalmanFilterAlgebra<Scalar, memory_space> scalar_filter_;
  ScalarRtsSmootherAlgebra<Scalar, memory_space> scalar_smoother_;
  std::optional<ChunkedScan<ExecutionSpace, DenseAffineAlgebra<Scalar, memory_space>>>
      dense_affine_scan_;
  std::optional<ChunkedScan<ExecutionSpace, DiagonalAffineAlgebra<Scalar, memory_space>>>
      diag_affine_scan_;
  std::optional<ChunkedScan<ExecutionSpace, DenseKalmanFilterAlgebra<Scalar, memory_space>>>
      dense_filter_scan_;
  std::optional<ChunkedScan<ExecutionSpace, DenseRtsSmootherAlgebra<Scalar, memory_space>>>
      dense_smoother_scan_;
  std::optional<ChunkedScan<ExecutionSpace, ScalarKalmanFilterAlgebra<Scalar, memory_space>>>
      scalar_filter_scan_;
  std::optional<ChunkedScan<ExecutionSpace, ScalarRtsSmootherAlgebra<Scalar, memory_space>>>
      scalar_smoother_scan_;
};

/// The iterative methods: each iteration runs the method's step (linearise and solve), then
/// the safeguarded update, the convergence test and the bookkeeping of ALGORITHMS.md section 7.
template <class ExecutionSpace, class StepMap>
SolveResult iterate(const ExecutionSpace& space, const Problem<ExecutionSpace, StepMap>& p,
                    const SolveOptions& options) {
  using Scalar = typename StepMap::value_type;
  using memory_space = typename ExecutionSpace::memory_space;
  const auto alloc = [&](const std::string& label) {
    return Kokkos::view_alloc(space, Kokkos::WithoutInitializing, label);
  };
  MethodWorkspace<ExecutionSpace, StepMap> method(space, p, options);

  // The initial guess, kept as a flat copy only when the safeguard may reset to it.
  GuessValue<Scalar, memory_space> guess{options.initial_guess, p.s0, {}, p.T * p.D, p.D};
  if (options.initial_guess == InitialGuess::provided &&
      options.non_finite == NonFinitePolicy::reset_to_guess) {
    Kokkos::View<Scalar*, memory_space> copy(alloc("kelk::solve::initial_guess"), p.size());
    Kokkos::deep_copy(space, copy,
                      Kokkos::View<const Scalar*, memory_space>(p.states.data(), p.size()));
    guess.provided = copy;
  }
  fill_initial_guess(space, p, guess);

  Kokkos::View<Scalar*, memory_space> best;
  if (options.keep_best) best = decltype(best)(alloc("kelk::solve::best"), p.size());

  const int max_iter = options.max_iter ? *options.max_iter : default_max_iter(options.method, p.T);
  const double atol = options.atol ? *options.atol : default_atol<Scalar>();
  UpdateKernel<Scalar, memory_space> update{
      p.states.data(),    method.next.data(),         best.data(),          guess,
      options.non_finite, Scalar(options.clip_value), Scalar(options.rtol), false};

  SolveResult result;
  result.method = options.method;
  double best_residual = std::numeric_limits<double>::infinity();
  int best_iteration = -1;
  for (int it = 1; it <= max_iter; ++it) {
    // 1. linearise around iterate it-1 (which yields its residual) and solve
    const double res = method.step(p);
    if (options.record_history && it > 1) result.history.back().max_residual = res;
    update.save_best = options.keep_best && res < best_residual;
    if (update.save_best) {
      best_residual = res;
      best_iteration = it - 1;
    }
    // 2. safeguarded update and convergence measures
    UpdateStats<Scalar> stats;
    Kokkos::parallel_reduce(
        "kelk::solve::update",
        Kokkos::RangePolicy<ExecutionSpace, Kokkos::IndexType<std::int64_t>>(space, 0, p.size()),
        update, stats);
    result.iterations = it;
    result.final_update = stats.max_update;
    if (options.record_history) result.history.push_back({it, double(stats.max_update), 0.0});
    if (options.on_iteration) options.on_iteration({it, double(stats.max_update), res});
    if (stats.non_finite > 0 && options.non_finite == NonFinitePolicy::none) {
      result.reason = StopReason::non_finite;
      break;
    }
    if (double(stats.max_excess) <= atol) {
      // An iterate held in place by clipping or resetting stops moving without solving the
      // recurrence: that is a fixed point of the safeguard, not convergence.
      result.converged = stats.safeguarded == 0;
      result.reason = result.converged ? StopReason::converged : StopReason::stalled;
      break;
    }
  }
  result.final_residual = residual(space, p);
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

}  // namespace impl

/// Evaluates the recurrence s_t = f(s_{t-1}, u_t), t = 1..T, for B sequences.
///
/// \param space   execution space instance every kernel runs on
/// \param map     the step map (see \ref step_map_contract)
/// \param s0      initial states, (B, D)
/// \param inputs  inputs u_1..u_T, (B, T, Din)
/// \param states  output s_1..s_T, (B, T, D); with InitialGuess::provided, also the guess
/// \param options method, tolerances, safeguards (ALGORITHMS.md section 7)
/// \returns iterations, convergence and why, final update and residual, optional history.
/// \throws std::invalid_argument for inconsistent shapes, empty problems, invalid options,
///         NaN/Inf in s0 or inputs, or a method the map cannot serve.
template <class ExecutionSpace, class StepMap>
SolveResult solve(
    const ExecutionSpace& space, const StepMap& map,
    const BatchView<const typename StepMap::value_type, typename ExecutionSpace::memory_space>& s0,
    const SequenceView<const typename StepMap::value_type, typename ExecutionSpace::memory_space>&
        inputs,
    const SequenceView<typename StepMap::value_type, typename ExecutionSpace::memory_space>& states,
    const SolveOptions& options = {}) {
  check_step_map<StepMap>();
  static_assert(Kokkos::is_execution_space<ExecutionSpace>::value,
                "kelk::solve: the first argument must be a Kokkos execution space instance");
  const auto p = impl::make_problem(space, map, s0, inputs, states, options);
  Kokkos::Profiling::pushRegion("kelk::solve::" + to_string(options.method));
  SolveResult result;
  if (options.method == Method::sequential) {
    impl::evaluate_sequential(space, p);
    result.method = Method::sequential;
    result.iterations = result.returned_iteration = 1;
    result.converged = true;
    result.reason = StopReason::converged;
    result.final_residual = impl::residual(space, p);
  } else {
    result = impl::iterate(space, p, options);
  }
  Kokkos::Profiling::popRegion();
  return result;
}

/// solve() on the default execution space.
template <class StepMap>
SolveResult solve(const StepMap& map, const BatchView<const typename StepMap::value_type>& s0,
                  const SequenceView<const typename StepMap::value_type>& inputs,
                  const SequenceView<typename StepMap::value_type>& states,
                  const SolveOptions& options = {}) {
  return solve(Kokkos::DefaultExecutionSpace(), map, s0, inputs, states, options);
}

}  // namespace kelk
