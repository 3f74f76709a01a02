// The View types of kelk's public API: sequences (B, T, n) and per-sequence vectors (B, n).
#pragma once

#include <Kokkos_Core.hpp>

namespace kelk {

/// States (B, T, D) or inputs (B, T, Din): row-major, so every step's vector is contiguous.
template <class Scalar, class MemorySpace = Kokkos::DefaultExecutionSpace::memory_space>
using SequenceView = Kokkos::View<Scalar***, Kokkos::LayoutRight, MemorySpace>;

/// One vector per sequence, e.g. the initial states s_0 (B, D).
template <class Scalar, class MemorySpace = Kokkos::DefaultExecutionSpace::memory_space>
using BatchView = Kokkos::View<Scalar**, Kokkos::LayoutRight, MemorySpace>;

}  // namespace kelk
