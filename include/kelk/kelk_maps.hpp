// Built-in step maps (Elman RNN, GRU, Lorenz-96 with RK4) with closed-form Jacobians and
// Jacobian diagonals, and host-side constructors with random weights for demos and tests.
#pragma once

#include <kelk/impl/kelk_compat.hpp>
#include <kelk/impl/kelk_dense.hpp>
#include <kelk/kelk_math.hpp>
#include <kelk/kelk_step_map.hpp>

#include <Kokkos_Core.hpp>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace kelk {

namespace impl {
template <class T, class MemorySpace>
using WeightMatrix = Kokkos::View<T**, Kokkos::LayoutRight, MemorySpace>;
template <class T, class MemorySpace>
using WeightVector = Kokkos::View<T*, Kokkos::LayoutRight, MemorySpace>;

/// C = A W^T + beta C for rows A (n x k) and a weight matrix W (m x k): the projection of
/// every row at once, enqueued on `space` (Kokkos Kernels 4; on 3.x on the default instance,
/// which callers order with a ProjectionBatch). Nothing to add when k = 0 (then C = beta C).
template <class ExecutionSpace, class A, class W, class C>
void project_rows(const ExecutionSpace& space, const A& a, const W& w,
                  typename C::non_const_value_type beta, const C& c) {
  using Scalar = typename C::non_const_value_type;
  if (a.extent(1) == 0) {
    if (beta == Scalar(0)) Kokkos::deep_copy(space, c, Scalar(0));
    return;
  }
  blas_gemm(space, "N", "T", Scalar(1), a, w, beta, c);
}

/// Orders a batch of project_rows calls between the work enqueued on `space` before and after
/// it where KokkosBlas::gemm has no execution-space argument (Kokkos Kernels 3): fences
/// `space` on construction and the default instance on destruction. Nothing with Kokkos
/// Kernels 4, whose gemm runs on `space` itself.
template <class ExecutionSpace>
struct ProjectionBatch {
  explicit ProjectionBatch(const ExecutionSpace& space) {
    if constexpr (!blas_takes_instance) space.fence();
  }
  ~ProjectionBatch() {
    if constexpr (!blas_takes_instance) ExecutionSpace().fence();
  }
  ProjectionBatch(const ProjectionBatch&) = delete;
  ProjectionBatch& operator=(const ProjectionBatch&) = delete;
};

/// The matrices stacked row-wise into one (sum of rows) x cols matrix, in their memory space.
template <class Matrix>
Kokkos::View<typename Matrix::non_const_value_type**, Kokkos::LayoutRight,
             typename Matrix::memory_space>
stack_rows(const std::string& label, std::initializer_list<Matrix> parts) {
  std::size_t rows = 0;
  const std::size_t cols = parts.size() ? parts.begin()->extent(1) : 0;
  for (const auto& m : parts) rows += m.extent(0);
  Kokkos::View<typename Matrix::non_const_value_type**, Kokkos::LayoutRight,
               typename Matrix::memory_space>
      out(Kokkos::view_alloc(Kokkos::WithoutInitializing, label), rows, cols);
  std::size_t at = 0;
  for (const auto& m : parts) {
    Kokkos::deep_copy(Kokkos::subview(out, std::make_pair(at, at + m.extent(0)), Kokkos::ALL),
                      m);
    at += m.extent(0);
  }
  return out;
}

/// f = tanh(f + c), in place (restrict: lets the compiler vectorise without alias checks).
template <class T>
KOKKOS_FORCEINLINE_FUNCTION void add_bias_tanh(T* KOKKOS_RESTRICT f, const T* KOKKOS_RESTRICT c, int D) {
  for (int i = 0; i < D; ++i) f[i] = math::tanh(f[i] + c[i]);
}

/// row = g w (restrict: vectorises without alias checks).
template <class T>
KOKKOS_FORCEINLINE_FUNCTION void scale_row(T g, const T* KOKKOS_RESTRICT w, T* KOKKOS_RESTRICT row,
                                           int D) {
  for (int j = 0; j < D; ++j) row[j] = g * w[j];
}

/// M += x y^T for the m x n row-major M (restrict: vectorises without alias checks).
template <class T>
KOKKOS_FORCEINLINE_FUNCTION void add_outer(const T* KOKKOS_RESTRICT x, const T* KOKKOS_RESTRICT y,
                                           T* KOKKOS_RESTRICT M, int m, int n) {
  for (int i = 0; i < m; ++i) {
    const T xi = x[i];
    T* row = M + i * n;
    for (int j = 0; j < n; ++j) row[j] += xi * y[j];
  }
}

/// M (m x k, row-major at `at`) += a^T b for rows a (n x m) and b (n x k): a parameter block's
/// share of a tile of steps, one gemm (nothing when a dimension is 0).
template <class ExecutionSpace, class Rows, class ConstRows>
void add_transposed_product(const ExecutionSpace& space, const Rows& a, const ConstRows& b,
                            typename Rows::non_const_value_type* at) {
  using Scalar = typename Rows::non_const_value_type;
  if (a.extent(0) == 0 || a.extent(1) == 0 || b.extent(1) == 0) return;
  const Rows m(at, a.extent(1), b.extent(1));
  blas_gemm(space, "T", "N", Scalar(1), a, b, Scalar(1), m);
}

/// v (m) += the column sums of the rows a (n x m) (a bias's share of a tile of steps).
template <class ExecutionSpace, class Rows>
void add_column_sums(const ExecutionSpace& space, const Rows& a,
                     typename Rows::non_const_value_type* v) {
  using Scalar = typename Rows::non_const_value_type;
  const std::int64_t n = std::int64_t(a.extent(0));
  Kokkos::parallel_for(
      "kelk::bulk_vjp::column_sums",
      Kokkos::RangePolicy<ExecutionSpace>(space, 0, int(a.extent(1))), KOKKOS_LAMBDA(int j) {
        Scalar sum = Scalar(0);
        for (std::int64_t r = 0; r < n; ++r) sum += a(r, j);
        v[j] += sum;
      });
}

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

/// Elman RNN cell: h' = tanh(W h + U u + c).
/// Jacobian: diag(1 - h'^2) W; its diagonal (1 - h'_i^2) W_ii costs O(D) after f.
template <class Scalar, class MemorySpace = Kokkos::DefaultExecutionSpace::memory_space>
struct Elman {
  using value_type = Scalar;
  using memory_space = MemorySpace;

  impl::WeightMatrix<Scalar, MemorySpace> W;  ///< (D, D) recurrent weights
  impl::WeightMatrix<Scalar, MemorySpace> U;  ///< (D, Din) input weights
  impl::WeightVector<Scalar, MemorySpace> c;  ///< (D) bias

  int state_dim() const { return static_cast<int>(W.extent(0)); }
  int input_dim() const { return static_cast<int>(U.extent(1)); }
  int scratch_size() const { return 0; }

  KOKKOS_FUNCTION void step(const Scalar* s, const Scalar* u, Scalar* f, Scalar*) const {
    const int D = static_cast<int>(W.extent(0));
    pre_activation(s, u, f);
    for (int i = 0; i < D; ++i) f[i] = math::tanh(f[i]);
  }

  KOKKOS_FUNCTION void jacobian(const Scalar* s, const Scalar* u, Scalar* f, Scalar* jac,
                                Scalar* scratch) const {
    const int D = static_cast<int>(W.extent(0));
    step(s, u, f, scratch);
    for (int i = 0; i < D; ++i) {
      const Scalar g = Scalar(1) - f[i] * f[i];
      for (int j = 0; j < D; ++j) jac[i * D + j] = g * W(i, j);
    }
  }

  KOKKOS_FUNCTION void jacobian_diagonal(const Scalar* s, const Scalar* u, Scalar* f, Scalar* diag,
                                         Scalar* scratch) const {
    const int D = static_cast<int>(W.extent(0));
    step(s, u, f, scratch);
    for (int i = 0; i < D; ++i) diag[i] = (Scalar(1) - f[i] * f[i]) * W(i, i);
  }

  /// Vector-Jacobian product (kelk_step_map.hpp): with a = lambda * (1 - f^2),
  ///   ds += W^T a,  du += U^T a,  dW += a s^T,  dU += a u^T,  dc += a.
  /// Parameters: W (D, D), U (D, Din), c (D), the model file's datasets in that order.
  int vjp_scratch_size() const { return state_dim(); }
  std::vector<ParameterBlock> parameter_layout() const {
    const std::size_t D = state_dim(), Din = input_dim();
    return {{"W", {D, D}}, {"U", {D, Din}}, {"c", {D}}};
  }
  KOKKOS_FUNCTION void vjp(const Scalar* s, const Scalar* u, const Scalar* lambda, Scalar* ds,
                           Scalar* du, Scalar* dtheta, Scalar* scratch) const {
    const int D = static_cast<int>(W.extent(0));
    const int Din = static_cast<int>(U.extent(1));
    Scalar* a = scratch;
    step(s, u, a, nullptr);
    for (int i = 0; i < D; ++i) a[i] = lambda[i] * (Scalar(1) - a[i] * a[i]);
    impl::gemv_t(Scalar(1), W.data(), D, D, a, Scalar(1), ds);
    if (du != nullptr) impl::gemv_t(Scalar(1), U.data(), D, Din, a, Scalar(1), du);
    if (dtheta != nullptr) {
      Scalar* dW = dtheta;
      Scalar* dU = dW + D * D;
      Scalar* dc = dU + D * Din;
      impl::add_outer(a, s, dW, D, D);
      impl::add_outer(a, u, dU, D, Din);
      for (int i = 0; i < D; ++i) dc[i] += a[i];
    }
  }

  /// Projected form (kelk_step_map.hpp): f = tanh(W s + U u + c), P = D.
  int projection_dim() const { return state_dim(); }
  Kokkos::View<const Scalar**, Kokkos::LayoutRight, MemorySpace> recurrent_weights() const {
    return W;
  }
  Kokkos::View<const Scalar**, Kokkos::LayoutRight, MemorySpace> input_weights() const {
    return U;
  }
  KOKKOS_FUNCTION void finish_step(const Scalar*, const Scalar* ws, const Scalar* vu,
                                   Scalar* KOKKOS_RESTRICT f) const {
    const int D = static_cast<int>(W.extent(0));
    const Scalar* bias = c.data();  // a local pointer: see Gru::finish_step
    for (int i = 0; i < D; ++i) f[i] = math::tanh(bias[i] + vu[i] + ws[i]);
  }

  /// Bulk evaluation: f = tanh(prev W^T + u U^T + c) by two gemms over the rows, then the
  /// derivative terms row by row.
  int bulk_scratch_size() const { return 0; }
  template <class ExecutionSpace>
  void bulk(const ExecutionSpace& space, const BulkRows<const Scalar, MemorySpace>& prev,
            const BulkRows<const Scalar, MemorySpace>& u, const BulkRows<Scalar, MemorySpace>& f,
            const BulkRows<Scalar, MemorySpace>&, BulkOutput what, Scalar* out) const {
    const std::int64_t n = std::int64_t(f.extent(0));
    const int D = state_dim();
    {
      const impl::ProjectionBatch<ExecutionSpace> batch(space);
      impl::project_rows(space, prev, W, Scalar(0), f);
      impl::project_rows(space, u, U, Scalar(1), f);
    }
    const Elman self = *this;
    Kokkos::parallel_for(
        "kelk::Elman::bulk",
        Kokkos::RangePolicy<ExecutionSpace, Kokkos::IndexType<std::int64_t>>(space, 0, n),
        KOKKOS_LAMBDA(std::int64_t r) {
          // f first, then the derivative terms: no branch inside the vectorised loops
          Scalar* fr = &f(r, 0);
          impl::add_bias_tanh(fr, self.c.data(), D);
          if (what == BulkOutput::diagonal) {
            for (int i = 0; i < D; ++i) out[r * D + i] = (Scalar(1) - fr[i] * fr[i]) * self.W(i, i);
          } else if (what == BulkOutput::jacobian) {
            for (int i = 0; i < D; ++i) {
              const Scalar g = Scalar(1) - fr[i] * fr[i];
              impl::scale_row(g, &self.W(i, 0), out + (r * D + i) * D, D);
            }
          }
        });
  }

  /// Bulk vector-Jacobian product (kelk_step_map.hpp) of the gradient pass: f of all rows by
  /// bulk(), a = lambda (1 - f^2) in place of f, then du = a U and the weights' shares
  /// a^T prev, a^T u by gemms.
  template <class ExecutionSpace>
  void bulk_vjp(const ExecutionSpace& space, const BulkRows<const Scalar, MemorySpace>& prev,
                const BulkRows<const Scalar, MemorySpace>& u,
                const BulkRows<const Scalar, MemorySpace>& lambda,
                const BulkRows<Scalar, MemorySpace>& f, const BulkRows<Scalar, MemorySpace>& scratch,
                const BulkRows<Scalar, MemorySpace>& du, Scalar* dtheta) const {
    const std::int64_t n = std::int64_t(f.extent(0));
    const int D = state_dim(), Din = input_dim();
    bulk(space, prev, u, f, scratch, BulkOutput::value, nullptr);
    Kokkos::parallel_for(
        "kelk::Elman::bulk_vjp",
        Kokkos::RangePolicy<ExecutionSpace, Kokkos::IndexType<std::int64_t>>(space, 0, n),
        KOKKOS_LAMBDA(std::int64_t r) {
          for (int i = 0; i < D; ++i) f(r, i) = lambda(r, i) * (Scalar(1) - f(r, i) * f(r, i));
        });
    const impl::ProjectionBatch<ExecutionSpace> batch(space);
    if (Din > 0 && du.size() > 0) impl::blas_gemm(space, "N", "N", Scalar(1), f, U, Scalar(0), du);
    if (dtheta == nullptr) return;
    impl::add_transposed_product(space, f, prev, dtheta);
    impl::add_transposed_product(space, f, u, dtheta + D * D);
    impl::add_column_sums(space, f, dtheta + D * D + D * Din);
  }

 private:
  KOKKOS_FUNCTION void pre_activation(const Scalar* s, const Scalar* u, Scalar* a) const {
    const int D = static_cast<int>(W.extent(0));
    const int Din = static_cast<int>(U.extent(1));
    for (int i = 0; i < D; ++i) a[i] = c(i);
    impl::gemv(Scalar(1), U.data(), D, Din, u, Scalar(1), a);
    impl::gemv(Scalar(1), W.data(), D, D, s, Scalar(1), a);
  }
};

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

// --- host-side constructors ----------------------------------------------------------------

namespace impl {
/// Fills a (rows, cols) weight View with uniform(-1, 1) values from `rng`, scaled so that the
/// matrix has Frobenius norm `norm` (norm < 0: scale entries by 1/sqrt(cols) instead).
template <class T, class MemorySpace>
WeightMatrix<T, MemorySpace> random_matrix(const std::string& label, int rows, int cols,
                                           double norm, std::mt19937_64& rng) {
  WeightMatrix<T, MemorySpace> m(Kokkos::view_alloc(Kokkos::WithoutInitializing, label), rows,
                                 cols);
  auto h = Kokkos::create_mirror_view(m);
  std::uniform_real_distribution<double> uni(-1.0, 1.0);
  std::vector<double> v(static_cast<std::size_t>(rows) * cols);
  double sq = 0;
  for (auto& x : v) {
    x = uni(rng);
    sq += x * x;
  }
  const double scale = norm >= 0 ? (sq > 0 ? norm / std::sqrt(sq) : 0.0)
                                 : 1.0 / std::sqrt(static_cast<double>(cols > 0 ? cols : 1));
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) h(i, j) = static_cast<T>(scale * v[std::size_t(i) * cols + j]);
  Kokkos::deep_copy(m, h);
  return m;
}

template <class T, class MemorySpace>
WeightVector<T, MemorySpace> random_vector(const std::string& label, int n, double scale,
                                           std::mt19937_64& rng) {
  WeightVector<T, MemorySpace> v(Kokkos::view_alloc(Kokkos::WithoutInitializing, label), n);
  auto h = Kokkos::create_mirror_view(v);
  std::uniform_real_distribution<double> uni(-scale, scale);
  for (int i = 0; i < n; ++i) h(i) = static_cast<T>(uni(rng));
  Kokkos::deep_copy(v, h);
  return v;
}

inline void check_dims(const char* who, int D, int Din) {
  if (D < 1)
    throw std::invalid_argument(std::string(who) + ": state dimension D must be >= 1, got " +
                                std::to_string(D));
  if (Din < 0)
    throw std::invalid_argument(std::string(who) + ": input dimension Din must be >= 0, got " +
                                std::to_string(Din));
}
}  // namespace impl

/// An Elman RNN with random weights. The recurrent matrix W has Frobenius norm
/// `recurrent_norm` (an upper bound of its spectral norm): below 1 the map is a contraction,
/// above 1 it can be expansive. Input weights are uniform with scale 1/sqrt(Din).
template <class Scalar, class MemorySpace = Kokkos::DefaultExecutionSpace::memory_space>
Elman<Scalar, MemorySpace> make_random_elman(int D, int Din, double recurrent_norm,
                                             std::uint64_t seed) {
  impl::check_dims("kelk::make_random_elman", D, Din);
  std::mt19937_64 rng(seed);
  Elman<Scalar, MemorySpace> m;
  m.W = impl::random_matrix<Scalar, MemorySpace>("kelk::Elman::W", D, D, recurrent_norm, rng);
  m.U = impl::random_matrix<Scalar, MemorySpace>("kelk::Elman::U", D, Din, -1.0, rng);
  m.c = impl::random_vector<Scalar, MemorySpace>("kelk::Elman::c", D, 0.1, rng);
  return m;
}

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
