// kelk-4dvar: strong-constraint 4D-Var on Lorenz-96. Estimates the initial state x0 of a
// trajectory from noisy observations of every state by L-BFGS (liblbfgs) on
//   J(x0) = 1/2 sum_t |s_t(x0) - y_t|^2 / sigma_o^2 + 1/2 |x0 - x_b|^2 / sigma_b^2,
// each gradient from one forward solve (parallel in time) and one adjoint solve
// (kelk::DistributedSolver::solve_adjoint): dJ/dx0 = lambda's dL/ds0 + (x0 - x_b) / sigma_b^2.
//
//   build/apps/kelk-4dvar                               # D = 40, T = 50, dt = 0.01
//   mpirun -np 2 build/apps/kelk-4dvar --method deer --adjoint block_sweeps
#include "common/cli_mpi.hpp"

#include <kelk/kelk.hpp>
#include <kelk/kelk_activity.hpp>

#include <CLI/CLI.hpp>
#include <Kokkos_Core.hpp>
#include <lbfgs.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

/// An error every rank meets alike (each computes the same truth): rank 0 alone reports it.
struct SameOnEveryRank : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Settings {
  int D = 40, T = 50, max_outer = 200;
  double F = 8.0, dt = 0.01, obs_noise = 0.5, background_noise = 1.0;
  std::uint64_t seed = 1;
  std::string method = "deer", adjoint = "block_sweeps";
};

/// The assimilation problem on this rank: its time block of the observations, the solver,
/// and the buffers of one forward and one adjoint solve.
struct Assimilation {
  const Settings& set;
  const kelk::DistributedSolver& solver;
  kelk::Lorenz96<double> map;
  kelk::SequenceView<double> y, states, cotangents, inputs;
  kelk::BatchView<double> x0;
  kelk::Gradients<double> gradients;
  std::vector<double> background, truth;
  kelk::SolveOptions forward;
  kelk::AdjointOptions backward;
  int evaluations = 0, forward_iterations = 0, rank = 0;
  double seconds_forward = 0, seconds_adjoint = 0, last_misfit = 0;

  /// J(x) and its gradient g; collective (every rank evaluates the same x).
  double evaluate(const double* x, double* g) {
    ++evaluations;
    const int D = set.D;
    const auto hx = Kokkos::create_mirror_view(x0);
    for (int d = 0; d < D; ++d) hx(0, d) = x[d];
    Kokkos::deep_copy(x0, hx);
    Kokkos::Timer timer;
    const auto result = solver.solve(map, x0, inputs, states, forward);
    seconds_forward += timer.seconds();
    forward_iterations += result.iterations;
    if (!result.converged)
      throw SameOnEveryRank("the forward solve did not converge (" +
                            kelk::to_string(result.reason) + ")");  // a collective result
    forward.initial_guess = kelk::InitialGuess::provided;  // warm start from this trajectory
    // misfit and cotangents of this rank's block
    const double w = 1.0 / (set.obs_noise * set.obs_noise);
    const auto s = states, obs = y, cot = cotangents;
    double misfit = 0;
    Kokkos::parallel_reduce(
        "kelk::4dvar::misfit", Kokkos::RangePolicy<>(0, std::int64_t(s.span())),
        KOKKOS_LAMBDA(std::int64_t i, double& sum) {
          const double r = s.data()[i] - obs.data()[i];
          cot.data()[i] = w * r;
          sum += 0.5 * w * r * r;
        },
        misfit);
    MPI_Allreduce(MPI_IN_PLACE, &misfit, 1, MPI_DOUBLE, MPI_SUM, solver.comm());
    timer.reset();
    solver.solve_adjoint(map, x0, inputs, states, cotangents, gradients, backward);
    seconds_adjoint += timer.seconds();
    // dL/ds0 lives on the first time rank; every rank runs the same L-BFGS, so all need it
    const auto ds0 = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), gradients.s0);
    std::vector<double> grad(ds0.data(), ds0.data() + D);
    MPI_Bcast(grad.data(), D, MPI_DOUBLE, 0, solver.comm());
    last_misfit = misfit;
    double J = misfit;
    const double wb = 1.0 / (set.background_noise * set.background_noise);
    for (int d = 0; d < D; ++d) {
      const double r = x[d] - background[d];
      J += 0.5 * wb * r * r;
      g[d] = grad[d] + wb * r;
    }
    return J;
  }

  double rms_error(const double* x) const {
    double e = 0;
    for (int d = 0; d < set.D; ++d) e += (x[d] - truth[d]) * (x[d] - truth[d]);
    return std::sqrt(e / set.D);
  }
};

lbfgsfloatval_t evaluate(void* instance, const lbfgsfloatval_t* x, lbfgsfloatval_t* g, int,
                         lbfgsfloatval_t) {
  return static_cast<Assimilation*>(instance)->evaluate(x, g);
}

int progress(void* instance, const lbfgsfloatval_t* x, const lbfgsfloatval_t*,
             lbfgsfloatval_t fx, lbfgsfloatval_t, lbfgsfloatval_t gnorm, lbfgsfloatval_t, int,
             int k, int ls) {
  const auto& a = *static_cast<Assimilation*>(instance);
  if (a.rank == 0)
    std::printf("%5d %16.8e %16.8e %14.6e %12.6f %5d\n", k, fx, a.last_misfit, gnorm,
                a.rms_error(x), ls);
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char* argv[]) {
  Settings set;
  CLI::App app{"kelk-4dvar: 4D-Var on Lorenz-96, the initial state from noisy observations by "
               "L-BFGS, each gradient by one forward and one adjoint solve. Kokkos options "
               "(--kokkos-num-threads=N or --kokkos-threads=N, ...) pass through."};
  namespace cli = kelk::apps::cli;
  app.add_option("--D", set.D, "state dimension")->capture_default_str()->check(cli::range(4, 100000));
  app.add_option("--T", set.T, "assimilation window, steps")->capture_default_str()->check(cli::positive());
  app.add_option("--dt", set.dt, "RK4 step")->capture_default_str()->check(cli::positive());
  app.add_option("--F", set.F, "forcing")->capture_default_str()->check(cli::finite());
  app.add_option("--obs-noise", set.obs_noise, "observation noise sigma_o")->capture_default_str()->check(cli::positive());
  app.add_option("--background-noise", set.background_noise,
                 "background (first guess) error sigma_b")->capture_default_str()->check(cli::positive());
  app.add_option("--seed", set.seed, "random seed")->capture_default_str()->check(cli::unsigned_integer());
  app.add_option("--max-outer", set.max_outer, "L-BFGS iterations at most")->capture_default_str()->check(cli::positive());
  app.add_option("--method", set.method, "forward method")->capture_default_str()
      ->check(CLI::IsMember({"sequential", "deer", "quasi_deer", "block_jacobi", "jacobi"}));
  app.add_option("--adjoint", set.adjoint, "adjoint method")->capture_default_str()
      ->check(CLI::IsMember({"sequential", "scan", "block_sweeps"}));
  MPI_Init(&argc, &argv);
  kelk::activity::install_fatal_signal_handler("kelk-4dvar");  // after MPI_Init: replaces MPI's
  int rank = 0, ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  const cli::Parser parser("kelk-4dvar");
  int code = cli::parse_on_every_rank(parser, app, argc, argv);
  if (code >= 0) {
    MPI_Finalize();
    return code;
  }
  code = 0;
  {
    kelk::ScopeGuard kokkos(argc, argv);
    try {
      const int D = set.D, T = set.T;
      const kelk::DistributedSolver solver(MPI_COMM_WORLD, 1, T);
      const auto& part = solver.partition();
      const int lT = part.local_length();
      Assimilation a{set, solver, kelk::Lorenz96<double>(D, set.F, set.dt)};
      a.rank = rank;
      // the truth: x0 near the attractor (a spin-up of 1000 steps from a perturbed rest state),
      // every rank computes the whole truth and keeps its block of the observations
      std::mt19937_64 rng(set.seed);
      std::normal_distribution<double> normal;
      kelk::BatchView<double> spin0("kelk::4dvar::spin0", 1, D);
      kelk::SequenceView<double> spin("kelk::4dvar::spin", 1, 1000, D), none("none", 1, 1000, 0);
      auto h0 = Kokkos::create_mirror_view(spin0);
      for (int d = 0; d < D; ++d) h0(0, d) = set.F + (d == 0 ? 0.01 : 0.0);
      Kokkos::deep_copy(spin0, h0);
      kelk::SolveOptions seq;
      seq.method = kelk::Method::sequential;
      kelk::solve(a.map, spin0, none, spin, seq);
      const auto hs = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), spin);
      a.truth.assign(&hs(0, 999, 0), &hs(0, 999, 0) + D);
      // RK4 with too large a step (or a huge forcing) blows up: say so rather than let the
      // next solve report a non-finite s0
      const auto finite = [&](const double* v, std::size_t n) {
        return std::all_of(v, v + n, [](double x) { return std::isfinite(x); });
      };
      const auto blew_up = [&](const char* where) {
        return SameOnEveryRank(std::string("the Lorenz-96 trajectory became non-finite ") +
                                  where + " with --dt " + cli::short_number(set.dt) + " and --F " +
                                  cli::short_number(set.F) +
                                  ": the RK4 step is too large for this forcing (dt <= 0.05 is "
                                  "stable for F = 8)");
      };
      if (!finite(hs.data(), hs.span())) throw blew_up("during the 1000-step spin-up");
      kelk::BatchView<double> truth0("kelk::4dvar::truth0", 1, D);
      auto ht0 = Kokkos::create_mirror_view(truth0);
      for (int d = 0; d < D; ++d) ht0(0, d) = a.truth[d];
      Kokkos::deep_copy(truth0, ht0);
      kelk::SequenceView<double> truth("kelk::4dvar::truth", 1, T, D), u("u", 1, T, 0);
      kelk::solve(a.map, truth0, u, truth, seq);
      const auto htruth = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), truth);
      if (!finite(htruth.data(), htruth.span())) throw blew_up("in the assimilation window");
      a.y = kelk::SequenceView<double>("kelk::4dvar::observations", 1, lT, D);
      auto hy = Kokkos::create_mirror_view(a.y);
      for (int t = 0; t < T; ++t)
        for (int d = 0; d < D; ++d) {
          const double noisy = htruth(0, t, d) + set.obs_noise * normal(rng);
          if (t >= part.time_begin && t < part.time_end) hy(0, t - part.time_begin, d) = noisy;
        }
      Kokkos::deep_copy(a.y, hy);
      a.background.resize(D);
      for (int d = 0; d < D; ++d) a.background[d] = a.truth[d] + set.background_noise * normal(rng);

      a.inputs = kelk::SequenceView<double>("kelk::4dvar::inputs", 1, lT, 0);
      a.states = kelk::SequenceView<double>("kelk::4dvar::states", 1, lT, D);
      a.cotangents = kelk::SequenceView<double>("kelk::4dvar::cotangents", 1, lT, D);
      a.x0 = kelk::BatchView<double>("kelk::4dvar::x0", 1, D);
      a.gradients.s0 = kelk::BatchView<double>("kelk::4dvar::dJ_dx0", 1, D);
      a.forward.method = kelk::parse_method(set.method);
      a.forward.atol = 1e-11;  // gradients as exact as the trajectory
      a.backward.method = kelk::parse_adjoint_method(set.adjoint);

      lbfgs_parameter_t param;
      lbfgs_parameter_init(&param);
      param.max_iterations = set.max_outer;
      param.epsilon = 1e-6;  // |grad J| <= epsilon max(1, |x|)
      lbfgsfloatval_t* x = lbfgs_malloc(D);
      for (int d = 0; d < D; ++d) x[d] = a.background[d];
      if (rank == 0) {
        std::printf("kelk-4dvar: Lorenz-96 D = %d, F = %g, dt = %g, T = %d steps, sigma_o = %g, "
                    "sigma_b = %g; forward %s, adjoint %s, %d rank(s)\n",
                    D, set.F, set.dt, T, set.obs_noise, set.background_noise, set.method.c_str(),
                    set.adjoint.c_str(), ranks);
        std::printf("background (first guess) rms error %.6f\n", a.rms_error(x));
        std::printf("%5s %16s %16s %14s %12s %5s\n", "iter", "J", "misfit", "|grad J|",
                    "rms error", "evals");
      }
      Kokkos::Timer timer;
      lbfgsfloatval_t J = 0;
      const int status = lbfgs(D, x, &J, evaluate, progress, &a, &param);
      if (rank == 0) {
        const char* how = status >= 0                          ? "converged"
                          : status == LBFGSERR_MAXIMUMITERATION ? "iteration limit"
                          : status == LBFGSERR_ROUNDING_ERROR   ? "stopped at round-off"
                                                                : "FAILED";
        std::printf("L-BFGS: %s (status %d) after %d evaluations, %.3f s (forward %.3f s, %d "
                    "iterations; adjoint %.3f s)\n",
                    how, status, a.evaluations, timer.seconds(),
                    a.seconds_forward, a.forward_iterations, a.seconds_adjoint);
        std::printf("final J %.8e, rms error of the estimate %.6f (background %.6f)\n", J,
                    a.rms_error(x), [&] {
                      double e = 0;
                      for (int d = 0; d < D; ++d)
                        e += (a.background[d] - a.truth[d]) * (a.background[d] - a.truth[d]);
                      return std::sqrt(e / D);
                    }());
      }
      lbfgs_free(x);
      // the iteration limit and a line search that cannot improve J beyond round-off are
      // regular stops; anything else (e.g. a non-descent direction) fails the run
      code = status >= 0 || status == LBFGSERR_MAXIMUMITERATION ||
                     status == LBFGSERR_ROUNDING_ERROR
                 ? 0
                 : 1;
    } catch (const SameOnEveryRank& e) {
      if (rank == 0) std::fprintf(stderr, "kelk-4dvar: error: %s\n", e.what());
      code = 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "kelk-4dvar: error: %s\n", e.what());
      code = 1;
    }
  }
  MPI_Finalize();
  return code;
}
