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
