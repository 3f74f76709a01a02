// The ELK paper's stability experiment on the trained autoregressive GRU (its Fig. 4): every
// method from a zero initial guess, tracking after each iteration how far the output component
// x is from the sequential trajectory. Used by kelk-argru and by the tests.
#pragma once

#include "random_normals.hpp"

#include <kelk/kelk.hpp>

#include <Kokkos_Core.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace kelk::apps {

struct ArgruExperiment {
  std::string weights = "input/argru/argru_weights.h5";
  int length = 10000;
  std::uint64_t seed = 1;
  /// If set, the drivers are the `noise` dataset of this HDF5 file (e.g. the reference
  /// trajectory file, which reproduces the published seed-1 run) instead of drawn from `seed`.
  std::string drivers_file;
  int max_iter = 2000;
  double sigma2_elk = 1e6;
  double sigma2_quasi_elk = 1e2;
  bool kalman_smoother = false;
  std::vector<Method> methods = {Method::deer, Method::quasi_deer, Method::elk, Method::quasi_elk};
};

/// Per-iteration record of one method: index i is iteration i + 1.
struct ArgruTrace {
  Method method;
  SolveResult result;
  double seconds = 0;
  std::vector<double> max_dev_x, mean_dev_x, max_update;
  bool always_finite = true;
  /// First iteration whose mean |x - x_seq| is below the threshold (0: never).
  int first_below(double threshold) const {
    for (std::size_t i = 0; i < mean_dev_x.size(); ++i)
      if (mean_dev_x[i] < threshold) return int(i) + 1;
    return 0;
  }
};

/// Runs the experiment in double precision on the default execution space.
inline std::vector<ArgruTrace> run_argru_experiment(const ArgruExperiment& cfg) {
  const auto map = load_argru<double>(cfg.weights);
  const int T = cfg.length, D = map.state_dim();
  std::vector<double> eps;
  if (!cfg.drivers_file.empty()) {
    eps = hdf5::File::open_read(cfg.drivers_file).read<double>("noise");
    if (int(eps.size()) < T)
      throw std::invalid_argument("kelk-argru: '" + cfg.drivers_file + "' holds " +
                                  std::to_string(eps.size()) +
                                  " drivers; need T = " + std::to_string(T));
  } else {
    eps = standard_normals(std::size_t(T), cfg.seed);
  }
  // s_0 = 0 and u_t = eps_{t-1}: s_1 = F(0, eps_0) is the model's first packed state
  BatchView<double> s0("kelk::argru::s0", 1, D);
  SequenceView<double> inputs("kelk::argru::drivers", 1, T, 1);
  auto h_in = Kokkos::create_mirror_view(inputs);
  for (int t = 0; t < T; ++t) h_in(0, t, 0) = eps[t];
  Kokkos::deep_copy(inputs, h_in);

  SequenceView<double> reference("kelk::argru::sequential", 1, T, D);
  SolveOptions seq;
  seq.method = Method::sequential;
  solve(map, s0, inputs, reference, seq);
  auto x_ref = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), reference);

  std::vector<ArgruTrace> traces;
  SequenceView<double> states("kelk::argru::states", 1, T, D);
  auto h_states = Kokkos::create_mirror_view(states);
  for (const Method method : cfg.methods) {
    ArgruTrace trace{method, {}, 0.0, {}, {}, {}, true};
    SolveOptions opt;
    opt.method = method;
    opt.max_iter = cfg.max_iter;
    opt.sigma2 = method == Method::quasi_elk ? cfg.sigma2_quasi_elk : cfg.sigma2_elk;
    opt.kalman_smoother = cfg.kalman_smoother;
    opt.on_iteration = [&](const IterationProgress& progress) {
      Kokkos::deep_copy(h_states, states);
      double max_dev = 0, sum_dev = 0;
      for (int t = 0; t < T; ++t) {
        const double d = std::abs(h_states(0, t, 0) - x_ref(0, t, 0));
        if (!std::isfinite(d)) trace.always_finite = false;
        max_dev = std::max(max_dev, d);
        sum_dev += d;
      }
      trace.max_dev_x.push_back(max_dev);
      trace.mean_dev_x.push_back(sum_dev / T);
      trace.max_update.push_back(progress.max_update);
    };
    Kokkos::Timer timer;
    trace.result = solve(map, s0, inputs, states, opt);
    trace.seconds = timer.seconds();
    traces.push_back(std::move(trace));
  }
  return traces;
}

}  // namespace kelk::apps
