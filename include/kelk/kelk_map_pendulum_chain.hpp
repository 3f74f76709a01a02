// A second-order test system: a chain of damped, driven pendulums coupled to their neighbours by
// springs, advanced by one classical RK4 step per recurrence step, with its closed-form Jacobian
// (tangent matrix propagated through the four stages), diagonal and diagonal blocks.
#pragma once

#include <kelk/impl/kelk_compat.hpp>
#include <kelk/kelk_step_map.hpp>
#include <kelk/kelk_views.hpp>

#include <Kokkos_Core.hpp>

#include <cmath>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace kelk {

/// n pendulums in a row, each damped, driven by its own torque and tied to its neighbours by
/// springs (free ends: the end pendulums have one spring):
///
///   theta_i' = omega_i
///   omega_i' = -g sin(theta_i) - gamma omega_i
///              + kappa sum_{j = i +- 1, 0 <= j < n} (theta_j - theta_i) + u_i
///
/// advanced by one classical Runge-Kutta 4 step of size dt per recurrence step. State D = 2n in
/// adjacent pairs [theta_0, omega_0, theta_1, omega_1, ...]; input Din = n, the drive torques
/// of this step.
///
/// The step is a template over the scalar type (kelk::AutoDiff<PendulumChain<double>> works;
/// for a Sacado Fad type, sin is Sacado's, found by argument-dependent lookup).
///
/// Jacobian: with G(x) the Jacobian of the vector field (at most 4 nonzeros per row: theta_i'
/// row 1 at omega_i; omega_i' row -g cos(theta_i) - kappa * (number of neighbours) at theta_i,
/// -gamma at omega_i, kappa at each neighbour's theta), the step's Jacobian is
/// I + dt/6 (K1 + 2 K2 + 2 K3 + K4), K1 = G(x1), K_s = G(x_s) (I + c_s K_{s-1}). Each K_s is a
/// dense D x D matrix formed by multiplying G sparsely: O(D^2) per stage, O(D^2) per Jacobian.
/// The diagonal and the diagonal blocks are read off the same dense Jacobian (formed in
/// scratch): also O(D^2) each. (The Jacobian is in fact banded, every pendulum reaching at most
/// two neighbours per step on each side, so an O(D) band form as kelk::Lorenz96's would be
/// exact too; at the D of a test system the dense form is simpler.)
///
/// All members are plain scalars: the map is trivially copyable into kernels on any backend.
template <class Scalar>
struct PendulumChain {
  using value_type = Scalar;

  int n = 8;                    ///< pendulums (D = 2n, Din = n)
  Scalar dt = Scalar(0.1);      ///< RK4 step
  Scalar g = Scalar(1);         ///< gravity (g / length)
  Scalar gamma = Scalar(0.92);  ///< damping: perturbations decay like e^(-gamma t / 2)
  Scalar kappa = Scalar(1);     ///< spring constant between neighbours

  PendulumChain() = default;
  PendulumChain(int pendulums, Scalar step, Scalar gravity, Scalar damping, Scalar spring)
      : n(pendulums), dt(step), g(gravity), gamma(damping), kappa(spring) {}

  KOKKOS_INLINE_FUNCTION int state_dim() const { return 2 * n; }
  KOKKOS_INLINE_FUNCTION int input_dim() const { return n; }
  /// Scalars of scratch: the stage vectors (stage point, slope, weighted sum of slopes: 3D)
  /// for step; jacobian adds two D x D tangent matrices (K_{s-1}, K_s); jacobian_diagonal and
  /// jacobian_blocks a third D x D matrix for the full Jacobian they read from: 3D + 3D^2.
  KOKKOS_INLINE_FUNCTION int scratch_size() const {
    const int D = 2 * n;
    return 3 * D + 3 * D * D;
  }

  /// f = one RK4 step from s with drive u; scratch: 3D scalars of type T.
  template <class T>
  KOKKOS_FUNCTION void step(const T* s, const T* u, T* f, T* scratch) const {
    rk4<T, false>(s, u, f, nullptr, scratch);
  }

  /// f and the dense Jacobian jac[i * D + j] = df_i/ds_j: O(D^2).
  KOKKOS_FUNCTION void jacobian(const Scalar* s, const Scalar* u, Scalar* f, Scalar* jac,
                                Scalar* scratch) const {
    rk4<Scalar, true>(s, u, f, jac, scratch);
  }

  /// f and diag[i] = df_i/ds_i, read off the dense Jacobian formed in scratch: O(D^2).
  KOKKOS_FUNCTION void jacobian_diagonal(const Scalar* s, const Scalar* u, Scalar* f,
                                         Scalar* diag, Scalar* scratch) const {
    const int D = 2 * n;
    Scalar* jac = scratch + 3 * D + 2 * D * D;
    rk4<Scalar, true>(s, u, f, jac, scratch);
    for (int i = 0; i < D; ++i) diag[i] = jac[i * D + i];
  }

  /// f and the D/k diagonal k x k blocks of the Jacobian, blocks[(j k + r) k + c] =
  /// df_{jk+r}/ds_{jk+c}, for a block size k dividing D; read off the dense Jacobian formed in
  /// scratch: O(D^2).
  KOKKOS_FUNCTION void jacobian_blocks(const Scalar* s, const Scalar* u, int k, Scalar* f,
                                       Scalar* blocks, Scalar* scratch) const {
    const int D = 2 * n;
    Scalar* jac = scratch + 3 * D + 2 * D * D;
    rk4<Scalar, true>(s, u, f, jac, scratch);
    for (int j = 0; j < D / k; ++j)
      for (int r = 0; r < k; ++r)
        for (int c = 0; c < k; ++c)
          blocks[(j * k + r) * k + c] = jac[(j * k + r) * D + j * k + c];
  }

 private:
  template <class T>
  KOKKOS_FORCEINLINE_FUNCTION static T sin_of(const T& x) {
    if constexpr (std::is_floating_point<T>::value) {
      return KELK_IMPL_KOKKOS_MATH::sin(x);
    } else {
      using std::sin;  // Sacado's sin for Fad types, by argument-dependent lookup
      return T(sin(x));
    }
  }

  /// k = v(x, u), the vector field.
  template <class T>
  KOKKOS_FUNCTION void vector_field(const T* x, const T* u, T* k) const {
    for (int i = 0; i < n; ++i) {
      const T& theta = x[2 * i];
      const T& omega = x[2 * i + 1];
      T spring = T(0);
      if (i > 0) spring += x[2 * i - 2] - theta;
      if (i + 1 < n) spring += x[2 * i + 2] - theta;
      k[2 * i] = omega;
      k[2 * i + 1] = -g * sin_of(theta) - gamma * omega + kappa * spring + u[i];
    }
  }

  /// K = G(xs) M with M = I + c Kprev (Kprev == nullptr: M = I), both D x D row-major; G applied
  /// by its at most four nonzeros per row.
  KOKKOS_FUNCTION void stage_tangent(const Scalar* xs, const Scalar* Kprev, Scalar c,
                                     Scalar* K) const {
    const int D = 2 * n;
    // M row r, column j
    const auto m = [&](int r, int j) {
      const Scalar identity = r == j ? Scalar(1) : Scalar(0);
      return Kprev != nullptr ? identity + c * Kprev[r * D + j] : identity;
    };
    for (int i = 0; i < n; ++i) {
      const int neighbours = (i > 0 ? 1 : 0) + (i + 1 < n ? 1 : 0);
      const Scalar a = -g * KELK_IMPL_KOKKOS_MATH::cos(xs[2 * i]) - kappa * Scalar(neighbours);
      Scalar* rt = K + (2 * i) * D;      // theta_i' row: M's omega_i row
      Scalar* rw = K + (2 * i + 1) * D;  // omega_i' row
      for (int j = 0; j < D; ++j) {
        rt[j] = m(2 * i + 1, j);
        Scalar v = a * m(2 * i, j) - gamma * m(2 * i + 1, j);
        if (i > 0) v += kappa * m(2 * i - 2, j);
        if (i + 1 < n) v += kappa * m(2 * i + 2, j);
        rw[j] = v;
      }
    }
  }

  /// One RK4 step; with Jac (T = Scalar only), also the dense Jacobian in `jac`.
  template <class T, bool Jac>
  KOKKOS_FUNCTION void rk4(const T* x, const T* u, T* f, Scalar* jac, T* scratch) const {
    const int D = 2 * n;
    T* xs = scratch;           // stage point
    T* k = scratch + D;        // stage slope
    T* acc = scratch + 2 * D;  // weighted sum of slopes
    const Scalar half = dt / Scalar(2);
    const Scalar stage_c[4] = {Scalar(0), half, half, dt};
    const Scalar weight[4] = {Scalar(1), Scalar(2), Scalar(2), Scalar(1)};
    const Scalar h6 = dt / Scalar(6);
    Scalar* K_prev = nullptr;
    Scalar* K_cur = nullptr;
    if constexpr (Jac) {
      K_prev = scratch + 3 * D;
      K_cur = K_prev + D * D;
      for (int i = 0; i < D * D; ++i) jac[i] = Scalar(0);
    }
    for (int d = 0; d < D; ++d) {
      acc[d] = T(0);
      k[d] = T(0);
    }
    for (int s = 0; s < 4; ++s) {
      for (int d = 0; d < D; ++d) xs[d] = x[d] + stage_c[s] * k[d];
      if constexpr (Jac) {
        stage_tangent(xs, s == 0 ? nullptr : K_prev, stage_c[s], K_cur);
        const Scalar w = h6 * weight[s];
        for (int i = 0; i < D * D; ++i) jac[i] += w * K_cur[i];
        Scalar* t = K_prev;
        K_prev = K_cur;
        K_cur = t;
      }
      vector_field(xs, u, k);
      for (int d = 0; d < D; ++d) acc[d] += weight[s] * k[d];
    }
    for (int d = 0; d < D; ++d) f[d] = x[d] + h6 * acc[d];
    if constexpr (Jac)
      for (int d = 0; d < D; ++d) jac[d * D + d] += Scalar(1);
  }
};

/// A pendulum chain of n pendulums. The defaults are the contracting test system: kelk::probe
/// measures a largest Lyapunov exponent of -0.0463 per step (n = 8, N(0, 1) drive torques;
/// tests/test_pendulum.cpp). Why gamma sets it: the damping is uniform, so theta = e^(-gamma t/2) y
/// turns the tangent dynamics into y'' + (K(t) - gamma^2 / 4) y = 0, whose exponents come in
/// pairs +-lambda_y; while y stays oscillatory (lambda_y = 0) the largest exponent is exactly
/// -gamma dt / 2 per step (-0.046 for gamma = 0.92, dt = 0.1; gamma = 0.3 would give only
/// -0.015). kappa changes the mode frequencies, not the decay.
template <class Scalar>
PendulumChain<Scalar> make_pendulum_chain(int n, double dt = 0.1, double g = 1.0,
                                          double gamma = 0.92, double kappa = 1.0) {
  if (n < 1)
    throw std::invalid_argument("kelk::make_pendulum_chain: need n >= 1 pendulums, got " +
                                std::to_string(n));
  return PendulumChain<Scalar>(n, Scalar(dt), Scalar(g), Scalar(gamma), Scalar(kappa));
}

/// Random drive torques for B sequences of T steps of an n-pendulum chain: amplitude * N(0, 1),
/// independent per pendulum and step, reproducible from the seed (B x T x n).
template <class Scalar, class MemorySpace = Kokkos::DefaultExecutionSpace::memory_space>
SequenceView<Scalar, MemorySpace> make_pendulum_drive(int B, int T, int n, double amplitude,
                                                      std::uint64_t seed) {
  SequenceView<Scalar, MemorySpace> u("kelk::pendulum_drive", B, T, n);
  auto h = Kokkos::create_mirror_view(u);
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  for (std::size_t i = 0; i < h.span(); ++i) h.data()[i] = Scalar(amplitude * normal(rng));
  Kokkos::deep_copy(u, h);
  return u;
}

}  // namespace kelk
