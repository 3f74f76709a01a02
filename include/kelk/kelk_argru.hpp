// The autoregressive GRU of the ELK paper (lindermanlab/elk, "argru_sine_wave"): a GRU whose
// decoded, noise-driven output is fed back as its next input. Specification:
// input/argru/SPEC.md (sections 5 and 8). Weights: input/argru/argru_weights.h5.
#pragma once

#include <kelk/impl/kelk_compat.hpp>
#include <kelk/impl/kelk_dense.hpp>
#include <kelk/kelk_config.hpp>
#include <kelk/kelk_maps.hpp>

#include <Kokkos_Core.hpp>

#include <string>
#include <vector>

namespace kelk {

/// Packed state s = [x, h_0 .. h_{P-1}] (D = 1 + P), one scalar driver eps per step (Din = 1):
///   r  = sigma(w_r x + b_r + U_r h),   z = sigma(w_z x + b_z + U_z h)
///   m  = U_n h + b_hn,                 n = tanh(w_n x + b_n + r * m)
///   h+ = n + z * (h - n),              o = h+ + x 1
///   x+ = a_mu . o + c_mu + softplus(a_ls . o + c_ls) eps,      s+ = [x+, h+]
/// The Jacobian is the closed form of SPEC.md section 8; the diagonal costs O(P) after f.
template <class Scalar, class MemorySpace = Kokkos::DefaultExecutionSpace::memory_space>
struct ArGru {
  using value_type = Scalar;
  using memory_space = MemorySpace;
  using Vector = Kokkos::View<Scalar*, Kokkos::LayoutRight, MemorySpace>;
  using Matrix = Kokkos::View<Scalar**, Kokkos::LayoutRight, MemorySpace>;

  Vector w_r, w_z, w_n;       ///< (P) input weights (H = 1)
  Matrix U_r, U_z, U_n;       ///< (P, P) recurrent weights
  Vector b_r, b_z, b_n;       ///< (P) input-side biases
  Vector b_hn;                ///< (P) bias inside the reset product
  Vector a_mu, a_ls;          ///< (P) decoder rows: mean and pre-softplus scale
  Scalar c_mu = 0, c_ls = 0;  ///< decoder biases

  int state_dim() const { return 1 + hidden(); }
  int input_dim() const { return 1; }
  /// r, z, m, n, g = d x+/d o, d h+/d x
  int scratch_size() const { return 6 * hidden(); }

  KOKKOS_FUNCTION int hidden() const { return static_cast<int>(U_r.extent(0)); }

  KOKKOS_FUNCTION void step(const Scalar* s, const Scalar* u, Scalar* f, Scalar* scratch) const {
    forward(s, u[0], f, scratch);
  }

  KOKKOS_FUNCTION void jacobian(const Scalar* s, const Scalar* u, Scalar* f, Scalar* jac,
                                Scalar* scratch) const {
    const int P = hidden(), D = 1 + P;
    forward(s, u[0], f, scratch);
    const Gates q = derivatives(s, scratch);
    const Scalar* h = s + 1;
    // rows 1..P: d h+ / d [x, h], the GRU's product rule
    for (int i = 0; i < P; ++i) {
      Scalar* row = jac + (1 + i) * D;
      row[0] = q.dhdx[i];
      const impl::GruJacobianRow<Scalar> c(q.r[i], q.z[i], q.m[i], q.n[i], h[i]);
      for (int j = 0; j < P; ++j) row[1 + j] = c.entry(U_n, U_r, U_z, i, j);
      row[1 + i] += q.z[i];
    }
    // row 0: d x+ / d [x, h] = g^T (d h+ / d [x, h] + [1, 0])
    jac[0] = dxdx(q);
    for (int j = 0; j < P; ++j) {
      Scalar v = Scalar(0);
      for (int i = 0; i < P; ++i) v += q.g[i] * jac[(1 + i) * D + 1 + j];
      jac[1 + j] = v;
    }
  }

  KOKKOS_FUNCTION void jacobian_diagonal(const Scalar* s, const Scalar* u, Scalar* f, Scalar* diag,
                                         Scalar* scratch) const {
    const int P = hidden();
    forward(s, u[0], f, scratch);
    const Gates q = derivatives(s, scratch);
    const Scalar* h = s + 1;
    diag[0] = dxdx(q);
    for (int i = 0; i < P; ++i)
      diag[1 + i] = impl::GruJacobianRow<Scalar>(q.r[i], q.z[i], q.m[i], q.n[i], h[i])
                        .entry(U_n, U_r, U_z, i, i) +
                    q.z[i];
  }

  /// Vector-Jacobian product (kelk_step_map.hpp): back through the decoder (x+ depends on
  /// o = h+ + x 1 through g = d x+ / d o, and on the driver eps through softplus(l)), then
  /// through the GRU gates as Gru::vjp does. Parameters: the weights file's datasets (SPEC.md
  /// section 7), gate blocks in the order r, z, n: gru/weight_ih (3P, 1), gru/weight_hh
  /// (3P, P), gru/bias (3P), gru/bias_n (P), decoder/weight (2, P), decoder/bias (2).
  int vjp_scratch_size() const { return 7 * hidden() + 1; }
  std::vector<ParameterBlock> parameter_layout() const {
    const std::size_t P = hidden();
    return {{"gru/weight_ih", {3 * P, 1}}, {"gru/weight_hh", {3 * P, P}}, {"gru/bias", {3 * P}},
            {"gru/bias_n", {P}},           {"decoder/weight", {2, P}},    {"decoder/bias", {2}}};
  }
  KOKKOS_FUNCTION void vjp(const Scalar* s, const Scalar* u, const Scalar* lambda, Scalar* ds,
                           Scalar* du, Scalar* dtheta, Scalar* scratch) const {
    const int P = hidden();
    const Scalar x = s[0], eps = u[0];
    const Scalar* h = s + 1;
    Scalar* f = scratch + 6 * P;
    forward(s, eps, f, scratch);
    Scalar* r = scratch;  // the gates, then in place their pre-activation cotangents
    Scalar* z = r + P;
    Scalar* m = z + P;
    Scalar* n = m + P;
    const Scalar* g = n + P;
    Scalar ell = c_ls;
    for (int i = 0; i < P; ++i) ell += a_ls(i) * (f[1 + i] + x);
    const Scalar lx = lambda[0], sig_eps = math::sigmoid(ell) * eps;
    if (du != nullptr) du[0] += lx * math::softplus(ell);
    Scalar* p = dtheta;  // gru/weight_ih, weight_hh, bias, bias_n, decoder/weight, decoder/bias
    if (p != nullptr) {
      Scalar* dec = p + 3 * P + 3 * P * P + 4 * P;
      for (int i = 0; i < P; ++i) {
        const Scalar o = f[1 + i] + x;
        dec[i] += lx * o;
        dec[P + i] += lx * sig_eps * o;
      }
      dec[2 * P] += lx;
      dec[2 * P + 1] += lx * sig_eps;
    }
    Scalar dx = Scalar(0);
    for (int i = 0; i < P; ++i) {
      const Scalar lo = lx * g[i];
      // the cotangent of h+_i; the reset product's m plays the GRU's g
      const impl::GruCotangents<Scalar> c(lambda[1 + i] + lo, r[i], z[i], m[i], n[i], h[i]);
      ds[1 + i] += c.dh;
      dx += lo + w_r(i) * c.dr + w_z(i) * c.dz + w_n(i) * c.dn;
      r[i] = c.dr;
      z[i] = c.dz;
      m[i] = c.dg;
      n[i] = c.dn;
    }
    ds[0] += dx;
    impl::gemv_t(Scalar(1), U_r.data(), P, P, r, Scalar(1), ds + 1);
    impl::gemv_t(Scalar(1), U_z.data(), P, P, z, Scalar(1), ds + 1);
    impl::gemv_t(Scalar(1), U_n.data(), P, P, m, Scalar(1), ds + 1);
    if (p != nullptr) {
      const Scalar* gate[3] = {r, z, n};   // input weights and input-side biases: r, z, n
      const Scalar* hgate[3] = {r, z, m};  // recurrent weights: the reset product's m for n
      for (int q = 0; q < 3; ++q) {
        for (int i = 0; i < P; ++i) {
          p[q * P + i] += gate[q][i] * x;
          p[3 * P + 3 * P * P + q * P + i] += gate[q][i];
        }
        impl::add_outer(hgate[q], h, p + 3 * P + q * P * P, P, P);
      }
      Scalar* bias_n = p + 6 * P + 3 * P * P;
      for (int i = 0; i < P; ++i) bias_n[i] += m[i];
    }
  }

 private:
  /// f = s+; scratch = [r, z, m, n, g] where g = a_mu + sigma(l) eps a_ls = d x+ / d o.
  KOKKOS_FUNCTION void forward(const Scalar* s, Scalar eps, Scalar* f, Scalar* scratch) const {
    const int P = hidden();
    const Scalar x = s[0];
    const Scalar* h = s + 1;
    Scalar* r = scratch;
    Scalar* z = r + P;
    Scalar* m = z + P;
    Scalar* n = m + P;
    Scalar* g = n + P;
    for (int i = 0; i < P; ++i) {
      r[i] = w_r(i) * x + b_r(i);
      z[i] = w_z(i) * x + b_z(i);
      m[i] = b_hn(i);
    }
    impl::gemv(Scalar(1), U_r.data(), P, P, h, Scalar(1), r);
    impl::gemv(Scalar(1), U_z.data(), P, P, h, Scalar(1), z);
    impl::gemv(Scalar(1), U_n.data(), P, P, h, Scalar(1), m);
    Scalar mu = c_mu, ell = c_ls;
    for (int i = 0; i < P; ++i) {
      r[i] = math::sigmoid(r[i]);
      z[i] = math::sigmoid(z[i]);
      n[i] = math::tanh(w_n(i) * x + b_n(i) + r[i] * m[i]);
      const Scalar hp = n[i] + z[i] * (h[i] - n[i]);
      f[1 + i] = hp;
      const Scalar o = hp + x;
      mu += a_mu(i) * o;
      ell += a_ls(i) * o;
    }
    f[0] = mu + math::softplus(ell) * eps;
    const Scalar dsp = math::sigmoid(ell) * eps;  // softplus' = sigma
    for (int i = 0; i < P; ++i) g[i] = a_mu(i) + dsp * a_ls(i);
  }

  /// The scratch as forward() and derivatives() leave it.
  struct Gates {
    const Scalar *r, *z, *m, *n, *g, *dhdx;
  };

  /// d x+ / d x = g . (d h+ / d x + 1)
  KOKKOS_FUNCTION Scalar dxdx(const Gates& q) const {
    Scalar v = Scalar(0);
    for (int i = 0; i < hidden(); ++i) v += q.g[i] * (q.dhdx[i] + Scalar(1));
    return v;
  }

  /// scratch[5P..6P) = d h+ / d x, from the gate values forward() left in the scratch.
  KOKKOS_FUNCTION Gates derivatives(const Scalar* s, Scalar* scratch) const {
    const int P = hidden();
    const Scalar* h = s + 1;
    const Gates q{scratch,         scratch + P,     scratch + 2 * P,
                  scratch + 3 * P, scratch + 4 * P, scratch + 5 * P};
    Scalar* dhdx = scratch + 5 * P;
    for (int i = 0; i < P; ++i) {
      const Scalar drdx = q.r[i] * (Scalar(1) - q.r[i]) * w_r(i);
      const Scalar dzdx = q.z[i] * (Scalar(1) - q.z[i]) * w_z(i);
      const Scalar dndx = (Scalar(1) - q.n[i] * q.n[i]) * (w_n(i) + q.m[i] * drdx);
      dhdx[i] = (Scalar(1) - q.z[i]) * dndx + (h[i] - q.n[i]) * dzdx;
    }
    return q;
  }
};

#ifdef KELK_HAVE_HDF5
/// Loads the trained AR-GRU from its weights file (input/argru/argru_weights.h5): the
/// `float64/` datasets for double, the exact original `float32/` ones for float. Throws
/// kelk::hdf5::Error naming the file and dataset when something is missing or mis-shaped.
template <class Scalar>
ArGru<Scalar> load_argru(const std::string& path);
#endif

}  // namespace kelk
