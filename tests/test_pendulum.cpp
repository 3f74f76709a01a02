// kelk::PendulumChain (kelk_map_pendulum_chain.hpp): the closed-form Jacobian against central
// differences of the step, the diagonal and the diagonal blocks against the Jacobian's entries,
// deer and quasi_deer against the sequential loop, and the probe's verdict (contracting). A
// hidden case, [.pendulum-report], prints the iterations of deer, quasi_deer and jacobi at
// T = 2000.
#include "test_common.hpp"

#include <kelk/kelk_map_pendulum_chain.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <type_traits>
#include <vector>

namespace {

static_assert(kelk::is_step_map_v<kelk::PendulumChain<double>>);
static_assert(kelk::is_step_map_v<kelk::PendulumChain<float>>);
static_assert(kelk::provides_jacobian_v<kelk::PendulumChain<double>>);
static_assert(kelk::provides_jacobian_diagonal_v<kelk::PendulumChain<double>>);
static_assert(std::is_trivially_copyable<kelk::PendulumChain<double>>::value);

/// Everything the map computes at one point, and the central-difference Jacobian of its step.
struct Evaluation {
  std::vector<double> f, f_jac, f_diag, jac, diag, fd_jac;
  std::vector<std::vector<double>> f_blocks, blocks;  ///< per block size
};

/// Block sizes dividing D: 1, 2, 4 (when it divides) and D.
std::vector<int> block_sizes(int D) {
  std::vector<int> k = {1, 2};
  if (D % 4 == 0 && D != 4) k.push_back(4);
  if (D != 1 && D != 2) k.push_back(D);
  return k;
}

/// Evaluates step, jacobian, jacobian_diagonal, jacobian_blocks (every block size) and the
/// central differences (s +- h e_j) of step, all in one kernel of the default execution space.
template <class Scalar>
Evaluation evaluate(const kelk::PendulumChain<Scalar>& map, const std::vector<double>& s,
                    const std::vector<double>& u, double h) {
  const int D = map.state_dim(), Din = map.input_dim(), S = map.scratch_size();
  const auto ks = block_sizes(D);
  const int nk = int(ks.size());
  Kokkos::View<int*> kv("k", nk);
  Kokkos::View<Scalar*> sv("s", D), uv("u", Din), f("f", D), f2("f2", D), f3("f3", D),
      jac("jac", D * D), diag("diag", D), scratch("scratch", S), x("x", D), plus("plus", D),
      minus("minus", D);
  Kokkos::View<Scalar**> fb("fb", nk, D), blocks("blocks", nk, D * D), fd("fd", D, D);
  {
    auto hk = Kokkos::create_mirror_view(kv);
    for (int i = 0; i < nk; ++i) hk(i) = ks[i];
    Kokkos::deep_copy(kv, hk);
    auto hs = Kokkos::create_mirror_view(sv);
    auto hu = Kokkos::create_mirror_view(uv);
    for (int i = 0; i < D; ++i) hs(i) = Scalar(s[i]);
    for (int i = 0; i < Din; ++i) hu(i) = Scalar(u[i]);
    Kokkos::deep_copy(sv, hs);
    Kokkos::deep_copy(uv, hu);
  }
  const Scalar step_h = Scalar(h);
  Kokkos::parallel_for(
      "test::pendulum_evaluate", Kokkos::RangePolicy<>(0, 1), KOKKOS_LAMBDA(int) {
        map.step(sv.data(), uv.data(), f.data(), scratch.data());
        map.jacobian(sv.data(), uv.data(), f2.data(), jac.data(), scratch.data());
        map.jacobian_diagonal(sv.data(), uv.data(), f3.data(), diag.data(), scratch.data());
        for (int b = 0; b < nk; ++b)
          map.jacobian_blocks(sv.data(), uv.data(), kv(b), &fb(b, 0), &blocks(b, 0),
                              scratch.data());
        for (int j = 0; j < D; ++j) {
          for (int i = 0; i < D; ++i) x(i) = sv(i);
          x(j) = sv(j) + step_h;
          map.step(x.data(), uv.data(), plus.data(), scratch.data());
          x(j) = sv(j) - step_h;
          map.step(x.data(), uv.data(), minus.data(), scratch.data());
          for (int i = 0; i < D; ++i) fd(i, j) = (plus(i) - minus(i)) / (2 * step_h);
        }
      });
  Kokkos::fence();
  const auto vec = [](const auto& v) {
    auto hv = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), v);
    return std::vector<double>(hv.data(), hv.data() + hv.span());
  };
  Evaluation e{vec(f), vec(f2), vec(f3), vec(jac), vec(diag), vec(fd), {}, {}};
  const auto hfb = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), fb);
  const auto hb = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), blocks);
  for (int b = 0; b < nk; ++b) {
    std::vector<double> fv(D), bv(D * ks[b]);
    for (int i = 0; i < D; ++i) fv[i] = hfb(b, i);
    for (int i = 0; i < D * ks[b]; ++i) bv[i] = hb(b, i);
    e.f_blocks.push_back(fv);
    e.blocks.push_back(bv);
  }
  return e;
}

/// max |a - b| / max(1, max |b|).
double relative_difference(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double scale = 1, diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    scale = std::max(scale, std::abs(b[i]));
    const double d = std::abs(a[i] - b[i]);
    if (!(d <= diff)) diff = d;
  }
  return diff / scale;
}

/// Random states (angles of either sign up to ~2 rad, so that cos changes sign) and drives.
void random_point(int D, int Din, std::mt19937_64& rng, std::vector<double>& s,
                  std::vector<double>& u) {
  std::normal_distribution<double> normal;
  s.resize(D);
  u.resize(Din);
  for (auto& x : s) x = 1.2 * normal(rng);
  for (auto& x : u) x = normal(rng);
}

}  // namespace

TEST_CASE("PendulumChain's closed-form Jacobian matches central differences", "[pendulum]") {
  const int n = GENERATE(1, 2, 3, 8);
  const auto map = kelk::make_pendulum_chain<double>(n);
  const int D = map.state_dim();
  REQUIRE(D == 2 * n);
  REQUIRE(map.input_dim() == n);
  const auto ks = block_sizes(D);
  std::mt19937_64 rng(101 + n);
  for (int trial = 0; trial < 4; ++trial) {
    std::vector<double> s, u;
    random_point(D, n, rng, s, u);
    const auto e = evaluate(map, s, u, 1e-5);
    CAPTURE(n, trial);
    // every function returns the step's f, bitwise
    for (int i = 0; i < D; ++i) {
      CHECK(e.f_jac[i] == e.f[i]);
      CHECK(e.f_diag[i] == e.f[i]);
      for (std::size_t b = 0; b < ks.size(); ++b) CHECK(e.f_blocks[b][i] == e.f[i]);
    }
    CHECK(relative_difference(e.jac, e.fd_jac) <= 1e-7);
    // a step couples a pendulum to at most two neighbours on each side (the header's band
    // claim): the entries beyond are exact zeros
    int beyond = 0;
    for (int i = 0; i < D; ++i)
      for (int j = 0; j < D; ++j)
        if (std::abs(i / 2 - j / 2) > 2 && e.jac[i * D + j] != 0.0) ++beyond;
    CHECK(beyond == 0);
    // the diagonal and the blocks are the Jacobian's entries (read off it: exactly equal)
    for (int i = 0; i < D; ++i) CHECK(e.diag[i] == e.jac[i * D + i]);
    for (std::size_t b = 0; b < ks.size(); ++b) {
      const int k = ks[b];
      CAPTURE(k);
      int mismatches = 0;
      for (int j = 0; j < D / k; ++j)
        for (int r = 0; r < k; ++r)
          for (int c = 0; c < k; ++c)
            if (e.blocks[b][(j * k + r) * k + c] != e.jac[(j * k + r) * D + j * k + c])
              ++mismatches;
      CHECK(mismatches == 0);
    }
  }
}

TEST_CASE("PendulumChain in fp32 agrees with fp64", "[pendulum]") {
  const int n = 5;
  const auto m64 = kelk::make_pendulum_chain<double>(n);
  const auto m32 = kelk::make_pendulum_chain<float>(n);
  std::mt19937_64 rng(7);
  std::vector<double> s, u;
  random_point(2 * n, n, rng, s, u);
  const auto e64 = evaluate(m64, s, u, 1e-5);
  const auto e32 = evaluate(m32, s, u, 1e-2);
  CHECK(relative_difference(e32.f, e64.f) <= 1e-5);
  CHECK(relative_difference(e32.jac, e64.jac) <= 1e-5);
  CHECK(relative_difference(e32.diag, e64.diag) <= 1e-5);
}

TEMPLATE_TEST_CASE("deer and quasi_deer on the pendulum chain match the sequential loop",
                   "[pendulum][solve]", double, float) {
  using Scalar = TestType;
  const int B = 2, T = 300, n = 4;
  const auto map = kelk::make_pendulum_chain<Scalar>(n);
  const auto p = kelk_test::random_problem<Scalar>(B, T, map.state_dim(), n, 211);
  kelk::SequenceView<Scalar> reference("test::reference", B, T, map.state_dim());
  kelk::SolveOptions seq;
  seq.method = kelk::Method::sequential;
  REQUIRE(kelk::solve(map, p.s0, p.inputs, reference, seq).converged);
  // the sequential method is the plain loop
  CHECK(kelk_test::max_abs_diff(reference, kelk_test::plain_loop(map, p.s0, p.inputs)) <=
        (std::is_same<Scalar, double>::value ? 1e-12 : 1e-4));
  for (const kelk::Method method : {kelk::Method::deer, kelk::Method::quasi_deer}) {
    kelk::SolveOptions opt;
    opt.method = method;
    kelk::SequenceView<Scalar> states("test::states", B, T, map.state_dim());
    const auto r = kelk::solve(map, p.s0, p.inputs, states, opt);
    const double atol = kelk::default_atol<Scalar>();
    const double dev = kelk_test::max_abs_diff(reference, states);
    CAPTURE(kelk::to_string(method), r.iterations, r.final_update, r.final_residual, dev);
    REQUIRE(r.converged);
    CHECK(r.iterations <= T + 1);
    CHECK(dev <= 10 * atol);
    CHECK(r.final_residual <= 10 * atol);
  }
}

TEST_CASE("the probe finds the default pendulum chain contracting", "[pendulum]") {
  const int B = 4, T = 2000;
  const auto map = kelk::make_pendulum_chain<double>(8);
  const auto p = kelk_test::random_problem<double>(B, T, map.state_dim(), map.input_dim(), 307);
  const auto r = kelk::probe(map, p.s0, p.inputs);
  CAPTURE(r.exponent, r.error, r.exponent_min, r.exponent_max, r.verdict);
  REQUIRE(r.finite);
  CHECK(r.exponent + 2 * r.error < 0);
  CHECK(r.exponent_max < 0);
  // the tuned defaults: about -0.046 per step
  CHECK(r.exponent > -0.06);
  CHECK(r.exponent < -0.035);
  CHECK(r.predictable);
}

TEST_CASE("pendulum chain report: iterations of deer, quasi_deer and jacobi at T = 2000",
          "[.pendulum-report]") {
  const int B = 2, T = 2000;
  const auto map = kelk::make_pendulum_chain<double>(8);
  const auto p = kelk_test::random_problem<double>(B, T, map.state_dim(), map.input_dim(), 401);
  const auto pr = kelk::probe(map, p.s0, p.inputs);
  std::printf("pendulum chain n = %d (D = %d), dt = %g, g = %g, gamma = %g, kappa = %g\n", map.n,
              map.state_dim(), double(map.dt), double(map.g), double(map.gamma),
              double(map.kappa));
  std::printf("probe: exponent %.4f +- %.4f per step (min %.4f, max %.4f), %s\n", pr.exponent,
              pr.error, pr.exponent_min, pr.exponent_max, pr.verdict.c_str());
  kelk::SequenceView<double> reference("test::reference", B, T, map.state_dim());
  kelk::SolveOptions seq;
  seq.method = kelk::Method::sequential;
  kelk::solve(map, p.s0, p.inputs, reference, seq);
  for (const kelk::Method method :
       {kelk::Method::deer, kelk::Method::quasi_deer, kelk::Method::jacobi}) {
    kelk::SolveOptions opt;
    opt.method = method;
    opt.atol = 1e-7;
    opt.max_iter = 20000;
    opt.record_history = false;
    kelk::SequenceView<double> states("test::states", B, T, map.state_dim());
    const auto r = kelk::solve(map, p.s0, p.inputs, states, opt);
    std::printf("%-10s T = %d: %5d iterations, converged %d, final update %.2e, max |s - seq| "
                "%.2e\n",
                kelk::to_string(method).c_str(), T, r.iterations, int(r.converged),
                r.final_update, kelk_test::max_abs_diff(states, reference));
  }
}
