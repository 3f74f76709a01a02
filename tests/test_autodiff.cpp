// kelk::AutoDiff (kelk_autodiff.hpp): forward-mode AD Jacobians, diagonals and vjps of templated
// twins of the built-in Elman, GRU and Lorenz-96 steps equal the built-in closed forms to
// round-off, below and above the Fad width; deer and quasi_deer on AD maps match the
// sequential loop (the AD code inside Kokkos kernels); the LSTM example's AD Jacobian matches
// central finite differences.
#include "test_common.hpp"

#include <kelk/kelk_adjoint.hpp>
#include <kelk/kelk_autodiff.hpp>

#include "examples/gru_template.hpp"
#include "examples/lstm.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace kelk_test {
template <class M>
int vjp_scratch_or_zero(const M& m) {
  if constexpr (kelk::provides_vjp_v<M>)
    return m.vjp_scratch_size();
  else
    return 0;
}
}  // namespace kelk_test

namespace {

namespace ad = kelk::ad;

// --- templated twins of the built-in maps, sharing their weights ----------------------------

/// h' = tanh(W h + U u + c), as kelk::Elman.
template <class Scalar>
struct ElmanTwin {
  using value_type = Scalar;
  kelk::Elman<Scalar> m;
  int state_dim() const { return m.state_dim(); }
  int input_dim() const { return m.input_dim(); }
  int scratch_size() const { return 0; }
  template <class T>
  KOKKOS_FUNCTION void step(const T* s, const T* u, T* f, T*) const {
    const int D = int(m.W.extent(0)), Din = int(m.U.extent(1));  // device-callable
    for (int i = 0; i < D; ++i) {
      T a = T(m.c(i));
      for (int j = 0; j < Din; ++j) a += m.U(i, j) * u[j];
      for (int j = 0; j < D; ++j) a += m.W(i, j) * s[j];
      f[i] = ad::tanh(a);
    }
  }
};

/// The GRU of kelk::Gru, from the example (apps/examples/gru_template.hpp).
template <class Scalar>
using GruTwin = kelk_examples::GruTemplate<Scalar>;

/// One RK4 step of Lorenz-96, as kelk::Lorenz96.
template <class Scalar>
struct Lorenz96Twin {
  using value_type = Scalar;
  kelk::Lorenz96<Scalar> m;
  int state_dim() const { return m.D; }
  int input_dim() const { return 0; }
  int scratch_size() const { return 3 * m.D; }
  template <class T>
  KOKKOS_FUNCTION void field(const T* x, T* k) const {
    const int D = m.D;
    for (int d = 0; d < D; ++d)
      k[d] = (x[(d + 1) % D] - x[(d + D - 2) % D]) * x[(d + D - 1) % D] - x[d] + m.forcing;
  }
  template <class T>
  KOKKOS_FUNCTION void step(const T* x, const T*, T* f, T* scratch) const {
    const int D = m.D;
    T *xs = scratch, *k = scratch + D, *acc = scratch + 2 * D;
    const Scalar c[4] = {Scalar(0), m.dt / 2, m.dt / 2, m.dt};
    const Scalar w[4] = {Scalar(1), Scalar(2), Scalar(2), Scalar(1)};
    for (int d = 0; d < D; ++d) {
      acc[d] = T(0);
      k[d] = T(0);
    }
    for (int s = 0; s < 4; ++s) {
      for (int d = 0; d < D; ++d) xs[d] = x[d] + c[s] * k[d];
      field(xs, k);
      for (int d = 0; d < D; ++d) acc[d] += w[s] * k[d];
    }
    for (int d = 0; d < D; ++d) f[d] = x[d] + (m.dt / 6) * acc[d];
  }
};

// --- evaluation of a map's derivatives inside a kernel --------------------------------------

template <class Scalar>
struct Derivatives {
  std::vector<double> f, jac, diag, ds, du, blocks;  ///< blocks: k = 2 (k = 1 for an odd D)
};

/// f, the Jacobian, the diagonal and the vjp (lambda, starting from ds = 1, du = 2) of `map` at
/// (s, u), computed in a kernel of the default execution space.
template <class Map>
Derivatives<typename Map::value_type> derivatives(const Map& map,
                                                  const std::vector<double>& s,
                                                  const std::vector<double>& u,
                                                  const std::vector<double>& lambda) {
  using Scalar = typename Map::value_type;
  const int D = map.state_dim(), Din = map.input_dim();
  Kokkos::View<Scalar*> vs("s", D), vu("u", Din + 1), vl("lambda", D), f("f", D), f2("f2", D),
      f3("f3", D), jac("jac", D * D), diag("diag", D), ds("ds", D), du("du", Din + 1),
      f4("f4", D), blocks("blocks", 2 * D),
      scratch("scratch", std::max({map.scratch_size(), kelk_test::vjp_scratch_or_zero(map),
                                   kelk::impl::block_scratch_size(map)}) +
                             1);
  const int k = D % 2 == 0 ? 2 : 1;
  const int map_scratch = map.scratch_size();
  auto hs = Kokkos::create_mirror_view(vs);
  auto hu = Kokkos::create_mirror_view(vu);
  auto hl = Kokkos::create_mirror_view(vl);
  for (int i = 0; i < D; ++i) {
    hs(i) = Scalar(s[i]);
    hl(i) = Scalar(lambda[i]);
  }
  for (int i = 0; i < Din; ++i) hu(i) = Scalar(u[i]);
  Kokkos::deep_copy(vs, hs);
  Kokkos::deep_copy(vu, hu);
  Kokkos::deep_copy(vl, hl);
  Kokkos::deep_copy(ds, Scalar(1));
  Kokkos::deep_copy(du, Scalar(2));
  Kokkos::parallel_for(
      "test::derivatives", Kokkos::RangePolicy<>(0, 1), KOKKOS_LAMBDA(int) {
        map.step(vs.data(), vu.data(), f.data(), scratch.data());
        map.jacobian(vs.data(), vu.data(), f2.data(), jac.data(), scratch.data());
        map.jacobian_diagonal(vs.data(), vu.data(), f3.data(), diag.data(), scratch.data());
        map.vjp(vs.data(), vu.data(), vl.data(), ds.data(), du.data(), nullptr, scratch.data());
        kelk::impl::jacobian_blocks(map, vs.data(), vu.data(), k, D, f4.data(), blocks.data(),
                                    scratch.data(), map_scratch);
      });
  Kokkos::fence();
  const auto back = [](const auto& v, int n) {
    auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), v);
    std::vector<double> out(n);
    for (int i = 0; i < n; ++i) out[i] = double(h(i));
    return out;
  };
  Derivatives<Scalar> d{back(f, D),  back(jac, D * D), back(diag, D),
                        back(ds, D), back(du, Din),   back(blocks, D * k)};
  // the Jacobian functions return the step's f
  const auto f_jac = back(f2, D), f_diag = back(f3, D), f_blocks = back(f4, D);
  for (int i = 0; i < D; ++i) {
    CHECK(f_jac[i] == d.f[i]);
    CHECK(f_diag[i] == d.f[i]);
    CHECK(f_blocks[i] == d.f[i]);
  }
  return d;
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

std::vector<double> random_vector(int n, double scale, std::mt19937_64& rng) {
  std::normal_distribution<double> normal;
  std::vector<double> v(n);
  for (auto& x : v) x = scale * normal(rng);
  return v;
}

/// The AD map's f, Jacobian, diagonal and vjp (ds, du) against the built-in closed forms.
template <class Builtin, class AdMap>
void check_against_builtin(const Builtin& builtin, const AdMap& admap, double tol,
                           std::uint64_t seed, double state_scale = 0.7) {
  std::mt19937_64 rng(seed);
  const int D = builtin.state_dim(), Din = builtin.input_dim();
  REQUIRE(admap.state_dim() == D);
  REQUIRE(admap.input_dim() == Din);
  for (int trial = 0; trial < 3; ++trial) {
    const auto s = random_vector(D, state_scale, rng), u = random_vector(Din, 1.0, rng),
               lambda = random_vector(D, 1.0, rng);
    const auto want = derivatives(builtin, s, u, lambda);
    const auto got = derivatives(admap, s, u, lambda);
    CAPTURE(D, Din, AdMap::width, trial);
    CHECK(relative_difference(got.f, want.f) <= tol);
    CHECK(relative_difference(got.jac, want.jac) <= tol);
    CHECK(relative_difference(got.diag, want.diag) <= tol);
    // AutoDiff's blocks (from its Jacobian) against the closed-form jacobian_blocks
    CHECK(relative_difference(got.blocks, want.blocks) <= tol);
    CHECK(relative_difference(got.ds, want.ds) <= tol);
    CHECK(relative_difference(got.du, want.du) <= tol);
  }
}

template <class Scalar>
double round_off() {
  return std::is_same<Scalar, double>::value ? 1e-13 : 2e-5;
}

}  // namespace

TEMPLATE_TEST_CASE("AD derivatives of the Elman twin equal the closed forms", "[autodiff]", double,
                   float) {
  const int D = GENERATE(5, 13);
  const auto builtin = kelk::make_random_elman<TestType>(D, 3, 0.8, 11);
  const ElmanTwin<TestType> twin{builtin};
  check_against_builtin(builtin, kelk::AutoDiff<ElmanTwin<TestType>>(twin), round_off<TestType>(),
                        1);
  check_against_builtin(builtin, kelk::AutoDiff<ElmanTwin<TestType>, 3>(twin),
                        round_off<TestType>(), 2);
}

TEMPLATE_TEST_CASE("AD derivatives of the GRU twin equal the closed forms", "[autodiff]", double,
                   float) {
  const int D = GENERATE(5, 13);
  const auto builtin = kelk::make_random_gru<TestType>(D, 4, 0.5, 12);
  const GruTwin<TestType> twin{builtin};
  check_against_builtin(builtin, kelk::AutoDiff<GruTwin<TestType>>(twin), round_off<TestType>(),
                        3);
  check_against_builtin(builtin, kelk::AutoDiff<GruTwin<TestType>, 3>(twin),
                        round_off<TestType>(), 4);
}

TEMPLATE_TEST_CASE("AD derivatives of the Lorenz-96 twin equal the closed forms", "[autodiff]",
                   double, float) {
  const int D = GENERATE(5, 13);
  const kelk::Lorenz96<TestType> builtin(D, TestType(8), TestType(0.01));
  const Lorenz96Twin<TestType> twin{builtin};
  check_against_builtin(builtin, kelk::AutoDiff<Lorenz96Twin<TestType>>(twin),
                        round_off<TestType>(), 5, 3.0);
  check_against_builtin(builtin, kelk::AutoDiff<Lorenz96Twin<TestType>, 4>(twin),
                        round_off<TestType>(), 6, 3.0);
}

TEST_CASE("AutoDiff's scratch holds its Fad scalars aligned", "[autodiff]") {
  const auto builtin = kelk::make_random_gru<double>(6, 2, 0.5, 13);
  const kelk::AutoDiff<GruTwin<double>> map(GruTwin<double>{builtin});
  using Fad = kelk::AutoDiff<GruTwin<double>>::fad_type;
  CHECK(map.scratch_size() * sizeof(double) >= (2 * 6 + 2) * sizeof(Fad));
  CHECK(map.vjp_scratch_size() == map.scratch_size());
  CHECK(kelk::parameter_count(map) == 0);
  static_assert(kelk::provides_jacobian_v<kelk::AutoDiff<GruTwin<double>>>);
  static_assert(kelk::provides_jacobian_diagonal_v<kelk::AutoDiff<GruTwin<double>>>);
  static_assert(kelk::provides_vjp_v<kelk::AutoDiff<GruTwin<double>>>);
}

namespace {
/// deer and quasi_deer on an AD-wrapped map converge to the plain sequential loop.
template <class Map>
void check_solves(const Map& map, int B, int T, std::uint64_t seed, double s0_scale = 0.5) {
  using Scalar = typename Map::value_type;
  const int D = map.state_dim();
  const auto p = kelk_test::random_problem<Scalar>(B, T, D, map.input_dim(), seed, s0_scale);
  const auto reference = kelk_test::plain_loop(map, p.s0, p.inputs);
  for (const kelk::Method method : {kelk::Method::deer, kelk::Method::quasi_deer}) {
    kelk::SolveOptions opt;
    opt.method = method;
    kelk::SequenceView<Scalar> states("test::states", B, T, D);
    const auto r = kelk::solve(map, p.s0, p.inputs, states, opt);
    const double dev = kelk_test::max_abs_diff(reference, states);
    CAPTURE(kelk::to_string(method), D, B, T, r.iterations, dev);
    REQUIRE(r.converged);
    CHECK(r.iterations <= T + 1);
    CHECK(dev <= 10 * kelk::default_atol<Scalar>());
  }
}
}  // namespace

TEMPLATE_TEST_CASE("deer and quasi_deer on AD maps match the sequential loop", "[autodiff][solve]",
                   double, float) {
  const int D = GENERATE(5, 13);
  const auto gru = kelk::make_random_gru<TestType>(D, 3, 0.5, 21);
  check_solves(kelk::AutoDiff<GruTwin<TestType>>(GruTwin<TestType>{gru}), 2, 101, 31);
  const kelk::Lorenz96<TestType> l96(D, TestType(8), TestType(0.01));
  check_solves(kelk::AutoDiff<Lorenz96Twin<TestType>>(Lorenz96Twin<TestType>{l96}), 2, 101, 32,
               3.0);
  const auto lstm = kelk_examples::make_random_lstm<TestType>(D, 3, 0.5, 1.0, 22);
  check_solves(kelk::AutoDiff<kelk_examples::Lstm<TestType>>(lstm), 2, 101, 33);
}

TEST_CASE("the LSTM example's AD Jacobian matches central finite differences", "[autodiff]") {
  const int H = GENERATE(3, 7);
  const auto lstm = kelk_examples::make_random_lstm<double>(H, 4, 0.8, 1.0, 41);
  const kelk::AutoDiff<kelk_examples::Lstm<double>> map(lstm);
  const int D = map.state_dim(), Din = map.input_dim();
  std::mt19937_64 rng(42);
  const auto s = random_vector(D, 0.7, rng), u = random_vector(Din, 1.0, rng),
             lambda = random_vector(D, 1.0, rng);
  const auto got = derivatives(map, s, u, lambda);

  // central differences of the plain step, column by column, in a kernel
  const double h = 1e-6;
  Kokkos::View<double**> plus("plus", D + Din, D), minus("minus", D + Din, D);
  Kokkos::View<double*> vs("s", D), vu("u", Din);
  auto hs = Kokkos::create_mirror_view(vs);
  auto hu = Kokkos::create_mirror_view(vu);
  for (int i = 0; i < D; ++i) hs(i) = s[i];
  for (int i = 0; i < Din; ++i) hu(i) = u[i];
  Kokkos::deep_copy(vs, hs);
  Kokkos::deep_copy(vu, hu);
  Kokkos::View<double**> work("work", D + Din, D + Din + lstm.scratch_size());
  Kokkos::parallel_for(
      "test::lstm_fd", Kokkos::RangePolicy<>(0, D + Din), KOKKOS_LAMBDA(int c) {
        double* x = &work(c, 0);  // (s, u), then the step's scratch
        double* scr = x + D + Din;
        for (int sign = -1; sign <= 1; sign += 2) {
          for (int j = 0; j < D; ++j) x[j] = vs(j);
          for (int j = 0; j < Din; ++j) x[D + j] = vu(j);
          x[c] += sign * h;
          lstm.step(x, x + D, sign < 0 ? &minus(c, 0) : &plus(c, 0), scr);
        }
      });
  Kokkos::fence();
  const auto hp = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), plus);
  const auto hm = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), minus);
  std::vector<double> fd_jac(D * D), fd_diag(D), fd_ds(D, 1.0), fd_du(Din, 2.0);
  for (int c = 0; c < D + Din; ++c)
    for (int i = 0; i < D; ++i) {
      const double d = (hp(c, i) - hm(c, i)) / (2 * h);
      if (c < D) {
        fd_jac[i * D + c] = d;
        if (i == c) fd_diag[i] = d;
        fd_ds[c] += lambda[i] * d;
      } else {
        fd_du[c - D] += lambda[i] * d;
      }
    }
  CAPTURE(H);
  CHECK(relative_difference(got.jac, fd_jac) <= 1e-6);
  CHECK(relative_difference(got.diag, fd_diag) <= 1e-6);
  CHECK(relative_difference(got.ds, fd_ds) <= 1e-6);
  CHECK(relative_difference(got.du, fd_du) <= 1e-6);
  // dc'/dc is diagonal (the forget gate): the AD Jacobian has exact zeros off it
  for (int i = 0; i < H; ++i)
    for (int j = 0; j < H; ++j)
      if (i != j) CHECK(got.jac[(H + i) * D + H + j] == 0.0);
}

TEST_CASE("solve_adjoint through an AD map equals the built-in GRU's gradients", "[autodiff][adjoint]") {
  const int D = 6, Din = 3, B = 2, T = 50;
  const auto gru = kelk::make_random_gru<double>(D, Din, 0.5, 51);
  const kelk::AutoDiff<GruTwin<double>> admap(GruTwin<double>{gru});
  const auto p = kelk_test::random_problem<double>(B, T, D, Din, 52);
  const auto states = kelk_test::plain_loop(gru, p.s0, p.inputs);
  kelk::SequenceView<double> cotangents("test::cotangents", B, T, D);
  {
    auto h = Kokkos::create_mirror_view(cotangents);
    std::mt19937_64 rng(54);
    std::normal_distribution<double> normal;
    for (std::size_t i = 0; i < h.span(); ++i) h.data()[i] = normal(rng);
    Kokkos::deep_copy(cotangents, h);
  }
  for (const auto method : {kelk::AdjointMethod::sequential, kelk::AdjointMethod::scan,
                            kelk::AdjointMethod::block_sweeps}) {
    kelk::AdjointOptions opt;
    opt.method = method;
    kelk::Gradients<double> want{kelk::BatchView<double>("want::s0", B, D),
                                 kelk::SequenceView<double>("want::u", B, T, Din), {}, {}};
    kelk::Gradients<double> got{kelk::BatchView<double>("got::s0", B, D),
                                kelk::SequenceView<double>("got::u", B, T, Din), {}, {}};
    kelk::solve_adjoint(gru, p.s0, p.inputs, states, cotangents, want, opt);
    kelk::solve_adjoint(admap, p.s0, p.inputs, states, cotangents, got, opt);
    CAPTURE(kelk::to_string(method));
    const double scale_u = std::max(1.0, kelk_test::max_abs(want.inputs));
    CHECK(kelk_test::max_abs_diff(got.inputs, want.inputs) <= 1e-12 * scale_u);
    const auto hw = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), want.s0);
    const auto hg = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), got.s0);
    for (int b = 0; b < B; ++b)
      for (int i = 0; i < D; ++i) CHECK(std::abs(hg(b, i) - hw(b, i)) <= 1e-12 * scale_u);
  }
}

namespace {
/// A driven, damped pendulum: state (theta, omega), one semi-implicit Euler step of size dt,
/// written with std::sin, std::cos, std::pow and a branch on a value (friction that differs by
/// direction), as the README says a Fad step may be.
struct Pendulum {
  using value_type = double;
  double dt = 0.05, gravity = 9.81, forward = 0.3, backward = 0.5, cubic = 0.05;
  int state_dim() const { return 2; }
  int input_dim() const { return 1; }
  int scratch_size() const { return 0; }
  template <class T>
  KOKKOS_FUNCTION void step(const T* s, const T* u, T* f, T*) const {
    const T& theta = s[0];
    const T& omega = s[1];
    T friction = omega > T(0) ? T(forward * omega) : T(backward * omega);  // values compared
    friction += cubic * std::pow(omega, 3.0);
    const T accel = -gravity * std::sin(theta) - friction + u[0] * (1.0 + 0.1 * std::cos(theta));
    f[1] = omega + dt * accel;
    f[0] = theta + dt * f[1];
  }
};
}  // namespace

TEST_CASE("std::sin, cos, pow and branches work in an AutoDiff step", "[autodiff][solve]") {
  const Pendulum plain;
  const kelk::AutoDiff<Pendulum> map(plain);
  // the Jacobian is the closed form's, at an omega of either sign
  for (const double omega : {0.8, -0.6}) {
    const double theta = 0.7, u = 0.3, dt = plain.dt;
    const double fr = (omega > 0 ? plain.forward : plain.backward) + 3 * plain.cubic * omega * omega;
    const double da_dtheta = -plain.gravity * std::cos(theta) - u * 0.1 * std::sin(theta);
    const double da_domega = -fr;
    const double w_theta = dt * da_dtheta, w_omega = 1 + dt * da_domega;  // d omega' / d .
    const std::vector<double> want = {1 + dt * w_theta, dt * w_omega, w_theta, w_omega};
    const auto got = derivatives(map, {theta, omega}, {u}, {1.0, 1.0});
    CAPTURE(omega);
    CHECK(relative_difference(got.jac, want) <= 1e-14);
  }
  // deer with the AD Jacobians converges to the sequential evaluation
  const int B = 2, T = 400;
  auto p = kelk_test::random_problem<double>(B, T, 2, 1, 61, 1.0);
  const auto reference = kelk_test::plain_loop(map, p.s0, p.inputs);
  kelk::SequenceView<double> states("states", B, T, 2);
  kelk::SolveOptions o;
  o.method = kelk::Method::deer;
  const auto r = kelk::solve(map, p.s0, p.inputs, states, o);
  CAPTURE(r.iterations);
  CHECK(r.converged);
  CHECK(kelk_test::max_abs_diff(states, reference) <= 1e-10);
}

namespace {
/// f, the Jacobian and the diagonal of `map` at (s, u), evaluated in a kernel.
template <class Map>
std::vector<std::vector<double>> jacobian_and_diagonal(const Map& map,
                                                       const std::vector<double>& s,
                                                       const std::vector<double>& u) {
  using Scalar = typename Map::value_type;
  const int D = map.state_dim(), Din = map.input_dim();
  Kokkos::View<Scalar*> vs("s", D), vu("u", Din + 1), f("f", D), jac("jac", D * D),
      diag("diag", D), scratch("scratch", map.scratch_size() + 1);
  auto hs = Kokkos::create_mirror_view(vs);
  auto hu = Kokkos::create_mirror_view(vu);
  for (int i = 0; i < D; ++i) hs(i) = Scalar(s[i]);
  for (int i = 0; i < Din; ++i) hu(i) = Scalar(u[i]);
  Kokkos::deep_copy(vs, hs);
  Kokkos::deep_copy(vu, hu);
  Kokkos::parallel_for(
      "test::pendulum_ad", Kokkos::RangePolicy<>(0, 1), KOKKOS_LAMBDA(int) {
        map.jacobian(vs.data(), vu.data(), f.data(), jac.data(), scratch.data());
        map.jacobian_diagonal(vs.data(), vu.data(), f.data(), diag.data(), scratch.data());
      });
  Kokkos::fence();
  const auto back = [](const auto& v) {
    auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), v);
    return std::vector<double>(h.data(), h.data() + h.span());
  };
  return {back(f), back(jac), back(diag)};
}
}  // namespace

TEST_CASE("AutoDiff of the pendulum chain equals its closed-form Jacobian",
          "[autodiff][pendulum]") {
  const int n = GENERATE(1, 3, 8);  // D = 2, 6 below the Fad width 8, 16 above
  const auto chain = kelk::make_pendulum_chain<double>(n);
  const kelk::AutoDiff<kelk::PendulumChain<double>> admap(chain);
  static_assert(kelk::provides_jacobian_v<kelk::AutoDiff<kelk::PendulumChain<double>>>);
  std::mt19937_64 rng(71 + n);
  for (int trial = 0; trial < 3; ++trial) {
    const auto s = random_vector(2 * n, 1.2, rng), u = random_vector(n, 1.0, rng);
    const auto want = jacobian_and_diagonal(chain, s, u);
    const auto got = jacobian_and_diagonal(admap, s, u);
    CAPTURE(n, trial);
    CHECK(relative_difference(got[0], want[0]) <= 1e-15);  // the same step: same f
    CHECK(relative_difference(got[1], want[1]) <= 1e-13);
    CHECK(relative_difference(got[2], want[2]) <= 1e-13);
  }
  // deer with the AD Jacobians converges to the sequential loop
  check_solves(kelk::AutoDiff<kelk::PendulumChain<double>>(kelk::make_pendulum_chain<double>(4)),
               2, 101, 72);
}

TEST_CASE("kelk::ad::sin and cos: values and derivatives", "[autodiff]") {
  using Fad = Sacado::Fad::SFad<double, 1>;
  const double x = 0.7;
  CHECK(kelk::ad::sin(x) == std::sin(x));
  CHECK(kelk::ad::cos(x) == std::cos(x));
  CHECK(std::abs(kelk::ad::sin(0.5f) - std::sin(0.5f)) <= 1e-7f);
  Fad y(1, 0, x);  // value x, derivative 1
  const Fad s = kelk::ad::sin(y), c = kelk::ad::cos(y * 2.0);
  CHECK(std::abs(s.val() - std::sin(x)) <= 1e-15);
  CHECK(std::abs(s.dx(0) - std::cos(x)) <= 1e-15);
  CHECK(std::abs(c.val() - std::cos(2 * x)) <= 1e-15);
  CHECK(std::abs(c.dx(0) + 2 * std::sin(2 * x)) <= 1e-15);
}
