// The sequential evaluation a user would write without kelk, as fast as we can make it, so
// that kelk-bench's speedups are not measured against a straw man. Per tile of steps (input
// projections of about 256 KiB, kept in cache): the tile's input projections of each sequence
// by one matrix product (BLAS through KokkosBlas::gemm), then per step one product with the
// stacked recurrent weights and the gate nonlinearities (the same vectorised gate functions as
// kelk's maps, kelk_math.hpp), sequences in parallel over the host threads. The recurrent
// product is an inline loop the compiler vectorises, kelk's register-blocked product on W^T,
// or for a batch one gemm over the batch per step; kelk-bench keeps the fastest, and divides
// by the faster of this loop and kelk's `sequential` (docs/PERFORMANCE.md, "The reference").
// Host memory only.
//
// What made the earlier version up to 4x slower than kelk's `sequential` on AVX-512 guests:
// it projected the inputs of the whole sequence at once into a fresh B T 3D buffer per run
// (150 MB at D = 64, T = 1e5), so every run page-faulted that buffer in and streamed it
// through DRAM twice; that was 43% of its time on one Zen 4 core. And a BLAS gemv per step,
// one of its candidates, costs a library call (and OpenBLAS's thread check) per step: 3-10x
// slower than the inline products at D = 16-256, so it is no longer tried.
#pragma once

#include <kelk/kelk.hpp>

#include <KokkosBlas3_gemm.hpp>
#include <Kokkos_Core.hpp>

#include <algorithm>
#include <cstdint>
#include <string>

namespace kelk::bench {

template <class Scalar>
using HostMatrix = Kokkos::View<Scalar**, Kokkos::LayoutRight, Kokkos::HostSpace>;
template <class Scalar>
using HostSequence = Kokkos::View<Scalar***, Kokkos::LayoutRight, Kokkos::HostSpace>;

/// How the per-step recurrent product is computed: an inline dot product per row of W that the
/// compiler vectorises, kelk's own register-blocked product on W^T (impl::transposed_product,
/// so that the baseline is never slower than the library's loop for want of that trick), or,
/// for a batch of sequences, one BLAS gemm over the batch per step (the sequences share each
/// pass over W).
enum class MatVec { loop, blocked, batched };
inline const char* to_string(MatVec m) {
  switch (m) {
    case MatVec::loop: return "simd-loop";
    case MatVec::blocked: return "blocked-transposed";
    default: return "blas-gemm-batch";
  }
}

/// y = W x for the row-major m x n W, one vectorised dot product per row.
template <class Scalar>
inline void dot_rows(const Scalar* KOKKOS_RESTRICT w, int m, int n, const Scalar* KOKKOS_RESTRICT x,
                     Scalar* KOKKOS_RESTRICT y) {
  for (int i = 0; i < m; ++i) {
    Scalar acc = 0;
#pragma omp simd reduction(+ : acc)
    for (int j = 0; j < n; ++j) acc += w[std::int64_t(i) * n + j] * x[j];
    y[i] = acc;
  }
}

/// Runs h_t = cell(x_t, W h_{t-1}, h_{t-1}) over every sequence, where x_t = V u_t (biases are
/// the cell's), a tile of steps at a time: the tile's x of every sequence by one gemm each, then
/// the tile's steps, sequences in parallel (or, batched, one gemm over the batch per step).
template <class Scalar, class Cell>
void run_recurrence(MatVec kind, const HostMatrix<Scalar>& W, const HostMatrix<Scalar>& V,
                    const HostMatrix<const Scalar>& s0, const HostSequence<const Scalar>& u,
                    const HostSequence<Scalar>& states, const Cell& cell) {
  using Host = Kokkos::DefaultHostExecutionSpace;
  using Rows = Kokkos::View<Scalar**, Kokkos::LayoutRight, Kokkos::HostSpace,
                            Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
  using ConstRows = Kokkos::View<const Scalar**, Kokkos::LayoutRight, Kokkos::HostSpace,
                                 Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
  const int B = int(states.extent(0)), T = int(states.extent(1)), D = int(states.extent(2));
  const int P = int(W.extent(0)), Din = int(u.extent(2));
  const int tile = impl::projected_tile_steps(P, T, sizeof(Scalar));
  const auto alloc = [](const std::string& label) { return Kokkos::view_alloc(Kokkos::WithoutInitializing, label); };
  const HostSequence<Scalar> X(alloc("kelk::bench::X"), B, tile, P);
  const HostMatrix<Scalar> p(alloc("kelk::bench::p"), B, P);
  const HostMatrix<Scalar> WT(alloc("kelk::bench::W_transposed"), kind == MatVec::blocked ? D : 0, P);
  for (std::size_t i = 0; i < WT.extent(0); ++i)
    for (int j = 0; j < P; ++j) WT(i, j) = W(j, i);
  const HostMatrix<Scalar> h(alloc("kelk::bench::h"), kind == MatVec::batched ? B : 0, D);
  if (kind == MatVec::batched) Kokkos::deep_copy(h, s0);

  for (int t0 = 0; t0 < T; t0 += tile) {
    const int n = std::min(tile, T - t0);
    for (int b = 0; b < B; ++b)
      impl::project_rows(Host(), ConstRows(&u(b, t0, 0), n, Din), V, Scalar(0), Rows(&X(b, 0, 0), n, P));
    Host().fence();
    if (kind == MatVec::batched) {
      for (int r = 0; r < n; ++r) {
        KokkosBlas::gemm("N", "T", Scalar(1), h, W, Scalar(0), p);
        for (int b = 0; b < B; ++b) {
          Scalar* out = &states(b, t0 + r, 0);
          cell(&X(b, r, 0), &p(b, 0), &h(b, 0), out);
          for (int d = 0; d < D; ++d) h(b, d) = out[d];
        }
      }
      continue;
    }
    Kokkos::parallel_for(
        "kelk::bench::baseline_steps", Kokkos::RangePolicy<Host>(0, B), [=](int b) {
          Scalar* pb = &p(b, 0);
          for (int r = 0; r < n; ++r) {
            const int t = t0 + r;
            const Scalar* prev = t == 0 ? &s0(b, 0) : &states(b, t - 1, 0);
            if (kind == MatVec::blocked)
              impl::transposed_product(WT.data(), prev, pb, D, P);
            else
              dot_rows(W.data(), P, D, prev, pb);
            cell(&X(b, r, 0), pb, prev, &states(b, t, 0));
          }
        });
    Host().fence();
  }
}

/// GRU: x = [W_ir; W_iz; W_in] u per tile, p = [W_hr; W_hz; W_hn] h per step, and the gates of
/// ALGORITHMS.md section 10.
template <class Scalar>
class GruBaseline {
 public:
  explicit GruBaseline(const Gru<Scalar, Kokkos::HostSpace>& gru)
      : D_(gru.state_dim()), Din_(gru.input_dim()), Wi_("kelk::bench::W_i", 3 * D_, Din_),
        Wh_("kelk::bench::W_h", 3 * D_, D_), bias_("kelk::bench::biases", 4 * D_) {
    for (int i = 0; i < D_; ++i) {
      for (int j = 0; j < Din_; ++j) {
        Wi_(i, j) = gru.W_ir(i, j);
        Wi_(D_ + i, j) = gru.W_iz(i, j);
        Wi_(2 * D_ + i, j) = gru.W_in(i, j);
      }
      for (int j = 0; j < D_; ++j) {
        Wh_(i, j) = gru.W_hr(i, j);
        Wh_(D_ + i, j) = gru.W_hz(i, j);
        Wh_(2 * D_ + i, j) = gru.W_hn(i, j);
      }
      bias_(i) = gru.b_ir(i);
      bias_(D_ + i) = gru.b_iz(i);
      bias_(2 * D_ + i) = gru.b_in(i);
      bias_(3 * D_ + i) = gru.b_hn(i);
    }
  }

  /// Floating-point operations of one evaluation (products only; the gates are O(D)).
  double flops(std::int64_t steps) const { return 2.0 * steps * 3 * D_ * double(D_ + Din_); }

  void run(MatVec kind, const HostMatrix<const Scalar>& s0, const HostSequence<const Scalar>& u,
           const HostSequence<Scalar>& states) const {
    const int D = D_;
    // plain pointers, all restrict: with a View's pointer reloaded after each store, or the
    // run-time alias checks of four unqualified pointers, GCC may leave the loop scalar
    const Scalar *bir = bias_.data(), *biz = bir + D, *bin = biz + D, *bhn = bin + D;
    run_recurrence(kind, Wh_, Wi_, s0, u, states,
                   [=](const Scalar* KOKKOS_RESTRICT x, const Scalar* KOKKOS_RESTRICT p,
                       const Scalar* KOKKOS_RESTRICT h, Scalar* KOKKOS_RESTRICT out) {
                     for (int i = 0; i < D; ++i) {
                       const Scalar r = math::sigmoid(bir[i] + x[i] + p[i]);
                       const Scalar z = math::sigmoid(biz[i] + x[D + i] + p[D + i]);
                       const Scalar n = math::tanh(bin[i] + x[2 * D + i] + r * (bhn[i] + p[2 * D + i]));
                       out[i] = (Scalar(1) - z) * n + z * h[i];
                     }
                   });
  }

 private:
  int D_, Din_;
  HostMatrix<Scalar> Wi_, Wh_;
  Kokkos::View<Scalar*, Kokkos::HostSpace> bias_;  ///< b_ir, b_iz, b_in, b_hn
};

/// Elman: x = U u per tile, per step h' = tanh(x + c + W h).
template <class Scalar>
class ElmanBaseline {
 public:
  explicit ElmanBaseline(const Elman<Scalar, Kokkos::HostSpace>& m)
      : D_(m.state_dim()), Din_(m.input_dim()), W_(m.W), U_(m.U), c_(m.c) {}

  double flops(std::int64_t steps) const { return 2.0 * steps * D_ * double(D_ + Din_); }

  void run(MatVec kind, const HostMatrix<const Scalar>& s0, const HostSequence<const Scalar>& u,
           const HostSequence<Scalar>& states) const {
    const int D = D_;
    const Scalar* c = c_.data();
    run_recurrence(kind, W_, U_, s0, u, states,
                   [=](const Scalar* KOKKOS_RESTRICT x, const Scalar* KOKKOS_RESTRICT p, const Scalar*,
                       Scalar* KOKKOS_RESTRICT out) {
                     for (int i = 0; i < D; ++i) out[i] = math::tanh(c[i] + x[i] + p[i]);
                   });
  }

 private:
  int D_, Din_;
  HostMatrix<Scalar> W_, U_;
  Kokkos::View<Scalar*, Kokkos::LayoutRight, Kokkos::HostSpace> c_;
};

}  // namespace kelk::bench
