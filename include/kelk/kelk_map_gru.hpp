// The built-in GRU step map (torch.nn.GRU's cell) with its closed-form Jacobian, diagonal,
// vector-Jacobian product, bulk evaluation, and constructors with random weights.
#pragma once

#include <kelk/impl/kelk_map_common.hpp>

namespace kelk {

namespace impl {
/// One row of the GRU's bulk evaluation, in place: the pre-activations pre_r, pre_z (input and
/// recurrent parts summed), in_n = W_in u and g = W_hn h become the gates r, z, n and
/// g + b_hn; f = (1 - z) n + z h. (A function with restrict pointers so that the loop
/// vectorises: GCC gives up on more than 10 run-time alias checks.)
template <class T>
KOKKOS_FORCEINLINE_FUNCTION void gru_gates_row(T* KOKKOS_RESTRICT r, T* KOKKOS_RESTRICT z,
                                          T* KOKKOS_RESTRICT n, T* KOKKOS_RESTRICT g,
                                          const T* KOKKOS_RESTRICT h, T* KOKKOS_RESTRICT f,
                                          const T* b_ir, const T* b_iz, const T* b_in,
                                          const T* b_hn, int D) {
  for (int i = 0; i < D; ++i) {
    const T ri = math::sigmoid(r[i] + b_ir[i]);
    const T zi = math::sigmoid(z[i] + b_iz[i]);
    const T gi = g[i] + b_hn[i];
    const T ni = math::tanh(n[i] + b_in[i] + ri * gi);
    f[i] = (T(1) - zi) * ni + zi * h[i];
    r[i] = ri;
    z[i] = zi;
    g[i] = gi;
    n[i] = ni;
  }
}

/// The GRU cell's Jacobian by the product rule, row i:
///   dh'_i/dh_j = z_i delta_ij + c_n W_hn(i, j) + c_r W_hr(i, j) + c_z W_hz(i, j),
/// from the gate values r, z, n, the term g = W_hn h + b_hn inside the reset product, and h.
template <class T>
struct GruJacobianRow {
  T c_n, c_r, c_z;
  KOKKOS_INLINE_FUNCTION GruJacobianRow(T r, T z, T g, T n, T h) {
    const T dn = (T(1) - z) * (T(1) - n * n);
    c_n = dn * r;
    c_r = dn * g * r * (T(1) - r);
    c_z = (h - n) * z * (T(1) - z);
  }
  template <class Matrix>
  KOKKOS_INLINE_FUNCTION T entry(const Matrix& W_hn, const Matrix& W_hr, const Matrix& W_hz, int i,
                                 int j) const {
    return c_n * W_hn(i, j) + c_r * W_hr(i, j) + c_z * W_hz(i, j);
  }
  /// The whole row from the weight rows (restrict: vectorises without alias checks).
  KOKKOS_FORCEINLINE_FUNCTION void write_row(const T* KOKKOS_RESTRICT w_hn,
                                             const T* KOKKOS_RESTRICT w_hr,
                                             const T* KOKKOS_RESTRICT w_hz, T* KOKKOS_RESTRICT row,
                                             int D) const {
    for (int j = 0; j < D; ++j) row[j] = c_n * w_hn[j] + c_r * w_hr[j] + c_z * w_hz[j];
  }
};

/// The GRU cell's cotangents by the chain rule backwards through h' = (1 - z) n + z h, per
/// entry, from the cotangent l of h'_i, the gates r, z, n, g = W_hn h + b_hn and h: those of
/// the pre-activations of r, z and n (dr, dz, dn), of g (dg = dn r) and h's direct share l z.
template <class T>
struct GruCotangents {
  T dr, dz, dg, dn, dh;
  KOKKOS_INLINE_FUNCTION GruCotangents(T l, T r, T z, T g, T n, T h) {
    dn = l * (T(1) - z) * (T(1) - n * n);
    dz = l * (h - n) * z * (T(1) - z);
    dr = dn * g * r * (T(1) - r);
    dg = dn * r;
    dh = l * z;
  }
};
}  // namespace impl

/// GRU cell, with gates r, z, n and the convention of ALGORITHMS.md section 10:
///   r  = sigma(W_ir u + b_ir + W_hr h)
///   z  = sigma(W_iz u + b_iz + W_hz h)
///   n  = tanh(W_in u + b_in + r * (W_hn h + b_hn))
///   h' = (1 - z) * n + z * h
/// Jacobian, by the product rule, with g = W_hn h + b_hn:
///   dh'/dh = diag(z) + diag(c_n) W_hn + diag(c_r) W_hr + diag(c_z) W_hz,
///   c_n = (1 - z)(1 - n^2) r,  c_r = (1 - z)(1 - n^2) g r (1 - r),  c_z = (h - n) z (1 - z).
/// The diagonal takes only the diagonal entries of the three weight matrices: O(D) after f.
template <class Scalar, class MemorySpace = Kokkos::DefaultExecutionSpace::memory_space>
struct Gru {
  using value_type = Scalar;
  using memory_space = MemorySpace;

  impl::WeightMatrix<Scalar, MemorySpace> W_ir, W_iz, W_in;        ///< (D, Din) input weights
  impl::WeightMatrix<Scalar, MemorySpace> W_hr, W_hz, W_hn;        ///< (D, D) recurrent weights
  impl::WeightVector<Scalar, MemorySpace> b_ir, b_iz, b_in, b_hn;  ///< (D) biases

  int state_dim() const { return static_cast<int>(W_hr.extent(0)); }
  int input_dim() const { return static_cast<int>(W_ir.extent(1)); }
  /// r, z, g = W_hn h + b_hn, n.
  int scratch_size() const { return 4 * state_dim(); }

  KOKKOS_FUNCTION void step(const Scalar* h, const Scalar* u, Scalar* f, Scalar* scratch) const {
    gates(h, u, f, scratch);
  }

  KOKKOS_FUNCTION void jacobian(const Scalar* h, const Scalar* u, Scalar* f, Scalar* jac,
                                Scalar* scratch) const {
    const int D = static_cast<int>(W_hr.extent(0));
    gates(h, u, f, scratch);
    const Scalar *r = scratch, *z = scratch + D, *g = scratch + 2 * D, *n = scratch + 3 * D;
    for (int i = 0; i < D; ++i) {
      const impl::GruJacobianRow<Scalar> c(r[i], z[i], g[i], n[i], h[i]);
      Scalar* row = jac + i * D;
      for (int j = 0; j < D; ++j) row[j] = c.entry(W_hn, W_hr, W_hz, i, j);
      row[i] += z[i];
    }
  }

  KOKKOS_FUNCTION void jacobian_diagonal(const Scalar* h, const Scalar* u, Scalar* f, Scalar* diag,
                                         Scalar* scratch) const {
    const int D = static_cast<int>(W_hr.extent(0));
    gates(h, u, f, scratch);
    const Scalar *r = scratch, *z = scratch + D, *g = scratch + 2 * D, *n = scratch + 3 * D;
    for (int i = 0; i < D; ++i)
      diag[i] =
          impl::GruJacobianRow<Scalar>(r[i], z[i], g[i], n[i], h[i]).entry(W_hn, W_hr, W_hz, i, i) +
          z[i];
  }

  /// The diagonal k x k blocks of the Jacobian (kelk_step_map.hpp): the rows of jacobian()
  /// restricted to each block, O(D k) after the gates.
  KOKKOS_FUNCTION void jacobian_blocks(const Scalar* h, const Scalar* u, int k, Scalar* f,
                                       Scalar* blocks, Scalar* scratch) const {
    const int D = static_cast<int>(W_hr.extent(0));
    gates(h, u, f, scratch);
    const Scalar *r = scratch, *z = scratch + D, *g = scratch + 2 * D, *n = scratch + 3 * D;
    for (int i = 0; i < D; ++i) {
      const impl::GruJacobianRow<Scalar> c(r[i], z[i], g[i], n[i], h[i]);
      const int first = i / k * k;
      Scalar* row = blocks + i * k;
      for (int e = 0; e < k; ++e) row[e] = c.entry(W_hn, W_hr, W_hz, i, first + e);
      row[i - first] += z[i];
    }
  }

  /// Vector-Jacobian product (kelk_step_map.hpp), by the chain rule backwards through the gates:
  ///   dz = lambda (h - n) z (1 - z),  dn = lambda (1 - z) (1 - n^2),  dr = dn g r (1 - r),
  ///   dg = dn r;  ds += lambda z + W_hr^T dr + W_hz^T dz + W_hn^T dg,
  ///   du += W_ir^T dr + W_iz^T dz + W_in^T dn; the weights get the outer products with u and h.
  /// Parameters: W_ir, W_iz, W_in (D, Din), W_hr, W_hz, W_hn (D, D), b_ir, b_iz, b_in, b_hn (D),
  /// the model file's datasets in that order.
  int vjp_scratch_size() const { return 4 * state_dim(); }
  std::vector<ParameterBlock> parameter_layout() const {
    const std::size_t D = state_dim(), Din = input_dim();
    return {{"W_ir", {D, Din}}, {"W_iz", {D, Din}}, {"W_in", {D, Din}}, {"W_hr", {D, D}},
            {"W_hz", {D, D}},   {"W_hn", {D, D}},   {"b_ir", {D}},      {"b_iz", {D}},
            {"b_in", {D}},      {"b_hn", {D}}};
  }
  KOKKOS_FUNCTION void vjp(const Scalar* h, const Scalar* u, const Scalar* lambda, Scalar* ds,
                           Scalar* du, Scalar* dtheta, Scalar* scratch) const {
    const int D = static_cast<int>(W_hr.extent(0));
    const int Din = static_cast<int>(W_ir.extent(1));
    Scalar* r = scratch;  // the gates, then in place their cotangents dr, dz, dg, dn
    Scalar* z = scratch + D;
    Scalar* g = scratch + 2 * D;
    Scalar* n = scratch + 3 * D;
    gate_values(h, u, scratch);
    for (int i = 0; i < D; ++i) {
      const impl::GruCotangents<Scalar> c(lambda[i], r[i], z[i], g[i], n[i], h[i]);
      ds[i] += c.dh;
      r[i] = c.dr;
      z[i] = c.dz;
      g[i] = c.dg;
      n[i] = c.dn;
    }
    impl::gemv_t(Scalar(1), W_hr.data(), D, D, r, Scalar(1), ds);
    impl::gemv_t(Scalar(1), W_hz.data(), D, D, z, Scalar(1), ds);
    impl::gemv_t(Scalar(1), W_hn.data(), D, D, g, Scalar(1), ds);
    if (du != nullptr) {
      impl::gemv_t(Scalar(1), W_ir.data(), D, Din, r, Scalar(1), du);
      impl::gemv_t(Scalar(1), W_iz.data(), D, Din, z, Scalar(1), du);
      impl::gemv_t(Scalar(1), W_in.data(), D, Din, n, Scalar(1), du);
    }
    if (dtheta != nullptr) {
      const int DI = D * Din, DD = D * D;
      Scalar* p = dtheta;
      impl::add_outer(r, u, p, D, Din);
      impl::add_outer(z, u, p + DI, D, Din);
      impl::add_outer(n, u, p + 2 * DI, D, Din);
      p += 3 * DI;
      impl::add_outer(r, h, p, D, D);
      impl::add_outer(z, h, p + DD, D, D);
      impl::add_outer(g, h, p + 2 * DD, D, D);
      p += 3 * DD;
      for (int i = 0; i < D; ++i) {
        p[i] += r[i];
        p[D + i] += z[i];
        p[2 * D + i] += n[i];
        p[3 * D + i] += g[i];
      }
    }
  }

  /// Projected form (kelk_step_map.hpp), P = 3D: ws = [W_hr; W_hz; W_hn] h and
  /// vu = [W_ir; W_iz; W_in] u; the stacked matrices are built on each call (once per solve).
  int projection_dim() const { return 3 * state_dim(); }
  Kokkos::View<const Scalar**, Kokkos::LayoutRight, MemorySpace> recurrent_weights() const {
    return impl::stack_rows("kelk::Gru::W_h", {W_hr, W_hz, W_hn});
  }
  Kokkos::View<const Scalar**, Kokkos::LayoutRight, MemorySpace> input_weights() const {
    return impl::stack_rows("kelk::Gru::W_i", {W_ir, W_iz, W_in});
  }
  KOKKOS_FUNCTION void finish_step(const Scalar* h, const Scalar* ws, const Scalar* vu,
                                   Scalar* KOKKOS_RESTRICT f) const {
    const int D = static_cast<int>(W_hr.extent(0));
    // the biases through local pointers, f restrict (the contract says nothing aliases): with
    // the Views' own pointers reloaded after every store, or more than 10 run-time alias checks,
    // GCC does not vectorise the loop
    const Scalar *bir = b_ir.data(), *biz = b_iz.data(), *bin = b_in.data(), *bhn = b_hn.data();
    for (int i = 0; i < D; ++i) {
      const Scalar r = math::sigmoid(bir[i] + vu[i] + ws[i]);
      const Scalar z = math::sigmoid(biz[i] + vu[D + i] + ws[D + i]);
      const Scalar n = math::tanh(bin[i] + vu[2 * D + i] + r * (bhn[i] + ws[2 * D + i]));
      f[i] = (Scalar(1) - z) * n + z * h[i];
    }
  }

  /// Bulk evaluation: the gates' pre-activations of all rows by six gemms (three recurrent,
  /// three input projections) into four n x D blocks of scratch, then the gates, f and the
  /// derivative terms row by row.
  int bulk_scratch_size() const { return 4 * state_dim(); }
  template <class ExecutionSpace>
  void bulk(const ExecutionSpace& space, const BulkRows<const Scalar, MemorySpace>& prev,
            const BulkRows<const Scalar, MemorySpace>& u, const BulkRows<Scalar, MemorySpace>& f,
            const BulkRows<Scalar, MemorySpace>& scratch, BulkOutput what, Scalar* out) const {
    using Rows = BulkRows<Scalar, MemorySpace>;
    const std::int64_t n = std::int64_t(f.extent(0)), D = state_dim();
    // blocks: r and z pre-activations, W_in u, and g = W_hn h (biases added below)
    const Rows pre_r(scratch.data(), n, D), pre_z(scratch.data() + n * D, n, D),
        in_n(scratch.data() + 2 * n * D, n, D), g_n(scratch.data() + 3 * n * D, n, D);
    {
      const impl::ProjectionBatch<ExecutionSpace> batch(space);
      impl::project_rows(space, prev, W_hr, Scalar(0), pre_r);
      impl::project_rows(space, u, W_ir, Scalar(1), pre_r);
      impl::project_rows(space, prev, W_hz, Scalar(0), pre_z);
      impl::project_rows(space, u, W_iz, Scalar(1), pre_z);
      impl::project_rows(space, prev, W_hn, Scalar(0), g_n);
      impl::project_rows(space, u, W_in, Scalar(0), in_n);
    }
    const Gru self = *this;
    Kokkos::parallel_for(
        "kelk::Gru::bulk",
        Kokkos::RangePolicy<ExecutionSpace, Kokkos::IndexType<std::int64_t>>(space, 0, n),
        KOKKOS_LAMBDA(std::int64_t row) {
          // the gates and f first (vectorised, in place in the scratch blocks), then the
          // derivative terms from the stored gates: no branch inside the loops
          Scalar *r = &pre_r(row, 0), *z = &pre_z(row, 0), *nv = &in_n(row, 0), *g = &g_n(row, 0);
          const Scalar* h = &prev(row, 0);
          impl::gru_gates_row(r, z, nv, g, h, &f(row, 0), self.b_ir.data(), self.b_iz.data(),
                              self.b_in.data(), self.b_hn.data(), int(D));
          if (what == BulkOutput::diagonal) {
            for (int i = 0; i < D; ++i)
              out[row * D + i] = impl::GruJacobianRow<Scalar>(r[i], z[i], g[i], nv[i], h[i])
                                     .entry(self.W_hn, self.W_hr, self.W_hz, i, i) +
                                 z[i];
          } else if (what == BulkOutput::jacobian) {
            for (int i = 0; i < D; ++i) {
              const impl::GruJacobianRow<Scalar> c(r[i], z[i], g[i], nv[i], h[i]);
              Scalar* jrow = out + (row * D + i) * D;
              c.write_row(&self.W_hn(i, 0), &self.W_hr(i, 0), &self.W_hz(i, 0), jrow, int(D));
              jrow[i] += z[i];
            }
          }
        });
  }

  /// Bulk vector-Jacobian product (kelk_step_map.hpp) of the gradient pass: the gates of all
  /// rows by bulk(), their pre-activation cotangents dr, dz, dg, dn in place (as vjp() forms
  /// them), then du = dr W_ir + dz W_iz + dn W_in and the weights' shares (dr^T u, ...,
  /// dg^T prev) by gemms, the biases' by column sums.
  template <class ExecutionSpace>
  void bulk_vjp(const ExecutionSpace& space, const BulkRows<const Scalar, MemorySpace>& prev,
                const BulkRows<const Scalar, MemorySpace>& u,
                const BulkRows<const Scalar, MemorySpace>& lambda,
                const BulkRows<Scalar, MemorySpace>& f, const BulkRows<Scalar, MemorySpace>& scratch,
                const BulkRows<Scalar, MemorySpace>& du, Scalar* dtheta) const {
    using Rows = BulkRows<Scalar, MemorySpace>;
    const std::int64_t n = std::int64_t(f.extent(0)), D = state_dim(), Din = input_dim();
    bulk(space, prev, u, f, scratch, BulkOutput::value, nullptr);
    // the scratch blocks now hold the gates r, z, n and g = W_hn h + b_hn
    const Rows r(scratch.data(), n, D), z(scratch.data() + n * D, n, D),
        nb(scratch.data() + 2 * n * D, n, D), g(scratch.data() + 3 * n * D, n, D);
    Kokkos::parallel_for(
        "kelk::Gru::bulk_vjp",
        Kokkos::RangePolicy<ExecutionSpace, Kokkos::IndexType<std::int64_t>>(space, 0, n),
        KOKKOS_LAMBDA(std::int64_t row) {
          for (int i = 0; i < D; ++i) {
            const impl::GruCotangents<Scalar> c(lambda(row, i), r(row, i), z(row, i), g(row, i),
                                                nb(row, i), prev(row, i));
            r(row, i) = c.dr;
            z(row, i) = c.dz;
            g(row, i) = c.dg;
            nb(row, i) = c.dn;
          }
        });
    const impl::ProjectionBatch<ExecutionSpace> batch(space);
    if (Din > 0 && du.size() > 0) {
      impl::blas_gemm(space, "N", "N", Scalar(1), r, W_ir, Scalar(0), du);
      impl::blas_gemm(space, "N", "N", Scalar(1), z, W_iz, Scalar(1), du);
      impl::blas_gemm(space, "N", "N", Scalar(1), nb, W_in, Scalar(1), du);
    }
    if (dtheta == nullptr) return;
    const std::int64_t DI = D * Din, DD = D * D;
    impl::add_transposed_product(space, r, u, dtheta);
    impl::add_transposed_product(space, z, u, dtheta + DI);
    impl::add_transposed_product(space, nb, u, dtheta + 2 * DI);
    Scalar* h = dtheta + 3 * DI;
    impl::add_transposed_product(space, r, prev, h);
    impl::add_transposed_product(space, z, prev, h + DD);
    impl::add_transposed_product(space, g, prev, h + 2 * DD);
    Scalar* b = h + 3 * DD;
    impl::add_column_sums(space, r, b);
    impl::add_column_sums(space, z, b + D);
    impl::add_column_sums(space, nb, b + 2 * D);
    impl::add_column_sums(space, g, b + 3 * D);
  }

 private:
  /// f = h', and scratch = [r, z, g, n] for the Jacobians.
  KOKKOS_FUNCTION void gates(const Scalar* h, const Scalar* u, Scalar* f, Scalar* scratch) const {
    const int D = static_cast<int>(W_hr.extent(0));
    gate_values(h, u, scratch);
    const Scalar *z = scratch + D, *n = scratch + 3 * D;
    for (int i = 0; i < D; ++i) f[i] = (Scalar(1) - z[i]) * n[i] + z[i] * h[i];
  }

  /// scratch = [r, z, g, n].
  KOKKOS_FUNCTION void gate_values(const Scalar* h, const Scalar* u, Scalar* scratch) const {
    const int D = static_cast<int>(W_hr.extent(0));
    const int Din = static_cast<int>(W_ir.extent(1));
    Scalar *r = scratch, *z = scratch + D, *g = scratch + 2 * D, *n = scratch + 3 * D;
    for (int i = 0; i < D; ++i) {
      r[i] = b_ir(i);
      z[i] = b_iz(i);
      g[i] = b_hn(i);
      n[i] = b_in(i);
    }
    impl::gemv(Scalar(1), W_ir.data(), D, Din, u, Scalar(1), r);
    impl::gemv(Scalar(1), W_hr.data(), D, D, h, Scalar(1), r);
    impl::gemv(Scalar(1), W_iz.data(), D, Din, u, Scalar(1), z);
    impl::gemv(Scalar(1), W_hz.data(), D, D, h, Scalar(1), z);
    impl::gemv(Scalar(1), W_hn.data(), D, D, h, Scalar(1), g);
    impl::gemv(Scalar(1), W_in.data(), D, Din, u, Scalar(1), n);
    for (int i = 0; i < D; ++i) {
      r[i] = math::sigmoid(r[i]);
      z[i] = math::sigmoid(z[i]);
      n[i] = math::tanh(n[i] + r[i] * g[i]);
    }
  }
};

/// A GRU with random weights. Each recurrent matrix (W_hr, W_hz, W_hn) has Frobenius norm
/// `recurrent_norm`; with a value well below 1 (e.g. 0.5) the cell is contractive, because
/// h' = (1-z) n + z h mixes a contraction of h into a map whose h-dependence is damped by it.
/// Input weights are uniform with scale 1/sqrt(Din), biases uniform in [-0.1, 0.1].
template <class Scalar, class MemorySpace = Kokkos::DefaultExecutionSpace::memory_space>
Gru<Scalar, MemorySpace> make_random_gru(int D, int Din, double recurrent_norm,
                                         std::uint64_t seed) {
  impl::check_dims("kelk::make_random_gru", D, Din);
  std::mt19937_64 rng(seed);
  Gru<Scalar, MemorySpace> m;
  m.W_ir = impl::random_matrix<Scalar, MemorySpace>("kelk::Gru::W_ir", D, Din, -1.0, rng);
  m.W_iz = impl::random_matrix<Scalar, MemorySpace>("kelk::Gru::W_iz", D, Din, -1.0, rng);
  m.W_in = impl::random_matrix<Scalar, MemorySpace>("kelk::Gru::W_in", D, Din, -1.0, rng);
  m.W_hr = impl::random_matrix<Scalar, MemorySpace>("kelk::Gru::W_hr", D, D, recurrent_norm, rng);
  m.W_hz = impl::random_matrix<Scalar, MemorySpace>("kelk::Gru::W_hz", D, D, recurrent_norm, rng);
  m.W_hn = impl::random_matrix<Scalar, MemorySpace>("kelk::Gru::W_hn", D, D, recurrent_norm, rng);
  m.b_ir = impl::random_vector<Scalar, MemorySpace>("kelk::Gru::b_ir", D, 0.1, rng);
  m.b_iz = impl::random_vector<Scalar, MemorySpace>("kelk::Gru::b_iz", D, 0.1, rng);
  m.b_in = impl::random_vector<Scalar, MemorySpace>("kelk::Gru::b_in", D, 0.1, rng);
  m.b_hn = impl::random_vector<Scalar, MemorySpace>("kelk::Gru::b_hn", D, 0.1, rng);
  return m;
}

/// A GRU initialised as torch.nn.GRU initialises one: every weight and bias uniform in
/// [-1/sqrt(D), 1/sqrt(D)], with the recurrent matrices then multiplied by `recurrent_gain`
/// (1: PyTorch's own; larger values make the cell remember longer, and above about 3 it stops
/// forgetting its initial state).
template <class Scalar, class MemorySpace = Kokkos::DefaultExecutionSpace::memory_space>
Gru<Scalar, MemorySpace> make_torch_gru(int D, int Din, double recurrent_gain, std::uint64_t seed) {
  impl::check_dims("kelk::make_torch_gru", D, Din);
  std::mt19937_64 rng(seed);
  const double k = 1.0 / std::sqrt(double(D));
  const auto matrix = [&](const char* label, int cols, double gain) {
    impl::WeightMatrix<Scalar, MemorySpace> m(
        Kokkos::view_alloc(Kokkos::WithoutInitializing, std::string(label)), D, cols);
    auto h = Kokkos::create_mirror_view(m);
    std::uniform_real_distribution<double> uni(-k, k);
    for (int i = 0; i < D; ++i)
      for (int j = 0; j < cols; ++j) h(i, j) = static_cast<Scalar>(gain * uni(rng));
    Kokkos::deep_copy(m, h);
    return m;
  };
  Gru<Scalar, MemorySpace> m;
  m.W_ir = matrix("kelk::Gru::W_ir", Din, 1.0);
  m.W_iz = matrix("kelk::Gru::W_iz", Din, 1.0);
  m.W_in = matrix("kelk::Gru::W_in", Din, 1.0);
  m.W_hr = matrix("kelk::Gru::W_hr", D, recurrent_gain);
  m.W_hz = matrix("kelk::Gru::W_hz", D, recurrent_gain);
  m.W_hn = matrix("kelk::Gru::W_hn", D, recurrent_gain);
  m.b_ir = impl::random_vector<Scalar, MemorySpace>("kelk::Gru::b_ir", D, k, rng);
  m.b_iz = impl::random_vector<Scalar, MemorySpace>("kelk::Gru::b_iz", D, k, rng);
  m.b_in = impl::random_vector<Scalar, MemorySpace>("kelk::Gru::b_in", D, k, rng);
  m.b_hn = impl::random_vector<Scalar, MemorySpace>("kelk::Gru::b_hn", D, k, rng);
  return m;
}

}  // namespace kelk
