// kelk-demo: evaluates a built-in GRU with every method and compares each with the sequential
// loop. Sample:
//
//   OMP_PROC_BIND=spread OMP_PLACES=threads build/apps/kelk-demo            # B=1 D=32 T=1e5
//   build/apps/kelk-demo --length 1000 --dim 8 --precision fp32 --methods deer,quasi_deer
//
// Prints one row per method: iterations, converged, wall time, time relative to kelk's
// sequential loop of the same run (after an untimed warm-up of it), and max |s - s_sequential|.
#include "common/cli.hpp"
#include "random_normals.hpp"

#include <kelk/kelk.hpp>
#include <kelk/kelk_activity.hpp>

#include <CLI/CLI.hpp>
#include <Kokkos_Core.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace {

struct DemoConfig {
  int batch = 1, dim = 32, input_dim = 8, length = 100000;
  double recurrent_norm = 0.5;
  std::uint64_t seed = 1;
  std::string precision = "fp64";
  std::vector<std::string> methods;
};

template <class Scalar>
int run(const DemoConfig& cfg) {
  using kelk::BatchView;
  using kelk::SequenceView;
  const auto gru =
      kelk::make_random_gru<Scalar>(cfg.dim, cfg.input_dim, cfg.recurrent_norm, cfg.seed);

  BatchView<Scalar> s0("kelk::demo::s0", cfg.batch, cfg.dim);
  SequenceView<Scalar> inputs("kelk::demo::inputs", cfg.batch, cfg.length, cfg.input_dim);
  {
    const auto s0_values = kelk::apps::standard_normals(s0.span(), cfg.seed + 1, 0.1);
    const auto input_values = kelk::apps::standard_normals(inputs.span(), cfg.seed + 2);
    auto h_s0 = Kokkos::create_mirror_view(s0);
    auto h_in = Kokkos::create_mirror_view(inputs);
    std::copy(s0_values.begin(), s0_values.end(), h_s0.data());
    std::copy(input_values.begin(), input_values.end(), h_in.data());
    Kokkos::deep_copy(s0, h_s0);
    Kokkos::deep_copy(inputs, h_in);
  }

  std::printf("kelk %s demo: GRU B=%d D=%d Din=%d T=%d %s, recurrent weight norm %.2f\n",
              kelk::version(), cfg.batch, cfg.dim, cfg.input_dim, cfg.length, cfg.precision.c_str(),
              cfg.recurrent_norm);
  std::printf("Kokkos %d.%d.%d, %s, concurrency %d\n\n", KOKKOS_VERSION / 10000,
              KOKKOS_VERSION / 100 % 100, KOKKOS_VERSION % 100,
              Kokkos::DefaultExecutionSpace::name(), Kokkos::DefaultExecutionSpace().concurrency());
  std::printf("%-12s %10s %10s %12s %12s %16s\n", "method", "iterations", "converged", "time [s]",
              "vs seq", "max|s - s_seq|");

  SequenceView<Scalar> reference("kelk::demo::reference", cfg.batch, cfg.length, cfg.dim);
  SequenceView<Scalar> states("kelk::demo::states", cfg.batch, cfg.length, cfg.dim);
  auto h_ref = Kokkos::create_mirror_view(reference);
  auto h_states = Kokkos::create_mirror_view(states);

  double sequential_time = 0;
  bool all_converged = true;
  std::vector<kelk::Method> methods;
  methods.push_back(kelk::Method::sequential);  // always first: the reference
  for (const auto& name : cfg.methods)
    if (kelk::parse_method(name) != kelk::Method::sequential)
      methods.push_back(kelk::parse_method(name));

  {  // untimed: the first solve pays one-time costs (threads starting, pages first touched)
     // that would inflate the reference time and flatter every other method
    kelk::SolveOptions warmup;
    warmup.method = kelk::Method::sequential;
    kelk::solve(gru, s0, inputs, reference, warmup);
    Kokkos::fence();
  }
  for (const kelk::Method method : methods) {
    kelk::SolveOptions options;
    options.method = method;
    auto out = method == kelk::Method::sequential ? reference : states;
    Kokkos::fence();
    Kokkos::Timer timer;
    const kelk::SolveResult result = kelk::solve(gru, s0, inputs, out, options);
    Kokkos::fence();
    const double seconds = timer.seconds();
    if (method == kelk::Method::sequential) {
      sequential_time = seconds;
      Kokkos::deep_copy(h_ref, reference);
    }
    Kokkos::deep_copy(h_states, out);
    double deviation = 0;
    for (std::size_t i = 0; i < h_ref.span(); ++i)
      deviation = std::max(deviation, double(std::abs(h_states.data()[i] - h_ref.data()[i])));
    all_converged = all_converged && result.converged;
    std::printf("%-12s %10d %10s %12.4f %12.2f %16.3e\n", kelk::to_string(method).c_str(),
                result.iterations, result.converged ? "yes" : "no", seconds,
                seconds / sequential_time, deviation);
  }
  return all_converged ? 0 : 1;
}

}  // namespace

int main(int argc, char* argv[]) {
  kelk::activity::install_fatal_signal_handler("kelk-demo");
  namespace cli = kelk::apps::cli;
  DemoConfig cfg;
  for (const auto m : kelk::all_methods()) cfg.methods.push_back(kelk::to_string(m));
  CLI::App app{
      "kelk-demo: a built-in GRU evaluated with every kelk method, compared with the "
      "sequential loop. Kokkos options (--kokkos-num-threads=N or --kokkos-threads=N, ...) pass through."};
  app.add_option("--batch,-B", cfg.batch, "number of sequences B")->check(cli::positive());
  app.add_option("--dim,-D", cfg.dim, "state dimension D")->check(cli::positive());
  app.add_option("--input-dim", cfg.input_dim, "input dimension Din")
      ->check(cli::non_negative());
  app.add_option("--length,-T", cfg.length, "sequence length T")->check(cli::positive());
  app.add_option("--recurrent-norm", cfg.recurrent_norm,
                 "Frobenius norm of each recurrent weight matrix (< 1: contractive)")
      ->check(cli::non_negative());
  app.add_option("--seed", cfg.seed, "random seed of weights and inputs")
      ->check(cli::unsigned_integer());
  app.add_option("--precision", cfg.precision, "fp64 or fp32")
      ->check(CLI::IsMember({"fp64", "fp32"}));
  app.add_option("--methods", cfg.methods, "methods to run, comma separated")
      ->delimiter(',')
      ->check(CLI::IsMember([] {
        std::vector<std::string> names;
        for (const auto m : kelk::all_methods()) names.push_back(kelk::to_string(m));
        return names;
      }()));
  if (const int code = cli::Parser("kelk-demo").parse(app, argc, argv); code >= 0) return code;

  kelk::ScopeGuard kokkos(argc, argv);
  return cfg.precision == "fp64" ? run<double>(cfg) : run<float>(cfg);
}
