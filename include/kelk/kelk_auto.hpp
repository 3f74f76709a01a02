// method = "auto" by measurement (ALGORITHMS.md section 13.1): after the probe's verdict, the
// candidate methods (and Jacobian structures) run a few iterations on the probe's prefix, on
// this execution space; their observed contraction rates and costs predict each one's time to
// the tolerance at the full length, and the fastest is chosen.
#pragma once

#include <kelk/kelk_options.hpp>
#include <kelk/kelk_probe.hpp>
#include <kelk/kelk_solve.hpp>
#include <kelk/kelk_step_map.hpp>
#include <kelk/kelk_views.hpp>

#include <Kokkos_Core.hpp>
#include <Kokkos_Timer.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace kelk {

/// What the measuring rule tries.
struct AutoOptions {
  /// Most iterations of each iterative candidate on the prefix.
  int iterations = 20;
  /// Steps of each sequence measured; 0: the probe's steps (at least min(T, 1000)).
  int prefix = 0;
  /// quasi_deer with k x k Jacobian blocks is a candidate for each k here that divides D
  /// (k < D), when the map has jacobian_blocks() or jacobian().
  std::vector<int> block_sizes = {2, 4, 8};
  /// deer is a candidate up to this D (its dense scan costs O(D^3) per step).
  int max_dense_dim = 64;
};

namespace impl {

/// "quasi_deer (block 4)", "deer", ...
inline std::string candidate_name(Method m, JacobianStructure s, int k) {
  std::string name = to_string(m);
  if (m == Method::quasi_deer || m == Method::quasi_elk) {
    if (s == JacobianStructure::block) name += " (block " + std::to_string(k) + ")";
    if (s == JacobianStructure::dense) name += " (dense)";
  }
  return name;
}

/// The prediction of one measured candidate at length T, from its run over n steps: a method
/// that converged on the prefix needs as many iterations at T (the Newton-type iterations do
/// not grow with T once the recurrence forgets within the prefix); one that did not is
/// extrapolated with its update's contraction rate over its later half of iterations, to atol.
/// The time per iteration scales with T / n, divided over the time ranks for every parallel
/// method (not for the sequential loop).
inline void predict(CandidateMeasurement& c, const std::vector<double>& updates, double atol,
                    int T, int n, int time_ranks) {
  const double scale = double(T) / double(n) / (c.method == Method::sequential ? 1 : time_ranks);
  c.predicted_iterations = c.iterations;
  if (!c.converged) {
    const int last = int(updates.size()) - 1;
    const int mid = last / 2;
    c.rate = last > mid && updates[mid] > 0
                 ? std::pow(updates[last] / updates[mid], 1.0 / double(last - mid))
                 : std::numeric_limits<double>::quiet_NaN();
    if (c.rate < 1 && c.rate > 0 && updates[last] > 0)
      c.predicted_iterations += std::log(std::max(atol, 1e-300) / updates[last]) / std::log(c.rate);
    else
      c.predicted_iterations = std::numeric_limits<double>::infinity();
  } else if (updates.size() >= 3) {
    const int last = int(updates.size()) - 2;  // the last update is below atol
    c.rate = updates[0] > 0 && updates[last] > 0
                 ? std::pow(updates[last] / updates[0], 1.0 / double(std::max(1, last)))
                 : 0.0;
  }
  const double per_iteration = c.seconds / std::max(1, c.iterations);
  c.predicted_seconds = c.method == Method::sequential || c.method == Method::block_jacobi
                            ? c.seconds * scale
                            : per_iteration * c.predicted_iterations * scale;
}

}  // namespace impl

/// method = "auto" with measurements: first choose_method(probe, T, resources); where that
/// rule would run a parallel method, the candidates (sequential; block_jacobi on more than one
/// worker off a device; quasi_deer with the diagonal, with k x k blocks for each
/// AutoOptions::block_sizes k dividing D, and deer up to AutoOptions::max_dense_dim) run on the
/// first `prefix` steps of every sequence, at most AutoOptions::iterations iterations each, and
/// the one with the smallest predicted time at the full T is chosen (ALGORITHMS.md 13.1). The
/// choice's `measured` lists every candidate, its reason prints them, `seconds` is the rule's
/// own time. `atol` is the solve's (unset: the scalar type's default).
template <class ExecutionSpace, class StepMap, class S0, class Inputs>
MethodChoice choose_method(const ExecutionSpace& space, const StepMap& map, const S0& s0,
                           const Inputs& inputs, const ProbeResult& probe, const Resources& r,
                           std::optional<double> atol = {}, const AutoOptions& options = {}) {
  using Scalar = typename StepMap::value_type;
  using Memory = typename ExecutionSpace::memory_space;
  const int B = int(s0.extent(0)), T = int(inputs.extent(1)), D = map.state_dim();
  MethodChoice base = choose_method(probe, T, r);
  if (base.method == Method::sequential) return base;
  Kokkos::Timer rule_timer;
  const int n = std::min(T, options.prefix > 0 ? options.prefix
                                               : std::max(probe.steps, std::min(T, 1000)));
  const auto prefix = Kokkos::subview(inputs, Kokkos::ALL, std::make_pair(0, n), Kokkos::ALL);
  SequenceView<Scalar, Memory> states(
      Kokkos::view_alloc(space, Kokkos::WithoutInitializing, "kelk::auto::states"), B, n, D);
  const double tol = atol ? *atol : default_atol<Scalar>();

  struct Trial {
    Method method;
    JacobianStructure structure;
    int k;
  };
  std::vector<Trial> trials{{Method::sequential, JacobianStructure::diagonal, 0}};
  const long workers = long(std::max(1, r.time_ranks)) * std::max(1, r.threads);
  if (!r.device && workers > 1)
    trials.push_back({Method::block_jacobi, JacobianStructure::diagonal, 0});
  if constexpr (provides_jacobian_diagonal_v<StepMap>)
    trials.push_back({Method::quasi_deer, JacobianStructure::diagonal, 0});
  if constexpr (provides_jacobian_blocks_v<StepMap> || provides_jacobian_v<StepMap>)
    for (const int k : options.block_sizes)
      if (k > 1 && k < D && D % k == 0)
        trials.push_back({Method::quasi_deer, JacobianStructure::block, k});
  if constexpr (provides_jacobian_v<StepMap>)
    if (D <= options.max_dense_dim) trials.push_back({Method::deer, JacobianStructure::dense, 0});

  MethodChoice choice;
  for (const Trial& trial : trials) {
    SolveOptions o;
    o.method = trial.method;
    o.jacobian_structure = trial.structure;
    o.block_size = trial.k;
    o.atol = tol;
    o.record_history = true;
    o.keep_best = false;
    if (trial.method != Method::sequential && trial.method != Method::block_jacobi)
      o.max_iter = options.iterations;
    space.fence();
    Kokkos::Timer timer;
    const SolveResult result = solve(space, map, s0, prefix, states, o);
    space.fence();
    CandidateMeasurement c;
    c.method = trial.method;
    c.structure = trial.structure;
    c.block_size = trial.k;
    c.seconds = timer.seconds();
    c.iterations = result.iterations;
    c.converged = result.converged;
    std::vector<double> updates;
    for (const auto& h : result.history) updates.push_back(h.max_update);
    impl::predict(c, updates, tol, T, n, std::max(1, r.time_ranks));
    choice.measured.push_back(c);
  }
  const auto best = std::min_element(
      choice.measured.begin(), choice.measured.end(),
      [](const auto& a, const auto& b) { return a.predicted_seconds < b.predicted_seconds; });
  choice.method = best->method;
  choice.structure = best->structure;
  choice.block_size = best->block_size;
  std::string text = "predictable (exponent " + impl::number(probe.exponent) + "); measured on " +
                     std::to_string(n) + " steps, predicted at T = " + std::to_string(T) + ":";
  for (const auto& c : choice.measured) {
    char line[200];
    if (c.method == Method::sequential || c.method == Method::block_jacobi)
      std::snprintf(line, sizeof line, "\n    %-22s %.3g s", impl::candidate_name(c.method, c.structure, c.block_size).c_str(), c.predicted_seconds);
    else
      std::snprintf(line, sizeof line,
                    "\n    %-22s %.3g s (%d iterations on the prefix%s, rate %.3g, %.3g "
                    "iterations predicted)",
                    impl::candidate_name(c.method, c.structure, c.block_size).c_str(),
                    c.predicted_seconds, c.iterations, c.converged ? ", converged" : "", c.rate,
                    c.predicted_iterations);
    text += line;
  }
  choice.seconds = rule_timer.seconds();
  text += "\n  fastest: " + impl::candidate_name(choice.method, choice.structure, choice.block_size) +
          " (the measurements took " + impl::number(std::round(choice.seconds * 1e3) / 1e3) + " s)";
  choice.reason = text;
  return choice;
}

/// The probe and the measuring rule in one call, on `space`.
template <class ExecutionSpace, class StepMap, class S0, class Inputs>
MethodChoice choose_method(const ExecutionSpace& space, const StepMap& map, const S0& s0,
                           const Inputs& inputs, const Resources& r,
                           std::optional<double> atol = {}, const AutoOptions& options = {}) {
  const ProbeResult p = probe(space, map, s0, inputs);
  return choose_method(space, map, s0, inputs, p, r, atol, options);
}

}  // namespace kelk
