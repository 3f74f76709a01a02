// Issue 14: elk and quasi_elk with sigma2 = "auto" converge and never take a non-finite
// iterate where fixed values overflow; the predictability probe's sign on a contracting and a
// chaotic map; method = "auto"'s rule.
#include "test_common.hpp"

#include <kelk/kelk.hpp>

#include <cmath>
#include <limits>
#include <string>

namespace {

/// Solves with `options` and checks: converged, every iterate finite (the on_iteration updates
/// and the result), the trajectory equal to the sequential one to `tolerance`; returns the
/// iterations.
template <class Map>
int check_adaptive(const Map& map, const kelk::BatchView<double>& s0,
                   const kelk::SequenceView<double>& inputs, kelk::SolveOptions options,
                   double tolerance) {
  const int B = int(s0.extent(0)), T = int(inputs.extent(1)), D = map.state_dim();
  kelk::SequenceView<double> seq("seq", B, T, D), s("s", B, T, D);
  kelk::SolveOptions o;
  o.method = kelk::Method::sequential;
  kelk::solve(map, s0, inputs, seq, o);
  bool finite = true;
  options.record_history = true;
  options.on_iteration = [&](const kelk::IterationProgress& p) {
    finite &= std::isfinite(p.max_update) && std::isfinite(p.start_residual);
  };
  const auto r = kelk::solve(map, s0, inputs, s, options);
  int rejected = 0;
  for (const auto& h : r.history) {
    CHECK(h.sigma2 > 0);
    rejected += h.accepted ? 0 : 1;
  }
  CAPTURE(kelk::to_string(options.method), r.iterations, rejected, r.final_residual);
  CHECK(r.converged);
  CHECK(finite);
  CHECK(kelk_test::max_abs_diff(s, seq) <= tolerance);
  return r.iterations;
}

}  // namespace

TEST_CASE("sigma2 auto: elk and quasi_elk on Lorenz-96 converge and stay finite", "[auto]") {
  // fixed sigma2 >= 1e4 (elk) and 100 (quasi_elk) overflow here (issue 14)
  const kelk::Lorenz96<double> map(5, 8.0, 0.01);
  const auto p = kelk_test::random_problem<double>(1, 1000, 5, 0, 3, 2.0);
  for (const auto method : {kelk::Method::elk, kelk::Method::quasi_elk}) {
    kelk::SolveOptions options;
    options.method = method;
    options.sigma2_auto = true;
    options.max_iter = 3000;
    options.atol = 1e-10;
    check_adaptive(map, p.s0, p.inputs, options, 1e-8);
  }
}

TEST_CASE("sigma2 auto: a rejected candidate leaves the iterate and shrinks sigma2", "[auto]") {
  const kelk::Lorenz96<double> map(5, 8.0, 0.01);
  const auto p = kelk_test::random_problem<double>(1, 1000, 5, 0, 4, 2.0);
  kelk::SolveOptions options;
  options.method = kelk::Method::elk;
  options.sigma2_auto = true;
  options.sigma2 = 1e8;  // a bold start: its first candidates overflow
  options.max_iter = 3000;
  options.record_history = true;
  kelk::SequenceView<double> s("s", 1, 1000, 5);
  const auto r = kelk::solve(map, p.s0, p.inputs, s, options);
  REQUIRE(r.history.size() >= 2);
  bool saw_reject = false;
  for (std::size_t i = 0; i + 1 < r.history.size(); ++i) {
    const auto& h = r.history[i];
    const double next = r.history[i + 1].sigma2;
    if (!h.accepted) {
      saw_reject = true;
      CHECK(h.max_update == 0.0);  // the iterate did not move
      CHECK(next < h.sigma2);
    } else {
      CHECK(next >= h.sigma2);
    }
  }
  CHECK(saw_reject);
  CHECK(r.converged);
}

#ifdef KELK_HAVE_HDF5
TEST_CASE("sigma2 auto: elk and quasi_elk on the AR GRU converge and stay finite", "[auto][argru]") {
  const auto map = kelk::load_argru<double>(std::string(KELK_INPUT_DIR) + "/argru/argru_weights.h5");
  const int T = 2000;
  const auto p = kelk_test::random_problem<double>(1, T, 4, 1, 5, 0.0);
  for (const auto method : {kelk::Method::elk, kelk::Method::quasi_elk}) {
    kelk::SolveOptions options;
    options.method = method;
    options.sigma2_auto = true;
    options.max_iter = 4000;
    options.atol = 1e-10;
    check_adaptive(map, p.s0, p.inputs, options, 1e-8);
  }
}
#endif

TEST_CASE("probe: the exponent's sign on a contracting GRU and chaotic Lorenz-96", "[auto]") {
  SECTION("contracting GRU: negative, predictable, block_jacobi on 2 workers") {
    const auto map = kelk::make_random_gru<double>(8, 3, 0.5, 7);
    const auto p = kelk_test::random_problem<double>(2, 20000, 8, 3, 8);
    const auto r = kelk::probe(map, p.s0, p.inputs);
    CAPTURE(r.exponent, r.merge_length, r.verdict);
    CHECK(r.exponent < 0);
    CHECK(r.predictable);
    CHECK(r.steps == 1000);
    CHECK(kelk::choose_method(r, 20000, {1, 2, false}).method == kelk::Method::block_jacobi);
    CHECK(kelk::choose_method(r, 20000, {1, 1, false}).method == kelk::Method::sequential);
    CHECK(kelk::choose_method(r, 20000, {1, 1, true}).method == kelk::Method::quasi_deer);
  }
  SECTION("Lorenz-96 (F = 8): positive, chaotic, sequential") {
    const kelk::Lorenz96<double> map(10, 8.0, 0.01);
    const auto p = kelk_test::random_problem<double>(1, 5000, 10, 0, 9, 2.0);
    kelk::ProbeOptions o;
    o.steps = 5000;
    const auto r = kelk::probe(map, p.s0, p.inputs, o);
    CAPTURE(r.exponent, r.verdict);
    CHECK(r.exponent > 0);
    CHECK(!r.predictable);
    CHECK(r.verdict.rfind("chaotic", 0) == 0);
    CHECK(kelk::choose_method(r, 5000, {4, 2, false}).method == kelk::Method::sequential);
  }
  SECTION("a map whose Jacobian is 0: the tangent vanishes and the exponent is -inf") {
    // Elman with W = 0: f does not depend on s
    auto map = kelk::make_random_elman<double>(4, 2, 0.5, 10);
    Kokkos::deep_copy(map.W, 0.0);
    const auto p = kelk_test::random_problem<double>(1, 300, 4, 2, 11);
    const auto r = kelk::probe(map, p.s0, p.inputs);
    CHECK(r.exponent == -std::numeric_limits<double>::infinity());
    CHECK(r.predictable);
  }
}
