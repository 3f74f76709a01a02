// The built-in Lorenz-96 step map (one RK4 step of the Lorenz-96 system) with its closed-form
// banded Jacobian and diagonal.
#pragma once

#include <kelk/impl/kelk_map_common.hpp>

namespace kelk {

/// Lorenz-96, dx_d/dt = (x_{d+1} - x_{d-2}) x_{d-1} - x_d + F (indices cyclic), advanced by one
/// classical Runge-Kutta 4 step of size dt per recurrence step. No inputs (Din = 0).
///
/// The Jacobian of the RK4 step is I + dt/6 (K1 + 2 K2 + 2 K3 + K4) with K1 = L(x1),
/// K_s = L(x_s)(I + c_s K_{s-1}), where L(x) is the Jacobian of the vector field: row d has
/// the four entries x_{d-1} at d+1, -x_{d-1} at d-2, x_{d+1} - x_{d-2} at d-1 and -1 at d.
/// All these matrices are cyclic band matrices (offsets -8..+4 at most), so they are held as
/// 13 band coefficients per row: both the dense Jacobian and its diagonal cost O(D) band
/// arithmetic, and the diagonal never forms the D x D matrix. (When D < 13 several offsets
/// address the same column; the band form stores a sum of terms, so this stays exact.)
template <class Scalar>
struct Lorenz96 {
  using value_type = Scalar;

  int D = 5;
  Scalar forcing = Scalar(8);
  Scalar dt = Scalar(0.01);

  static constexpr int band_lo = -8;  ///< lowest band offset of the RK4 Jacobian
  static constexpr int band_hi = 4;   ///< highest band offset
  static constexpr int band_width = band_hi - band_lo + 1;

  Lorenz96() = default;
  Lorenz96(int state_dim, Scalar F, Scalar step) : D(state_dim), forcing(F), dt(step) {}

  int state_dim() const { return D; }
  int input_dim() const { return 0; }
  /// Stage vectors (x_s, k_s, accumulated increment) and three band matrices.
  int scratch_size() const { return 3 * D + 3 * band_width * D; }

  KOKKOS_FUNCTION void step(const Scalar* x, const Scalar*, Scalar* f, Scalar* scratch) const {
    rk4<false>(x, f, nullptr, scratch);
  }

  KOKKOS_FUNCTION void jacobian(const Scalar* x, const Scalar*, Scalar* f, Scalar* jac,
                                Scalar* scratch) const {
    Scalar* band = scratch + 3 * D + 2 * band_width * D;
    rk4<true>(x, f, band, scratch);
    for (int i = 0; i < D * D; ++i) jac[i] = Scalar(0);
    for (int d = 0; d < D; ++d)
      for (int o = band_lo; o <= band_hi; ++o)
        jac[d * D + wrap(d + o)] += band[d * band_width + (o - band_lo)];
  }

  KOKKOS_FUNCTION void jacobian_diagonal(const Scalar* x, const Scalar*, Scalar* f, Scalar* diag,
                                         Scalar* scratch) const {
    Scalar* band = scratch + 3 * D + 2 * band_width * D;
    rk4<true>(x, f, band, scratch);
    for (int d = 0; d < D; ++d) {
      diag[d] = Scalar(0);
      for (int o = band_lo; o <= band_hi; ++o)
        if (wrap(o) == 0) diag[d] += band[d * band_width + (o - band_lo)];
    }
  }

  /// Vector-Jacobian product (kelk_step_map.hpp): the RK4 step run backwards, stage by stage,
  /// with L(x)^T w (the transposed vector-field Jacobian) per stage; the forcing F enters every
  /// slope with derivative 1, so dF collects the sum of the slopes' cotangents.
  /// Parameters: F (a scalar, the model file's attribute `F`); dt is held fixed.
  /// The diagonal k x k blocks of the Jacobian (kelk_step_map.hpp) from its band: O(D) after
  /// the RK4 stages, entries summed in jacobian()'s order.
  KOKKOS_FUNCTION void jacobian_blocks(const Scalar* x, const Scalar*, int k, Scalar* f,
                                       Scalar* blocks, Scalar* scratch) const {
    Scalar* band = scratch + 3 * D + 2 * band_width * D;
    rk4<true>(x, f, band, scratch);
    for (int i = 0; i < D * k; ++i) blocks[i] = Scalar(0);
    for (int d = 0; d < D; ++d) {
      const int first = d / k * k;
      for (int o = band_lo; o <= band_hi; ++o) {
        const int c = wrap(d + o);
        if (c >= first && c < first + k)
          blocks[d * k + c - first] += band[d * band_width + (o - band_lo)];
      }
    }
  }

  int vjp_scratch_size() const { return 6 * D; }
  std::vector<ParameterBlock> parameter_layout() const { return {{"F", {}}}; }
  KOKKOS_FUNCTION void vjp(const Scalar* x, const Scalar*, const Scalar* lambda, Scalar* dx,
                           Scalar*, Scalar* dtheta, Scalar* scratch) const {
    Scalar* x2 = scratch;  // stage points 2..4
    Scalar* x3 = x2 + D;
    Scalar* x4 = x3 + D;
    Scalar* k = x4 + D;
    Scalar* mu = k + D;  // L(x_s)^T of the slope cotangent
    Scalar* lk = mu + D;  // the cotangent of slope k_s
    const Scalar half = dt / Scalar(2);
    vector_field(x, k);
    for (int d = 0; d < D; ++d) x2[d] = x[d] + half * k[d];
    vector_field(x2, k);
    for (int d = 0; d < D; ++d) x3[d] = x[d] + half * k[d];
    vector_field(x3, k);
    for (int d = 0; d < D; ++d) x4[d] = x[d] + dt * k[d];
    // f = x + dt/6 (k1 + 2 k2 + 2 k3 + k4); k_s = v(x_s), x_s = x + c_s k_{s-1}
    const Scalar* points[4] = {x4, x3, x2, x};
    const Scalar weight[4] = {dt / Scalar(6), dt / Scalar(3), dt / Scalar(3), dt / Scalar(6)};
    const Scalar reach[4] = {dt, half, half, Scalar(0)};  // c_s of the stage each slope feeds
    Scalar dF = Scalar(0);
    for (int d = 0; d < D; ++d) {
      dx[d] += lambda[d];
      mu[d] = Scalar(0);
    }
    for (int s = 0; s < 4; ++s) {  // slopes k4, k3, k2, k1
      const Scalar carried = s == 0 ? Scalar(0) : reach[s - 1];
      for (int d = 0; d < D; ++d) {
        lk[d] = weight[s] * lambda[d] + carried * mu[d];
        mu[d] = Scalar(0);
        dF += lk[d];
      }
      field_vjp(points[s], lk, mu);
      for (int d = 0; d < D; ++d) dx[d] += mu[d];
    }
    if (dtheta != nullptr) dtheta[0] += dF;
  }

 private:
  KOKKOS_FUNCTION int wrap(int i) const { return ((i % D) + D) % D; }

  KOKKOS_FUNCTION void vector_field(const Scalar* x, Scalar* k) const {
    for (int d = 0; d < D; ++d)
      k[d] = (x[wrap(d + 1)] - x[wrap(d - 2)]) * x[wrap(d - 1)] - x[d] + forcing;
  }

  /// out += L(x)^T w: row d of L(x) has x_{d-1} at d+1, -x_{d-1} at d-2, x_{d+1} - x_{d-2} at
  /// d-1 and -1 at d.
  KOKKOS_FUNCTION void field_vjp(const Scalar* x, const Scalar* w, Scalar* out) const {
    for (int d = 0; d < D; ++d) {
      const Scalar xm1 = x[wrap(d - 1)];
      out[wrap(d + 1)] += w[d] * xm1;
      out[wrap(d - 2)] -= w[d] * xm1;
      out[wrap(d - 1)] += w[d] * (x[wrap(d + 1)] - x[wrap(d - 2)]);
      out[d] -= w[d];
    }
  }

  /// K = L(xs) * (I + c * Kprev) in band form; Kprev == nullptr means K = L(xs).
  KOKKOS_FUNCTION void stage_band(const Scalar* xs, const Scalar* Kprev, Scalar c,
                                  Scalar* K) const {
    for (int i = 0; i < D * band_width; ++i) K[i] = Scalar(0);
    for (int d = 0; d < D; ++d) {
      // the four entries of row d of L(xs): (offset, value)
      const int off[4] = {1, -2, -1, 0};
      const Scalar val[4] = {xs[wrap(d - 1)], -xs[wrap(d - 1)], xs[wrap(d + 1)] - xs[wrap(d - 2)],
                             Scalar(-1)};
      Scalar* row = K + d * band_width;
      for (int e = 0; e < 4; ++e) {
        row[off[e] - band_lo] += val[e];  // L(xs) * I
        if (Kprev == nullptr) continue;
        // L(xs) * c Kprev: Kprev's support is narrower than the band by at least the reach of
        // L, so limiting o2 to keep the sum inside the band drops only zeros.
        const Scalar* prow = Kprev + wrap(d + off[e]) * band_width;
        const int o2_lo = band_lo - off[e] > band_lo ? band_lo - off[e] : band_lo;
        const int o2_hi = band_hi - off[e] < band_hi ? band_hi - off[e] : band_hi;
        for (int o2 = o2_lo; o2 <= o2_hi; ++o2)
          row[off[e] + o2 - band_lo] += c * val[e] * prow[o2 - band_lo];
      }
    }
  }

  /// One RK4 step; with Jac, also the band form of its Jacobian in `band`.
  template <bool Jac>
  KOKKOS_FUNCTION void rk4(const Scalar* x, Scalar* f, Scalar* band, Scalar* scratch) const {
    Scalar* xs = scratch;           // stage point
    Scalar* k = scratch + D;        // stage slope
    Scalar* acc = scratch + 2 * D;  // sum of weighted slopes
    Scalar* K_prev = scratch + 3 * D;
    Scalar* K_cur = K_prev + band_width * D;
    const Scalar half = dt / Scalar(2);
    const Scalar stage_c[4] = {Scalar(0), half, half, dt};
    const Scalar weight[4] = {Scalar(1), Scalar(2), Scalar(2), Scalar(1)};
    if (Jac)
      for (int i = 0; i < D * band_width; ++i) band[i] = Scalar(0);
    for (int d = 0; d < D; ++d) {
      acc[d] = Scalar(0);
      k[d] = Scalar(0);
    }
    for (int s = 0; s < 4; ++s) {
      for (int d = 0; d < D; ++d) xs[d] = x[d] + stage_c[s] * k[d];
      if (Jac) {
        stage_band(xs, s == 0 ? nullptr : K_prev, stage_c[s], K_cur);
        for (int i = 0; i < D * band_width; ++i) band[i] += weight[s] * K_cur[i];
        Scalar* t = K_prev;
        K_prev = K_cur;
        K_cur = t;
      }
      vector_field(xs, k);
      for (int d = 0; d < D; ++d) acc[d] += weight[s] * k[d];
    }
    const Scalar h6 = dt / Scalar(6);
    for (int d = 0; d < D; ++d) f[d] = x[d] + h6 * acc[d];
    if (Jac) {
      for (int i = 0; i < D * band_width; ++i) band[i] *= h6;
      for (int d = 0; d < D; ++d) band[d * band_width - band_lo] += Scalar(1);
    }
  }
};

}  // namespace kelk
