// Portability shims between Kokkos / Kokkos Kernels 3.4 (Debian, Trilinos 13.2) and 4 (clusters).
// Every version difference kelk depends on lives here:
//   - math functions moved out of Kokkos::Experimental (Kokkos 4; used by kelk_math.hpp);
//   - custom reduction types need volatile join overloads (Kokkos 3 only);
//   - the serial gemv moved from KokkosBatched to KokkosBlas (Kokkos Kernels 4 keeps only a
//     KokkosBatched::SerialGemv stub that aborts at run time);
//   - KokkosBlas::gemm takes an execution space instance (Kokkos Kernels 4);
//   - KOKKOS_IF_ON_HOST states "host pass only" portably (Kokkos 4; compiler macros before);
//   - the thread-count flag is --kokkos-threads (3.x) or --kokkos-num-threads (4), and
//     Kokkos::initialize takes InitArguments (3.x) or InitializationSettings (3.7 on);
//   - which of Sacado's headers compile with Kokkos 4: kelk_compat_sacado.hpp (apart, so that
//     only code using kelk::AutoDiff includes Sacado).
#pragma once

#include <KokkosKernels_config.h>
#include <Kokkos_Core.hpp>

#include <cstring>
#include <deque>
#include <string>

#if KOKKOS_VERSION >= 40000
#define KELK_IMPL_KOKKOS_MATH Kokkos
#else
#define KELK_IMPL_KOKKOS_MATH Kokkos::Experimental
#endif

// Kokkos 3.x joins reduction values through volatile references; Kokkos 4 does not.
#if KOKKOS_VERSION < 40000
#define KELK_IMPL_NEEDS_VOLATILE_JOIN 1
#endif

// Kokkos Kernels defines KOKKOSKERNELS_VERSION (major * 10000 + minor * 100 + patch) from 4.0 on;
// Debian's 3.4 does not define it at all.
#if defined(KOKKOSKERNELS_VERSION)
#define KELK_IMPL_KERNELS_VERSION KOKKOSKERNELS_VERSION
#else
#define KELK_IMPL_KERNELS_VERSION 30400
#endif

#if KELK_IMPL_KERNELS_VERSION >= 40000
#include <KokkosBlas2_serial_gemv.hpp>
#else
#include <KokkosBatched_Gemv_Decl.hpp>
#include <KokkosBatched_Gemv_Serial_Impl.hpp>
#endif
#include <KokkosBatched_Util.hpp>
#include <KokkosBlas3_gemm.hpp>

/// KELK_IMPL_IF_ON_HOST((statements)): the statements in host code only; device passes compile
/// them out (so they may call host-only functions such as the host BLAS).
#if defined(KOKKOS_IF_ON_HOST)
#define KELK_IMPL_IF_ON_HOST(CODE) KOKKOS_IF_ON_HOST(CODE)
#elif defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__) || defined(__SYCL_DEVICE_ONLY__)
#define KELK_IMPL_IF_ON_HOST(CODE)
#else
#define KELK_IMPL_EXPAND(...) __VA_ARGS__
#define KELK_IMPL_IF_ON_HOST(CODE) KELK_IMPL_EXPAND CODE
#endif

namespace kelk::impl {

template <class T>
KOKKOS_INLINE_FUNCTION T abs(T x) {
  return x < T(0) ? -x : x;
}
/// sqrt and log in kernels: Kokkos::Experimental's in Kokkos 3, Kokkos' own in 4.
template <class T>
KOKKOS_INLINE_FUNCTION T sqrt(T x) {
#if KOKKOS_VERSION >= 40000
  return Kokkos::sqrt(x);
#else
  return Kokkos::Experimental::sqrt(x);
#endif
}
template <class T>
KOKKOS_INLINE_FUNCTION T log(T x) {
#if KOKKOS_VERSION >= 40000
  return Kokkos::log(x);
#else
  return Kokkos::Experimental::log(x);
#endif
}
/// True for finite values; false for NaN and +-Inf (x - x is NaN exactly then).
template <class T>
KOKKOS_INLINE_FUNCTION bool is_finite(T x) {
  return (x - x) == T(0);
}
/// The transpose tags of the serial routines (KokkosBatched::Trans is KokkosBlas::Trans in 4).
using KokkosBatched::Trans;

/// The serial (in-kernel) gemv of this Kokkos Kernels: y = alpha op(A) x + beta y.
template <class TransA>
#if KELK_IMPL_KERNELS_VERSION >= 40000
using SerialGemv = KokkosBlas::SerialGemv<TransA, KokkosBlas::Algo::Gemv::Unblocked>;
#else
using SerialGemv = KokkosBatched::SerialGemv<TransA, KokkosBatched::Algo::Gemv::Unblocked>;
#endif

/// KokkosBlas::gemm enqueued on `space` where Kokkos Kernels takes an instance (4); on 3.x it
/// runs on the default instance, and callers order it with fences (see ProjectionBatch).
template <class ExecutionSpace, class A, class B, class C>
void blas_gemm(const ExecutionSpace& space, const char* trans_a, const char* trans_b,
               typename C::const_value_type alpha, const A& a, const B& b,
               typename C::const_value_type beta, const C& c) {
#if KELK_IMPL_KERNELS_VERSION >= 40000
  KokkosBlas::gemm(space, trans_a, trans_b, alpha, a, b, beta, c);
#else
  (void)space;
  KokkosBlas::gemm(trans_a, trans_b, alpha, a, b, beta, c);
#endif
}

/// True when blas_gemm runs on the instance it is given (no fences needed around it).
inline constexpr bool blas_takes_instance = KELK_IMPL_KERNELS_VERSION >= 40000;

/// Rewrites the thread-count flag to this Kokkos' spelling, in place, so that both
/// `--kokkos-threads=N` (Kokkos 3) and `--kokkos-num-threads=N` (Kokkos 4) work with either;
/// Kokkos 4 ignores the old spelling with a warning and keeps its default thread count.
inline void translate_kokkos_arguments(int argc, char* argv[]) {
#if KOKKOS_VERSION >= 40000
  const char* from = "--kokkos-threads";
  const char* to = "--kokkos-num-threads";
#else
  const char* from = "--kokkos-num-threads";
  const char* to = "--kokkos-threads";
#endif
  static std::deque<std::string> storage;  // the rewritten arguments outlive main's use of argv
  const std::size_t n = std::strlen(from);
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], from, n) != 0 || (argv[i][n] != '=' && argv[i][n] != '\0')) continue;
    storage.push_back(std::string(to) + (argv[i] + n));
    argv[i] = &storage.back()[0];
  }
}

/// Kokkos::initialize with `threads` host threads (0: the environment's or Kokkos' default).
inline void initialize_kokkos(int threads) {
#if KOKKOS_VERSION >= 30700
  Kokkos::InitializationSettings settings;
  if (threads > 0) settings.set_num_threads(threads);
  Kokkos::initialize(settings);
#else
  Kokkos::InitArguments arguments;
  if (threads > 0) arguments.num_threads = threads;
  Kokkos::initialize(arguments);
#endif
}

}  // namespace kelk::impl
