// Issue 14: the predictability probe's sign on a contracting and a chaotic map, against a long
// estimate, and method = "auto"'s rule.
#include "test_common.hpp"

#include <kelk/kelk.hpp>

#include <cmath>
#include <limits>
#include <string>

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
#ifdef KELK_HAVE_HDF5
  SECTION("the AR GRU: exponent near 0 (-1.3e-4 over 1e5 steps): sequential at T = 1e4") {
    const auto map =
        kelk::load_argru<double>(std::string(KELK_INPUT_DIR) + "/argru/argru_weights.h5");
    const auto p = kelk_test::random_problem<double>(1, 10000, 4, 1, 12, 0.0);
    const auto r = kelk::probe(map, p.s0, p.inputs);
    CAPTURE(r.exponent, r.merge_length, r.verdict);
    CHECK(std::abs(r.exponent) < 0.01);
    CHECK(!r.predictable);
    CHECK(kelk::choose_method(r, 10000, {2, 2, false}).method == kelk::Method::sequential);
  }
#endif
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

namespace {
/// The default probe against a long one (T = 1e5 steps, the one-column QR estimate) and the
/// probe's time against a sequential evaluation's; printed, not asserted (PERFORMANCE.md).
template <class Map>
void report_probe(const char* name, const Map& map, const kelk_test::Problem<double>& p) {
  const int T = int(p.inputs.extent(1)), D = map.state_dim();
  kelk::SequenceView<double> s("s", 1, T, D);
  kelk::SolveOptions seq;
  seq.method = kelk::Method::sequential;
  kelk::solve(map, p.s0, p.inputs, s, seq);  // warm-up
  Kokkos::Timer timer;
  kelk::solve(map, p.s0, p.inputs, s, seq);
  const double t_seq = timer.seconds();
  timer.reset();
  const auto quick = kelk::probe(map, p.s0, p.inputs);
  const double t_probe = timer.seconds();
  kelk::ProbeOptions whole;
  whole.steps = T;
  whole.discard = 1000;
  const auto slow = kelk::probe(map, p.s0, p.inputs, whole);
  std::printf("%-16s probe %.5g (%d steps, %.4f s)  long %.5g (%d steps)  rel diff %.3f  "
              "probe / sequential time %.3f  merge %.3g  %s\n",
              name, quick.exponent, quick.steps, t_probe, slow.exponent, slow.steps,
              std::abs(quick.exponent - slow.exponent) / std::abs(slow.exponent),
              t_probe / t_seq, quick.merge_length, quick.verdict.c_str());
}
}  // namespace

TEST_CASE("probe report: default probe against a long estimate", "[.probe_report]") {
  const int T = 100000;
  report_probe("gru (norm 0.5)", kelk::make_random_gru<double>(32, 8, 0.5, 1),
               kelk_test::random_problem<double>(1, T, 32, 8, 2));
  report_probe("lorenz96 D=40", kelk::Lorenz96<double>(40, 8.0, 0.01),
               kelk_test::random_problem<double>(1, T, 40, 0, 3, 2.0));
  report_probe("lorenz96 D=5", kelk::Lorenz96<double>(5, 8.0, 0.01),
               kelk_test::random_problem<double>(1, T, 5, 0, 4, 2.0));
#ifdef KELK_HAVE_HDF5
  report_probe("argru",
               kelk::load_argru<double>(std::string(KELK_INPUT_DIR) + "/argru/argru_weights.h5"),
               kelk_test::random_problem<double>(1, T, 4, 1, 5, 0.0));
#endif
}
