// kelk::solve_adjoint: gradients against central finite differences of the sequential
// evaluation on every built-in map, and every adjoint method against the sequential reverse
// sweep (block_sweeps bit for bit, the scan to round-off).
#include "test_common.hpp"

#include <kelk/kelk.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace {

using kelk::AdjointMethod;

/// A problem, its loss L = sum_{b,t,d} w_btd s_btd + 1/2 sum (s_btd)^2 / (B T) (cotangents
/// g = w + s / (B T)) and the gradients of every method.
template <class Map>
struct Case {
  using Scalar = typename Map::value_type;
  Map map;
  kelk::BatchView<Scalar> s0;
  kelk::SequenceView<Scalar> inputs;
  kelk::SequenceView<Scalar> weights;  ///< w
  int B, T, D, Din;

  Case(const Map& m, int B_, int T_, std::uint64_t seed, double s0_scale = 0.5)
      : map(m), B(B_), T(T_), D(m.state_dim()), Din(m.input_dim()) {
    auto p = kelk_test::random_problem<Scalar>(B, T, D, Din, seed, s0_scale);
    s0 = p.s0;
    inputs = p.inputs;
    weights = kelk::SequenceView<Scalar>("test::loss_weights", B, T, D);
    auto h = Kokkos::create_mirror_view(weights);
    std::mt19937_64 rng(seed + 7);
    std::normal_distribution<double> normal;
    for (std::size_t i = 0; i < h.span(); ++i) h.data()[i] = Scalar(normal(rng));
    Kokkos::deep_copy(weights, h);
  }

  kelk::SequenceView<Scalar> forward(const Map& m, const kelk::BatchView<Scalar>& x0,
                                     const kelk::SequenceView<Scalar>& u) const {
    return kelk_test::plain_loop(m, x0, u);
  }

  double loss(const kelk::SequenceView<Scalar>& s) const {
    const auto hs = kelk_test::host_copy(s);
    const auto hw = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), weights);
    double L = 0;
    for (std::size_t i = 0; i < hs.span(); ++i) {
      const double x = hs.data()[i];
      L += double(hw.data()[i]) * x + 0.5 * x * x / (B * T);
    }
    return L;
  }

  kelk::SequenceView<Scalar> cotangents(const kelk::SequenceView<Scalar>& s) const {
    kelk::SequenceView<Scalar> g("test::cotangents", B, T, D);
    const auto hs = kelk_test::host_copy(s);
    const auto hw = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), weights);
    auto hg = Kokkos::create_mirror_view(g);
    for (std::size_t i = 0; i < hg.span(); ++i)
      hg.data()[i] = Scalar(double(hw.data()[i]) + double(hs.data()[i]) / (B * T));
    Kokkos::deep_copy(g, hg);
    return g;
  }

  struct Result {
    kelk::AdjointResult info;
    std::vector<double> ds0, du, dtheta, lambda;
  };

  Result adjoint(kelk::AdjointOptions options) const {
    const auto s = forward(map, s0, inputs);
    const auto g = cotangents(s);
    kelk::Gradients<Scalar> out{kelk::BatchView<Scalar>("test::ds0", B, D),
                                kelk::SequenceView<Scalar>("test::du", B, T, Din),
                                Kokkos::View<Scalar*>("test::dtheta", kelk::parameter_count(map)),
                                kelk::SequenceView<Scalar>("test::lambda", B, T, D)};
    Result r;
    r.info = kelk::solve_adjoint(map, s0, inputs, s, g, out, options);
    const auto flat = [](const auto& v) {
      const auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), v);
      return std::vector<double>(h.data(), h.data() + h.span());
    };
    r.ds0 = flat(out.s0);
    r.du = flat(out.inputs);
    r.dtheta = flat(out.parameters);
    r.lambda = flat(out.adjoint);
    return r;
  }
};

using kelk_test::relative;

/// Adds `delta` to entry (flat index) i of a host-mirrored View.
template <class View>
void nudge(const View& v, std::size_t i, double delta) {
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), v);
  h.data()[i] += typename View::non_const_value_type(delta);
  Kokkos::deep_copy(v, h);
}

/// Central differences of the loss in `count` random entries of each of s0, the inputs and
/// the parameters (perturb(k, delta) shifts parameter k), against the adjoint's gradients.
template <class Map, class Perturb>
void check_finite_differences(Case<Map>& c, const Perturb& perturb, std::uint64_t seed) {
  const auto r = c.adjoint({AdjointMethod::sequential, 0, 0});
  std::mt19937_64 rng(seed);
  const int count = 6;
  const auto fd = [&](const std::function<void(double)>& shift) {
    const double h = 1e-5;
    shift(h);
    const double up = c.loss(c.forward(c.map, c.s0, c.inputs));
    shift(-2 * h);
    const double down = c.loss(c.forward(c.map, c.s0, c.inputs));
    shift(h);
    return (up - down) / (2 * h);
  };
  std::vector<double> adj, num;
  const auto sample = [&](std::size_t n, const std::vector<double>& grad,
                          const std::function<void(std::size_t, double)>& shift) {
    for (int k = 0; k < count && n > 0; ++k) {
      const std::size_t i = std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
      adj.push_back(grad[i]);
      num.push_back(fd([&](double d) { shift(i, d); }));
    }
  };
  sample(r.ds0.size(), r.ds0, [&](std::size_t i, double d) { nudge(c.s0, i, d); });
  sample(r.du.size(), r.du, [&](std::size_t i, double d) { nudge(c.inputs, i, d); });
  sample(r.dtheta.size(), r.dtheta, perturb);
  const double err = relative(adj, num);
  INFO("relative error against central differences: " << err);
  CHECK(err <= 1e-6);
  CHECK(r.info.finite);
}

/// Every method against the sequential reverse sweep: block_sweeps bit for bit at several
/// block counts, the scan to 1e-12 relative.
template <class Map>
void check_methods(const Case<Map>& c) {
  const auto ref = c.adjoint({AdjointMethod::sequential, 0, 0});
  REQUIRE(ref.info.sweeps == 1);
  CHECK(ref.info.steps_swept == std::int64_t(c.B) * c.T);
  for (const int blocks : {0, 1, 2, 3, 7}) {
    if (blocks > c.T) continue;
    const auto r = c.adjoint({AdjointMethod::block_sweeps, 0, blocks});
    INFO("block_sweeps with blocks = " << blocks << ": " << r.info.sweeps << " sweeps");
    CHECK(r.lambda == ref.lambda);
    CHECK(r.ds0 == ref.ds0);
    CHECK(r.du == ref.du);
    CHECK(relative(r.dtheta, ref.dtheta) <= 1e-13);  // the same shares, summed alike
    CHECK(r.info.sweeps <= (blocks == 0 ? c.T : blocks) + 1);
  }
  for (const int chunks : {0, 1, 4}) {
    const auto r = c.adjoint({AdjointMethod::scan, chunks, 0});
    INFO("scan with chunks = " << chunks);
    CHECK(relative(r.lambda, ref.lambda) <= 1e-12);
    CHECK(relative(r.ds0, ref.ds0) <= 1e-12);
    CHECK(relative(r.du, ref.du) <= 1e-12);
    CHECK(relative(r.dtheta, ref.dtheta) <= 1e-12);
  }
}

template <class View>
std::function<void(std::size_t, double)> nudge_in(std::vector<View> blocks) {
  return [blocks](std::size_t k, double d) {
    for (const auto& v : blocks) {
      if (k < v.span()) return nudge(v, k, d);
      k -= v.span();
    }
    FAIL("parameter index beyond the layout");
  };
}

}  // namespace

TEST_CASE("adjoint: Elman gradients match finite differences and every method", "[adjoint]") {
  const auto map = kelk::make_random_elman<double>(6, 3, 0.9, 11);
  Case<kelk::Elman<double>> c(map, 2, 40, 12);
  using V = Kokkos::View<double*>;
  const auto flat = [](const auto& v) { return V(v.data(), v.span()); };
  check_finite_differences(c, nudge_in<V>({flat(map.W), flat(map.U), flat(map.c)}), 13);
  check_methods(c);
}

TEST_CASE("adjoint: GRU gradients match finite differences and every method", "[adjoint]") {
  const auto map = kelk::make_random_gru<double>(5, 4, 0.8, 21);
  Case<kelk::Gru<double>> c(map, 2, 40, 22);
  using V = Kokkos::View<double*>;
  const auto flat = [](const auto& v) { return V(v.data(), v.span()); };
  check_finite_differences(
      c,
      nudge_in<V>({flat(map.W_ir), flat(map.W_iz), flat(map.W_in), flat(map.W_hr), flat(map.W_hz),
                   flat(map.W_hn), flat(map.b_ir), flat(map.b_iz), flat(map.b_in),
                   flat(map.b_hn)}),
      23);
  check_methods(c);
}

TEST_CASE("adjoint: LSTM gradients match finite differences and every method",
          "[adjoint][lstm]") {
  const auto map = kelk::make_random_lstm<double>(4, 3, 0.8, 25, 1.0);
  Case<kelk::Lstm<double>> c(map, 2, 40, 26);
  using V = Kokkos::View<double*>;
  const auto flat = [](const auto& v) { return V(v.data(), v.span()); };
  check_finite_differences(
      c,
      nudge_in<V>({flat(map.W_ii), flat(map.W_if), flat(map.W_ig), flat(map.W_io),
                   flat(map.W_hi), flat(map.W_hf), flat(map.W_hg), flat(map.W_ho),
                   flat(map.b_i), flat(map.b_f), flat(map.b_g), flat(map.b_o)}),
      27);
  check_methods(c);
}

TEST_CASE("adjoint: Lorenz-96 gradients (state and forcing) match finite differences",
          "[adjoint]") {
  kelk::Lorenz96<double> map(7, 8.0, 0.01);
  Case<kelk::Lorenz96<double>> c(map, 2, 60, 31, 2.0);
  check_finite_differences(
      c, [&](std::size_t, double d) { c.map.forcing += d; }, 33);
  check_methods(c);
  SECTION("dL/dF alone: one parameter, no inputs") {
    REQUIRE(kelk::parameter_count(map) == 1);
    REQUIRE(kelk::parameter_layout(map)[0].name == "F");
  }
}

TEST_CASE("adjoint: a contracting GRU over long sequences needs few block sweeps", "[adjoint]") {
  const auto map = kelk::make_random_gru<double>(8, 3, 0.5, 41);
  Case<kelk::Gru<double>> c(map, 1, 4000, 42);
  const auto ref = c.adjoint({AdjointMethod::sequential, 0, 0});
  const auto r = c.adjoint({AdjointMethod::block_sweeps, 0, 8});
  CHECK(r.lambda == ref.lambda);
  CHECK(r.dtheta.size() == kelk::parameter_count(map));
  // the mismatch a block's zero guess leaves dies out within a few hundred steps: sweep 2
  // reruns each block only that far, sweep 3 finds nothing to do
  CHECK(r.info.sweeps <= 3);
  CHECK(r.info.steps_swept < 2 * std::int64_t(c.T));
}

TEST_CASE("adjoint: bad arguments are named", "[adjoint][errors]") {
  const auto map = kelk::make_random_elman<double>(3, 2, 0.9, 51);
  Case<kelk::Elman<double>> c(map, 2, 10, 52);
  const auto s = c.forward(map, c.s0, c.inputs);
  const auto g = c.cotangents(s);
  kelk::Gradients<double> out{kelk::BatchView<double>("ds0", 2, 3), {}, {}, {}};
  using Catch::Matchers::Contains;
  SECTION("cotangents of the wrong shape") {
    kelk::SequenceView<double> bad("g", 2, 9, 3);
    CHECK_THROWS_WITH(kelk::solve_adjoint(map, c.s0, c.inputs, s, bad, out),
                      Contains("cotangents have shape (2, 9, 3)"));
  }
  SECTION("no output") {
    CHECK_THROWS_WITH(kelk::solve_adjoint(map, c.s0, c.inputs, s, g, kelk::Gradients<double>{}),
                      Contains("no output View"));
  }
  SECTION("a parameter gradient of the wrong size") {
    kelk::Gradients<double> wrong{{}, {}, Kokkos::View<double*>("dtheta", 5), {}};
    CHECK_THROWS_WITH(kelk::solve_adjoint(map, c.s0, c.inputs, s, g, wrong),
                      Contains("the map has 18 parameters"));
  }
  SECTION("NaN in the cotangents") {
    nudge(g, 4, std::nan(""));
    CHECK_THROWS_WITH(kelk::solve_adjoint(map, c.s0, c.inputs, s, g, out),
                      Contains("cotangents contain NaN"));
  }
  SECTION("more blocks than steps") {
    CHECK_THROWS_WITH(
        kelk::solve_adjoint(map, c.s0, c.inputs, s, g, out, {AdjointMethod::block_sweeps, 0, 11}),
        Contains("blocks = 11"));
  }
  SECTION("unknown method name") {
    CHECK_THROWS_WITH(kelk::parse_adjoint_method("reverse"), Contains("block_sweeps"));
  }
}

#ifdef KELK_HAVE_HDF5
TEST_CASE("adjoint: autoregressive GRU gradients match finite differences", "[adjoint][argru]") {
  const auto map = kelk::load_argru<double>(std::string(KELK_INPUT_DIR) + "/argru/argru_weights.h5");
  Case<kelk::ArGru<double>> c(map, 2, 40, 61);
  const std::size_t P = map.hidden();
  using V = Kokkos::View<double*>;
  const auto flat = [](const auto& v) { return V(v.data(), v.span()); };
  // the weights file's layout (parameter_layout) onto the map's Views
  const auto perturb = [&](std::size_t k, double d) {
    const V ih[3] = {flat(map.w_r), flat(map.w_z), flat(map.w_n)};
    const V hh[3] = {flat(map.U_r), flat(map.U_z), flat(map.U_n)};
    const V bias[3] = {flat(map.b_r), flat(map.b_z), flat(map.b_n)};
    if (k < 3 * P) return nudge(ih[k / P], k % P, d);
    k -= 3 * P;
    if (k < 3 * P * P) return nudge(hh[k / (P * P)], k % (P * P), d);
    k -= 3 * P * P;
    if (k < 3 * P) return nudge(bias[k / P], k % P, d);
    k -= 3 * P;
    if (k < P) return nudge(flat(map.b_hn), k, d);
    k -= P;
    if (k < 2 * P) return nudge(k < P ? flat(map.a_mu) : flat(map.a_ls), k % P, d);
    k -= 2 * P;
    (k == 0 ? c.map.c_mu : c.map.c_ls) += d;
  };
  REQUIRE(kelk::parameter_count(map) == 9 * P + 3 * P * P + 2);
  check_finite_differences(c, perturb, 63);
  check_methods(c);
}
#endif

namespace {
/// The map's bulk_vjp over all steps (one tile) against the sum of its per-step vjp: du and
/// the parameter gradient to round-off.
template <class Map>
void check_bulk_vjp(const Map& map, int T, std::uint64_t seed) {
  using Rows = kelk::BulkRows<double, Kokkos::DefaultExecutionSpace::memory_space>;
  using CRows = kelk::BulkRows<const double, Kokkos::DefaultExecutionSpace::memory_space>;
  const int D = map.state_dim(), Din = map.input_dim();
  const std::size_t n_theta = kelk::parameter_count(map);
  auto p = kelk_test::random_problem<double>(1, T, D, Din, seed);
  const auto prev = kelk_test::plain_loop(map, p.s0, p.inputs);      // any states will do
  kelk::SequenceView<double> lambda("lambda", 1, T, D);
  Kokkos::deep_copy(lambda, prev);  // any cotangents will do
  Kokkos::View<double**, Kokkos::LayoutRight> f("f", T, D), scratch("scratch", T, std::max(1, map.bulk_scratch_size())),
      du("du", T, Din);
  Kokkos::View<double*> theta("theta", n_theta), theta_ref("theta_ref", n_theta);
  Kokkos::View<double**, Kokkos::LayoutRight> du_ref("du_ref", T, Din);
  map.bulk_vjp(Kokkos::DefaultExecutionSpace(), CRows(prev.data(), T, D),
               CRows(p.inputs.data(), T, Din), CRows(lambda.data(), T, D), Rows(f.data(), T, D),
               Rows(scratch.data(), T, scratch.extent(1)), Rows(du.data(), T, Din), theta.data());
  const int vjp_scratch = map.vjp_scratch_size();
  Kokkos::View<double*> work("work", vjp_scratch + D);
  Kokkos::parallel_for(
      "test::per_step_vjp", Kokkos::RangePolicy<>(0, 1), KOKKOS_LAMBDA(int) {
        for (int t = 0; t < T; ++t) {
          double* ds = work.data() + vjp_scratch;
          for (int d = 0; d < D; ++d) ds[d] = 0;
          map.vjp(&prev(0, t, 0), &p.inputs(0, t, 0), &lambda(0, t, 0), ds, &du_ref(t, 0),
                  theta_ref.data(), work.data());
        }
      });
  Kokkos::fence();
  const auto flat = [](const auto& v) {
    const auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), v);
    return std::vector<double>(h.data(), h.data() + h.span());
  };
  CHECK(relative(flat(du), flat(du_ref)) <= 1e-13);
  CHECK(relative(flat(theta), flat(theta_ref)) <= 1e-13);
}
}  // namespace

TEST_CASE("adjoint: the bulk vjp of Elman and GRU equals their per-step vjp", "[adjoint]") {
  check_bulk_vjp(kelk::make_random_elman<double>(7, 3, 0.9, 71), 300, 72);
  check_bulk_vjp(kelk::make_random_gru<double>(6, 4, 0.8, 73), 300, 74);
}
