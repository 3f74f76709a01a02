// Shared helpers of the kelk tests: random problems, the plain sequential loop, comparisons.
#pragma once

#include <kelk/kelk.hpp>

#include <Kokkos_Core.hpp>
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>
#include <algorithm>

namespace kelk_test {

template <class Scalar>
struct Problem {
  kelk::BatchView<Scalar> s0;
  kelk::SequenceView<Scalar> inputs;
};

/// s0 ~ 0.5 N(0, 1), inputs ~ N(0, 1), reproducible from the seed.
template <class Scalar>
Problem<Scalar> random_problem(int B, int T, int D, int Din, std::uint64_t seed,
                               double s0_scale = 0.5) {
  Problem<Scalar> p{kelk::BatchView<Scalar>("test::s0", B, D),
                    kelk::SequenceView<Scalar>("test::inputs", B, T, Din)};
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  auto h0 = Kokkos::create_mirror_view(p.s0);
  auto hu = Kokkos::create_mirror_view(p.inputs);
  for (std::size_t i = 0; i < h0.span(); ++i) h0.data()[i] = Scalar(s0_scale * normal(rng));
  for (std::size_t i = 0; i < hu.span(); ++i) hu.data()[i] = Scalar(normal(rng));
  Kokkos::deep_copy(p.s0, h0);
  Kokkos::deep_copy(p.inputs, hu);
  return p;
}

/// The plain sequential loop, one thread, written independently of the library's solvers.
template <class Map>
kelk::SequenceView<typename Map::value_type> plain_loop(
    const Map& map, const kelk::BatchView<typename Map::value_type>& s0,
    const kelk::SequenceView<typename Map::value_type>& inputs) {
  using Scalar = typename Map::value_type;
  const int B = int(s0.extent(0)), T = int(inputs.extent(1)), D = map.state_dim();
  kelk::SequenceView<Scalar> out("test::plain_loop", B, T, D);
  Kokkos::View<Scalar*> scratch("test::scratch", map.scratch_size() + 1);
  Kokkos::parallel_for(
      "test::plain_loop", Kokkos::RangePolicy<>(0, 1), KOKKOS_LAMBDA(int) {
        for (int b = 0; b < B; ++b)
          for (int t = 0; t < T; ++t)
            map.step(t == 0 ? &s0(b, 0) : &out(b, t - 1, 0),
                     inputs.data() + (std::int64_t(b) * T + t) * inputs.extent(2), &out(b, t, 0),
                     scratch.data());
      });
  Kokkos::fence();
  return out;
}

/// A contiguous host copy of a rank-3 View of any layout: a strided (e.g. subview) View is
/// first packed into a contiguous View of its own memory space, since no backend copies a
/// strided device View to host memory directly.
template <class View>
auto host_copy(const View& v) {
  using Packed = Kokkos::View<typename View::non_const_value_type***, Kokkos::LayoutRight,
                              typename View::memory_space>;
  Packed packed(Kokkos::view_alloc(Kokkos::WithoutInitializing, "test::packed"), v.extent(0),
                v.extent(1), v.extent(2));
  Kokkos::deep_copy(packed, v);
  return Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), packed);
}

/// Calls fn(value_a, value_b) for every entry of two rank-3 Views of the same shape (any
/// layout, e.g. subviews), on host copies.
template <class ViewA, class ViewB, class Fn>
void for_each_pair(const ViewA& a, const ViewB& b, Fn&& fn) {
  static_assert(ViewA::rank == 3 && ViewB::rank == 3, "rank-3 Views only");
  const auto ha = host_copy(a);
  const auto hb = host_copy(b);
  REQUIRE(a.extent(0) == b.extent(0));
  REQUIRE(a.extent(1) == b.extent(1));
  REQUIRE(a.extent(2) == b.extent(2));
  for (std::size_t i = 0; i < a.extent(0); ++i)
    for (std::size_t j = 0; j < a.extent(1); ++j)
      for (std::size_t k = 0; k < a.extent(2); ++k) fn(double(ha(i, j, k)), double(hb(i, j, k)));
}

/// max |a - b| over all entries of two rank-3 Views (+inf if any difference is not finite).
template <class ViewA, class ViewB>
double max_abs_diff(const ViewA& a, const ViewB& b) {
  double m = 0;
  for_each_pair(a, b, [&](double x, double y) {
    const double d = std::abs(x - y);
    if (!(d <= m)) m = d;  // NaN propagates as a failure
  });
  return m;
}

/// max |a| over all entries of a rank-3 View (+inf if any is not finite).
template <class View>
double max_abs(const View& a) {
  double m = 0;
  for_each_pair(a, a, [&](double x, double) {
    if (!(std::abs(x) <= m)) m = std::abs(x);
  });
  return m;
}

/// max |a - b| / max |b| over two equally long vectors (max |a - b| when b is all zero).
inline double relative(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  return scale > 0 ? diff / scale : diff;
}

}  // namespace kelk_test
