// The predictability probe (ALGORITHMS.md section 13): an estimate of the largest Lyapunov
// exponent of the recurrence along its trajectory, from a prefix of every sequence, and the
// choice of method it implies (method = "auto").
#pragma once

#include <kelk/impl/kelk_kernels.hpp>
#include <kelk/kelk_options.hpp>
#include <kelk/kelk_solve.hpp>
#include <kelk/kelk_step_map.hpp>
#include <kelk/kelk_views.hpp>

#include <Kokkos_Core.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace kelk {

struct ProbeOptions {
  /// Most steps of each sequence's prefix to measure; 0: min(T, max(1000, T / 50)), which
  /// keeps the probe near 4% of a sequential evaluation (two evaluations of f per step).
  int steps = 0;
  /// Steps first discarded (the tangent aligning with the leading direction); -1:
  /// min(100, steps / 10).
  int discard = -1;
  /// Stop a sequence's probe early once the standard error of its exponent is at most this
  /// fraction of the exponent's magnitude (checked whenever a batch completes, from 300
  /// measured steps on); 0: always measure `steps` steps.
  double relative_error = 0.02;
  /// The perturbation the merge length is measured down to (block_jacobi's tolerance).
  double tolerance = 1e-7;
};

struct ProbeResult {
  /// The largest Lyapunov exponent per step, mean over the sequences: perturbations grow (> 0)
  /// or shrink (< 0) by about e^exponent per step. -inf when the tangent vanished (an exact 0),
  /// +inf when it overflowed; NaN when the probe measured nothing (see `finite`).
  double exponent = 0.0;
  /// The exponent's standard error. Per sequence b, batch means whose batches grow with the
  /// measured steps n_b: the logs of the growth factors summed over 32 to 64 consecutive
  /// batches of equal length L (L doubles whenever 64 are full, merging adjacent pairs), and
  /// e_b = sqrt(L var_batch / n_b), var_batch the sample variance of the batch means (so
  /// L var_batch estimates the variance per step of the time-average, correlations over up to
  /// ~L steps included). Over the B sequences: the larger of sqrt(sum_b e_b^2) / B (the
  /// sequences' own errors combined) and, when B >= 2 and every exponent is finite, sd / sqrt(B)
  /// (sd: the sample standard deviation of the B exponents, the spread between sequences).
  /// +inf when a sequence completed fewer than two batches; 0 when the tangent vanished or
  /// overflowed.
  double error = 0.0;
  double exponent_min = 0.0, exponent_max = 0.0;  ///< over the sequences
  int steps = 0;  ///< steps probed (discarded ones included), the most over the sequences
  /// Steps for a perturbation of size 1 to shrink to `tolerance`, -ln(tolerance) / -exponent
  /// (block_jacobi's merge length); +inf when the exponent is not below 0 by two errors.
  double merge_length = std::numeric_limits<double>::infinity();
  /// exponent + 2 error < 0 and merge_length < T: parallel evaluation can pay.
  bool predictable = false;
  /// false when a sequence's trajectory or its tangent became NaN or Inf (f itself produced
  /// them: s0 and inputs are checked finite). exponent, error, exponent_min and exponent_max
  /// are then NaN, predictable false, and the verdict starts with "non-finite" and names the
  /// step; method = "auto" then chooses sequential, whose solve reports the NaN/Inf.
  bool finite = true;
  int non_finite_sequence = -1, non_finite_step = -1;  ///< the first such (0-based), if any
  std::string verdict;  ///< in plain words
};

/// Estimates the largest Lyapunov exponent of `map` along the trajectory from s0 with `inputs`:
/// per sequence, a tangent vector v is carried along the prefix by one finite-difference
/// Jacobian-vector product per step (f(s + eps v) - f(s)) / eps and renormalised; the exponent
/// is the mean log of the growth factors after the first `discard` steps (the one-column QR
/// method), its standard error from batch means with batches that grow with the measured steps
/// (ProbeResult::error), the larger of the sequences' combined errors and the standard error
/// of their spread when B >= 2. A sequence stops once
/// that error is below `relative_error` of the exponent (a contracting map within a few hundred
/// steps), else after `steps`. Costs two evaluations of f per probed step: at most about
/// 2 steps / T of a sequential evaluation. Runs on `space`, one thread per sequence.
///
/// \throws std::invalid_argument for inconsistent shapes, invalid options, or NaN/Inf in s0 or
///         inputs (the messages of kelk::solve, prefixed "kelk::probe: ").
/// A trajectory or tangent that becomes NaN/Inf on the way is no error: the result says so
/// (ProbeResult::finite false, exponent NaN, verdict "non-finite: ...").
/// The Views may be of any layout, as for kelk::solve.
template <class ExecutionSpace, class StepMap, class S0, class Inputs,
          class = std::enable_if_t<Kokkos::is_execution_space<ExecutionSpace>::value>>
ProbeResult probe(const ExecutionSpace& space, const StepMap& map, const S0& s0,
                  const Inputs& inputs, const ProbeOptions& options = {});

namespace impl {

/// The most batch sums the probe holds per sequence (ProbeResult::error).
constexpr int probe_max_batches = 64;

/// The standard error of the mean of `measured` values from `batches` (>= 2) batch sums of
/// `length` values each: sqrt(length var / measured), var the sample variance of the batch
/// means; +inf with fewer than two batches.
KOKKOS_INLINE_FUNCTION double batch_means_error(const double* batch, int batches, int length,
                                                int measured) {
  if (batches < 2) return infinity<double>();
  double mean = 0;
  for (int i = 0; i < batches; ++i) mean += batch[i];
  mean /= double(batches) * length;
  double squares = 0;
  for (int i = 0; i < batches; ++i) {
    const double x = batch[i] / length - mean;
    squares += x * x;
  }
  return impl::sqrt(length * squares / (batches - 1) / measured);
}

template <class ExecutionSpace, class StepMap>
ProbeResult probe_contiguous(
    const ExecutionSpace& space, const StepMap& map,
    const BatchView<const typename StepMap::value_type, typename ExecutionSpace::memory_space>& s0,
    const SequenceView<const typename StepMap::value_type, typename ExecutionSpace::memory_space>&
        inputs,
    const ProbeOptions& options) {
  using Scalar = typename StepMap::value_type;
  using memory_space = typename ExecutionSpace::memory_space;
  const int B = int(s0.extent(0)), T = int(inputs.extent(1)), D = map.state_dim(),
            Din = map.input_dim();
  const auto fail = [](const std::string& what) {
    throw std::invalid_argument("kelk::probe: " + what);
  };
  if (B < 1 || T < 1) fail("need at least one sequence of one step");
  if (int(s0.extent(1)) != D || int(inputs.extent(0)) != B || int(inputs.extent(2)) != Din)
    fail("s0 (B, D) and inputs (B, T, Din) do not match the map");
  if (options.steps < 0) fail("steps must be >= 0 (0: automatic)");
  if (!(options.tolerance > 0 && options.tolerance < 1)) fail("tolerance must be in (0, 1)");
  if (!(options.relative_error >= 0)) fail("relative_error must be >= 0");
  if (const char* what = impl::non_finite_data(space, s0, inputs)) fail(what);
  const int n = std::min(T, options.steps > 0 ? options.steps : std::max(1000, T / 50));
  const int discard =
      options.discard >= 0 ? std::min(options.discard, n - 1) : std::min(100, n / 10);
  const double relative_error = options.relative_error;
  // batch means with growing batches: up to 64 batch sums of `length` steps each; when 64 are
  // full, adjacent pairs merge (32 batches of twice the length), so 32 to 64 complete batches
  // of about n / 64 to n / 32 steps are held in O(1) memory
  constexpr int max_batches = impl::probe_max_batches, min_measured = 300;
  const int S = std::max(1, map.scratch_size());
  Kokkos::View<Scalar**, Kokkos::LayoutRight, memory_space> work(
      Kokkos::view_alloc(space, Kokkos::WithoutInitializing, "kelk::probe::work"), B,
      S + 5 * D);
  // per sequence: exponent, standard error, steps probed, the step where the trajectory or
  // tangent became non-finite (-1: never)
  Kokkos::View<double* [4], memory_space> estimates(
      Kokkos::view_alloc(space, Kokkos::WithoutInitializing, "kelk::probe::estimates"), B);
  const Scalar root_eps = std::sqrt(std::numeric_limits<Scalar>::epsilon());
  Kokkos::parallel_for(
      "kelk::probe", Kokkos::RangePolicy<ExecutionSpace>(space, 0, B), KOKKOS_LAMBDA(int b) {
        Scalar* scratch = &work(b, 0);
        Scalar* s = scratch + S;  // the state, the tangent, the nudged state, f, f nudged
        Scalar* v = s + D;
        Scalar* sp = v + D;
        Scalar* f = sp + D;
        Scalar* fp = f + D;
        for (int d = 0; d < D; ++d) {
          s[d] = s0(b, d);
          v[d] = Scalar(1) / impl::sqrt(Scalar(D));
        }
        double batch[max_batches];  // the sums of the logs over the complete batches
        double sum = 0, part = 0;   // logs: all measured; the batch being filled
        int batches = 0, length = 1, filled = 0, t = 0;
        bool vanished = false, overflowed = false, non_finite = false;
        while (t < n) {
          const Scalar* u = inputs.data() + (std::int64_t(b) * T + t) * Din;
          Scalar scale = Scalar(1);
          for (int d = 0; d < D; ++d) scale = impl::abs(s[d]) > scale ? impl::abs(s[d]) : scale;
          const Scalar eps = root_eps * scale;
          for (int d = 0; d < D; ++d) sp[d] = s[d] + eps * v[d];
          map.step(s, u, f, scratch);
          map.step(sp, u, fp, scratch);
          double norm2 = 0;
          for (int d = 0; d < D; ++d) {
            const double w = (double(fp[d]) - double(f[d])) / double(eps);
            norm2 += w * w;
          }
          const double norm = impl::sqrt(norm2);
          for (int d = 0; d < D; ++d)
            if (!impl::is_finite(f[d]) || !impl::is_finite(fp[d])) non_finite = true;
          // NaN (Inf - Inf, a NaN from f) is neither a vanished nor an overflowed tangent
          non_finite = non_finite || norm != norm;
          vanished = !non_finite && norm == 0;
          overflowed = !non_finite && !vanished && !impl::is_finite(norm);
          if (non_finite || vanished || overflowed) break;
          for (int d = 0; d < D; ++d) {
            v[d] = Scalar((double(fp[d]) - double(f[d])) / double(eps) / norm);
            s[d] = f[d];
          }
          ++t;
          if (t <= discard) continue;
          const double g = impl::log(norm);
          sum += g;
          part += g;
          if (++filled < length) continue;
          batch[batches++] = part;
          part = 0;
          filled = 0;
          if (batches == max_batches) {
            for (int i = 0; i < max_batches / 2; ++i) batch[i] = batch[2 * i] + batch[2 * i + 1];
            batches = max_batches / 2;
            length *= 2;
          }
          if (relative_error > 0 && t - discard >= min_measured) {
            const double error = impl::batch_means_error(batch, batches, length, t - discard);
            const double mean = sum / double(t - discard);
            if (error <= relative_error * impl::abs(mean)) break;
          }
        }
        double exponent = sum / double(t > discard ? t - discard : 1), error;
        if (non_finite) {
          exponent = error = 0;  // the host reports NaN
        } else if (vanished || overflowed) {
          exponent = overflowed ? impl::infinity<double>() : -impl::infinity<double>();
          error = 0;
        } else {
          error = impl::batch_means_error(batch, batches, length, t - discard);
        }
        estimates(b, 0) = exponent;
        estimates(b, 1) = error;
        estimates(b, 2) = t;
        estimates(b, 3) = non_finite ? t : -1;
      });
  const auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), estimates);
  ProbeResult r;
  r.exponent_min = r.exponent_max = h(0, 0);
  double mean = 0, variance = 0;
  for (int b = 0; b < B; ++b) {
    mean += h(b, 0) / B;
    variance += h(b, 1) * h(b, 1) / (double(B) * B);
    r.exponent_min = std::min(r.exponent_min, h(b, 0));
    r.exponent_max = std::max(r.exponent_max, h(b, 0));
    r.steps = std::max(r.steps, int(h(b, 2)));
    if (h(b, 3) >= 0 && r.finite) {
      r.finite = false;
      r.non_finite_sequence = b;
      r.non_finite_step = int(h(b, 3));
    }
  }
  r.exponent = mean;
  r.error = std::sqrt(variance);  // the sequences' own errors, combined
  if (B >= 2 && std::isfinite(r.exponent_min) && std::isfinite(r.exponent_max)) {
    double spread = 0;  // the spread between the sequences' exponents
    for (int b = 0; b < B; ++b) spread += (h(b, 0) - mean) * (h(b, 0) - mean) / (B - 1);
    r.error = std::max(r.error, std::sqrt(spread / B));
  }
  if (!r.finite) r.exponent = r.error = r.exponent_min = r.exponent_max = std::nan("");
  const bool contracting = r.exponent + 2 * r.error < 0;  // false for a NaN
  if (contracting) r.merge_length = -std::log(options.tolerance) / -r.exponent;
  r.predictable = contracting && r.merge_length < T;
  char text[320];
  if (!r.finite)
    std::snprintf(text, sizeof text,
                  "non-finite: the trajectory or its tangent became NaN or Inf at step %d of "
                  "sequence %d (f produced it from finite data); no exponent measured, "
                  "evaluate sequentially",
                  r.non_finite_step + 1, r.non_finite_sequence);
  else if (!std::isfinite(r.exponent) && r.exponent > 0)
    std::snprintf(text, sizeof text, "unbounded: the trajectory overflows; evaluate sequentially");
  else if (!(std::abs(r.exponent) > 2 * r.error))
    std::snprintf(text, sizeof text,
                  "neutral: the exponent %.3g +- %.2g per step is indistinguishable from 0 "
                  "over %d steps; nothing is forgotten quickly, evaluate sequentially",
                  r.exponent, r.error, r.steps);
  else if (r.exponent > 0)
    std::snprintf(text, sizeof text,
                  "chaotic: evaluate sequentially (perturbations grow by e^%.3g per step)",
                  r.exponent);
  else if (!r.predictable)
    std::snprintf(text, sizeof text,
                  "weakly predictable: perturbations shrink by e^%.3g per step, but merge only "
                  "after ~%.3g steps, beyond T = %d; evaluate sequentially",
                  r.exponent, r.merge_length, T);
  else
    std::snprintf(text, sizeof text,
                  "predictable: parallel evaluation pays (perturbations shrink by e^%.3g per "
                  "step; block_jacobi's blocks merge after ~%.3g steps)",
                  r.exponent, r.merge_length);
  r.verdict = text;
  return r;
}

}  // namespace impl

template <class ExecutionSpace, class StepMap, class S0, class Inputs, class>
ProbeResult probe(const ExecutionSpace& space, const StepMap& map, const S0& s0,
                  const Inputs& inputs, const ProbeOptions& options) {
  if constexpr (impl::check_arguments<ExecutionSpace, StepMap, S0, void, Inputs>()) {
    using Scalar = typename StepMap::value_type;
    using Memory = typename ExecutionSpace::memory_space;
    return impl::probe_contiguous(
        space, map,
        impl::as_layout_right<BatchView<const Scalar, Memory>>(space, s0, "kelk::probe::s0_copy"),
        impl::as_layout_right<SequenceView<const Scalar, Memory>>(space, inputs,
                                                                 "kelk::probe::inputs_copy"),
        options);
  } else {
    return {};
  }
}

/// probe() on the default execution space.
template <class StepMap, class S0, class Inputs,
          class = std::enable_if_t<!Kokkos::is_execution_space<StepMap>::value>>
ProbeResult probe(const StepMap& map, const S0& s0, const Inputs& inputs,
                  const ProbeOptions& options = {}) {
  return probe(Kokkos::DefaultExecutionSpace(), map, s0, inputs, options);
}

/// What a solve can run on: ranks along time x threads per rank, and whether the execution
/// space is a device (GPU).
struct Resources {
  int time_ranks = 1;
  int threads = 1;
  bool device = false;
};

/// One candidate of method = "auto"'s measurements (kelk_auto.hpp): a method, with its
/// Jacobian structure, run on the probe's prefix, and its prediction at the full length.
struct CandidateMeasurement {
  Method method = Method::sequential;
  JacobianStructure structure = JacobianStructure::diagonal;
  int block_size = 0;
  int iterations = 0;      ///< run on the prefix (sweeps for block_jacobi, 1 for sequential)
  bool converged = false;  ///< on the prefix
  /// The update's contraction per iteration: over the later half of the iterations when the
  /// prefix did not converge, else over all (0 when fewer than three iterations).
  double rate = 0.0;
  double seconds = 0.0;  ///< on the prefix
  double predicted_iterations = 0.0;  ///< to atol at the full length (+inf: not contracting)
  double predicted_seconds = 0.0;     ///< at the full length
};

/// method = "auto": the method chosen and why, in plain words.
struct MethodChoice {
  Method method = Method::sequential;
  std::string reason;
  /// quasi_deer and quasi_elk: the Jacobian structure chosen (block: of block_size).
  JacobianStructure structure = JacobianStructure::diagonal;
  int block_size = 0;
  /// The measuring rule's candidates (empty for the rule from the exponent alone).
  std::vector<CandidateMeasurement> measured;
  double seconds = 0.0;  ///< the measuring rule's own time (the probe's not included)
  /// Sets the method and its structure in `options`.
  void apply(SolveOptions& options) const {
    options.method = method;
    options.jacobian_structure = structure;
    options.block_size = block_size;
  }
};

/// The rule of method = "auto" (ALGORITHMS.md section 13), for sequences of T steps:
///   - chaotic, neutral or weakly predictable (the exponent not below 0 by two standard errors,
///     so merge length +inf, or merge length >= T / 2): sequential; every parallel method needs
///     about T sequential steps of work there;
///   - a single worker (one rank, one thread, no device): sequential, nothing to share;
///   - a device: quasi_deer, whose diagonal scans keep ~1e5 threads busy;
///   - else block_jacobi, whose blocks of T / (ranks x threads) steps cost about one
///     sequential sweep plus a merge length each when the merge length is shorter than them;
///     when it is longer, quasi_deer.
inline MethodChoice choose_method(const ProbeResult& p, int T, const Resources& r) {
  char text[320];
  const long workers = long(std::max(1, r.time_ranks)) * std::max(1, r.threads);
  if (!p.finite) {
    std::snprintf(text, sizeof text,
                  "the probe's trajectory became NaN or Inf at step %d of sequence %d: "
                  "evaluating sequentially, which reports it",
                  p.non_finite_step + 1, p.non_finite_sequence);
    return {Method::sequential, text};
  }
  if (!(p.merge_length < 0.5 * T)) {
    const bool contracting = p.merge_length < std::numeric_limits<double>::infinity();
    std::snprintf(text, sizeof text,
                  "largest Lyapunov exponent %.3g +- %.2g per step%s: a parallel method would "
                  "need about T = %d sequential steps of work",
                  p.exponent, p.error,
                  contracting ? ", merge length beyond T / 2" : ", not below 0 by two errors", T);
    return {Method::sequential, text};
  }
  if (workers == 1 && !r.device) {
    std::snprintf(text, sizeof text,
                  "predictable (exponent %.3g) but one rank with one thread: nothing to "
                  "parallelise",
                  p.exponent);
    return {Method::sequential, text};
  }
  if (r.device) {
    std::snprintf(text, sizeof text,
                  "predictable (exponent %.3g, merge length ~%.3g steps) on a device: the "
                  "diagonal scans of quasi_deer fill it",
                  p.exponent, p.merge_length);
    return {Method::quasi_deer, text};
  }
  const double block = double(T) / double(workers);
  if (p.merge_length < block) {
    std::snprintf(text, sizeof text,
                  "predictable (exponent %.3g): blocks of ~%.0f steps on %ld workers merge "
                  "after ~%.3g steps",
                  p.exponent, block, workers, p.merge_length);
    return {Method::block_jacobi, text};
  }
  std::snprintf(text, sizeof text,
                "predictable (exponent %.3g) but the merge length ~%.3g exceeds blocks of ~%.0f "
                "steps on %ld workers: quasi_deer",
                p.exponent, p.merge_length, block, workers);
  return {Method::quasi_deer, text};
}

}  // namespace kelk
