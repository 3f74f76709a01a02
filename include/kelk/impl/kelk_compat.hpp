// Portability shims between Kokkos 3.4 (Debian, Trilinos 13.2) and Kokkos 4 (clusters):
// math functions moved out of Kokkos::Experimental, and custom reduction types need
// volatile join overloads on 3.x only.
#pragma once

#include <Kokkos_Core.hpp>

#if KOKKOS_VERSION >= 40000
#define KELK_IMPL_KOKKOS_MATH Kokkos
#else
#define KELK_IMPL_KOKKOS_MATH Kokkos::Experimental
#endif

// Kokkos 3.x joins reduction values through volatile references; Kokkos 4 does not.
#if KOKKOS_VERSION < 40000
#define KELK_IMPL_NEEDS_VOLATILE_JOIN 1
#endif

namespace kelk::impl {

template <class T>
KOKKOS_INLINE_FUNCTION T tanh(T x) {
  return KELK_IMPL_KOKKOS_MATH::tanh(x);
}
template <class T>
KOKKOS_INLINE_FUNCTION T exp(T x) {
  return KELK_IMPL_KOKKOS_MATH::exp(x);
}
template <class T>
KOKKOS_INLINE_FUNCTION T log1p(T x) {
  return KELK_IMPL_KOKKOS_MATH::log1p(x);
}
template <class T>
KOKKOS_INLINE_FUNCTION T abs(T x) {
  return x < T(0) ? -x : x;
}
/// True for finite values; false for NaN and +-Inf (x - x is NaN exactly then).
template <class T>
KOKKOS_INLINE_FUNCTION bool is_finite(T x) {
  return (x - x) == T(0);
}
/// The logistic function, written to stay finite for large |x|.
template <class T>
KOKKOS_INLINE_FUNCTION T sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + exp(-x));
  const T e = exp(x);
  return e / (T(1) + e);
}

}  // namespace kelk::impl
