// The built-in step maps: closed-form Jacobians against central finite differences of f, the
// Jacobian diagonal against the full Jacobian's diagonal, and the step-map contract checks.
#include "test_common.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

namespace {

/// f, the Jacobian and the diagonal of `map` at (s, u), evaluated in a kernel.
template <class Map>
struct Evaluation {
  std::vector<double> f, f_jac, f_diag, jac, diag;
};

template <class Map>
Evaluation<Map> evaluate(const Map& map, const std::vector<double>& s,
                         const std::vector<double>& u) {
  using Scalar = typename Map::value_type;
  const int D = map.state_dim(), Din = map.input_dim();
  Kokkos::View<Scalar*> sv("s", D), uv("u", Din + 1), f("f", D), f2("f2", D), f3("f3", D),
      diag("diag", D), scratch("scratch", map.scratch_size() + 1);
  Kokkos::View<Scalar*> jac("jac", D * D);
  auto hs = Kokkos::create_mirror_view(sv);
  auto hu = Kokkos::create_mirror_view(uv);
  for (int i = 0; i < D; ++i) hs(i) = Scalar(s[i]);
  for (int i = 0; i < Din; ++i) hu(i) = Scalar(u[i]);
  Kokkos::deep_copy(sv, hs);
  Kokkos::deep_copy(uv, hu);
  Kokkos::parallel_for(
      "test::evaluate", Kokkos::RangePolicy<>(0, 1), KOKKOS_LAMBDA(int) {
        map.step(sv.data(), uv.data(), f.data(), scratch.data());
        map.jacobian(sv.data(), uv.data(), f2.data(), jac.data(), scratch.data());
        map.jacobian_diagonal(sv.data(), uv.data(), f3.data(), diag.data(), scratch.data());
      });
  auto to_vec = [](const auto& v) {
    auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), v);
    return std::vector<double>(h.data(), h.data() + h.span());
  };
  return {to_vec(f), to_vec(f2), to_vec(f3), to_vec(jac), to_vec(diag)};
}

/// f and the diagonal k x k blocks of the Jacobian as the block linearisation gets them: the
/// map's jacobian_blocks, or the blocks of its jacobian.
template <class Map>
std::vector<double> evaluate_blocks(const Map& map, const std::vector<double>& s,
                                    const std::vector<double>& u, int k) {
  using Scalar = typename Map::value_type;
  const int D = map.state_dim(), Din = map.input_dim();
  Kokkos::View<Scalar*> sv("s", D), uv("u", Din + 1), out("f_and_blocks", D + D * k),
      scratch("scratch", kelk::impl::block_scratch_size(map) + 1);
  auto hs = Kokkos::create_mirror_view(sv);
  auto hu = Kokkos::create_mirror_view(uv);
  for (int i = 0; i < D; ++i) hs(i) = Scalar(s[i]);
  for (int i = 0; i < Din; ++i) hu(i) = Scalar(u[i]);
  Kokkos::deep_copy(sv, hs);
  Kokkos::deep_copy(uv, hu);
  const int map_scratch = map.scratch_size();
  Kokkos::parallel_for(
      "test::evaluate_blocks", Kokkos::RangePolicy<>(0, 1), KOKKOS_LAMBDA(int) {
        kelk::impl::jacobian_blocks(map, sv.data(), uv.data(), k, D, out.data(),
                                    out.data() + D, scratch.data(), map_scratch);
      });
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), out);
  return std::vector<double>(h.data(), h.data() + h.span());
}

/// Checks the closed forms of `map` at a few random points.
template <class Map>
void check_jacobians(const Map& map, double state_scale, std::uint64_t seed) {
  const int D = map.state_dim(), Din = map.input_dim();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  for (int trial = 0; trial < 5; ++trial) {
    std::vector<double> s(D), u(Din);
    for (auto& x : s) x = state_scale * normal(rng);
    for (auto& x : u) x = normal(rng);
    const auto e = evaluate(map, s, u);
    // the Jacobian functions return the same f as step
    for (int i = 0; i < D; ++i) {
      CHECK(e.f_jac[i] == e.f[i]);
      CHECK(e.f_diag[i] == e.f[i]);
    }
    // the diagonal is the Jacobian's diagonal
    for (int i = 0; i < D; ++i) CHECK(e.diag[i] == Approx(e.jac[i * D + i]).margin(1e-14));
    // the diagonal blocks (the map's own jacobian_blocks where it has one) are the Jacobian's
    // entries, computed the same way: equal
    for (int k = 1; k <= D; ++k) {
      if (D % k != 0) continue;
      const auto b = evaluate_blocks(map, s, u, k);
      int wrong = 0;
      for (int i = 0; i < D; ++i) {
        wrong += b[i] != e.f[i];
        const int first = i / k * k;
        for (int c = 0; c < k; ++c) wrong += b[D + i * k + c] != e.jac[i * D + first + c];
      }
      CAPTURE(k, kelk::provides_jacobian_blocks_v<Map>);
      CHECK(wrong == 0);
    }
    // central differences: error O(h^2)
    const double h = 1e-5;
    double scale = 1, worst = 0;
    for (int j = 0; j < D; ++j) {
      auto sp = s, sm = s;
      sp[j] += h;
      sm[j] -= h;
      const auto fp = evaluate(map, sp, u).f, fm = evaluate(map, sm, u).f;
      for (int i = 0; i < D; ++i) {
        const double fd = (fp[i] - fm[i]) / (2 * h);
        scale = std::max(scale, std::abs(fd));
        worst = std::max(worst, std::abs(fd - e.jac[i * D + j]));
      }
    }
    CAPTURE(trial, worst, scale);
    CHECK(worst <= 1e-7 * scale);
  }
}

/// A user-written map with only step(): enough for sequential and jacobi.
struct StepOnlyMap {
  using value_type = double;
  int state_dim() const { return 2; }
  int input_dim() const { return 1; }
  int scratch_size() const { return 0; }
  KOKKOS_FUNCTION void step(const double* s, const double* u, double* f, double*) const {
    f[0] = 0.5 * s[1] + u[0];
    f[1] = -0.5 * s[0];
  }
};

struct NotAMap {};

}  // namespace

TEST_CASE("Elman Jacobian and diagonal match finite differences", "[maps]") {
  const int D = GENERATE(1, 3, 8);
  check_jacobians(kelk::make_random_elman<double>(D, 3, 1.5, 11u + D), 1.0, 5u + D);
}

TEST_CASE("GRU Jacobian and diagonal match finite differences", "[maps]") {
  const int D = GENERATE(1, 4, 16);
  const int Din = GENERATE(0, 3);
  check_jacobians(kelk::make_random_gru<double>(D, Din, 2.0, 21u + D + Din), 1.0, 7u + D);
}

TEST_CASE("LSTM Jacobian and diagonal match finite differences", "[maps][lstm]") {
  const int H = GENERATE(1, 3, 8);
  const int Din = GENERATE(0, 3);
  // recurrent norm 2 and a cell state of scale 1: every gate away from saturation
  check_jacobians(kelk::make_random_lstm<double>(H, Din, 2.0, 41u + H + Din), 1.0, 9u + H);
}

TEST_CASE("Lorenz-96 RK4 Jacobian and diagonal match finite differences", "[maps]") {
  // D < 13 wraps the band around (offsets alias columns); D >= 13 does not.
  const int D = GENERATE(4, 5, 8, 13, 20);
  check_jacobians(kelk::Lorenz96<double>(D, 8.0, 0.01), 3.0, 31u + D);
  check_jacobians(kelk::Lorenz96<double>(D, 8.0, 0.2), 3.0, 37u + D);  // large dt: stages matter
}

TEST_CASE("the step-map contract is checked at compile time", "[maps]") {
  STATIC_REQUIRE(kelk::impl::has_step<StepOnlyMap>::value);
  STATIC_REQUIRE_FALSE(kelk::provides_jacobian_v<StepOnlyMap>);
  STATIC_REQUIRE_FALSE(kelk::provides_jacobian_diagonal_v<StepOnlyMap>);
  STATIC_REQUIRE_FALSE(kelk::impl::has_step<NotAMap>::value);
  STATIC_REQUIRE(kelk::provides_jacobian_v<kelk::Gru<float>>);
  STATIC_REQUIRE(kelk::provides_jacobian_diagonal_v<kelk::Lorenz96<double>>);
  using Space = Kokkos::DefaultExecutionSpace::memory_space;
  STATIC_REQUIRE(kelk::provides_projected_form_v<kelk::Gru<float>, Space>);
  STATIC_REQUIRE(kelk::provides_projected_form_v<kelk::Elman<double>, Space>);
  STATIC_REQUIRE(kelk::provides_projected_form_v<kelk::Lstm<double>, Space>);
  STATIC_REQUIRE(kelk::provides_vjp_v<kelk::Lstm<float>>);
  STATIC_REQUIRE_FALSE(kelk::provides_projected_form_v<kelk::Lorenz96<double>, Space>);
  STATIC_REQUIRE_FALSE(kelk::provides_projected_form_v<StepOnlyMap, Space>);
}

TEST_CASE("a user map with only step() runs sequential and jacobi, and refuses deer", "[maps]") {
  const StepOnlyMap map;
  auto p = kelk_test::random_problem<double>(2, 50, 2, 1, 3);
  kelk::SequenceView<double> ref("ref", 2, 50, 2), out("out", 2, 50, 2);
  kelk::SolveOptions opt;
  opt.method = kelk::Method::sequential;
  kelk::solve(map, p.s0, p.inputs, ref, opt);
  CHECK(kelk_test::max_abs_diff(ref, kelk_test::plain_loop(map, p.s0, p.inputs)) == 0.0);
  opt.method = kelk::Method::jacobi;
  const auto r = kelk::solve(map, p.s0, p.inputs, out, opt);
  CHECK(r.converged);
  CHECK(kelk_test::max_abs_diff(ref, out) <= 1e-6);
  opt.method = kelk::Method::deer;
  CHECK_THROWS_WITH(kelk::solve(map, p.s0, p.inputs, out, opt),
                    Catch::Contains("deer needs a step map with jacobian()"));
  opt.method = kelk::Method::quasi_deer;
  CHECK_THROWS_WITH(kelk::solve(map, p.s0, p.inputs, out, opt),
                    Catch::Contains("jacobian_diagonal()"));
}

namespace {

/// The bulk evaluation of n random rows against step / jacobian / jacobian_diagonal of each row,
/// for every BulkOutput.
template <class Map>
void check_bulk(const Map& map, int n, double tol, std::uint64_t seed) {
  using Scalar = typename Map::value_type;
  using space = Kokkos::DefaultExecutionSpace;
  using memory_space = space::memory_space;
  STATIC_REQUIRE(kelk::provides_bulk_v<Map, space>);
  const int D = map.state_dim(), Din = map.input_dim();
  const auto rows = kelk_test::random_problem<Scalar>(1, n, D, Din, seed);  // inputs (1, n, Din)
  const auto prevs = kelk_test::random_problem<Scalar>(1, n, Din, D, seed + 1);  // states (1, n, D)
  Kokkos::View<Scalar**, Kokkos::LayoutRight> f("f", n, D), fb("fb", n, D),
      scratch("scratch", n, map.bulk_scratch_size()), diag("diag", n, D), diagb("diagb", n, D);
  Kokkos::View<Scalar*> jac("jac", std::size_t(n) * D * D), jacb("jacb", std::size_t(n) * D * D),
      per_step_scratch("per_step_scratch", std::size_t(n) * (map.scratch_size() + 1));
  const Scalar* prev = prevs.inputs.data();
  const Scalar* u = rows.inputs.data();
  const int ss = map.scratch_size() + 1;
  Kokkos::parallel_for(
      "test::per_step", Kokkos::RangePolicy<>(0, n), KOKKOS_LAMBDA(int r) {
        Scalar* scr = per_step_scratch.data() + std::size_t(r) * ss;
        map.jacobian(prev + std::size_t(r) * D, u + std::size_t(r) * Din, &f(r, 0),
                     jac.data() + std::size_t(r) * D * D, scr);
        map.jacobian_diagonal(prev + std::size_t(r) * D, u + std::size_t(r) * Din, &f(r, 0),
                              &diag(r, 0), scr);
      });
  using ConstRows = kelk::BulkRows<const Scalar, memory_space>;
  using Rows = kelk::BulkRows<Scalar, memory_space>;
  const ConstRows prev_rows(prev, n, D), u_rows(u, n, Din);
  const auto host = [](const auto& v) {
    return Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), v);
  };
  const auto hf = host(f), hdiag = host(diag);
  const auto hjac = host(jac);
  for (auto what : {kelk::BulkOutput::value, kelk::BulkOutput::diagonal, kelk::BulkOutput::jacobian}) {
    Kokkos::deep_copy(fb, Scalar(-7));
    Scalar* out = what == kelk::BulkOutput::diagonal   ? diagb.data()
                  : what == kelk::BulkOutput::jacobian ? jacb.data()
                                                       : nullptr;
    map.bulk(space(), prev_rows, u_rows, Rows(fb.data(), n, D), Rows(scratch.data(), n, scratch.extent(1)),
             what, out);
    Kokkos::fence();
    const auto hfb = host(fb);
    double err = 0;
    for (std::size_t i = 0; i < hf.span(); ++i) err = std::max(err, double(std::abs(hfb.data()[i] - hf.data()[i])));
    if (what == kelk::BulkOutput::diagonal) {
      const auto h = host(diagb);
      for (std::size_t i = 0; i < h.span(); ++i) err = std::max(err, double(std::abs(h.data()[i] - hdiag.data()[i])));
    }
    if (what == kelk::BulkOutput::jacobian) {
      const auto h = host(jacb);
      for (std::size_t i = 0; i < h.span(); ++i) err = std::max(err, double(std::abs(h.data()[i] - hjac.data()[i])));
    }
    INFO("BulkOutput " << int(what) << ", D = " << D << ", Din = " << Din);
    CHECK(err <= tol);
  }
}

}  // namespace

TEST_CASE("bulk evaluation (matrix-matrix) equals the per-step functions", "[maps][bulk]") {
  for (int D : {1, 5, 33}) {
    for (int Din : {0, 3}) {
      check_bulk(kelk::make_random_gru<double>(D, Din, 0.9, 3), 257, 1e-13, 5);
      check_bulk(kelk::make_random_elman<double>(D, Din, 0.9, 3), 257, 1e-13, 6);
    }
  }
  check_bulk(kelk::make_random_gru<float>(16, 4, 0.9, 3), 100, 2e-5, 7);
}
