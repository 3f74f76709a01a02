// The View types of kelk's public API: sequences (B, T, n) and per-sequence vectors (B, n).
#pragma once

#include <Kokkos_Core.hpp>

#include <cstddef>
#include <string>
#include <type_traits>

namespace kelk {

/// States (B, T, D) or inputs (B, T, Din): row-major, so every step's vector is contiguous.
template <class Scalar, class MemorySpace = Kokkos::DefaultExecutionSpace::memory_space>
using SequenceView = Kokkos::View<Scalar***, Kokkos::LayoutRight, MemorySpace>;

/// One vector per sequence, e.g. the initial states s_0 (B, D).
template <class Scalar, class MemorySpace = Kokkos::DefaultExecutionSpace::memory_space>
using BatchView = Kokkos::View<Scalar**, Kokkos::LayoutRight, MemorySpace>;

namespace impl {

/// True when V is a Kokkos View of rank `Rank` holding `Scalar` (const or not; not const when
/// `writable`) in MemorySpace: what an entry point accepts for one of its View arguments.
template <class V, class Scalar, class MemorySpace, int Rank, bool writable>
constexpr bool view_argument_ok() {
  if constexpr (!Kokkos::is_view<V>::value) {
    return false;
  } else {
    return int(V::rank) == Rank &&
           std::is_same<typename V::non_const_value_type, Scalar>::value &&
           (!writable || !std::is_const<typename V::value_type>::value) &&
           std::is_same<typename V::memory_space, MemorySpace>::value;
  }
}

/// The compile-time checks of one View argument, each failing with one message that says what
/// to pass (the first unmet one only). Returns view_argument_ok().
template <class V, class Scalar, class MemorySpace, int Rank, bool writable>
constexpr bool check_view_argument() {
  constexpr bool view = Kokkos::is_view<V>::value;
  static_assert(view,
                "kelk: s0, inputs, states and cotangents must be Kokkos Views (e.g. "
                "kelk::BatchView<double> for s0 (B, D), kelk::SequenceView<double> for (B, T, n))");
  if constexpr (view) {
    constexpr bool rank = int(V::rank) == Rank;
    static_assert(!view || rank,
                  "kelk: wrong View rank: s0 is a rank-2 View (B, D), inputs, states and "
                  "cotangents are rank-3 Views (B, T, n)");
    constexpr bool scalar = std::is_same<typename V::non_const_value_type, Scalar>::value;
    static_assert(!rank || scalar,
                  "kelk: the Views' scalar type differs from the step map's value_type: pass "
                  "Views of the map's value_type (kelk::SequenceView<double> for a map with "
                  "`using value_type = double;`), or use a map of the Views' type (e.g. "
                  "kelk::Elman<float> for float Views)");
    constexpr bool mutable_ok = !writable || !std::is_const<typename V::value_type>::value;
    static_assert(!scalar || mutable_ok,
                  "kelk: the states (the output) must be a View of non-const scalars");
    constexpr bool space = std::is_same<typename V::memory_space, MemorySpace>::value;
    static_assert(!mutable_ok || space,
                  "kelk: every View must live in the execution space's memory space "
                  "(ExecutionSpace::memory_space); copy it there with "
                  "Kokkos::create_mirror_view_and_copy");
  }
  return view_argument_ok<V, Scalar, MemorySpace, Rank, writable>();
}

/// Whether v's entries lie where a LayoutRight View of v's extents puts them (extents of 1 have
/// no stride that matters): true for a LayoutRight View, for a time window of one sequence of a
/// LayoutRight (B, T, n) array, false for a time window of several sequences.
template <class V>
bool has_layout_right_strides(const V& v) {
  if constexpr (std::is_same<typename V::array_layout, Kokkos::LayoutRight>::value) {
    return true;
  } else {
    std::size_t expected = 1;
    for (int i = int(V::rank) - 1; i >= 0; --i) {
      if (v.extent(i) > 1 && std::size_t(v.stride(i)) != expected) return false;
      expected *= v.extent(i);
    }
    return true;
  }
}

/// `v` (any layout, e.g. a Kokkos::subview) as kelk's LayoutRight View type Target: the same
/// memory when its strides allow (unmanaged: `v` must outlive the result), else a contiguous
/// copy made on `space` (*copied set to true).
template <class Target, class ExecutionSpace, class V>
Target as_layout_right(const ExecutionSpace& space, const V& v, const char* label,
                       bool* copied = nullptr) {
  if (copied) *copied = false;
  if constexpr (std::is_same<typename V::array_layout, Kokkos::LayoutRight>::value) {
    return v;
  } else {
    static_assert(int(V::rank) == 2 || int(V::rank) == 3, "kelk: rank-2 or rank-3 Views");
    const Kokkos::LayoutRight extents =
        int(V::rank) == 2 ? Kokkos::LayoutRight(v.extent(0), v.extent(1))
                          : Kokkos::LayoutRight(v.extent(0), v.extent(1), v.extent(2));
    if (has_layout_right_strides(v)) return Target(v.data(), extents);
    Kokkos::View<typename Target::non_const_data_type, Kokkos::LayoutRight,
                 typename Target::memory_space>
        copy(Kokkos::view_alloc(space, Kokkos::WithoutInitializing, std::string(label)), extents);
    Kokkos::deep_copy(space, copy, v);
    if (copied) *copied = true;
    return copy;
  }
}

}  // namespace impl

}  // namespace kelk
