// Affine element algebras for ChunkedScan: x -> A_t x + b_t with dense D x D or diagonal A_t
// (ALGORITHMS.md section 4). The Newton steps of deer and quasi_deer are scans of these.
#pragma once

#include <kelk/impl/kelk_dense.hpp>

#include <Kokkos_Core.hpp>

namespace kelk {

namespace impl {
/// Dense affine summaries (A | b, D*D row-major then D): out = later o earlier, the map
/// x -> A_l (A_e x + b_e) + b_l.
template <class Scalar>
KOKKOS_INLINE_FUNCTION void affine_combine(const Scalar* earlier, const Scalar* later, Scalar* out,
                                           int D) {
  impl::gemm(Scalar(1), later, earlier, Scalar(0), out, D);
  impl::copy(later + D * D, out + D * D, D);
  impl::gemv(Scalar(1), later, D, D, earlier + D * D, Scalar(1), out + D * D);
}
/// x_out = A x_in + b for the dense affine summary (A | b).
template <class Scalar>
KOKKOS_INLINE_FUNCTION void affine_apply(const Scalar* summary, const Scalar* x_in, Scalar* x_out,
                                         int D) {
  impl::copy(summary + D * D, x_out, D);
  impl::gemv(Scalar(1), summary, D, D, x_in, Scalar(1), x_out);
}
}  // namespace impl

/// Dense affine elements e_t = (A_t, b_t) of B sequences. A summary is (A, b) stored as D*D
/// row-major entries followed by D; a state is a D-vector. The sweep writes the state after
/// element t over b_t, so after a scan `b` holds the trajectory.
template <class Scalar, class MemorySpace>
struct DenseAffineAlgebra {
  using value_type = Scalar;
  Kokkos::View<Scalar****, Kokkos::LayoutRight, MemorySpace> A;  ///< (B, T, D, D)
  Kokkos::View<Scalar***, Kokkos::LayoutRight, MemorySpace> b;   ///< (B, T, D): in b_t, out s_t

  KOKKOS_FUNCTION int batch() const { return static_cast<int>(b.extent(0)); }
  KOKKOS_FUNCTION int length() const { return static_cast<int>(b.extent(1)); }
  int summary_size() const { return dim() * dim() + dim(); }
  int state_size() const { return dim(); }
  int scratch_size() const { return dim() * dim() + dim(); }

  KOKKOS_FUNCTION int dim() const { return static_cast<int>(b.extent(2)); }

  KOKKOS_FUNCTION void summarize(int s, int t_begin, int t_end, Scalar* summary,
                                 Scalar* scratch) const {
    const int D = dim();
    // Ping-pong between the summary and the scratch so that no product is copied back but the
    // last one, when it lands in the scratch.
    Scalar* acc = summary;
    Scalar* next = scratch;
    impl::copy(&A(s, t_begin, 0, 0), acc, D * D);
    impl::copy(&b(s, t_begin, 0), acc + D * D, D);
    for (int t = t_begin + 1; t < t_end; ++t) {
      const Scalar* At = &A(s, t, 0, 0);
      impl::gemm(Scalar(1), At, acc, Scalar(0), next, D);
      impl::copy(&b(s, t, 0), next + D * D, D);
      impl::gemv(Scalar(1), At, D, D, acc + D * D, Scalar(1), next + D * D);
      Scalar* tmp = acc;
      acc = next;
      next = tmp;
    }
    if (acc != summary) impl::copy(acc, summary, D * D + D);
  }

  KOKKOS_FUNCTION void combine(const Scalar* earlier, const Scalar* later, Scalar* out,
                               Scalar*) const {
    impl::affine_combine(earlier, later, out, dim());
  }

  KOKKOS_FUNCTION void apply(const Scalar* summary, const Scalar* x_in, Scalar* x_out,
                             Scalar*) const {
    impl::affine_apply(summary, x_in, x_out, dim());
  }

  KOKKOS_FUNCTION void sweep(int s, int t_begin, int t_end, const Scalar* x_in, Scalar* x_out,
                             Scalar*) const {
    const int D = dim();
    const Scalar* prev = x_in;  // nullptr at a sequence start: s_0 = b_0
    for (int t = t_begin; t < t_end; ++t) {
      Scalar* xt = &b(s, t, 0);
      if (prev != nullptr) impl::gemv(Scalar(1), &A(s, t, 0, 0), D, D, prev, Scalar(1), xt);
      prev = xt;
    }
    if (x_out != nullptr) impl::copy(prev, x_out, D);
  }
};

/// Diagonal affine elements e_t = (diag(a_t), b_t): D independent scalar recurrences per
/// sequence. A summary is (a, b), 2D scalars; a state is a D-vector. As for the dense algebra,
/// the sweep overwrites b with the trajectory.
template <class Scalar, class MemorySpace>
struct DiagonalAffineAlgebra {
  using value_type = Scalar;
  Kokkos::View<Scalar***, Kokkos::LayoutRight, MemorySpace> a;  ///< (B, T, D)
  Kokkos::View<Scalar***, Kokkos::LayoutRight, MemorySpace> b;  ///< (B, T, D): in b_t, out s_t

  KOKKOS_FUNCTION int batch() const { return static_cast<int>(b.extent(0)); }
  KOKKOS_FUNCTION int length() const { return static_cast<int>(b.extent(1)); }
  int summary_size() const { return 2 * dim(); }
  int state_size() const { return dim(); }
  int scratch_size() const { return 0; }

  KOKKOS_FUNCTION int dim() const { return static_cast<int>(b.extent(2)); }

  KOKKOS_FUNCTION void summarize(int s, int t_begin, int t_end, Scalar* summary, Scalar*) const {
    const int D = dim();
    Scalar* sa = summary;
    Scalar* sb = summary + D;
    for (int d = 0; d < D; ++d) {
      sa[d] = a(s, t_begin, d);
      sb[d] = b(s, t_begin, d);
    }
    for (int t = t_begin + 1; t < t_end; ++t) {
      const Scalar* at = &a(s, t, 0);
      const Scalar* bt = &b(s, t, 0);
      for (int d = 0; d < D; ++d) {
        sb[d] = at[d] * sb[d] + bt[d];
        sa[d] = at[d] * sa[d];
      }
    }
  }

  KOKKOS_FUNCTION void combine(const Scalar* earlier, const Scalar* later, Scalar* out,
                               Scalar*) const {
    const int D = dim();
    for (int d = 0; d < D; ++d) {
      out[D + d] = later[d] * earlier[D + d] + later[D + d];
      out[d] = later[d] * earlier[d];
    }
  }

  KOKKOS_FUNCTION void apply(const Scalar* summary, const Scalar* x_in, Scalar* x_out,
                             Scalar*) const {
    const int D = dim();
    for (int d = 0; d < D; ++d) x_out[d] = summary[d] * x_in[d] + summary[D + d];
  }

  KOKKOS_FUNCTION void sweep(int s, int t_begin, int t_end, const Scalar* x_in, Scalar* x_out,
                             Scalar*) const {
    const int D = dim();
    const Scalar* prev = x_in;
    for (int t = t_begin; t < t_end; ++t) {
      Scalar* xt = &b(s, t, 0);
      if (prev != nullptr) {
        const Scalar* at = &a(s, t, 0);
        for (int d = 0; d < D; ++d) xt[d] += at[d] * prev[d];
      }
      prev = xt;
    }
    if (x_out != nullptr)
      for (int d = 0; d < D; ++d) x_out[d] = prev[d];
  }
};

}  // namespace kelk
