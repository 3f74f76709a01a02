// kelk-argru: the published stability experiment on the trained autoregressive GRU (ELK paper,
// Fig. 4). DEER and quasi-DEER (clip-and-zero safeguard), ELK (sigma2 = 1e6) and quasi-ELK
// (sigma2 = 1e2) from a zero initial guess over T = 10000 steps; per-iteration history of the
// deviation of the output x from the sequential trajectory goes to a CSV file. Sample:
//
//   build/apps/kelk-argru --max-iter 2000 --history argru_history.csv
//   build/apps/kelk-argru --drivers input/argru/argru_traj_seed1.h5   # the published seed 1
//
// Prints, per method, the first iteration at which the mean |x - x_seq| falls below 1e-2 and
// 1e-6 (or that it did not).
#include "argru_experiment.hpp"
#include "common/cli.hpp"

#include <kelk/kelk_activity.hpp>

#include <CLI/CLI.hpp>
#include <Kokkos_Core.hpp>

#include <cstdio>
#include <fstream>
#include <string>

int main(int argc, char* argv[]) {
  kelk::activity::install_fatal_signal_handler("kelk-argru");
  namespace cli = kelk::apps::cli;
  kelk::apps::ArgruExperiment cfg;
  std::string history = "argru_history.csv";
  std::vector<std::string> methods;
  CLI::App app{
      "kelk-argru: DEER, quasi-DEER, ELK and quasi-ELK on the trained autoregressive "
      "GRU of the ELK paper, with per-iteration deviation from the sequential "
      "trajectory. Kokkos options (--kokkos-num-threads=N or --kokkos-threads=N, ...) pass through."};
  app.add_option("--weights", cfg.weights, "the model's HDF5 weights file")
      ->check(CLI::ExistingFile)
      ->capture_default_str();
  app.add_option("--length,-T", cfg.length, "number of states T")
      ->check(cli::positive())
      ->capture_default_str();
  app.add_option("--seed", cfg.seed, "seed of the standard-normal drivers")
      ->check(cli::unsigned_integer())
      ->capture_default_str();
  app.add_option("--drivers", cfg.drivers_file,
                 "take the drivers from the `noise` dataset of this HDF5 file instead")
      ->check(CLI::ExistingFile);
  app.add_option("--max-iter", cfg.max_iter, "iteration cap of every method")
      ->check(cli::positive())
      ->capture_default_str();
  app.add_option("--sigma2-elk", cfg.sigma2_elk, "sigma^2 of elk")
      ->check(cli::positive())
      ->capture_default_str();
  app.add_option("--sigma2-quasi-elk", cfg.sigma2_quasi_elk, "sigma^2 of quasi_elk")
      ->check(cli::positive())
      ->capture_default_str();
  app.add_flag("--smoother", cfg.kalman_smoother,
               "ELK steps with the RTS smoother (exact Levenberg-Marquardt) instead of the "
               "published filter-only steps");
  app.add_option("--methods", methods,
                 "methods, comma separated (default: deer, quasi_deer, "
                 "elk, quasi_elk)")
      ->delimiter(',');
  app.add_option("--history", history, "CSV file for the per-iteration history")
      ->capture_default_str();
  if (const int code = cli::Parser("kelk-argru").parse(app, argc, argv); code >= 0) return code;

  kelk::ScopeGuard kokkos(argc, argv);
  try {
    if (!methods.empty()) {
      cfg.methods.clear();
      for (const auto& m : methods) cfg.methods.push_back(kelk::parse_method(m));
    }
    std::printf("kelk %s: autoregressive GRU, T = %d, drivers %s, %s steps, cap %d iterations\n",
                kelk::version(), cfg.length,
                cfg.drivers_file.empty() ? ("from seed " + std::to_string(cfg.seed)).c_str()
                                         : cfg.drivers_file.c_str(),
                cfg.kalman_smoother ? "filter+smoother" : "filter-only", cfg.max_iter);
    const auto traces = kelk::apps::run_argru_experiment(cfg);

    const std::string tmp = history + ".tmp";
    {
      std::ofstream csv(tmp);
      csv << "method,iteration,max_abs_dev_x,mean_abs_dev_x,max_update\n";
      csv.precision(10);
      for (const auto& tr : traces)
        for (std::size_t i = 0; i < tr.mean_dev_x.size(); ++i)
          csv << kelk::to_string(tr.method) << ',' << i + 1 << ',' << tr.max_dev_x[i] << ','
              << tr.mean_dev_x[i] << ',' << tr.max_update[i] << '\n';
      if (!csv) throw std::runtime_error("cannot write '" + tmp + "'");
    }
    if (std::rename(tmp.c_str(), history.c_str()) != 0)
      throw std::runtime_error("cannot rename '" + tmp + "' to '" + history + "'");

    std::printf("\n%-11s %8s %10s %9s %10s %16s %16s %7s\n", "method", "sigma2", "iterations",
                "converged", "time [s]", "mean dev < 1e-2", "mean dev < 1e-6", "finite");
    auto at = [](int it) { return it > 0 ? std::to_string(it) : std::string("not reached"); };
    for (const auto& tr : traces) {
      const bool kalman = tr.method == kelk::Method::elk || tr.method == kelk::Method::quasi_elk;
      const double s2 =
          tr.method == kelk::Method::quasi_elk ? cfg.sigma2_quasi_elk : cfg.sigma2_elk;
      char sigma2[32] = "-";
      if (kalman) std::snprintf(sigma2, sizeof sigma2, "%.0e", s2);
      std::printf("%-11s %8s %10d %9s %10.3f %16s %16s %7s\n", kelk::to_string(tr.method).c_str(),
                  sigma2, tr.result.iterations, tr.result.converged ? "yes" : "no", tr.seconds,
                  at(tr.first_below(1e-2)).c_str(), at(tr.first_below(1e-6)).c_str(),
                  tr.always_finite ? "yes" : "no");
    }
    std::printf("\nper-iteration history: %s\n", history.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kelk-argru: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
