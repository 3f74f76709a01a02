// The scan engine alone: chunked scans of random dense and diagonal affine elements against a
// plain sequential loop, for many (T, chunk count) pairs, including more chunks than steps.
#include "test_common.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

namespace {

using Exec = Kokkos::DefaultExecutionSpace;
using Mem = Exec::memory_space;

/// Random elements: A with entries uniform(-1, 1) * scale / sqrt(D) (dense) or
/// uniform(-1, 1) * scale (diagonal), b uniform(-1, 1).
template <class Scalar>
struct RandomElements {
  int B, T, D;
  bool dense;
  std::vector<double> A, b;  // host copies in double: the reference loop runs in double
  RandomElements(int B_, int T_, int D_, bool dense_, std::uint64_t seed, double scale = 0.95)
      : B(B_), T(T_), D(D_), dense(dense_) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> uni(-1, 1);
    const std::size_t per = dense ? std::size_t(D) * D : std::size_t(D);
    A.resize(std::size_t(B) * T * per);
    b.resize(std::size_t(B) * T * D);
    const double s = dense ? scale / std::sqrt(double(D)) : scale;
    for (auto& x : A) x = s * uni(rng);
    for (auto& x : b) x = uni(rng);
  }
  double a_at(int s, int t, int i, int j) const {
    const std::size_t base = (std::size_t(s) * T + t);
    return dense ? A[base * D * D + std::size_t(i) * D + j] : (i == j ? A[base * D + i] : 0.0);
  }
  double b_at(int s, int t, int i) const { return b[(std::size_t(s) * T + t) * D + i]; }

  /// x_t = A_t x_{t-1} + b_t from x_in (or x_0 = b_0 at a sequence start, x_in empty).
  std::vector<double> loop(int s, int t_begin, int t_end, std::vector<double> x) const {
    std::vector<double> out;
    for (int t = t_begin; t < t_end; ++t) {
      std::vector<double> y(D);
      for (int i = 0; i < D; ++i) {
        y[i] = b_at(s, t, i);
        if (!x.empty())
          for (int j = 0; j < D; ++j) y[i] += a_at(s, t, i, j) * x[j];
      }
      x = y;
      out.insert(out.end(), y.begin(), y.end());
    }
    return out;
  }

  /// Algebras over the elements [t_begin, t_end) of every sequence (default: all).
  kelk::DenseAffineAlgebra<Scalar, Mem> dense_algebra(int t_begin = 0, int t_end = -1) const {
    if (t_end < 0) t_end = T;
    Kokkos::View<Scalar****, Kokkos::LayoutRight, Mem> Av("test::A", B, t_end - t_begin, D, D);
    auto h = Kokkos::create_mirror_view(Av);
    for (int s = 0; s < B; ++s)
      for (int t = t_begin; t < t_end; ++t)
        for (int i = 0; i < D; ++i)
          for (int j = 0; j < D; ++j) h(s, t - t_begin, i, j) = Scalar(a_at(s, t, i, j));
    Kokkos::deep_copy(Av, h);
    return {Av, make_b(t_begin, t_end)};
  }
  kelk::DiagonalAffineAlgebra<Scalar, Mem> diagonal_algebra(int t_begin = 0, int t_end = -1) const {
    if (t_end < 0) t_end = T;
    kelk::SequenceView<Scalar> av("test::a", B, t_end - t_begin, D);
    auto h = Kokkos::create_mirror_view(av);
    for (int s = 0; s < B; ++s)
      for (int t = t_begin; t < t_end; ++t)
        for (int i = 0; i < D; ++i) h(s, t - t_begin, i) = Scalar(a_at(s, t, i, i));
    Kokkos::deep_copy(av, h);
    return {av, make_b(t_begin, t_end)};
  }
  kelk::SequenceView<Scalar> make_b(int t_begin, int t_end) const {
    kelk::SequenceView<Scalar> bv("test::b", B, t_end - t_begin, D);
    auto h = Kokkos::create_mirror_view(bv);
    for (int s = 0; s < B; ++s)
      for (int t = t_begin; t < t_end; ++t)
        for (int i = 0; i < D; ++i) h(s, t - t_begin, i) = Scalar(b_at(s, t, i));
    Kokkos::deep_copy(bv, h);
    return bv;
  }
};

/// max |scanned - loop| over all sequences, for a whole-sequence scan.
template <class Scalar, class Algebra>
double scan_error(const RandomElements<Scalar>& e, const Algebra& alg, int chunks,
                  int groups = -1) {
  kelk::ChunkedScan<Exec, Algebra> scan(Exec(), alg, chunks, groups);
  CHECK(scan.chunks() == std::max(1, std::min(chunks, e.T)));
  if (groups > 1) CHECK(scan.propagate_groups() == std::min(groups, scan.chunks()));
  scan.run(alg);
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), alg.b);
  double err = 0;
  for (int s = 0; s < e.B; ++s) {
    const auto ref = e.loop(s, 0, e.T, {});
    for (int t = 0; t < e.T; ++t)
      for (int i = 0; i < e.D; ++i)
        err = std::max(err, std::abs(double(h(s, t, i)) - ref[std::size_t(t) * e.D + i]));
  }
  return err;
}

}  // namespace

TEST_CASE("chunked scan of dense affine elements equals the sequential loop", "[scan]") {
  const int T = GENERATE(1, 2, 3, 7, 64, 101, 1000);
  const int chunks = GENERATE(1, 2, 3, 4, 7, 16, 200, 5000);
  const int B = GENERATE(1, 3);
  const int D = 5;
  CAPTURE(T, chunks, B);
  RandomElements<double> e(B, T, D, true, 1000u * T + chunks + 7u * B);
  CHECK(scan_error(e, e.dense_algebra(), chunks) <= 1e-13);
}

TEST_CASE("chunked scan of diagonal affine elements equals the sequential loop", "[scan]") {
  const int T = GENERATE(1, 2, 3, 7, 64, 101, 1000);
  const int chunks = GENERATE(1, 2, 3, 4, 7, 16, 200, 5000);
  const int B = GENERATE(1, 3);
  const int D = 4;
  CAPTURE(T, chunks, B);
  RandomElements<double> e(B, T, D, false, 2000u * T + chunks + 7u * B);
  CHECK(scan_error(e, e.diagonal_algebra(), chunks) <= 1e-13);
}

TEST_CASE("a nested scan over the chunk summaries equals the sequential loop", "[scan]") {
  // phase 2 in G groups (the device shape) against the plain loop, for many chunk counts
  const int T = GENERATE(5, 300, 4099);
  const int chunks = GENERATE(2, 3, 17, 64, 257, 1000);
  const int groups = GENERATE(2, 3, 8, 40, 2000);
  const bool dense = GENERATE(true, false);
  const int B = 2, D = 3;
  CAPTURE(T, chunks, groups, dense);
  RandomElements<double> e(B, T, D, dense, 3000u * T + 11u * chunks + groups);
  if (dense)
    CHECK(scan_error(e, e.dense_algebra(), chunks, groups) <= 1e-13);
  else
    CHECK(scan_error(e, e.diagonal_algebra(), chunks, groups) <= 1e-13);
}

TEST_CASE("many chunks propagate through the nested scan by default", "[scan]") {
  const int T = 20000, chunks = kelk::nested_propagate_min_chunks;
  RandomElements<double> e(1, T, 2, false, 5u);
  const auto alg = e.diagonal_algebra();
  kelk::ChunkedScan<Exec, std::decay_t<decltype(alg)>> few(Exec(), alg, chunks - 1),
      many(Exec(), alg, chunks);
  CHECK(few.propagate_groups() == 0);
  CHECK(many.propagate_groups() == 16);
  CHECK(scan_error(e, alg, chunks) <= 1e-13);
}

TEST_CASE("chunked scan in single precision stays at single-precision round-off", "[scan]") {
  const int T = GENERATE(101, 1000);
  const int chunks = GENERATE(1, 4, 33);
  RandomElements<float> e(2, T, 6, true, 99u + T + chunks);
  CHECK(scan_error(e, e.dense_algebra(), chunks) <= 1e-4);
  RandomElements<float> d(2, T, 6, false, 98u + T + chunks);
  CHECK(scan_error(d, d.diagonal_algebra(), chunks) <= 1e-4);
}

TEST_CASE("a scan continued from an incoming state, and block summaries", "[scan]") {
  // What the distributed layer does with a block: summarize all its chunks, combine them into
  // one block summary, and sweep from the state entering the block.
  const int T = 300, D = 4, B = 2;
  const int chunks = GENERATE(1, 2, 5, 17, 150);
  const bool dense = GENERATE(true, false);
  const int groups = GENERATE(0, 3, 12);  // sequential or nested phase 2 and block summary
  CAPTURE(chunks, dense, groups);
  RandomElements<double> e(B, T, D, dense, 77u + chunks);
  const int split = 123;  // the block is [split, T)
  std::vector<double> incoming_host;
  kelk::BatchView<double> incoming("test::incoming", B, D);
  auto h_in = Kokkos::create_mirror_view(incoming);
  for (int s = 0; s < B; ++s) {
    const auto first = e.loop(s, 0, split, {});
    for (int i = 0; i < D; ++i) h_in(s, i) = first[std::size_t(split - 1) * D + i];
  }
  Kokkos::deep_copy(incoming, h_in);

  auto check_block = [&](auto alg) {
    using Alg = decltype(alg);
    kelk::ChunkedScan<Exec, Alg> scan(Exec(), alg, chunks, groups);

    // block summary applied to the incoming state = the block's last state
    scan.summarize(alg, false);
    Kokkos::View<double**, Kokkos::LayoutRight, Mem> block("test::block", B, alg.summary_size());
    scan.block_summary(alg, block);
    auto hb = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), block);
    for (int s = 0; s < B; ++s) {
      const auto ref = e.loop(s, split, T, std::vector<double>(&h_in(s, 0), &h_in(s, 0) + D));
      for (int i = 0; i < D; ++i) {
        double x = hb(s, D * (dense ? D : 1) + i);
        for (int j = 0; j < D; ++j)
          x += (dense ? hb(s, i * D + j) : (i == j ? hb(s, i) : 0.0)) * h_in(s, j);
        CHECK(std::abs(x - ref[std::size_t(T - split - 1) * D + i]) <= 1e-13);
      }
    }

    // the continued scan itself
    scan.run(alg, incoming);
    auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), alg.b);
    for (int s = 0; s < B; ++s) {
      const auto ref = e.loop(s, split, T, std::vector<double>(&h_in(s, 0), &h_in(s, 0) + D));
      double err = 0;
      for (int t = split; t < T; ++t)
        for (int i = 0; i < D; ++i)
          err = std::max(err, std::abs(h(s, t - split, i) - ref[std::size_t(t - split) * D + i]));
      CHECK(err <= 1e-13);
    }
  };
  if (dense)
    check_block(e.dense_algebra(split, T));
  else
    check_block(e.diagonal_algebra(split, T));
}

TEST_CASE("default chunk counts", "[scan]") {
  // one chunk when the batch alone fills the workers, or when dense summaries cost too much
  CHECK(kelk::default_chunks(2, 4, 1000, 1.0) == 1);
  CHECK(kelk::default_chunks(2, 1, 1000, 32.0) == 1);
  CHECK(kelk::default_chunks(64, 1, 100000, 1.0) == 64);
  CHECK(kelk::default_chunks(64, 1, 100000, 32.0) == 64);
  // never more than sqrt(T) on a host space
  CHECK(kelk::default_chunks(100000, 1, 100, 1.0) == 10);
  // on a device space: the workers filled, chunks of at least device_min_chunk_length steps
  const int L = kelk::device_min_chunk_length;
  CHECK(kelk::default_chunks(270336, 1, 100000, 1.0, true) == 100000 / L);
  CHECK(kelk::default_chunks(270336, 64, 100000, 1.0, true) == (270336 + 63) / 64);
  CHECK(kelk::default_chunks(270336, 1, 5, 1.0, true) == 1);
  CHECK(kelk::default_chunks(270336, 300000, 1000, 1.0, true) == 1);
  // the space-kind overload: host backends take the host rule
  const Exec space;
  CHECK(kelk::default_chunks(space, 1, 100000, 1.0) ==
        kelk::default_chunks(space.concurrency(), 1, 100000, 1.0, false));
}
