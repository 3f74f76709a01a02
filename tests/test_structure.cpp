// quasi_deer and quasi_elk with block-diagonal Jacobians (JacobianStructure::block) against the
// sequential evaluation on every built-in map, fp64 and fp32, with and without the smoother and
// sigma2 auto; the identities block k = 1 == diagonal and block k = D == dense; the refusals.
#include "test_common.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <type_traits>

using kelk::JacobianStructure;
using kelk::Method;
using kelk_test::max_abs_diff;

namespace {

template <class Map>
struct Run {
  kelk::SequenceView<typename Map::value_type> states;
  kelk::SolveResult result;
};

template <class Map>
Run<Map> run(const Map& map, const kelk_test::Problem<typename Map::value_type>& p,
             const kelk::SolveOptions& options) {
  const int B = int(p.s0.extent(0)), T = int(p.inputs.extent(1));
  Run<Map> r{kelk::SequenceView<typename Map::value_type>("test::states", B, T, map.state_dim()),
             {}};
  r.result = kelk::solve(map, p.s0, p.inputs, r.states, options);
  return r;
}

kelk::SolveOptions block_options(Method m, int k) {
  kelk::SolveOptions o;
  o.method = m;
  o.jacobian_structure = JacobianStructure::block;
  o.block_size = k;
  return o;
}

/// quasi_deer and quasi_elk (filter only, with the smoother, with sigma2 auto) with k x k blocks
/// converge to within 10 atol of the sequential trajectory.
template <class Map>
void check_blocks(const Map& map, int k, int B, int T, std::uint64_t seed, double s0_scale = 0.5) {
  using Scalar = typename Map::value_type;
  const int D = map.state_dim();
  const auto p = kelk_test::random_problem<Scalar>(B, T, D, map.input_dim(), seed, s0_scale);
  kelk::SolveOptions seq;
  seq.method = Method::sequential;
  const auto reference = run(map, p, seq);
  REQUIRE(reference.result.converged);
  const double atol = kelk::default_atol<Scalar>();
  for (int variant = 0; variant < 4; ++variant) {
    auto o = block_options(variant == 0 ? Method::quasi_deer : Method::quasi_elk, k);
    o.kalman_smoother = variant == 2;
    o.sigma2_auto = variant == 3;
    // the damped steps have no T bound (the pendulums' 2 x 2 blocks with the smoother: ~150)
    if (variant > 0) o.max_iter = 2000;
    const auto r = run(map, p, o);
    const double dev = max_abs_diff(reference.states, r.states);
    CAPTURE(D, k, B, T, variant, r.result.iterations, r.result.final_residual, dev);
    REQUIRE(r.result.converged);
    if (variant == 0) CHECK(r.result.iterations <= T + 1);
    CHECK(dev <= 10 * atol);
  }
}

}  // namespace

TEMPLATE_TEST_CASE("block Jacobians match sequential on every built-in map", "[structure]",
                   double, float) {
  const int B = GENERATE(1, 3);
  const int T = GENERATE(2, 101);
  const auto elman = kelk::make_random_elman<TestType>(6, 3, 0.8, 2);
  const auto gru = kelk::make_random_gru<TestType>(6, 3, 0.5, 3);
  const auto lstm = kelk::make_random_lstm<TestType>(4, 3, 0.5, 6);  // D = 8
  const kelk::Lorenz96<TestType> lorenz(6, TestType(0.25), TestType(0.4));
  for (const int k : {2, 3}) {
    check_blocks(elman, k, B, T, 100u + T + B);
    check_blocks(gru, k, B, T, 200u + T + B);
    check_blocks(lorenz, k, B, T, 300u + T + B, 1.0);
  }
  for (const int k : {2, 4}) check_blocks(lstm, k, B, T, 250u + T + B);
  // the second-order test system: angle and velocity of each pendulum adjacent
  const auto pendulums = kelk::make_pendulum_chain<TestType>(4);  // D = 8
  for (const int k : {2, 4}) check_blocks(pendulums, k, B, T, 350u + T + B, 0.5);
}

TEST_CASE("blocks that hold the couplings converge in a count that does not grow with T",
          "[structure][pendulum]") {
  // A chain of 8 pendulums (D = 16): the diagonal drops each angle's coupling to its velocity
  // and the springs, and its count grows with T like Jacobi's; 4 x 4 blocks (two neighbours)
  // keep most of it (ALGORITHMS.md 4.1). Iteration counts, not times.
  const auto map = kelk::make_pendulum_chain<double>(8);
  const auto iterations = [&](int T, kelk::JacobianStructure structure, int k) {
    const auto p = kelk_test::random_problem<double>(1, T, 16, 8, 5, 0.5);
    kelk::SolveOptions o;
    o.method = Method::quasi_deer;
    o.jacobian_structure = structure;
    o.block_size = k;
    o.max_iter = 5000;
    const auto r = run(map, p, o);
    REQUIRE(r.result.converged);
    return r.result.iterations;
  };
  const int diagonal = iterations(2000, JacobianStructure::diagonal, 0);
  const int block4_short = iterations(1000, JacobianStructure::block, 4);
  const int block4 = iterations(2000, JacobianStructure::block, 4);
  const int block4_long = iterations(8000, JacobianStructure::block, 4);
  const int dense = iterations(2000, JacobianStructure::dense, 0);
  CAPTURE(diagonal, block4_short, block4, block4_long, dense);
  CHECK(dense <= 6);
  CHECK(block4 <= 10 * dense);
  CHECK(diagonal >= 10 * block4);
  CHECK(block4_long <= block4_short + 5);
}

TEST_CASE("block size 1 is the diagonal and block size D the dense Jacobian", "[structure]") {
  // k = D linearises with the Jacobian's entries as deer does (Lorenz-96's jacobian_blocks sums
  // its band in jacobian()'s order; the LSTM's come from its jacobian()). The block Kalman
  // algebras then perform the dense algebras' operations: bitwise equal on maps without a bulk
  // evaluation (Lorenz-96, LSTM); the block affine scan composes with its own loops: round-off.
  // k = 1 takes the Jacobian's diagonal entries, which jacobian_diagonal computes another way.
  const int B = 2, T = 300;
  const kelk::Lorenz96<double> lorenz(6, 0.25, 0.4);
  const auto lstm = kelk::make_random_lstm<double>(3, 2, 0.5, 6);
  const auto gru = kelk::make_random_gru<double>(6, 3, 0.5, 3);
  const auto check = [&](const auto& map, bool bitwise, std::uint64_t seed) {
    const int D = map.state_dim();
    const auto p = kelk_test::random_problem<double>(B, T, D, map.input_dim(), seed);
    for (const Method m : {Method::quasi_deer, Method::quasi_elk}) {
      for (const bool smoother : {false, true}) {
        kelk::SolveOptions diagonal, dense;
        diagonal.method = dense.method = m;
        diagonal.kalman_smoother = dense.kalman_smoother = smoother;
        diagonal.record_history = dense.record_history = true;
        dense.jacobian_structure = JacobianStructure::dense;
        auto one = block_options(m, 1), all = block_options(m, D);
        one.kalman_smoother = all.kalman_smoother = smoother;
        one.record_history = all.record_history = true;
        const auto rd = run(map, p, diagonal), r1 = run(map, p, one);
        const auto rD = run(map, p, dense), rall = run(map, p, all);
        CAPTURE(D, kelk::to_string(m), smoother, rd.result.iterations, r1.result.iterations,
                rD.result.iterations, rall.result.iterations);
        CHECK(r1.result.iterations == rd.result.iterations);
        CHECK(max_abs_diff(r1.states, rd.states) <= 1e-12);
        CHECK(rall.result.iterations == rD.result.iterations);
        if (bitwise && m == Method::quasi_elk)
          CHECK(max_abs_diff(rall.states, rD.states) == 0.0);
        else
          CHECK(max_abs_diff(rall.states, rD.states) <= 1e-12);
        // the dense structure of quasi_deer is deer's Newton step: at most a few iterations
        if (m == Method::quasi_deer) {
          kelk::SolveOptions newton;
          newton.method = Method::deer;
          newton.record_history = true;
          const auto rn = run(map, p, newton);
          CHECK(rn.result.iterations == rD.result.iterations);
          CHECK(max_abs_diff(rn.states, rD.states) == 0.0);
        }
      }
    }
  };
  check(lorenz, true, 11);
  check(lstm, true, 12);
  check(gru, false, 13);
}

TEST_CASE("bad block sizes are refused naming the problem", "[structure]") {
  const auto map = kelk::make_random_gru<double>(6, 3, 0.5, 3);
  const auto p = kelk_test::random_problem<double>(1, 10, 6, 3, 1);
  for (const int k : {0, -2, 4, 7}) {
    CAPTURE(k);
    CHECK_THROWS_WITH(run(map, p, block_options(Method::quasi_deer, k)),
                      Catch::Contains("block_size k that divides D = 6, got " + std::to_string(k)));
  }
  // the other methods ignore the structure
  auto o = block_options(Method::deer, 4);
  CHECK(run(map, p, o).result.converged);
}

TEST_CASE("jacobian structure names", "[structure]") {
  for (const auto s : {JacobianStructure::diagonal, JacobianStructure::block,
                       JacobianStructure::dense})
    CHECK(kelk::parse_jacobian_structure(kelk::to_string(s)) == s);
  CHECK_THROWS_WITH(kelk::parse_jacobian_structure("blocks"),
                    Catch::Contains("unknown jacobian structure 'blocks' (valid: diagonal, block, dense)"));
}

TEST_CASE("method = auto measures its candidates on the probe's prefix", "[structure][auto]") {
  const Kokkos::DefaultExecutionSpace space;
  SECTION("a contracting GRU on 2 workers and on a (simulated) device") {
    const auto map = kelk::make_random_gru<double>(8, 3, 0.5, 7);
    const auto p = kelk_test::random_problem<double>(2, 20000, 8, 3, 8);
    for (const bool device : {false, true}) {
      const kelk::Resources resources{1, 2, device};
      const auto choice = kelk::choose_method(space, map, p.s0, p.inputs, resources);
      CAPTURE(device, choice.reason);
      // sequential, (block_jacobi off a device), quasi_deer diagonal, blocks 2 and 4, deer
      REQUIRE(choice.measured.size() == (device ? 5u : 6u));
      const auto fastest = std::min_element(
          choice.measured.begin(), choice.measured.end(),
          [](const auto& a, const auto& b) { return a.predicted_seconds < b.predicted_seconds; });
      CHECK(choice.method == fastest->method);
      CHECK(choice.structure == fastest->structure);
      CHECK(choice.block_size == fastest->block_size);
      for (const auto& c : choice.measured) {
        const auto name = kelk::impl::candidate_name(c.method, c.structure, c.block_size);
        CHECK(choice.reason.find(name) != std::string::npos);
        CHECK(c.predicted_seconds > 0);
        CHECK(c.predicted_iterations >= c.iterations);
        // a contracting GRU: Newton with the dense Jacobian converges on the prefix
        if (c.method == Method::deer) CHECK(c.converged);
      }
      CHECK(choice.seconds > 0);
      // the choice is a valid solve: it matches sequential
      kelk::SolveOptions o;
      choice.apply(o);
      kelk::SequenceView<double> a("a", 2, 20000, 8), b("b", 2, 20000, 8);
      REQUIRE(kelk::solve(map, p.s0, p.inputs, a, o).converged);
      kelk::SolveOptions seq;
      seq.method = Method::sequential;
      kelk::solve(map, p.s0, p.inputs, b, seq);
      CHECK(max_abs_diff(a, b) <= 1e-6);
    }
  }
  SECTION("chaotic Lorenz-96: sequential, nothing measured") {
    const kelk::Lorenz96<double> map(10, 8.0, 0.01);
    const auto p = kelk_test::random_problem<double>(1, 5000, 10, 0, 9, 2.0);
    const auto choice = kelk::choose_method(space, map, p.s0, p.inputs, kelk::Resources{1, 2, false});
    CHECK(choice.method == Method::sequential);
    CHECK(choice.measured.empty());
  }
  SECTION("one worker off a device: sequential, nothing measured") {
    const auto map = kelk::make_random_gru<double>(8, 3, 0.5, 7);
    const auto p = kelk_test::random_problem<double>(1, 5000, 8, 3, 8);
    const auto choice = kelk::choose_method(space, map, p.s0, p.inputs, kelk::Resources{1, 1, false});
    CHECK(choice.method == Method::sequential);
    CHECK(choice.measured.empty());
  }
}
