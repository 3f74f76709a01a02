// The built-in Elman RNN step map, h' = tanh(W h + U u + c), with its closed-form Jacobian,
// diagonal, vector-Jacobian product, bulk evaluation and a random constructor.
#pragma once

#include <kelk/impl/kelk_map_common.hpp>

namespace kelk {

namespace impl {
/// f = tanh(f + c), in place (restrict: lets the compiler vectorise without alias checks).
template <class T>
KOKKOS_FORCEINLINE_FUNCTION void add_bias_tanh(T* KOKKOS_RESTRICT f, const T* KOKKOS_RESTRICT c, int D) {
  for (int i = 0; i < D; ++i) f[i] = math::tanh(f[i] + c[i]);
}
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

  /// The diagonal k x k blocks of the Jacobian (kelk_step_map.hpp), (1 - f_i^2) W_ij within
  /// each block.
  KOKKOS_FUNCTION void jacobian_blocks(const Scalar* s, const Scalar* u, int k, Scalar* f,
                                       Scalar* blocks, Scalar* scratch) const {
    const int D = static_cast<int>(W.extent(0));
    step(s, u, f, scratch);
    for (int i = 0; i < D; ++i) {
      const Scalar g = Scalar(1) - f[i] * f[i];
      const int first = i / k * k;
      for (int c = 0; c < k; ++c) blocks[i * k + c] = g * W(i, first + c);
    }
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

}  // namespace kelk
