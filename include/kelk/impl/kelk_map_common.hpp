// What the built-in step maps share: weight View types, the projections of their bulk
// (matrix-matrix) evaluation, small restrict-pointer row kernels, and the host-side helpers of
// their random constructors. Each map is in its own header (kelk_map_*.hpp).
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

// --- host-side constructors ----------------------------------------------------------------

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
}  // namespace kelk
