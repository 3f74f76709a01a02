// Starting Kokkos for a kelk program: Kokkos::initialize with the thread-count flag accepted in
// both spellings, --kokkos-threads=N (Kokkos 3) and --kokkos-num-threads=N (Kokkos 4), whichever
// Kokkos kelk was built with. The KOKKOS_NUM_THREADS environment variable works with both too.
#pragma once

#include <kelk/impl/kelk_compat.hpp>

#include <Kokkos_Core.hpp>

namespace kelk {

/// Kokkos::initialize(argc, argv) after translating the thread-count flag; Kokkos removes the
/// arguments it consumed from argv, as usual.
inline void initialize(int& argc, char* argv[]) {
  impl::translate_kokkos_arguments(argc, argv);
  Kokkos::initialize(argc, argv);
}

/// kelk::initialize on construction, Kokkos::finalize on destruction (Kokkos::ScopeGuard with
/// the flag translation).
class ScopeGuard {
 public:
  ScopeGuard(int& argc, char* argv[]) { initialize(argc, argv); }
  ~ScopeGuard() { Kokkos::finalize(); }
  ScopeGuard(const ScopeGuard&) = delete;
  ScopeGuard& operator=(const ScopeGuard&) = delete;
};

}  // namespace kelk
