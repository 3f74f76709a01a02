// Small dense algebra inside kernels: unmanaged row-major Views over raw pointers, and thin
// wrappers over Kokkos Kernels' batched serial routines (no allocation, device-callable).
#pragma once

#include <KokkosBatched_Gemm_Decl.hpp>
#include <KokkosBatched_Gemm_Serial_Impl.hpp>
#include <KokkosBatched_Gemv_Decl.hpp>
#include <KokkosBatched_Gemv_Serial_Impl.hpp>
#include <Kokkos_Core.hpp>

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
  KokkosBatched::SerialGemv<KokkosBatched::Trans::NoTranspose,
                            KokkosBatched::Algo::Gemv::Unblocked>::invoke(alpha, matrix(A, m, n),
                                                                          vector(x, n), beta,
                                                                          vector(y, m));
}

/// C = alpha * A B + beta * C, all n x n row-major.
template <class T>
KOKKOS_INLINE_FUNCTION void gemm(T alpha, const T* A, const T* B, T beta, T* C, int n) {
  KokkosBatched::SerialGemm<KokkosBatched::Trans::NoTranspose, KokkosBatched::Trans::NoTranspose,
                            KokkosBatched::Algo::Gemm::Unblocked>::invoke(alpha, matrix(A, n, n),
                                                                          matrix(B, n, n), beta,
                                                                          matrix(C, n, n));
}

template <class T>
KOKKOS_INLINE_FUNCTION void copy(const T* src, T* dst, int n) {
  for (int i = 0; i < n; ++i) dst[i] = src[i];
}

}  // namespace kelk::impl
