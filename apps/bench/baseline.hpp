// The sequential evaluation a user would write without kelk, as fast as we can make it: all
// input projections up front as one matrix product (BLAS through KokkosBlas::gemm), then per
// step one matrix-vector product with the stacked recurrent weights and the gate
// nonlinearities (the same vectorised gate functions as kelk's maps, kelk_math.hpp: the
// fastest measured, see docs/PERFORMANCE.md). Per step the recurrent product is a BLAS gemv, an
// inline loop, kelk's blocked product on W^T, or for a batch one gemm over the batch;
// kelk-bench keeps the fastest. Every
// speedup kelk-bench reports is relative to this code. Host memory only.
#pragma once

#include <kelk/kelk.hpp>

#include <KokkosBlas2_gemv.hpp>
#include <KokkosBlas3_gemm.hpp>
#include <Kokkos_Core.hpp>

#include <cstdint>
#include <string>

namespace kelk::bench {

template <class Scalar>
using HostMatrix = Kokkos::View<Scalar**, Kokkos::LayoutRight, Kokkos::HostSpace>;
template <class Scalar>
using HostSequence = Kokkos::View<Scalar***, Kokkos::LayoutRight, Kokkos::HostSpace>;

/// How the per-step recurrent product is computed: a BLAS gemv call per sequence, an inline
/// loop the compiler vectorises (no call overhead, better for small D), or, for a batch of
/// sequences, one BLAS gemm over the batch per step (the sequences share each pass over W).
/// `blocked` is kelk's own register-blocked product on W^T (impl::transposed_product), so that
/// the baseline is never slower than the library's loop for want of that trick.
enum class MatVec { blas, loop, blocked, batched };
inline const char* to_string(MatVec m) {
  switch (m) {
    case MatVec::blas: return "blas-gemv";
    case MatVec::loop: return "simd-loop";
    case MatVec::blocked: return "blocked-transposed";
    default: return "blas-gemm-batch";
  }
}

/// y = W x for the row-major m x n W.
template <class Scalar>
inline void matvec(MatVec kind, const HostMatrix<Scalar>& W, const Scalar* x, Scalar* y) {
  const int m = int(W.extent(0)), n = int(W.extent(1));
  if (kind == MatVec::blas) {
    using Vec = Kokkos::View<Scalar*, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
    using ConstVec =
        Kokkos::View<const Scalar*, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
    KokkosBlas::gemv("N", Scalar(1), W, ConstVec(x, n), Scalar(0), Vec(y, m));
    return;
  }
  const Scalar* w = W.data();
  for (int i = 0; i < m; ++i) {
    Scalar acc = 0;
#pragma omp simd reduction(+ : acc)
    for (int j = 0; j < n; ++j) acc += w[std::int64_t(i) * n + j] * x[j];
    y[i] = acc;
  }
}

/// Runs the recurrence h_t = cell(X row of step t, W h_{t-1}, h_{t-1}) over every sequence, with
/// the per-step product W h of the given kind. X holds the input projections, (B T) x P.
template <class Scalar, class Cell>
void run_recurrence(MatVec kind, const HostMatrix<Scalar>& W, const HostMatrix<Scalar>& X,
                    const HostMatrix<const Scalar>& s0, const HostSequence<Scalar>& states,
                    const Cell& cell) {
  const int B = int(states.extent(0)), T = int(states.extent(1)), D = int(states.extent(2));
  const int P = int(W.extent(0));
  if (kind == MatVec::batched) {
    HostMatrix<Scalar> h("kelk::bench::h", B, D), p("kelk::bench::p", B, P);
    Kokkos::deep_copy(h, s0);
    for (int t = 0; t < T; ++t) {
      KokkosBlas::gemm("N", "T", Scalar(1), h, W, Scalar(0), p);
      for (int b = 0; b < B; ++b) {
        Scalar* out = &states(b, t, 0);
        cell(&X(std::int64_t(b) * T + t, 0), &p(b, 0), &h(b, 0), out);
        for (int d = 0; d < D; ++d) h(b, d) = out[d];
      }
    }
    return;
  }
  Kokkos::View<Scalar*, Kokkos::HostSpace> p("kelk::bench::p", P);
  HostMatrix<Scalar> WT("kelk::bench::W_transposed", kind == MatVec::blocked ? D : 0, P);
  if (kind == MatVec::blocked)
    for (int i = 0; i < P; ++i)
      for (int j = 0; j < D; ++j) WT(j, i) = W(i, j);
  for (int b = 0; b < B; ++b) {
    const Scalar* h = &s0(b, 0);
    for (int t = 0; t < T; ++t) {
      if (kind == MatVec::blocked)
        impl::transposed_product(WT.data(), h, p.data(), D, P);
      else
        matvec(kind, W, h, p.data());
      Scalar* out = &states(b, t, 0);
      cell(&X(std::int64_t(b) * T + t, 0), p.data(), h, out);
      h = out;
    }
  }
}

/// X (rows x k) = bias (broadcast) + inputs (rows x Din) W^T, W is k x Din: one gemm.
template <class Scalar>
inline void project_inputs(const Scalar* inputs, std::int64_t rows, int Din,
                           const HostMatrix<Scalar>& W, const Kokkos::View<Scalar*, Kokkos::HostSpace>& bias,
                           const HostMatrix<Scalar>& X) {
  const int k = int(W.extent(0));
  Kokkos::parallel_for(
      "kelk::bench::baseline_bias",
      Kokkos::RangePolicy<Kokkos::DefaultHostExecutionSpace, Kokkos::IndexType<std::int64_t>>(0, rows),
      [=](std::int64_t r) {
        for (int i = 0; i < k; ++i) X(r, i) = bias(i);
      });
  using ConstMatrix = Kokkos::View<const Scalar**, Kokkos::LayoutRight, Kokkos::HostSpace,
                                   Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
  Kokkos::fence();
  const Kokkos::DefaultHostExecutionSpace host;
  impl::project_rows(host, ConstMatrix(inputs, rows, Din), W, Scalar(1), X);
  host.fence();
}

/// GRU: X = [W_ir; W_iz; W_in] u + [b_ir; b_iz; b_in] for all steps, then per step
/// p = [W_hr; W_hz; W_hn] h and the gates of ALGORITHMS.md section 10.
template <class Scalar>
class GruBaseline {
 public:
  explicit GruBaseline(const Gru<Scalar, Kokkos::HostSpace>& gru)
      : D_(gru.state_dim()), Din_(gru.input_dim()),
        Wi_("kelk::bench::W_i", 3 * D_, Din_), Wh_("kelk::bench::W_h", 3 * D_, D_),
        bi_("kelk::bench::b_i", 3 * D_), b_hn_(gru.b_hn) {
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
      bi_(i) = gru.b_ir(i);
      bi_(D_ + i) = gru.b_iz(i);
      bi_(2 * D_ + i) = gru.b_in(i);
    }
  }

  /// Floating-point operations of one evaluation (products only; the gates are O(D)).
  double flops(std::int64_t steps) const { return 2.0 * steps * 3 * D_ * double(D_ + Din_); }

  void run(MatVec kind, const HostMatrix<const Scalar>& s0, const HostSequence<const Scalar>& u,
           const HostSequence<Scalar>& states) const {
    const int B = int(u.extent(0)), T = int(u.extent(1)), D = D_;
    HostMatrix<Scalar> X(Kokkos::view_alloc(Kokkos::WithoutInitializing, "kelk::bench::X"),
                         std::int64_t(B) * T, 3 * D);
    project_inputs(u.data(), std::int64_t(B) * T, Din_, Wi_, bi_, X);
    const auto b_hn = b_hn_;
    run_recurrence(kind, Wh_, X, s0, states,
                   [=](const Scalar* x, const Scalar* p, const Scalar* h, Scalar* out) {
                     for (int i = 0; i < D; ++i) {
                       const Scalar r = math::sigmoid(x[i] + p[i]);
                       const Scalar z = math::sigmoid(x[D + i] + p[D + i]);
                       const Scalar n = math::tanh(x[2 * D + i] + r * (p[2 * D + i] + b_hn(i)));
                       out[i] = (Scalar(1) - z) * n + z * h[i];
                     }
                   });
  }

 private:
  int D_, Din_;
  HostMatrix<Scalar> Wi_, Wh_;
  Kokkos::View<Scalar*, Kokkos::HostSpace> bi_;
  Kokkos::View<Scalar*, Kokkos::LayoutRight, Kokkos::HostSpace> b_hn_;
};

/// Elman: X = U u + c for all steps, then per step h' = tanh(X_t + W h).
template <class Scalar>
class ElmanBaseline {
 public:
  explicit ElmanBaseline(const Elman<Scalar, Kokkos::HostSpace>& m)
      : D_(m.state_dim()), Din_(m.input_dim()), W_(m.W), U_(m.U), c_(m.c) {}

  double flops(std::int64_t steps) const { return 2.0 * steps * D_ * double(D_ + Din_); }

  void run(MatVec kind, const HostMatrix<const Scalar>& s0, const HostSequence<const Scalar>& u,
           const HostSequence<Scalar>& states) const {
    const int B = int(u.extent(0)), T = int(u.extent(1)), D = D_;
    HostMatrix<Scalar> X(Kokkos::view_alloc(Kokkos::WithoutInitializing, "kelk::bench::X"),
                         std::int64_t(B) * T, D);
    project_inputs(u.data(), std::int64_t(B) * T, Din_, U_, Kokkos::View<Scalar*, Kokkos::HostSpace>(c_.data(), D), X);
    run_recurrence(kind, W_, X, s0, states,
                   [=](const Scalar* x, const Scalar* p, const Scalar*, Scalar* out) {
                     for (int i = 0; i < D; ++i) out[i] = math::tanh(x[i] + p[i]);
                   });
  }

 private:
  int D_, Din_;
  HostMatrix<Scalar> W_, U_;
  Kokkos::View<Scalar*, Kokkos::LayoutRight, Kokkos::HostSpace> c_;
};

}  // namespace kelk::bench
