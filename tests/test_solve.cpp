// kelk::solve against the sequential evaluation: every method on every built-in map, fp64 and
// fp32, several batch sizes and lengths; the at-most-T-iterations guarantee; initial guesses,
// safeguards, history and best-iterate bookkeeping.
#include "test_common.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <type_traits>

using kelk::Method;
using kelk_test::max_abs_diff;

namespace {

template <class Map>
struct Solved {
  kelk::SequenceView<typename Map::value_type> reference, states;
  kelk::SolveResult result;
  kelk_test::Problem<typename Map::value_type> problem;
};

/// Runs `options` and the sequential reference on a random problem.
template <class Map>
Solved<Map> solve_both(const Map& map, int B, int T, const kelk::SolveOptions& options,
                       std::uint64_t seed, double s0_scale = 0.5) {
  using Scalar = typename Map::value_type;
  const int D = map.state_dim();
  auto p = kelk_test::random_problem<Scalar>(B, T, D, map.input_dim(), seed, s0_scale);
  Solved<Map> s{kelk::SequenceView<Scalar>("test::reference", B, T, D),
                kelk::SequenceView<Scalar>("test::states", B, T, D),
                {},
                p};
  kelk::SolveOptions seq;
  seq.method = Method::sequential;
  const auto rs = kelk::solve(map, p.s0, p.inputs, s.reference, seq);
  REQUIRE(rs.converged);
  s.result = kelk::solve(map, p.s0, p.inputs, s.states, options);
  return s;
}

/// The method converges and lands within 10 x atol of the sequential trajectory.
template <class Map>
void check_method(const Map& map, Method method, int B, int T, std::uint64_t seed,
                  double s0_scale = 0.5) {
  using Scalar = typename Map::value_type;
  kelk::SolveOptions opt;
  opt.method = method;
  const auto s = solve_both(map, B, T, opt, seed, s0_scale);
  const double atol = kelk::default_atol<Scalar>();
  const double dev = max_abs_diff(s.reference, s.states);
  CAPTURE(kelk::to_string(method), B, T, s.result.iterations, s.result.final_update,
          s.result.final_residual, dev);
  REQUIRE(s.result.converged);
  CHECK(s.result.reason == kelk::StopReason::converged);
  // the undamped methods are exact after T iterations (one more shows no update)
  if (method != Method::elk && method != Method::quasi_elk) CHECK(s.result.iterations <= T + 1);
  CHECK(dev <= 10 * atol);
  CHECK(s.result.final_residual <= 10 * atol);
  CHECK(s.result.returned_iteration == s.result.iterations);
}

const Method iterative[] = {Method::jacobi, Method::deer, Method::quasi_deer, Method::elk,
                            Method::quasi_elk};

}  // namespace

TEMPLATE_TEST_CASE("the sequential method is the plain loop", "[solve]", double, float) {
  // Elman and GRU run through their projected form (tiles of input projections, per-sequence
  // recurrent products; T = 5000 spans several tiles), Lorenz-96 through step(). The plain
  // loop calls step() only. The batched product is tested below.
  using Scalar = TestType;
  const double tol = std::is_same<Scalar, double>::value ? 1e-13 : 2e-5;
  const int B = GENERATE(1, 4);
  const int T = GENERATE(1, 2, 101, 5000);
  const int Din = GENERATE(3, 0);
  kelk::SolveOptions seq;
  seq.method = Method::sequential;
  auto p = kelk_test::random_problem<Scalar>(B, T, 7, Din, 17);
  kelk::SequenceView<Scalar> out("out", B, T, 7);
  const auto check = [&](const auto& map) {
    const auto r = kelk::solve(map, p.s0, p.inputs, out, seq);
    CHECK(r.converged);
    // reported, not computed: every state is f of the one before it by construction
    CHECK(r.final_residual == 0.0);
    CHECK(max_abs_diff(out, kelk_test::plain_loop(map, p.s0, p.inputs)) <= tol);
  };
  SECTION("GRU") { check(kelk::make_random_gru<Scalar>(7, Din, 0.5, 1)); }
  SECTION("Elman") { check(kelk::make_random_elman<Scalar>(7, Din, 0.9, 2)); }
  if (Din == 0) {
    SECTION("Lorenz-96") { check(kelk::Lorenz96<Scalar>(7, Scalar(8), Scalar(0.01))); }
  }
}

TEST_CASE("the sequential method reports a trajectory that overflows as non-finite", "[solve]") {
  // RK4 with dt = 2 on Lorenz-96 blows up within a few steps; NaN weights likewise
  auto p = kelk_test::random_problem<double>(2, 200, 5, 0, 15, 3.0);
  kelk::SequenceView<double> states("states", 2, 200, 5);
  kelk::SolveOptions seq;
  seq.method = Method::sequential;
  const auto r = kelk::solve(kelk::Lorenz96<double>(5, 8.0, 2.0), p.s0, p.inputs, states, seq);
  CHECK_FALSE(r.converged);
  CHECK(r.reason == kelk::StopReason::non_finite);
  auto gru = kelk::make_random_gru<double>(5, 3, 0.5, 1);
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), gru.W_hz);
  h(1, 2) = std::nan("");
  Kokkos::deep_copy(gru.W_hz, h);
  auto q = kelk_test::random_problem<double>(2, 50, 5, 3, 16);
  kelk::SequenceView<double> out("out", 2, 50, 5);
  const auto r2 = kelk::solve(gru, q.s0, q.inputs, out, seq);
  CHECK(r2.reason == kelk::StopReason::non_finite);
  // and a finite one converges
  const auto r3 = kelk::solve(kelk::Lorenz96<double>(5, 8.0, 0.01), p.s0, p.inputs, states, seq);
  CHECK(r3.converged);
}

TEST_CASE("both recurrent-product paths of the projected sequential loop are the plain loop",
          "[solve]") {
  // per sequence (CPUs) and one matrix product over the batch per step (devices), each forced
  const bool batched = GENERATE(false, true);
  const int B = GENERATE(1, 5);
  const int D = 12, Din = 3, T = 700;
  auto p = kelk_test::random_problem<double>(B, T, D, Din, 23);
  kelk::SequenceView<double> out("out", B, T, D);
  const auto check = [&](const auto& map) {
    kelk::SolveOptions seq;
    seq.method = Method::sequential;
    const Kokkos::DefaultExecutionSpace space;
    const auto problem = kelk::impl::make_problem(space, map, kelk::BatchView<const double>(p.s0),
                                                  kelk::SequenceView<const double>(p.inputs), out, seq);
    kelk::impl::evaluate_projected(space, problem, batched);
    space.fence();
    CHECK(max_abs_diff(out, kelk_test::plain_loop(map, p.s0, p.inputs)) <= 1e-13);
  };
  SECTION("GRU") { check(kelk::make_random_gru<double>(D, Din, 0.5, 3)); }
  SECTION("Elman") { check(kelk::make_random_elman<double>(D, Din, 0.9, 4)); }
}

TEMPLATE_TEST_CASE("every method matches sequential on the Elman RNN", "[solve]", double, float) {
  const auto map = kelk::make_random_elman<TestType>(6, 3, 0.8, 2);
  const int B = GENERATE(1, 3);
  const int T = GENERATE(1, 2, 101);
  for (Method m : iterative) check_method(map, m, B, T, 100u + T + B);
}

TEMPLATE_TEST_CASE("every method matches sequential on the GRU", "[solve]", double, float) {
  const auto map = kelk::make_random_gru<TestType>(6, 3, 0.5, 3);
  const int B = GENERATE(1, 3);
  const int T = GENERATE(1, 2, 101);
  for (Method m : iterative) check_method(map, m, B, T, 200u + T + B);
}

TEMPLATE_TEST_CASE("every method matches sequential on the LSTM", "[solve][lstm]", double, float) {
  const auto map = kelk::make_random_lstm<TestType>(4, 3, 0.5, 6);  // D = 8: h and c
  const int B = GENERATE(1, 3);
  const int T = GENERATE(1, 2, 101);
  for (Method m : iterative) check_method(map, m, B, T, 250u + T + B);
}

TEMPLATE_TEST_CASE("the LSTM's projected sequential loop is the plain loop", "[solve][lstm]",
                   double, float) {
  // h and c in one state; the cell state enters no gate (zero columns of W)
  using Scalar = TestType;
  const double tol = std::is_same<Scalar, double>::value ? 1e-13 : 2e-5;
  const int B = GENERATE(1, 4);
  const int T = GENERATE(1, 101, 5000);
  const int Din = GENERATE(3, 0);
  const auto map = kelk::make_random_lstm<Scalar>(5, Din, 0.8, 7, 1.0);
  auto p = kelk_test::random_problem<Scalar>(B, T, map.state_dim(), Din, 27);
  kelk::SequenceView<Scalar> out("out", B, T, map.state_dim());
  kelk::SolveOptions seq;
  seq.method = Method::sequential;
  REQUIRE(kelk::solve(map, p.s0, p.inputs, out, seq).converged);
  CHECK(max_abs_diff(out, kelk_test::plain_loop(map, p.s0, p.inputs)) <= tol);
  if constexpr (std::is_same<Scalar, double>::value) {
    for (const bool batched : {false, true}) {
      const Kokkos::DefaultExecutionSpace space;
      const auto problem = kelk::impl::make_problem(space, map, kelk::BatchView<const double>(p.s0),
                                                    kelk::SequenceView<const double>(p.inputs), out,
                                                    seq);
      kelk::impl::evaluate_projected(space, problem, batched);
      space.fence();
      CHECK(max_abs_diff(out, kelk_test::plain_loop(map, p.s0, p.inputs)) <= tol);
    }
  }
}

TEMPLATE_TEST_CASE("every method matches sequential on chaotic Lorenz-96", "[solve]", double,
                   float) {
  // the published setting: D = 5, F = 8, dt = 0.01
  const kelk::Lorenz96<TestType> map(5, TestType(8), TestType(0.01));
  const int B = GENERATE(1, 3);
  const int T = GENERATE(1, 2, 101);
  for (Method m : iterative) check_method(map, m, B, T, 300u + T + B, 3.0);
}

TEMPLATE_TEST_CASE("every method matches sequential on long sequences (T = 1e5)", "[solve][long]",
                   double, float) {
  const int T = 100000, B = 2;
  SECTION("Elman") {
    const auto map = kelk::make_random_elman<TestType>(4, 2, 0.6, 4);
    for (Method m : iterative) check_method(map, m, B, T, 400u + B);
  }
  SECTION("GRU") {
    const auto map = kelk::make_random_gru<TestType>(4, 2, 0.5, 5);
    for (Method m : iterative) check_method(map, m, B, T, 500u + B);
  }
  SECTION("Lorenz-96 below the chaotic regime") {
    // F = 0.25, dt = 0.4: the fixed point x = F is stable and strongly damped, so every method
    // converges in a few dozen iterations over 1e5 steps (chaotic F = 8 would need about T).
    const kelk::Lorenz96<TestType> map(5, TestType(0.25), TestType(0.4));
    for (Method m : iterative) check_method(map, m, B, T, 600u + B, 1.0);
  }
}

TEST_CASE("at most T iterations on an expansive Elman RNN, with tolerance 0", "[solve]") {
  // W with Frobenius norm 3: f is expansive where tanh is not saturated, and Newton from zeros
  // needs most of the T iterations. With atol = rtol = 0 the solvers stop only at an exact
  // fixed point or at max_iter = T; the guarantee says the trajectory is reached by then.
  const int T = 24, D = 3;
  const auto map = kelk::make_random_elman<double>(D, 2, 3.0, 8);
  const Method method = GENERATE(Method::jacobi, Method::deer, Method::quasi_deer);
  kelk::SolveOptions opt;
  opt.method = method;
  opt.atol = 0.0;
  opt.keep_best = false;
  const auto s = solve_both(map, 1, T, opt, 9, 1.0);
  const double dev = max_abs_diff(s.reference, s.states);
  CAPTURE(kelk::to_string(method), s.result.iterations, dev);
  CHECK(s.result.iterations <= T);
  CHECK(dev <= 1e-10);

  // and after k iterations the first k states are those of the sequential loop
  for (int k : {1, 5, 12}) {
    opt.max_iter = k;
    const auto sk = solve_both(map, 1, T, opt, 9, 1.0);
    auto ref = Kokkos::subview(sk.reference, Kokkos::ALL, std::make_pair(0, k), Kokkos::ALL);
    auto got = Kokkos::subview(sk.states, Kokkos::ALL, std::make_pair(0, k), Kokkos::ALL);
    CAPTURE(k);
    CHECK(max_abs_diff(ref, got) <= 1e-12);
  }
}

TEST_CASE("results do not depend on the chunk count", "[solve]") {
  const auto map = kelk::make_random_gru<double>(5, 2, 0.5, 10);
  const Method method = GENERATE(Method::deer, Method::quasi_deer);
  kelk::SolveOptions opt;
  opt.method = method;
  opt.chunks = 1;
  const auto one = solve_both(map, 2, 3001, opt, 11);
  for (int chunks : {2, 3, 16, 100, 400}) {  // 400: the nested pass over chunk summaries
    opt.chunks = chunks;
    const auto many = solve_both(map, 2, 3001, opt, 11);
    CAPTURE(chunks);
    CHECK(many.result.iterations == one.result.iterations);
    CHECK(max_abs_diff(one.states, many.states) <= 1e-13);
  }
}

TEST_CASE("initial guesses", "[solve]") {
  const auto map = kelk::make_random_gru<double>(5, 2, 0.5, 12);
  const int B = 2, T = 500, D = 5;
  kelk::SolveOptions opt;
  opt.method = GENERATE(Method::jacobi, Method::deer, Method::quasi_deer);
  CAPTURE(kelk::to_string(opt.method));

  SECTION("s0 repeated") {
    opt.initial_guess = kelk::InitialGuess::repeat_s0;
    const auto s = solve_both(map, B, T, opt, 13);
    CHECK(s.result.converged);
    CHECK(max_abs_diff(s.reference, s.states) <= 1e-6);
  }
  SECTION("a warm start at the solution converges in one iteration") {
    opt.initial_guess = kelk::InitialGuess::provided;
    auto p = kelk_test::random_problem<double>(B, T, D, 2, 14);
    kelk::SequenceView<double> states("states", B, T, D);
    kelk::SolveOptions seq;
    seq.method = Method::sequential;
    kelk::solve(map, p.s0, p.inputs, states, seq);
    const auto r = kelk::solve(map, p.s0, p.inputs, states, opt);
    CHECK(r.converged);
    CHECK(r.iterations == 1);
    CHECK(r.final_update <= 1e-14);
  }
  SECTION("the provided guess is used") {
    // iterate 1 of Jacobi from a guess g is f(g_{t-1}); compare against a zero guess
    opt.method = Method::jacobi;
    opt.max_iter = 1;
    opt.keep_best = false;
    opt.initial_guess = kelk::InitialGuess::provided;
    auto p = kelk_test::random_problem<double>(B, T, D, 2, 15);
    kelk::SequenceView<double> guess("guess", B, T, D), from_guess("from_guess", B, T, D),
        from_zero("from_zero", B, T, D);
    Kokkos::deep_copy(guess, 0.25);
    Kokkos::deep_copy(from_guess, guess);
    kelk::solve(map, p.s0, p.inputs, from_guess, opt);
    opt.initial_guess = kelk::InitialGuess::zeros;
    kelk::solve(map, p.s0, p.inputs, from_zero, opt);
    // step 1 only depends on s0; every later step on the guess
    auto first = [](const auto& v) {
      return Kokkos::subview(v, Kokkos::ALL, std::make_pair(0, 1), Kokkos::ALL);
    };
    CHECK(max_abs_diff(first(from_guess), first(from_zero)) == 0.0);
    CHECK(max_abs_diff(from_guess, from_zero) > 1e-3);
  }
}

namespace {
/// f(s, u) = 1e300 (s + 1): the iterates overflow to Inf within two Jacobi iterations (and the
/// sequential trajectory itself is Inf from step 2 on).
struct OverflowMap {
  using value_type = double;
  int state_dim() const { return 2; }
  int input_dim() const { return 0; }
  int scratch_size() const { return 0; }
  KOKKOS_FUNCTION void step(const double* s, const double*, double* f, double*) const {
    for (int i = 0; i < 2; ++i) f[i] = 1e300 * (s[i] + 1.0);
  }
};
}  // namespace

TEST_CASE("non-finite policies", "[solve]") {
  const OverflowMap map;
  auto p = kelk_test::random_problem<double>(1, 10, 2, 0, 16);
  kelk::SequenceView<double> out("out", 1, 10, 2);
  kelk::SolveOptions opt;
  opt.method = Method::jacobi;
  opt.max_iter = 6;

  SECTION("clip_and_zero keeps iterates finite and within the clip value") {
    opt.non_finite = kelk::NonFinitePolicy::clip_and_zero;
    opt.clip_value = 1e8;
    const auto r = kelk::solve(map, p.s0, p.inputs, out, opt);
    // the clipped iterate stops moving, but it solves nothing: not converged
    CHECK_FALSE(r.converged);
    CHECK(r.reason == kelk::StopReason::stalled);
    CHECK(kelk_test::max_abs(out) <= 1e8);
  }
  SECTION("reset_to_guess sends non-finite entries back to the guess") {
    opt.non_finite = kelk::NonFinitePolicy::reset_to_guess;
    opt.initial_guess = kelk::InitialGuess::provided;
    opt.keep_best = false;
    Kokkos::deep_copy(out, -1.0);  // f(-1) = 0: the guess is a trap that keeps entries finite
    const auto r = kelk::solve(map, p.s0, p.inputs, out, opt);
    CHECK(r.iterations == 6);
    CHECK(kelk_test::max_abs(out) < std::numeric_limits<double>::infinity());
  }
  SECTION("none stops at the first non-finite iterate") {
    opt.non_finite = kelk::NonFinitePolicy::none;
    const auto r = kelk::solve(map, p.s0, p.inputs, out, opt);
    CHECK(r.reason == kelk::StopReason::non_finite);
    CHECK_FALSE(r.converged);
    CHECK(r.iterations < 6);
  }
}

TEST_CASE("history and the best iterate", "[solve]") {
  SECTION("history of a converging solve") {
    const auto map = kelk::make_random_gru<double>(6, 2, 0.5, 18);
    kelk::SolveOptions opt;
    opt.method = GENERATE(Method::jacobi, Method::deer, Method::quasi_deer);
    opt.record_history = true;
    const auto s = solve_both(map, 2, 2000, opt, 19);
    const auto& h = s.result.history;
    REQUIRE(int(h.size()) == s.result.iterations);
    for (std::size_t i = 0; i < h.size(); ++i) CHECK(h[i].iteration == int(i) + 1);
    CHECK(h.back().max_update == s.result.final_update);
    CHECK(h.back().max_residual == s.result.final_residual);
    CHECK(h.front().max_residual > h.back().max_residual);
    // Jacobi's update of iteration i is exactly the residual of iterate i - 1
    if (opt.method == Method::jacobi)
      for (std::size_t i = 1; i < h.size(); ++i) CHECK(h[i].max_update == h[i - 1].max_residual);
  }
  SECTION("an unconverged solve returns its best iterate") {
    // chaotic Lorenz-96 over 300 steps, stopped after 8 Newton iterations
    const kelk::Lorenz96<double> map(5, 8.0, 0.05);
    kelk::SolveOptions opt;
    opt.method = GENERATE(Method::deer, Method::quasi_deer, Method::jacobi);
    opt.record_history = true;
    opt.max_iter = 8;
    const auto s = solve_both(map, 1, 300, opt, 20, 3.0);
    REQUIRE_FALSE(s.result.converged);
    CHECK(s.result.reason == kelk::StopReason::max_iterations);
    double best = std::numeric_limits<double>::infinity();
    for (const auto& rec : s.result.history) best = std::min(best, rec.max_residual);
    // the returned states have the smallest residual seen (or the initial guess had it)
    CHECK(s.result.final_residual <= best);
    // and it is their true residual: one sequential step from each returned state
    kelk::SolveOptions one;
    one.method = Method::jacobi;
    one.max_iter = 1;
    one.initial_guess = kelk::InitialGuess::provided;
    one.keep_best = false;
    kelk::SequenceView<double> again("again", 1, 300, 5);
    Kokkos::deep_copy(again, s.states);
    const auto r = kelk::solve(map, s.problem.s0, s.problem.inputs, again, one);
    CHECK(r.final_update == Approx(s.result.final_residual).epsilon(1e-12));
  }
}

namespace {
/// s' = a tanh(s) + u elementwise, the README's example: Lipschitz constant a in the max norm.
struct DampedTanh {
  using value_type = double;
  int D;
  double a;
  int state_dim() const { return D; }
  int input_dim() const { return D; }
  int scratch_size() const { return 0; }
  KOKKOS_FUNCTION void step(const double* s, const double* u, double* f, double*) const {
    for (int i = 0; i < D; ++i) f[i] = a * KELK_IMPL_KOKKOS_MATH::tanh(s[i]) + u[i];
  }
  KOKKOS_FUNCTION void jacobian(const double* s, const double* u, double* f, double* jac,
                                double* scratch) const {
    step(s, u, f, scratch);
    for (int i = 0; i < D * D; ++i) jac[i] = 0;
    for (int i = 0; i < D; ++i) {
      const double t = KELK_IMPL_KOKKOS_MATH::tanh(s[i]);
      jac[i * D + i] = a * (1 - t * t);
    }
  }
};
}  // namespace

TEST_CASE("final_residual bounds the error against the sequential evaluation", "[solve]") {
  // s_t = f(s_{t-1}, u_t) + r_t with |r_t| <= r and |f(x) - f(y)| <= L |x - y| give
  // |s_t - s*_t| <= r (1 + L + L^2 + ...) = r / (1 - L): the bound README.md states
  const DampedTanh map{4, 0.95};
  auto p = kelk_test::random_problem<double>(2, 500, 4, 4, 71, 2.0);
  Kokkos::deep_copy(p.inputs, 0.05);  // slow forgetting: errors accumulate over ~20 steps
  const auto reference = kelk_test::plain_loop(map, p.s0, p.inputs);
  kelk::SolveOptions o;
  o.method = GENERATE(Method::jacobi, Method::deer);
  o.atol = 1e-7;
  kelk::SequenceView<double> states("states", 2, 500, 4);
  const auto r = kelk::solve(map, p.s0, p.inputs, states, o);
  const double error = kelk_test::max_abs_diff(states, reference);
  CAPTURE(kelk::to_string(o.method), r.iterations, r.final_update, r.final_residual, error);
  REQUIRE(r.converged);
  CHECK(error <= r.final_residual / (1 - map.a) + 1e-14);
}
