// kelk-generate: writes an example model file (random weights of a given size and scale) and
// an input file (random initial states and inputs), so that any size can be tried with
// kelk-run without writing code. Sample:
//
//   build/apps/kelk-generate --kind gru --dim 32 --input-dim 8 --batch 2 --length 100000 \
//       --model gru_model.h5 --inputs gru_inputs.h5
//
// Random numbers: a 64-bit Mersenne Twister and Box-Muller, so a seed gives the same files on
// every machine.
#include "common/cli.hpp"
#include "random_normals.hpp"

#include <kelk/kelk.hpp>
#include <kelk/kelk_activity.hpp>

#include <CLI/CLI.hpp>
#include <Kokkos_Core.hpp>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

int main(int argc, char* argv[]) {
  kelk::activity::install_fatal_signal_handler("kelk-generate");
  namespace cli = kelk::apps::cli;
  std::string kind = "gru", model, inputs;
  int D = 8, Din = 4, B = 1, T = 1000;
  double recurrent_norm = 0.5, forcing = 8.0, dt = 0.01, s0_scale = 0.5, input_scale = 1.0;
  std::uint64_t seed = 1;
  CLI::App app{"kelk-generate: example model and input files for kelk-run"};
  app.add_option("--kind", kind, "elman, gru, lstm or lorenz96 (argru: input file only, D = 4, Din = 1)")
      ->check(CLI::IsMember({"elman", "gru", "lstm", "lorenz96", "argru"}))
      ->capture_default_str();
  app.add_option("--dim,-D", D, "state dimension D (lstm: 2H, h and c, so even)")
      ->check(cli::positive())
      ->capture_default_str();
  app.add_option("--input-dim", Din, "input dimension Din (elman, gru, lstm)")
      ->check(cli::non_negative())
      ->capture_default_str();
  app.add_option("--batch,-B", B, "sequences B")->check(cli::positive())->capture_default_str();
  app.add_option("--length,-T", T, "steps T")->check(cli::positive())->capture_default_str();
  app.add_option("--recurrent-norm", recurrent_norm,
                 "Frobenius norm of each recurrent matrix (< 1: contractive)")
      ->check(cli::non_negative())
      ->capture_default_str();
  app.add_option("--forcing", forcing, "Lorenz-96 forcing F")
      ->check(cli::finite())
      ->capture_default_str();
  app.add_option("--dt", dt, "Lorenz-96 RK4 step")->check(cli::positive())->capture_default_str();
  app.add_option("--s0-scale", s0_scale, "s0 ~ scale N(0, 1) (0: zeros)")
      ->check(cli::finite())
      ->capture_default_str();
  app.add_option("--input-scale", input_scale, "inputs ~ scale N(0, 1)")
      ->check(cli::finite())
      ->capture_default_str();
  app.add_option("--seed", seed, "random seed")
      ->check(cli::unsigned_integer())
      ->capture_default_str();
  app.add_option("--model", model, "model file to write (not for argru)");
  app.add_option("--inputs", inputs, "input file to write");
  if (const int code = cli::Parser("kelk-generate").parse(app, argc, argv); code >= 0) return code;

  kelk::ScopeGuard guard(argc, argv);
  try {
    if (kind == "lorenz96") Din = 0;
    if (kind == "argru") D = 4, Din = 1;
    if (kind == "lstm" && D % 2 != 0)
      throw std::invalid_argument("--kind lstm needs an even --dim (the state is h and c, D = 2H); got " +
                                  std::to_string(D));
    if (!model.empty()) {
      if (kind == "elman")
        kelk::io::write_model(model, kelk::make_random_elman<double>(D, Din, recurrent_norm, seed));
      else if (kind == "gru")
        kelk::io::write_model(model, kelk::make_random_gru<double>(D, Din, recurrent_norm, seed));
      else if (kind == "lstm")
        kelk::io::write_model(model,
                              kelk::make_random_lstm<double>(D / 2, Din, recurrent_norm, seed, 1.0));
      else if (kind == "lorenz96")
        kelk::io::write_model(model, kelk::Lorenz96<double>(D, forcing, dt));
      else
        throw std::invalid_argument("the argru model is the shipped input/argru/argru_weights.h5");
      std::printf("wrote %s model (D = %d, Din = %d) to %s\n", kind.c_str(), D, Din, model.c_str());
    }
    if (!inputs.empty()) {
      const kelk::io::InputShape shape{B, T, D, Din};
      kelk::io::write_inputs(
          inputs, shape, kelk::apps::standard_normals(std::size_t(B) * D, seed + 1, s0_scale),
          kelk::apps::standard_normals(std::size_t(B) * T * Din, seed + 2, input_scale));
      std::printf("wrote inputs (B = %d, T = %d, D = %d, Din = %d) to %s\n", B, T, D, Din,
                  inputs.c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kelk-generate: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
