// block_jacobi against the sequential evaluation: every built-in map, fp64 and fp32, batch 1
// and 3, T = 1, 2, 101 and 1e5, blocks in {1, 2, 7, T}; the at-most-blocks bound; warm starts;
// what a sweep records; non-finite trajectories; bad options.
#include "test_common.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <type_traits>

#ifdef KELK_INPUT_DIR
#include <kelk/kelk_argru.hpp>
#endif

using kelk::Method;
using kelk_test::max_abs_diff;

namespace {

struct Run {
  kelk::SolveResult result;
  double deviation = 0.0;  ///< max |s - s_seq|
};

/// block_jacobi with `options` (method and blocks set here) and the sequential loop.
template <class Map>
Run run_both(const Map& map, int B, int T, int blocks, kelk::SolveOptions options,
             std::uint64_t seed, double s0_scale = 0.5) {
  using Scalar = typename Map::value_type;
  const int D = map.state_dim();
  auto p = kelk_test::random_problem<Scalar>(B, T, D, map.input_dim(), seed, s0_scale);
  kelk::SequenceView<Scalar> reference("reference", B, T, D), states("states", B, T, D);
  kelk::SolveOptions seq;
  seq.method = Method::sequential;
  kelk::solve(map, p.s0, p.inputs, reference, seq);
  options.method = Method::block_jacobi;
  options.blocks = blocks;
  Run run;
  run.result = kelk::solve(map, p.s0, p.inputs, states, options);
  run.deviation = max_abs_diff(reference, states);
  return run;
}

/// Converges within the bound, lands within 10 atol of the sequential trajectory; the
/// reported residual (block starts and merge points only) is small too.
template <class Map>
void check_against_sequential(const Map& map, int B, int T, std::uint64_t seed,
                              double s0_scale = 0.5, int most_blocks = 0) {
  using Scalar = typename Map::value_type;
  const double atol = kelk::default_atol<Scalar>();
  for (const int blocks : {1, 2, 7, most_blocks > 0 ? most_blocks : T}) {
    if (blocks > T) continue;
    kelk::SolveOptions opt;
    opt.record_history = true;
    const auto run = run_both(map, B, T, blocks, opt, seed, s0_scale);
    const auto& r = run.result;
    CAPTURE(B, T, blocks, r.iterations, r.final_update, r.final_residual, run.deviation);
    REQUIRE(r.converged);
    CHECK(r.reason == kelk::StopReason::converged);
    CHECK(r.iterations >= 1);
    CHECK(r.iterations <= blocks);
    CHECK(run.deviation <= 10 * atol);
    CHECK(r.final_residual <= 10 * atol);
    REQUIRE(r.history.size() == std::size_t(r.iterations));
    // sweep 1 evaluates every step once, its longest block is the longest block
    CHECK(r.history[0].steps_recomputed == std::int64_t(B) * T);
    CHECK(r.history[0].longest_recomputation == (T + blocks - 1) / blocks);
    for (const auto& h : r.history) CHECK(h.longest_recomputation <= (T + blocks - 1) / blocks);
  }
}

}  // namespace

TEMPLATE_TEST_CASE("block_jacobi matches sequential on the GRU the Elman RNN and Lorenz-96",
                   "[block_jacobi]", double, float) {
  const int B = GENERATE(1, 3);
  const int T = GENERATE(1, 2, 101);
  SECTION("GRU") { check_against_sequential(kelk::make_random_gru<TestType>(6, 3, 0.5, 3), B, T, 1); }
  SECTION("Elman") {
    check_against_sequential(kelk::make_random_elman<TestType>(6, 3, 0.8, 2), B, T, 2);
  }
  SECTION("chaotic Lorenz-96") {
    check_against_sequential(kelk::Lorenz96<TestType>(5, TestType(8), TestType(0.01)), B, T, 3,
                             3.0);
  }
}

TEMPLATE_TEST_CASE("block_jacobi matches sequential on long sequences (T = 1e5)",
                   "[block_jacobi][long]", double, float) {
  const int T = 100000;
  const int B = GENERATE(1, 3);
  SECTION("GRU") { check_against_sequential(kelk::make_random_gru<TestType>(8, 3, 0.5, 5), B, T, 4); }
  SECTION("Elman") {
    check_against_sequential(kelk::make_random_elman<TestType>(8, 3, 0.6, 4), B, T, 5);
  }
  SECTION("Lorenz-96 below the chaotic regime") {
    // 10-step blocks, not one-step ones: this map contracts a perturbation by only ~0.75 per
    // step, and with one-step blocks the mismatches left by merges pile up and their correction
    // walks all T blocks, one per sweep (kelk_block_jacobi.hpp); 10-step blocks take 6 sweeps
    check_against_sequential(kelk::Lorenz96<TestType>(5, TestType(0.25), TestType(0.4)), B, T, 6,
                             1.0, T / 10);
  }
}

#ifdef KELK_INPUT_DIR
TEMPLATE_TEST_CASE("block_jacobi matches sequential on the autoregressive GRU", "[block_jacobi]",
                   double, float) {
  // Lyapunov exponent about -0.00085 per step: perturbations decay over ~1e4 steps, so blocks
  // rarely merge and the sweeps walk the sequence block by block
  const auto map = kelk::load_argru<TestType>(std::string(KELK_INPUT_DIR) + "/argru/argru_weights.h5");
  const int B = GENERATE(1, 3);
  const int T = GENERATE(1, 2, 101, 100000);
  if (T == 100000) {
    // Over 1e5 steps this map amplifies a perturbation left at a merge point locally by up to
    // ~1e3 (1e-7 became 1e-5 in fp64, 1e-4 became 0.1 in fp32), as it amplifies any method's
    // tolerance: compared with tolerance 0, where a block merges only where its state is
    // bitwise the stored one, so the result must be the step-by-step evaluation exactly.
    for (const int blocks : {1, 2, 7}) {
      kelk::SolveOptions opt;
      opt.atol = 0.0;
      const auto run = run_both(map, B, T, blocks, opt, 7, 0.0);
      CAPTURE(B, T, blocks, run.result.iterations, run.deviation);
      REQUIRE(run.result.converged);
      CHECK(run.result.iterations <= blocks);
      CHECK(run.deviation == 0.0);
    }
  } else {
    check_against_sequential(map, B, T, 8, 0.0);
  }
}
#endif

TEST_CASE("block_jacobi: at most as many sweeps as blocks on an expansive Elman RNN with tolerance 0",
          "[block_jacobi]") {
  // the expansive map of the at-most-T test: nothing merges early, block k is exact after
  // sweep k; with atol = rtol = 0 a block merges only where its states are bitwise the stored
  const int T = 24, D = 3;
  const auto map = kelk::make_random_elman<double>(D, 2, 3.0, 8);
  const int blocks = GENERATE(1, 2, 5, 7, 24);
  kelk::SolveOptions opt;
  opt.atol = 0.0;
  const auto run = run_both(map, 1, T, blocks, opt, 9, 1.0);
  CAPTURE(blocks, run.result.iterations, run.deviation);
  CHECK(run.result.converged);
  CHECK(run.result.iterations <= blocks);
  CHECK(run.deviation <= 1e-12);
  if (blocks > 1) CHECK(run.result.iterations > 1);  // from zeros, the guesses were wrong

  // after k sweeps the first k blocks are those of the sequential loop
  for (int k = 1; k < blocks && k <= 4; ++k) {
    opt.max_iter = k;
    auto p = kelk_test::random_problem<double>(1, T, D, 2, 9, 1.0);
    kelk::SequenceView<double> reference("reference", 1, T, D), states("states", 1, T, D);
    kelk::SolveOptions seq;
    seq.method = Method::sequential;
    kelk::solve(map, p.s0, p.inputs, reference, seq);
    opt.method = Method::block_jacobi;
    opt.blocks = blocks;
    const auto r = kelk::solve(map, p.s0, p.inputs, states, opt);
    CHECK(r.iterations == k);
    CHECK_FALSE(r.converged);
    CHECK(r.reason == kelk::StopReason::max_iterations);
    const int exact = kelk::chunk_begin(k, T, blocks);
    auto ref = Kokkos::subview(reference, Kokkos::ALL, std::make_pair(0, exact), Kokkos::ALL);
    auto got = Kokkos::subview(states, Kokkos::ALL, std::make_pair(0, exact), Kokkos::ALL);
    CAPTURE(k, exact);
    CHECK(max_abs_diff(ref, got) <= 1e-12);
  }
}

TEST_CASE("block_jacobi: the batched block sweep (the device path) equals the per-block one",
          "[block_jacobi]") {
  // forced on the host: all blocks in step, two matrix products over the blocks per step
  const int B = GENERATE(1, 3);
  const int T = 700, D = 12, Din = 3;
  auto p = kelk_test::random_problem<double>(B, T, D, Din, 31);
  const auto check = [&](const auto& map) {
    const Kokkos::DefaultExecutionSpace space;
    kelk::SolveOptions opt;
    opt.method = Method::block_jacobi;
    opt.blocks = 7;
    opt.record_history = true;
    kelk::SequenceView<double> per_block("per_block", B, T, D), batched("batched", B, T, D);
    const auto r1 = kelk::solve(map, p.s0, p.inputs, per_block, opt);
    auto problem = kelk::impl::make_problem(space, map, kelk::BatchView<const double>(p.s0),
                                            kelk::SequenceView<const double>(p.inputs), batched,
                                            opt);
    kelk::impl::SingleProcess single;
    const auto r2 = kelk::impl::solve_block_jacobi(space, problem, opt, single, true);
    space.fence();
    CAPTURE(B, r1.iterations, r2.iterations);
    CHECK(r2.converged);
    CHECK(r2.iterations == r1.iterations);
    REQUIRE(r2.history.size() == r1.history.size());
    CHECK(r2.history[0].steps_recomputed == std::int64_t(B) * T);
    CHECK(max_abs_diff(per_block, batched) <= 1e-6);
    CHECK(max_abs_diff(batched, kelk_test::plain_loop(map, p.s0, p.inputs)) <= 1e-6);
  };
  SECTION("GRU") { check(kelk::make_random_gru<double>(D, Din, 0.5, 32)); }
  SECTION("Elman") { check(kelk::make_random_elman<double>(D, Din, 0.8, 33)); }
}

TEST_CASE("block_jacobi: a warm start from the exact trajectory converges in one sweep",
          "[block_jacobi]") {
  const auto map = kelk::make_random_gru<double>(6, 3, 0.5, 11);
  const int B = 2, T = 5000, D = 6;
  auto p = kelk_test::random_problem<double>(B, T, D, 3, 12);
  kelk::SequenceView<double> states("states", B, T, D);
  kelk::SolveOptions opt;
  opt.method = Method::block_jacobi;
  opt.blocks = 8;
  const auto cold = kelk::solve(map, p.s0, p.inputs, states, opt);
  REQUIRE(cold.converged);
  CHECK(cold.iterations == 2);  // contractive: the second sweep merges after a few steps
  opt.initial_guess = kelk::InitialGuess::provided;
  const auto warm = kelk::solve(map, p.s0, p.inputs, states, opt);
  CHECK(warm.converged);
  CHECK(warm.iterations == 1);
}

TEST_CASE("block_jacobi: the second sweep of a contractive map recomputes only until merging",
          "[block_jacobi]") {
  const auto map = kelk::make_random_gru<double>(8, 3, 0.5, 13);
  const int T = 20000, blocks = 16;
  kelk::SolveOptions opt;
  opt.record_history = true;
  const auto run = run_both(map, 1, T, blocks, opt, 14);
  const auto& h = run.result.history;
  REQUIRE(run.result.converged);
  REQUIRE(h.size() == 2);
  // block 0 starts at s0 and is skipped; every other block merges long before its end
  CHECK(h[1].steps_recomputed > 0);
  CHECK(h[1].steps_recomputed <= (blocks - 1) * h[1].longest_recomputation);
  CHECK(h[1].longest_recomputation < T / blocks / 4);
  CHECK(h[1].max_update > 0.0);
  CHECK(run.deviation <= 1e-6);
}

TEST_CASE("block_jacobi: a trajectory that overflows is reported as non-finite",
          "[block_jacobi]") {
  // RK4 with dt = 2 on Lorenz-96 blows up within a few steps
  const kelk::Lorenz96<double> map(5, 8.0, 2.0);
  auto p = kelk_test::random_problem<double>(1, 200, 5, 0, 15, 3.0);
  kelk::SequenceView<double> states("states", 1, 200, 5);
  kelk::SolveOptions opt;
  opt.method = Method::block_jacobi;
  opt.blocks = 4;
  const auto r = kelk::solve(map, p.s0, p.inputs, states, opt);
  CHECK_FALSE(r.converged);
  CHECK(r.reason == kelk::StopReason::non_finite);
  CHECK(r.iterations <= 4);
}

TEST_CASE("block_jacobi: blocks and max_iter options", "[block_jacobi][errors]") {
  const auto map = kelk::make_random_gru<double>(4, 2, 0.5, 16);
  auto p = kelk_test::random_problem<double>(1, 10, 4, 2, 17);
  kelk::SequenceView<double> states("states", 1, 10, 4);
  kelk::SolveOptions opt;
  opt.method = Method::block_jacobi;
  opt.blocks = -1;
  CHECK_THROWS_WITH(kelk::solve(map, p.s0, p.inputs, states, opt),
                    Catch::Contains("blocks must be >= 0"));
  opt.blocks = 11;
  CHECK_THROWS_WITH(kelk::solve(map, p.s0, p.inputs, states, opt),
                    Catch::Contains("blocks = 11 is more than the 10 time steps"));
  opt.blocks = 0;  // automatic: at most T / 64 blocks, so one here
  opt.record_history = true;
  const auto r = kelk::solve(map, p.s0, p.inputs, states, opt);
  CHECK(r.converged);
  CHECK(r.iterations == 1);
  CHECK(kelk::impl::default_blocks(2, 1, 100000) == 2);
  CHECK(kelk::impl::default_blocks(2, 3, 100000) == 2);  // 6 items: 3 per thread
  CHECK(kelk::impl::default_blocks(2, 4, 100000) == 1);
  CHECK(kelk::impl::default_blocks(8, 6, 100000) == 4);
  CHECK(kelk::impl::default_blocks(4096, 1, 100000) == 1562);  // blocks of >= 64 steps
  // max_iter = 0 returns the initial guess
  opt.blocks = 2;
  opt.max_iter = 0;
  opt.initial_guess = kelk::InitialGuess::repeat_s0;
  const auto none = kelk::solve(map, p.s0, p.inputs, states, opt);
  CHECK(none.iterations == 0);
  CHECK_FALSE(none.converged);
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), states);
  auto h0 = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), p.s0);
  CHECK(h(0, 9, 3) == h0(0, 3));
}
