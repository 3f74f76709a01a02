// Gate functions for step maps: exp, expm1, tanh, sigmoid, log1p and softplus that the compiler
// vectorises. On the host they are branch-free inline code (selects, no table lookups, no
// calls), so a loop over the D entries of a step or over the rows of a bulk tile compiles to
// vector instructions of whatever ISA Kokkos' architecture flags enable (SSE2, AVX2, AVX-512,
// NEON). In device code (CUDA, HIP, SYCL) they forward to Kokkos' math functions, which call
// the vendor's device libraries.
//
// Accuracy (host), against the exact value rounded to the type, over the whole range of
// double and float (tests/test_math.cpp samples 1e7 arguments per function and type, plus
// +-0, subnormals, +-Inf, NaN and the overflow thresholds):
//
//   double   exp <= 1 ulp, expm1 <= 2 ulp, tanh <= 3 ulp, sigmoid <= 3 ulp, log1p <= 2 ulp,
//            softplus <= 3 ulp   (documented bound 4 ulp for every function)
//   float    every function is evaluated in double and rounded once: <= 1 ulp
//
// Special values follow std::: NaN in, NaN out; exp(+-Inf) = +Inf, 0; tanh(+-0) = +-0;
// log1p(-1) = -Inf, log1p(x < -1) = NaN; results that overflow are +Inf, those below the
// subnormal range 0. These functions never raise floating-point exceptions on purpose and do
// not set errno.
//
// Why hand-written rather than glibc's libmvec or SLEEF: see docs/PERFORMANCE.md ("Gate
// functions"). In short, both are reached through calls on whole vectors with an
// ISA-specific ABI (libmvec only under -ffast-math declarations, SLEEF only through explicit
// vector types), so neither vectorises a scalar-written `step`, and inline code is 2-4x faster
// per element in kelk's gate loops.
#pragma once

#include <kelk/impl/kelk_compat.hpp>

#include <Kokkos_Core.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__) || defined(__SYCL_DEVICE_ONLY__)
#define KELK_IMPL_MATH_DEVICE_PASS 1
#endif

// The host code is forced inline: only inlined into the caller's loop does it vectorise, and
// GCC's heuristics decline to inline it into large kernels (measured: the GRU's bulk kernel
// then called exp_host per entry, 3.8 instead of ~1 microsecond per step at D = 64).
#if defined(__GNUC__) || defined(__clang__)
#define KELK_IMPL_MATH_INLINE inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define KELK_IMPL_MATH_INLINE __forceinline
#else
#define KELK_IMPL_MATH_INLINE inline
#endif

namespace kelk::math {

namespace detail {

KELK_IMPL_MATH_INLINE double from_bits(std::uint64_t b) {
  double d;
  std::memcpy(&d, &b, sizeof d);
  return d;
}
KELK_IMPL_MATH_INLINE std::uint64_t to_bits(double d) {
  std::uint64_t b;
  std::memcpy(&b, &d, sizeof b);
  return b;
}

/// c ? a : b as a bit blend. GCC if-converts a ternary into a vector select only when neither
/// arm computes anything (under the default -ftrapping-math it will not speculate arithmetic it
/// has sunk into an arm); a blend of two computed values is always branch-free.
KELK_IMPL_MATH_INLINE double select(bool c, double a, double b) {
  const std::uint64_t m = std::uint64_t(0) - std::uint64_t(c);
  return from_bits((to_bits(a) & m) | (to_bits(b) & ~m));
}

/// a * b + c, fused where the ISA has FMA (one rounding; the accuracy bounds hold either way).
KELK_IMPL_MATH_INLINE double madd(double a, double b, double c) {
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
  return std::fma(a, b, c);
#else
  return a * b + c;
#endif
}

// ln 2 split so that n * ln2_hi is exact for |n| < 2^20 (fdlibm's constants)
inline constexpr double ln2_hi = 6.93147180369123816490e-01;
inline constexpr double ln2_lo = 1.90821492927058770002e-10;
inline constexpr double log2e = 1.44269504088896338700e+00;
// adding 1.5 * 2^52 rounds a double of magnitude < 2^51 to an integer held in the low bits
inline constexpr double shifter = 6755399441055744.0;

/// 2^n for an integer n in [-1022, 1023], from its biased exponent.
KELK_IMPL_MATH_INLINE double pow2(std::int64_t n) { return from_bits(std::uint64_t(n + 1023) << 52); }

/// Taylor polynomial of (exp(r) - 1 - r) / r^2 to degree 11 (|r| <= ln 2 / 2: truncation
/// below 1e-17 relative).
KELK_IMPL_MATH_INLINE double expm1_tail(double r) {
  double p = 1.0 / 6227020800.0;  // 1/13!
  p = madd(p, r, 1.0 / 479001600.0);
  p = madd(p, r, 1.0 / 39916800.0);
  p = madd(p, r, 1.0 / 3628800.0);
  p = madd(p, r, 1.0 / 362880.0);
  p = madd(p, r, 1.0 / 40320.0);
  p = madd(p, r, 1.0 / 5040.0);
  p = madd(p, r, 1.0 / 720.0);
  p = madd(p, r, 1.0 / 120.0);
  p = madd(p, r, 1.0 / 24.0);
  p = madd(p, r, 1.0 / 6.0);
  return madd(p, r, 0.5);
}

/// x = n ln 2 + r with |r| <= ln2/2 (Cody-Waite); n returned as a double with an integer value.
KELK_IMPL_MATH_INLINE double reduce_ln2(double x, double& r) {
  const double n = madd(x, log2e, shifter) - shifter;
  r = (x - n * ln2_hi) - n * ln2_lo;
  return n;
}

KELK_IMPL_MATH_INLINE double exp_host(double x) {
  // clamp (NaN passes through: comparisons with NaN are false) so the scaling stays in range
  double xc = x > 710.0 ? 710.0 : x;
  xc = xc < -746.0 ? -746.0 : xc;
  double r;
  const double nd = reduce_ln2(xc, r);
  const double p = madd(r * r, expm1_tail(r), r) + 1.0;
  // 2^n in two factors, each a normal number, so that n in [-1076, 1024] covers overflow and
  // the subnormal results: n1 = floor(n / 2) through an unsigned shift (vectorises on AVX2)
  const std::int64_t n = std::int64_t(to_bits(nd + shifter) - to_bits(shifter));
  const std::int64_t n1 = std::int64_t((std::uint64_t(n + 2048)) >> 1) - 1024;
  return p * pow2(n1) * pow2(n - n1);
}

/// expm1 for y <= 0 (the form tanh needs): 2^n (expm1(r) + 1) - 1 = 2^n expm1(r) + (2^n - 1),
/// both terms exact but the sum; y is clamped to [-40, 0], where expm1 is -1 below.
KELK_IMPL_MATH_INLINE double expm1_nonpositive(double y) {
  const double yc = y < -40.0 ? -40.0 : y;
  double r;
  const double nd = reduce_ln2(yc, r);
  const double q = madd(r * r, expm1_tail(r), r);
  const std::int64_t n = std::int64_t(to_bits(nd + shifter) - to_bits(shifter));
  const double s = pow2(n);
  return madd(s, q, s - 1.0);
}

KELK_IMPL_MATH_INLINE double expm1_host(double x) {
  // x > 0: expm1(x) = e^x - 1 = (2^n expm1(r)) + (2^n - 1), with n in [0, 1024] split as for
  // exp; for n > 53 the -1 is below rounding. x <= 0 as above.
  double xc = x > 710.0 ? 710.0 : x;
  xc = xc < -40.0 ? -40.0 : xc;
  double r;
  const double nd = reduce_ln2(xc, r);
  const double q = madd(r * r, expm1_tail(r), r);
  const std::int64_t n = std::int64_t(to_bits(nd + shifter) - to_bits(shifter));
  const std::int64_t n1 = std::int64_t((std::uint64_t(n + 2048)) >> 1) - 1024;
  const double s1 = pow2(n1), s2 = pow2(n - n1);
  // 2^n - 1 is exact for n <= 53; above, q's term dominates and the sum rounds correctly
  const double s = s1 * s2;
  const double below = madd(s, q, s - 1.0), above = madd(q, s1, s1) * s2;
  return select(x == 0.0, x, select(n < 1023, below, above));
}

KELK_IMPL_MATH_INLINE double tanh_host(double x) {
  // tanh|x| = -e / (e + 2) with e = expm1(-2|x|) in (-1, 0]: no cancellation anywhere
  const double e = expm1_nonpositive(-2.0 * std::fabs(x));
  return std::copysign(-e / (e + 2.0), x);
}

KELK_IMPL_MATH_INLINE double sigmoid_host(double x) {
  // 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) below, with e = e^-|x| <= 1: one division
  const double e = exp_host(-std::fabs(x));
  return (x >= 0.0 ? 1.0 : e) / (1.0 + e);
}

KELK_IMPL_MATH_INLINE double log1p_host(double x) {
  // u = 1 + x = 2^k z with z in [0.707, 1.414), log z by fdlibm's minimax polynomial in
  // s = f / (2 + f), f = z - 1, and the rounding of u corrected by c = (1 + x - u) / u.
  constexpr double Lg1 = 6.666666666666735130e-01, Lg2 = 3.999999999940941908e-01,
                   Lg3 = 2.857142874366239149e-01, Lg4 = 2.222219843214978396e-01,
                   Lg5 = 1.818357216161805012e-01, Lg6 = 1.531383769920937332e-01,
                   Lg7 = 1.479819860511658591e-01;
  const double u = 1.0 + x;
  const std::uint64_t iu = to_bits(u);
  // k = exponent of u after moving [0.707, 1) up one binade; unsigned arithmetic throughout
  const std::uint64_t t = iu - 0x3fe6a09e00000000ULL + 0x4000000000000000ULL;
  const std::int64_t k = std::int64_t(t >> 52) - 1024;
  const double z = from_bits(iu - (std::uint64_t(k) << 52));
  // k as a double without an int64 conversion (none in AVX2): 2^52 + v has v in its low bits
  const double kd = from_bits(0x4330000000000000ULL | (t >> 52)) - (4503599627370496.0 + 1024.0);
  const double f = z - 1.0;
  const double c = select(k >= 1, 1.0 - (u - x), x - (u - 1.0)) / u;
  const double hfsq = 0.5 * f * f;
  const double s = f / (2.0 + f);
  const double s2 = s * s, s4 = s2 * s2;
  const double R = madd(s2, madd(s4, madd(s4, madd(s4, Lg7, Lg5), Lg3), Lg1), 0.0) +
                   s4 * madd(s4, madd(s4, Lg6, Lg4), Lg2);
  double r = kd * ln2_hi - ((hfsq - (s * (hfsq + R) + (kd * ln2_lo + c))) - f);
  constexpr double inf = std::numeric_limits<double>::infinity();
  r = select(x == 0.0 || x == inf || x != x, x, r);  // +-0, +Inf and NaN give themselves
  r = select(x == -1.0, -inf, r);
  return select(x < -1.0, std::numeric_limits<double>::quiet_NaN(), r);
}

KELK_IMPL_MATH_INLINE double softplus_host(double x) {
  return (x > 0.0 ? x : 0.0) + log1p_host(exp_host(-std::fabs(x)));
}

}  // namespace detail

// Each function: the host code above (float through double), or Kokkos' math in device code.
#if defined(KELK_IMPL_MATH_DEVICE_PASS)
#define KELK_IMPL_GATE_BODY(host, device) return device;
#else
#define KELK_IMPL_GATE_BODY(host, device) return static_cast<T>(detail::host(double(x)));
#endif

/// e^x.
template <class T>
KOKKOS_FORCEINLINE_FUNCTION T exp(T x) {
  KELK_IMPL_GATE_BODY(exp_host, KELK_IMPL_KOKKOS_MATH::exp(x))
}
/// e^x - 1, accurate near 0.
template <class T>
KOKKOS_FORCEINLINE_FUNCTION T expm1(T x) {
  KELK_IMPL_GATE_BODY(expm1_host, KELK_IMPL_KOKKOS_MATH::expm1(x))
}
/// Hyperbolic tangent.
template <class T>
KOKKOS_FORCEINLINE_FUNCTION T tanh(T x) {
  KELK_IMPL_GATE_BODY(tanh_host, KELK_IMPL_KOKKOS_MATH::tanh(x))
}
/// log(1 + x), accurate near 0.
template <class T>
KOKKOS_FORCEINLINE_FUNCTION T log1p(T x) {
  KELK_IMPL_GATE_BODY(log1p_host, KELK_IMPL_KOKKOS_MATH::log1p(x))
}
/// The logistic function 1 / (1 + e^-x), finite for every x.
template <class T>
KOKKOS_FORCEINLINE_FUNCTION T sigmoid(T x) {
#if defined(KELK_IMPL_MATH_DEVICE_PASS)
  const T e = KELK_IMPL_KOKKOS_MATH::exp(x >= T(0) ? -x : x);
  return (x >= T(0) ? T(1) : e) / (T(1) + e);
#else
  return static_cast<T>(detail::sigmoid_host(double(x)));
#endif
}
/// log(1 + e^x), finite for every finite x.
template <class T>
KOKKOS_FORCEINLINE_FUNCTION T softplus(T x) {
#if defined(KELK_IMPL_MATH_DEVICE_PASS)
  return (x > T(0) ? x : T(0)) +
         KELK_IMPL_KOKKOS_MATH::log1p(KELK_IMPL_KOKKOS_MATH::exp(x > T(0) ? -x : x));
#else
  return static_cast<T>(detail::softplus_host(double(x)));
#endif
}

#undef KELK_IMPL_GATE_BODY

}  // namespace kelk::math
