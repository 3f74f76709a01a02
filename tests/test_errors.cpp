// Bad input to kelk::solve: a clear std::invalid_argument naming the problem, nothing computed.
#include "test_common.hpp"

#include <catch2/catch.hpp>

#include <limits>

using Catch::Contains;

namespace {
/// The map every case uses (not a global: Kokkos is not up during static initialisation).
kelk::Gru<double> gru_map() {
  return kelk::make_random_gru<double>(4, 2, 0.5, 1);
}

kelk::SolveOptions with(kelk::Method m) {
  kelk::SolveOptions o;
  o.method = m;
  return o;
}
}  // namespace

TEST_CASE("mismatched shapes are rejected", "[errors]") {
  const auto gru = gru_map();
  const auto method = GENERATE(kelk::Method::sequential, kelk::Method::deer);
  auto p = kelk_test::random_problem<double>(2, 10, 4, 2, 1);
  kelk::SequenceView<double> out("out", 2, 10, 4);

  kelk::BatchView<double> s0_wrong_d("s0", 2, 5);
  CHECK_THROWS_WITH(kelk::solve(gru, s0_wrong_d, p.inputs, out, with(method)),
                    Contains("s0 has shape (2, 5)") && Contains("D = 4"));
  kelk::SequenceView<double> out_wrong_b("out", 3, 10, 4);
  CHECK_THROWS_WITH(kelk::solve(gru, p.s0, p.inputs, out_wrong_b, with(method)),
                    Contains("states have shape (3, 10, 4)"));
  kelk::SequenceView<double> in_wrong_t("in", 2, 9, 2);
  CHECK_THROWS_WITH(kelk::solve(gru, p.s0, in_wrong_t, out, with(method)),
                    Contains("inputs have shape (2, 9, 2)"));
  kelk::SequenceView<double> in_wrong_din("in", 2, 10, 3);
  CHECK_THROWS_WITH(kelk::solve(gru, p.s0, in_wrong_din, out, with(method)),
                    Contains("(B, T, Din) = (2, 10, 2)"));
}

TEST_CASE("empty problems are rejected", "[errors]") {
  const auto gru = gru_map();
  kelk::BatchView<double> s0("s0", 1, 4);
  SECTION("T = 0") {
    kelk::SequenceView<double> in("in", 1, 0, 2), out("out", 1, 0, 4);
    CHECK_THROWS_WITH(kelk::solve(gru, s0, in, out, with(kelk::Method::deer)),
                      Contains("sequence length T is 0"));
  }
  SECTION("D = 0") {
    const auto empty = kelk::make_random_gru<double>(1, 2, 0.5, 1);
    kelk::Gru<double> zero = empty;
    zero.W_hr = decltype(zero.W_hr)("W_hr", 0, 0);
    kelk::BatchView<double> s00("s0", 1, 0);
    kelk::SequenceView<double> in("in", 1, 5, 2), out("out", 1, 5, 0);
    CHECK_THROWS_WITH(kelk::solve(zero, s00, in, out, with(kelk::Method::deer)),
                      Contains("state dimension D is 0"));
    CHECK_THROWS_WITH(kelk::make_random_gru<double>(0, 2, 0.5, 1), Contains("D must be >= 1"));
  }
  SECTION("B = 0") {
    kelk::BatchView<double> s00("s0", 0, 4);
    kelk::SequenceView<double> in("in", 0, 5, 2), out("out", 0, 5, 4);
    CHECK_THROWS_WITH(kelk::solve(gru, s00, in, out, with(kelk::Method::deer)),
                      Contains("batch size B = 0"));
  }
}

TEST_CASE("non-finite data is rejected", "[errors]") {
  const auto gru = gru_map();
  const double bad =
      GENERATE(std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity());
  auto p = kelk_test::random_problem<double>(2, 10, 4, 2, 1);
  kelk::SequenceView<double> out("out", 2, 10, 4);
  SECTION("in s0") {
    Kokkos::deep_copy(Kokkos::subview(p.s0, 1, 2), bad);
    CHECK_THROWS_WITH(kelk::solve(gru, p.s0, p.inputs, out, with(kelk::Method::quasi_deer)),
                      Contains("s0 contains NaN or Inf"));
  }
  SECTION("in the inputs") {
    Kokkos::deep_copy(Kokkos::subview(p.inputs, 0, 7, 1), bad);
    CHECK_THROWS_WITH(kelk::solve(gru, p.s0, p.inputs, out, with(kelk::Method::jacobi)),
                      Contains("inputs contain NaN or Inf"));
  }
  SECTION("in a provided initial guess") {
    Kokkos::deep_copy(Kokkos::subview(out, 0, 3, 0), bad);
    auto opt = with(kelk::Method::deer);
    opt.initial_guess = kelk::InitialGuess::provided;
    CHECK_THROWS_WITH(kelk::solve(gru, p.s0, p.inputs, out, opt),
                      Contains("initial guess") && Contains("NaN or Inf"));
  }
}

TEST_CASE("invalid options are rejected", "[errors]") {
  const auto gru = gru_map();
  auto p = kelk_test::random_problem<double>(1, 10, 4, 2, 1);
  kelk::SequenceView<double> out("out", 1, 10, 4);
  auto opt = with(kelk::Method::deer);
  SECTION("negative atol") {
    opt.atol = -1e-3;
    CHECK_THROWS_WITH(kelk::solve(gru, p.s0, p.inputs, out, opt), Contains("atol must be"));
  }
  SECTION("negative rtol") {
    opt.rtol = -1.0;
    CHECK_THROWS_WITH(kelk::solve(gru, p.s0, p.inputs, out, opt), Contains("rtol must be"));
  }
  SECTION("NaN tolerance") {
    opt.atol = std::numeric_limits<double>::quiet_NaN();
    CHECK_THROWS_WITH(kelk::solve(gru, p.s0, p.inputs, out, opt), Contains("atol must be"));
  }
  SECTION("negative max_iter") {
    opt.max_iter = -2;
    CHECK_THROWS_WITH(kelk::solve(gru, p.s0, p.inputs, out, opt), Contains("max_iter must be"));
  }
  SECTION("negative chunks") {
    opt.chunks = -1;
    CHECK_THROWS_WITH(kelk::solve(gru, p.s0, p.inputs, out, opt), Contains("chunks must be"));
  }
  SECTION("unknown names") {
    CHECK_THROWS_WITH(kelk::parse_method("newton"),
                      Contains("unknown method 'newton'") && Contains("quasi_deer"));
    CHECK_THROWS_WITH(kelk::parse_non_finite_policy("zero"), Contains("clip_and_zero"));
    CHECK_THROWS_WITH(kelk::parse_initial_guess("ones"), Contains("repeat_s0"));
    for (const auto m : kelk::all_methods()) CHECK(kelk::parse_method(kelk::to_string(m)) == m);
  }
}

TEST_CASE("a rejected solve leaves the output untouched", "[errors]") {
  const auto gru = gru_map();
  auto p = kelk_test::random_problem<double>(1, 10, 4, 2, 1);
  kelk::SequenceView<double> out("out", 1, 10, 4);
  Kokkos::deep_copy(out, 3.0);
  Kokkos::deep_copy(Kokkos::subview(p.inputs, 0, 9, 0), std::numeric_limits<double>::infinity());
  CHECK_THROWS(kelk::solve(gru, p.s0, p.inputs, out, with(kelk::Method::deer)));
  CHECK(kelk_test::max_abs(out) == 3.0);
}

namespace {
/// s' = log(s) + u elementwise: from s0 = 10 with u = 0 the trajectory is 2.30, 0.834, -0.181,
/// then NaN (the log of a negative number) at step 4. No Jacobian (deer cannot serve it).
struct LogMap {
  using value_type = double;
  int state_dim() const { return 1; }
  int input_dim() const { return 1; }
  int scratch_size() const { return 0; }
  KOKKOS_FUNCTION void step(const double* s, const double* u, double* f, double*) const {
    f[0] = KELK_IMPL_KOKKOS_MATH::log(s[0]) + u[0];
  }
};
}  // namespace

TEST_CASE("the probe refuses non-finite data as solve does", "[errors][probe]") {
  const auto gru = gru_map();
  const double bad =
      GENERATE(std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity());
  auto p = kelk_test::random_problem<double>(2, 400, 4, 2, 1);
  SECTION("in s0") {
    Kokkos::deep_copy(Kokkos::subview(p.s0, 1, 2), bad);
    CHECK_THROWS_WITH(kelk::probe(gru, p.s0, p.inputs),
                      Catch::Equals("kelk::probe: s0 contains NaN or Inf"));
  }
  SECTION("in the inputs") {
    Kokkos::deep_copy(Kokkos::subview(p.inputs, 0, 7, 1), bad);
    CHECK_THROWS_WITH(kelk::probe(gru, p.s0, p.inputs),
                      Catch::Equals("kelk::probe: inputs contain NaN or Inf"));
    kelk::SequenceView<double> out("out", 2, 400, 4);
    CHECK_THROWS_WITH(kelk::solve(gru, p.s0, p.inputs, out),
                      Catch::Equals("kelk::solve: inputs contain NaN or Inf"));
  }
}

TEST_CASE("a probe whose trajectory becomes NaN says so", "[errors][probe]") {
  const LogMap map;
  kelk::BatchView<double> s0("s0", 2, 1);
  kelk::SequenceView<double> u("u", 2, 200, 1);  // zeros
  Kokkos::deep_copy(s0, 10.0);
  // sequence 0 (u = 1.5) stays finite, drawn to the fixed point s = log(s) + 1.5 near 2.26;
  // sequence 1 (u = 0) reaches the log of a negative number at step 4
  Kokkos::deep_copy(Kokkos::subview(u, 0, Kokkos::ALL, 0), 1.5);
  const kelk::ProbeResult r = kelk::probe(map, s0, u);
  CHECK(!r.finite);
  CHECK(r.non_finite_sequence == 1);
  CHECK(r.non_finite_step == 3);  // 0-based: the 4th step
  CHECK(std::isnan(r.exponent));
  CHECK(!r.predictable);
  CHECK_THAT(r.verdict, Catch::StartsWith("non-finite") && Contains("step 4 of sequence 1"));
  const auto choice = kelk::choose_method(r, 200, {2, 2, false});
  CHECK(choice.method == kelk::Method::sequential);
  CHECK_THAT(choice.reason, Contains("NaN or Inf"));
  // the sequential evaluation agrees: the trajectory itself is not finite
  kelk::SequenceView<double> out("out", 2, 200, 1);
  const auto solved = kelk::solve(map, s0, u, out, with(kelk::Method::sequential));
  CHECK(solved.reason == kelk::StopReason::non_finite);
}

TEST_CASE("a method the map cannot serve is named with the fix", "[errors]") {
  const LogMap map;
  kelk::BatchView<double> s0("s0", 1, 1);
  kelk::SequenceView<double> u("u", 1, 50, 1), out("out", 1, 50, 1);
  Kokkos::deep_copy(s0, 0.5);
  Kokkos::deep_copy(u, 1.5);  // s' = log(s) + 1.5 rises from 0.5 to its fixed point near 2.26
  for (const auto m : {kelk::Method::deer, kelk::Method::elk})
    CHECK_THROWS_WITH(kelk::solve(map, s0, u, out, with(m)),
                      Contains("needs a step map with jacobian()") &&
                          Contains("value_type* jac, value_type* scratch) const") &&
                          Contains("kelk::AutoDiff") && Contains("jacobi"));
  for (const auto m : {kelk::Method::quasi_deer, kelk::Method::quasi_elk})
    CHECK_THROWS_WITH(kelk::solve(map, s0, u, out, with(m)),
                      Contains("needs a step map with jacobian_diagonal()") &&
                          Contains("value_type* diag, value_type* scratch) const") &&
                          Contains("kelk::AutoDiff"));
  // the methods without Jacobians serve it, to the sequential evaluation
  const auto reference = kelk_test::plain_loop(map, s0, u);
  for (const auto m : {kelk::Method::jacobi, kelk::Method::block_jacobi}) {
    auto o = with(m);
    o.atol = 0.0;
    const auto r = kelk::solve(map, s0, u, out, o);
    CHECK(r.converged);
    CHECK(kelk_test::max_abs_diff(out, reference) <= 1e-14);
  }
}

TEST_CASE("sigma2 is checked for every method, used by elk and quasi_elk only", "[errors]") {
  const auto gru = gru_map();
  auto p = kelk_test::random_problem<double>(1, 40, 4, 2, 1);
  kelk::SequenceView<double> out("out", 1, 40, 4), plain("plain", 1, 40, 4);
  for (const auto m : kelk::all_methods()) {
    CAPTURE(kelk::to_string(m));
    for (const double bad : {0.0, -1.0, std::numeric_limits<double>::quiet_NaN(),
                             std::numeric_limits<double>::infinity()}) {
      auto o = with(m);
      o.sigma2 = bad;
      CHECK_THROWS_WITH(kelk::solve(gru, p.s0, p.inputs, out, o), Contains("sigma2 must be"));
    }
    if (m == kelk::Method::elk || m == kelk::Method::quasi_elk) continue;
    // a valid sigma2 and sigma2_auto change nothing for a method without a trust region
    auto o = with(m);
    const auto a = kelk::solve(gru, p.s0, p.inputs, plain, o);
    o.sigma2 = 5.0;
    o.sigma2_auto = true;
    const auto b = kelk::solve(gru, p.s0, p.inputs, out, o);
    CHECK(a.iterations == b.iterations);
    CHECK(kelk_test::max_abs_diff(out, plain) == 0.0);
  }
}

TEST_CASE("time windows cut with Kokkos::subview are accepted", "[errors][views]") {
  const auto gru = gru_map();
  const int B = 3, T = 60, t0 = 20, t1 = 45;
  auto p = kelk_test::random_problem<double>(B, T, 4, 2, 5);
  const auto window = std::make_pair(t0, t1);
  const auto all = Kokkos::ALL;
  kelk::SequenceView<double> global("global", B, T, 4);
  const int b = GENERATE(0, -1);  // one sequence (used in place), or all three (copied)
  const auto rows = b < 0 ? std::make_pair(0, B) : std::make_pair(b, b + 1);
  const auto s0 = Kokkos::subview(p.s0, rows, all);
  const auto inputs = Kokkos::subview(p.inputs, rows, window, all);
  const auto states = Kokkos::subview(global, rows, window, all);
  static_assert(std::is_same<decltype(states)::array_layout, Kokkos::LayoutStride>::value);
  CHECK(kelk::impl::has_layout_right_strides(states) == (b >= 0));
  // the reference: the plain loop over a contiguous copy of the window
  kelk::BatchView<double> s0_copy("s0_copy", rows.second - rows.first, 4);
  kelk::SequenceView<double> inputs_copy("inputs_copy", rows.second - rows.first, t1 - t0, 2);
  Kokkos::deep_copy(s0_copy, s0);
  Kokkos::deep_copy(inputs_copy, inputs);
  const auto reference = kelk_test::plain_loop(gru, s0_copy, inputs_copy);
  Kokkos::deep_copy(global, 7.0);
  const auto r = kelk::solve(gru, s0, inputs, states, with(kelk::Method::deer));
  CHECK(r.converged);
  CHECK(kelk_test::max_abs_diff(states, reference) <= 1e-12);
  // nothing outside the window is written
  const auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), global);
  int outside = 0;
  for (int i = 0; i < B; ++i)
    for (int t = 0; t < T; ++t)
      for (int d = 0; d < 4; ++d)
        if ((i < rows.first || i >= rows.second || t < t0 || t >= t1) && h(i, t, d) != 7.0)
          ++outside;
  CHECK(outside == 0);
  // the probe and the adjoint take the same Views, with the results of contiguous ones
  const auto probed = kelk::probe(gru, s0, inputs);
  const auto probed_copy = kelk::probe(gru, s0_copy, inputs_copy);
  CHECK(probed.exponent == probed_copy.exponent);
  kelk::SequenceView<double> g_copy("g", rows.second - rows.first, t1 - t0, 4);
  Kokkos::deep_copy(g_copy, 1.0);
  const auto g = Kokkos::subview(global, rows, window, all);  // reuse as cotangents
  Kokkos::deep_copy(g, 1.0);
  kelk::Gradients<double> grad{kelk::BatchView<double>("ds0", rows.second - rows.first, 4), {},
                               {}, {}};
  kelk::Gradients<double> grad_copy{
      kelk::BatchView<double>("ds0", rows.second - rows.first, 4), {}, {}, {}};
  kelk::AdjointOptions a;
  a.method = kelk::AdjointMethod::sequential;
  kelk::solve_adjoint(gru, s0, inputs, reference, g, grad, a);
  kelk::solve_adjoint(gru, s0_copy, inputs_copy, reference, g_copy, grad_copy, a);
  const auto h0 = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), grad.s0);
  const auto h1 = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), grad_copy.s0);
  CHECK(std::equal(h0.data(), h0.data() + h0.size(), h1.data()));
  CHECK(kelk_test::max_abs(g) == 1.0);  // inputs are not written
}

TEST_CASE("Views of another layout are copied, and the states copied back", "[errors][views]") {
  const auto gru = gru_map();
  auto p = kelk_test::random_problem<double>(2, 30, 4, 2, 6);
  Kokkos::View<double***, Kokkos::LayoutLeft> inputs("inputs_left", 2, 30, 2),
      states("states_left", 2, 30, 4);
  Kokkos::deep_copy(inputs, p.inputs);
  const auto reference = kelk_test::plain_loop(gru, p.s0, p.inputs);
  const auto r = kelk::solve(gru, p.s0, inputs, states, with(kelk::Method::deer));
  CHECK(r.converged);
  CHECK(kelk_test::max_abs_diff(states, reference) <= 1e-12);
}
