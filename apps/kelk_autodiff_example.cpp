// kelk-autodiff-example: step maps written once as a template over their scalar type, with
// their Jacobians by forward-mode AD (kelk::AutoDiff, Sacado), solved with deer and quasi_deer:
//
//   1. the README's elementwise map s' = a tanh(s) + u ("Damped"), without its hand-written
//      jacobian and jacobian_diagonal;
//   2. an LSTM cell, state (h, c) (apps/examples/lstm.hpp), which no built-in map covers;
//   3. the cost of AD: a templated copy of the built-in GRU wrapped in AutoDiff against the
//      built-in GRU's closed-form Jacobians, same weights.
//
//   build/apps/kelk-autodiff-example [--length T] [--batch B] [--kokkos-num-threads=N]
//
// Prints per problem and method: iterations, wall time (best of 3), time relative to the
// sequential loop and max |s - s_seq|.
#include "common/cli.hpp"
#include "examples/gru_template.hpp"
#include "examples/lstm.hpp"
#include "random_normals.hpp"

#include <kelk/kelk.hpp>
#include <kelk/kelk_activity.hpp>
#include <kelk/kelk_autodiff.hpp>

#include <Kokkos_Core.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

bool all_ok = true;  // every solve converged to the sequential trajectory

/// The README's map, s' = a tanh(s) + u elementwise, with its step as a template: AutoDiff
/// supplies jacobian and jacobian_diagonal.
struct Damped {
  using value_type = double;
  int D;
  double a;
  int state_dim() const { return D; }
  int input_dim() const { return D; }
  int scratch_size() const { return 0; }
  template <class T>
  KOKKOS_FUNCTION void step(const T* s, const T* u, T* f, T*) const {
    for (int i = 0; i < D; ++i) f[i] = a * kelk::ad::tanh(s[i]) + u[i];
  }
};

/// The built-in GRU's step as a template over the scalar type, on the built-in map's weights
/// (the same recurrence; for the cost comparison).
using GruTemplate = kelk_examples::GruTemplate<double>;

struct Problem {
  kelk::BatchView<double> s0;
  kelk::SequenceView<double> inputs;
};

Problem make_problem(int B, int T, int D, int Din, std::uint64_t seed) {
  Problem p{kelk::BatchView<double>("example::s0", B, D),
            kelk::SequenceView<double>("example::inputs", B, T, Din)};
  const auto s0 = kelk::apps::standard_normals(p.s0.span(), seed, 0.1);
  const auto in = kelk::apps::standard_normals(p.inputs.span(), seed + 1);
  auto h0 = Kokkos::create_mirror_view(p.s0);
  auto hi = Kokkos::create_mirror_view(p.inputs);
  std::copy(s0.begin(), s0.end(), h0.data());
  std::copy(in.begin(), in.end(), hi.data());
  Kokkos::deep_copy(p.s0, h0);
  Kokkos::deep_copy(p.inputs, hi);
  return p;
}

double max_abs_diff(const kelk::SequenceView<double>& a, const kelk::SequenceView<double>& b) {
  const auto ha = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), a);
  const auto hb = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), b);
  double m = 0;
  for (std::size_t i = 0; i < ha.span(); ++i) {
    const double d = std::abs(ha.data()[i] - hb.data()[i]);
    if (!(d <= m)) m = d;
  }
  return m;
}

/// Solves with `method` (best wall time of 3) and prints a row against `reference`.
template <class Map>
double row(const char* label, const Map& map, const Problem& p, kelk::Method method,
           const kelk::SequenceView<double>& reference, double t_seq) {
  const int B = int(p.inputs.extent(0)), T = int(p.inputs.extent(1)), D = map.state_dim();
  kelk::SequenceView<double> states("example::states", B, T, D);
  kelk::SolveOptions opt;
  opt.method = method;
  kelk::SolveResult r{};
  double best = 1e300;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    r = kelk::solve(map, p.s0, p.inputs, states, opt);
    Kokkos::fence();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  const double dev = reference.data() ? max_abs_diff(states, reference) : 0.0;
  if (!r.converged || !(dev <= 10 * kelk::default_atol<double>())) all_ok = false;
  std::printf("  %-26s %-11s %10d %10s %10.4f %9.2f %15.3e\n", label, kelk::to_string(method).c_str(),
              r.iterations, r.converged ? "yes" : "NO", best, t_seq > 0 ? best / t_seq : 1.0, dev);
  return best;
}

template <class Map>
kelk::SequenceView<double> sequential(const Map& map, const Problem& p, double& t_seq) {
  kelk::SequenceView<double> ref("example::reference", p.inputs.extent(0), p.inputs.extent(1),
                                 map.state_dim());
  t_seq = row("", map, p, kelk::Method::sequential, kelk::SequenceView<double>(), 0.0);
  kelk::SolveOptions seq;
  seq.method = kelk::Method::sequential;
  kelk::solve(map, p.s0, p.inputs, ref, seq);
  return ref;
}

/// Seconds per call of step, jacobian and jacobian_diagonal of `map`, from n calls in a
/// parallel_for (each call its own state, input and output; best of 3).
template <class Map>
void per_call(const char* label, const Map& map, int n) {
  const int D = map.state_dim(), Din = map.input_dim(), S = map.scratch_size() + 1;
  Kokkos::View<double**> s("s", n, D), u("u", n, Din + 1), f("f", n, D), out("out", n, D * D),
      scratch("scratch", n, S);
  Kokkos::parallel_for(
      "example::fill", n, KOKKOS_LAMBDA(int r) {
        for (int j = 0; j < D; ++j) s(r, j) = 0.3 * KELK_IMPL_KOKKOS_MATH::sin(0.1 * (r + 7 * j));
        for (int j = 0; j < Din; ++j) u(r, j) = KELK_IMPL_KOKKOS_MATH::cos(0.2 * (r + 3 * j));
      });
  double t[3];
  for (int what = 0; what < 3; ++what) {
    t[what] = 1e300;
    for (int rep = 0; rep < 3; ++rep) {
      Kokkos::fence();
      const auto t0 = std::chrono::steady_clock::now();
      Kokkos::parallel_for(
          "example::per_call", n, KOKKOS_LAMBDA(int r) {
            if (what == 0)
              map.step(&s(r, 0), &u(r, 0), &f(r, 0), &scratch(r, 0));
            else if (what == 1)
              map.jacobian(&s(r, 0), &u(r, 0), &f(r, 0), &out(r, 0), &scratch(r, 0));
            else
              map.jacobian_diagonal(&s(r, 0), &u(r, 0), &f(r, 0), &out(r, 0), &scratch(r, 0));
          });
      Kokkos::fence();
      t[what] = std::min(t[what], std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / n);
    }
  }
  std::printf("  %-26s %12.3e %12.3e %12.3e\n", label, t[0], t[1], t[2]);
}

void header(const char* title) {
  std::printf("\n%s\n  %-26s %-11s %10s %10s %10s %9s %15s\n", title, "map", "method", "iterations",
              "converged", "time [s]", "vs seq", "max|s - s_seq|");
}

}  // namespace

int main(int argc, char* argv[]) {
  kelk::activity::install_fatal_signal_handler("kelk-autodiff-example");
  namespace cli = kelk::apps::cli;
  int T = 10000, B = 1;
  CLI::App app{"kelk-autodiff-example: maps with forward-mode AD Jacobians (kelk::AutoDiff) "
               "solved with deer and quasi_deer against the sequential loop. Kokkos options "
               "(--kokkos-num-threads=N or --kokkos-threads=N, ...) pass through."};
  app.add_option("--length,-T", T, "sequence length T")->check(cli::positive())->capture_default_str();
  app.add_option("--batch,-B", B, "number of sequences B")->check(cli::positive())->capture_default_str();
  if (const int code = cli::Parser("kelk-autodiff-example").parse(app, argc, argv); code >= 0)
    return code;
  kelk::ScopeGuard guard(argc, argv);
  std::printf("kelk %s autodiff example: B=%d T=%d fp64, Fad width %d; %s, concurrency %d\n",
              kelk::version(), B, T, kelk::AutoDiff<Damped>::width,
              Kokkos::DefaultExecutionSpace::name(), Kokkos::DefaultExecutionSpace().concurrency());
  const kelk::Method methods[] = {kelk::Method::deer, kelk::Method::quasi_deer};
  double t_seq = 0;

  {
    header("1. Damped, s' = 0.9 tanh(s) + u, D = 16 (README), AD Jacobians");
    const kelk::AutoDiff<Damped> map(Damped{16, 0.9});
    const Problem p = make_problem(B, T, 16, 16, 1);
    const auto ref = sequential(map, p, t_seq);
    for (const auto m : methods) row("AutoDiff<Damped>", map, p, m, ref, t_seq);
  }
  {
    header("2. LSTM, H = 8 (state (h, c), D = 16), Din = 4, AD Jacobians");
    const auto lstm = kelk_examples::make_random_lstm<double>(8, 4, 0.5, 1.0, 2);
    const kelk::AutoDiff<kelk_examples::Lstm<double>> map(lstm);
    const Problem p = make_problem(B, T, 16, 4, 3);
    const auto ref = sequential(map, p, t_seq);
    for (const auto m : methods) row("AutoDiff<Lstm>", map, p, m, ref, t_seq);
  }
  {
    header("3. GRU, D = 16, Din = 4: closed-form Jacobians against AD, same weights");
    const auto gru = kelk::make_random_gru<double>(16, 4, 0.5, 4);
    const kelk::AutoDiff<GruTemplate> ad_gru(GruTemplate{gru});
    const Problem p = make_problem(B, T, 16, 4, 5);
    const auto ref = sequential(gru, p, t_seq);
    for (const auto m : methods) {
      const double closed = row("Gru (closed form)", gru, p, m, ref, t_seq);
      const double automatic = row("AutoDiff<GruTemplate>", ad_gru, p, m, ref, t_seq);
      std::printf("  %-26s %-11s AD / closed form: %.2f\n", "", kelk::to_string(m).c_str(),
                  automatic / closed);
    }
  }
  {
    std::printf("\n4. GRU, D = 16, Din = 4: seconds per call (%d calls)\n  %-26s %12s %12s %12s\n",
                T, "map", "step", "jacobian", "diagonal");
    const auto gru = kelk::make_random_gru<double>(16, 4, 0.5, 4);
    per_call("Gru (closed form)", gru, T);
    per_call("AutoDiff<GruTemplate>", kelk::AutoDiff<GruTemplate>(GruTemplate{gru}), T);
    per_call("AutoDiff<GruTemplate, 16>", kelk::AutoDiff<GruTemplate, 16>(GruTemplate{gru}), T);
    per_call("AutoDiff<GruTemplate, 4>", kelk::AutoDiff<GruTemplate, 4>(GruTemplate{gru}), T);
  }
  if (!all_ok) std::printf("\nFAILED: a solve did not converge to the sequential trajectory\n");
  return all_ok ? 0 : 1;
}
