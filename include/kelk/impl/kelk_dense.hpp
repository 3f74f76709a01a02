// Small dense algebra inside kernels: unmanaged row-major Views over raw pointers, and thin
// wrappers over Kokkos Kernels' batched serial routines (no allocation, device-callable).
#pragma once

#include <kelk/impl/kelk_compat.hpp>

#include <KokkosKernels_config.h>
#include <KokkosBatched_Gemm_Decl.hpp>
#include <KokkosBatched_Gemm_Serial_Impl.hpp>
#include <KokkosBatched_LU_Decl.hpp>
#include <KokkosBatched_LU_Serial_Impl.hpp>
#include <KokkosBatched_SolveLU_Decl.hpp>
#include <Kokkos_Core.hpp>

#include <type_traits>

#if defined(KOKKOSKERNELS_ENABLE_TPL_BLAS)
#include <KokkosBlas_Host_tpl.hpp>
#define KELK_IMPL_HOST_BLAS 1
#endif

namespace kelk::impl {

using Unmanaged = Kokkos::MemoryTraits<Kokkos::Unmanaged>;

/// Row-major matrix / vector views over raw pointers. The memory space is left at the default of
/// the enclosing kernel; pointers always come from Views of the solve's memory space.
template <class T>
using MatrixRef = Kokkos::View<T**, Kokkos::LayoutRight, Kokkos::AnonymousSpace, Unmanaged>;
template <class T>
using VectorRef = Kokkos::View<T*, Kokkos::LayoutRight, Kokkos::AnonymousSpace, Unmanaged>;

template <class T>
KOKKOS_INLINE_FUNCTION MatrixRef<T> matrix(T* p, int rows, int cols) {
  return MatrixRef<T>(p, rows, cols);
}
template <class T>
KOKKOS_INLINE_FUNCTION VectorRef<T> vector(T* p, int n) {
  return VectorRef<T>(p, n);
}

/// y = alpha * A x + beta * y, A is m x n row-major.
template <class T>
KOKKOS_INLINE_FUNCTION void gemv(T alpha, const T* A, int m, int n, const T* x, T beta, T* y) {
  if (m == 0) return;
  if (n == 0) {
    for (int i = 0; i < m; ++i) y[i] *= beta;
    return;
  }
  SerialGemv<Trans::NoTranspose>::invoke(alpha, matrix(A, m, n), vector(x, n), beta, vector(y, m));
}

/// y = alpha * A^T x + beta * y, A is n x m row-major (so A^T is m x n).
template <class T>
KOKKOS_INLINE_FUNCTION void gemv_t(T alpha, const T* A, int n, int m, const T* x, T beta, T* y) {
  SerialGemv<Trans::Transpose>::invoke(alpha, matrix(A, n, m), vector(x, n), beta, vector(y, m));
}

/// From this size on, gemm() on a host backend calls the BLAS Kokkos Kernels was built with
/// (when it was): OpenBLAS reaches ~50 GFLOP/s on one core for n = 32..64 where the batched
/// serial kernel reaches ~7; below it the call overhead wins.
inline constexpr int host_blas_min_dim = 16;

template <class Tag>
constexpr char blas_trans() {
  return std::is_same<Tag, Trans::Transpose>::value ? 'T' : 'N';
}

/// C = alpha * op(A) op(B) + beta * C, all n x n row-major; op chosen by Trans tags. C must not
/// alias A or B.
template <class TransA = Trans::NoTranspose, class TransB = Trans::NoTranspose, class T>
KOKKOS_INLINE_FUNCTION void gemm(T alpha, const T* A, const T* B, T beta, T* C, int n) {
#if defined(KELK_IMPL_HOST_BLAS)
  // Host code only (device passes compile the branch out). Row-major C = op(A) op(B) is
  // column-major C^T = op(B)^T op(A)^T: the same op flags with the operands swapped.
  if (n >= host_blas_min_dim) {
    KELK_IMPL_IF_ON_HOST(
        (KokkosBlas::Impl::HostBlas<T>::gemm(blas_trans<TransB>(), blas_trans<TransA>(), n, n, n,
                                             alpha, B, n, A, n, beta, C, n);
         return;))
  }
#endif
  KokkosBatched::SerialGemm<TransA, TransB, KokkosBatched::Algo::Gemm::Blocked>::invoke(
      alpha, matrix(A, n, n), matrix(B, n, n), beta, matrix(C, n, n));
}

/// In-place LU factorisation without pivoting of the n x n row-major A. kelk factors only
/// matrices I + C J and F P F^T + I with C, J, P symmetric positive semi-definite: their
/// eigenvalues are real and >= 1.
template <class T>
KOKKOS_INLINE_FUNCTION void lu(T* A, int n) {
  KokkosBatched::SerialLU<KokkosBatched::Algo::LU::Unblocked>::invoke(matrix(A, n, n));
}

/// B <- op(A)^{-1} B for the LU factors of A (from lu()) and the n x nrhs row-major B.
template <class TransA = Trans::NoTranspose, class T>
KOKKOS_INLINE_FUNCTION void lu_solve(const T* LU, T* B, int n, int nrhs) {
  KokkosBatched::SerialSolveLU<TransA, KokkosBatched::Algo::SolveLU::Unblocked>::invoke(
      matrix(LU, n, n), matrix(B, n, nrhs));
}

template <class T>
KOKKOS_INLINE_FUNCTION void copy(const T* src, T* dst, int n) {
  for (int i = 0; i < n; ++i) dst[i] = src[i];
}

/// A <- alpha * I (n x n).
template <class T>
KOKKOS_INLINE_FUNCTION void set_identity(T* A, int n, T alpha = T(1)) {
  for (int i = 0; i < n * n; ++i) A[i] = T(0);
  for (int i = 0; i < n; ++i) A[i * n + i] = alpha;
}

/// A <- (A + A^T) / 2: removes the round-off asymmetry of covariance-like products.
template <class T>
KOKKOS_INLINE_FUNCTION void symmetrize(T* A, int n) {
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) {
      const T v = T(0.5) * (A[i * n + j] + A[j * n + i]);
      A[i * n + j] = v;
      A[j * n + i] = v;
    }
}

}  // namespace kelk::impl
