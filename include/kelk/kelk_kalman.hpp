// Kalman filter and Rauch-Tung-Striebel smoother element algebras for ChunkedScan, dense and
// scalar (ALGORITHMS.md sections 5-6). One Levenberg-Marquardt step of ELK is a filter scan
// (and optionally a smoother scan) of the model
//   z_t = A_t z_{t-1} + b_t + w_t,  w_t ~ N(0, I),   y_t = z_t + v_t,  v_t ~ N(0, sigma2 I),
// whose first latent has prior N(b_0, I) (A_0 = 0 marks the start of a sequence).
#pragma once

#include <kelk/impl/kelk_dense.hpp>

#include <Kokkos_Core.hpp>

namespace kelk {

/// Kalman gain k = 1 / (1 + sigma2) of the model with Q = H = I, R = sigma2 I.
template <class Scalar>
KOKKOS_INLINE_FUNCTION Scalar kalman_gain(Scalar sigma2) {
  return Scalar(1) / (Scalar(1) + sigma2);
}

/// Dense Kalman filter elements (A, b, C, J, eta) built on the fly from the model's A_t, b_t
/// and y_t (Sarkka & Garcia-Fernandez 2021). A summary stores A | C | J (D x D each, row-major)
/// then b | eta (D each); a state is a filtered mean and covariance, m | P. The D x D solves
/// use Kokkos Kernels' batched LU; N = (I + J C)^{-1} is applied as M^T with M = (I + C J)^{-1}.
///
/// The sweep writes the filtered means to `mean` (which may be `b` itself: b_t is read before
/// mean_t is written) and, if `cov` is not empty, the filtered covariances to `cov`.
template <class Scalar, class MemorySpace>
struct DenseKalmanFilterAlgebra {
  using value_type = Scalar;
  Kokkos::View<Scalar****, Kokkos::LayoutRight, MemorySpace> A;       ///< (B, T, D, D), A_0 = 0
  Kokkos::View<Scalar***, Kokkos::LayoutRight, MemorySpace> b;        ///< (B, T, D)
  Kokkos::View<const Scalar***, Kokkos::LayoutRight, MemorySpace> y;  ///< (B, T, D)
  Kokkos::View<Scalar***, Kokkos::LayoutRight, MemorySpace> mean;     ///< (B, T, D) out
  Kokkos::View<Scalar****, Kokkos::LayoutRight, MemorySpace> cov;     ///< (B, T, D, D) out or empty
  Scalar k = Scalar(0);                                               ///< kalman_gain(sigma2)

  KOKKOS_FUNCTION int batch() const { return static_cast<int>(b.extent(0)); }
  KOKKOS_FUNCTION int length() const { return static_cast<int>(b.extent(1)); }
  int summary_size() const { return element_size(dim()); }
  int state_size() const { return dim() + dim() * dim(); }
  /// one element, two states, the combination's work, a summary ping-pong buffer
  int scratch_size() const {
    const int D = dim();
    return 2 * element_size(D) + 2 * (D + D * D) + combine_work(D);
  }

  KOKKOS_FUNCTION int dim() const { return static_cast<int>(b.extent(2)); }

  KOKKOS_FUNCTION void summarize(int s, int t_begin, int t_end, Scalar* summary,
                                 Scalar* scratch) const {
    const int D = dim();
    Scalar* e = scratch;
    Scalar* next = e + element_size(D);
    Scalar* work = next + element_size(D);
    Scalar* acc = summary;
    element(s, t_begin, acc);
    for (int t = t_begin + 1; t < t_end; ++t) {
      element(s, t, e);
      combine(acc, e, next, work);
      Scalar* tmp = acc;
      acc = next;
      next = tmp;
    }
    if (acc != summary) impl::copy(acc, summary, element_size(D));
  }

  KOKKOS_FUNCTION void combine(const Scalar* ei, const Scalar* ej, Scalar* out,
                               Scalar* work) const {
    const int D = dim();
    const int DD = D * D;
    combine_parts(D, ei, ei + 3 * DD, ei + DD, ei + 2 * DD, ei + 3 * DD + D, ej, out,
                  out + 3 * DD, out + DD, out + 2 * DD, out + 3 * DD + D, work);
  }

  KOKKOS_FUNCTION void apply(const Scalar* summary, const Scalar* state_in, Scalar* state_out,
                             Scalar* work) const {
    const int D = dim();
    combine_parts(D, nullptr, state_in, state_in + D, nullptr, nullptr, summary, nullptr,
                  state_out, state_out + D, nullptr, nullptr, work);
  }

  KOKKOS_FUNCTION void sweep(int s, int t_begin, int t_end, const Scalar* state_in,
                             Scalar* state_out, Scalar* scratch) const {
    const int D = dim();
    const int DD = D * D;
    Scalar* e = scratch;
    Scalar* states = e + element_size(D);  // two states, ping-pong
    Scalar* work = states + 2 * (D + DD);
    const Scalar* prev = state_in;
    for (int t = t_begin; t < t_end; ++t) {
      element(s, t, e);
      Scalar* cur = states + ((t - t_begin) % 2) * (D + DD);
      if (prev == nullptr) {  // a sequence start: A_0 = 0, the state is the element's (b, C)
        impl::copy(e + 3 * DD, cur, D);
        impl::copy(e + DD, cur + D, DD);
      } else {
        combine_parts(D, nullptr, prev, prev + D, nullptr, nullptr, e, nullptr, cur, cur + D,
                      nullptr, nullptr, work);
      }
      impl::copy(cur, &mean(s, t, 0), D);
      if (cov.extent(0) > 0) impl::copy(cur + D, &cov(s, t, 0, 0), DD);
      prev = cur;
    }
    if (state_out != nullptr) impl::copy(prev, state_out, D + DD);
  }

  /// Element t: A = (1-k) A_t, b = b_t + k (y_t - b_t), C = (1-k) I, J = k A_t^T A_t,
  /// eta = k A_t^T (y_t - b_t). With A_0 = 0 this is the first element of section 6.
  KOKKOS_FUNCTION void element(int s, int t, Scalar* e) const {
    element_parts(dim(), k, &A(s, t, 0, 0), &b(s, t, 0), &y(s, t, 0), e);
  }

  /// The element of one D-dimensional model from A_t, b_t and y_t (contiguous).
  static KOKKOS_FUNCTION void element_parts(int D, Scalar k, const Scalar* At, const Scalar* bt,
                                            const Scalar* yt, Scalar* e) {
    const int DD = D * D;
    Scalar* eA = e;
    Scalar* eC = e + DD;
    Scalar* eJ = e + 2 * DD;
    Scalar* eb = e + 3 * DD;
    Scalar* eeta = eb + D;
    for (int i = 0; i < DD; ++i) eA[i] = (Scalar(1) - k) * At[i];
    impl::gemm<impl::Trans::Transpose, impl::Trans::NoTranspose>(k, At, At, Scalar(0), eJ, D);
    Scalar* r = eC;  // the innovation y_t - b_t, held in C's place until C is set
    for (int i = 0; i < D; ++i) {
      r[i] = yt[i] - bt[i];
      eb[i] = bt[i] + k * r[i];
    }
    impl::gemv_t(k, At, D, D, r, Scalar(0), eeta);
    impl::set_identity(eC, D, Scalar(1) - k);
  }

  static KOKKOS_FUNCTION int element_size(int D) { return 3 * D * D + 2 * D; }
  static KOKKOS_FUNCTION int combine_work(int D) { return 3 * D * D + 2 * D; }

  /// out = e_j o e_i. With Ai == nullptr, e_i is a state (A_i = 0, J_i and eta_i unused): only
  /// b and C are formed, which is how a state is propagated through an element.
  /// (D is the model's dimension: dim(), or a block's size for BlockKalmanFilterAlgebra.)
  static KOKKOS_FUNCTION void combine_parts(int D, const Scalar* Ai, const Scalar* bi,
                                            const Scalar* Ci, const Scalar* Ji,
                                            const Scalar* etai, const Scalar* ej, Scalar* A_out,
                                            Scalar* b_out, Scalar* C_out, Scalar* J_out,
                                            Scalar* eta_out, Scalar* work) {
    using impl::Trans;
    const int DD = D * D;
    const Scalar* Aj = ej;
    const Scalar* Cj = ej + DD;
    const Scalar* Jj = ej + 2 * DD;
    const Scalar* bj = ej + 3 * DD;
    const Scalar* etaj = bj + D;
    Scalar* LU = work;  // I + C_i J_j, factored
    Scalar* X = LU + DD;
    Scalar* Y = X + DD;
    Scalar* v = Y + DD;
    Scalar* w = v + D;
    impl::set_identity(LU, D);
    impl::gemm(Scalar(1), Ci, Jj, Scalar(1), LU, D);
    impl::lu(LU, D);
    // b = A_j M (b_i + C_i eta_j) + b_j
    impl::copy(bi, v, D);
    impl::gemv(Scalar(1), Ci, D, D, etaj, Scalar(1), v);
    impl::lu_solve(LU, v, D, 1);
    impl::copy(bj, b_out, D);
    impl::gemv(Scalar(1), Aj, D, D, v, Scalar(1), b_out);
    // C = A_j M C_i A_j^T + C_j
    impl::copy(Ci, X, DD);
    impl::lu_solve(LU, X, D, D);
    impl::gemm(Scalar(1), Aj, X, Scalar(0), Y, D);
    impl::copy(Cj, C_out, DD);
    impl::gemm<Trans::NoTranspose, Trans::Transpose>(Scalar(1), Y, Aj, Scalar(1), C_out, D);
    impl::symmetrize(C_out, D);
    if (Ai == nullptr) return;
    // A = A_j M A_i
    impl::copy(Ai, X, DD);
    impl::lu_solve(LU, X, D, D);
    impl::gemm(Scalar(1), Aj, X, Scalar(0), A_out, D);
    // eta = A_i^T N (eta_j - J_j b_i) + eta_i, N = M^T
    impl::copy(etaj, w, D);
    impl::gemv(Scalar(-1), Jj, D, D, bi, Scalar(1), w);
    impl::lu_solve<Trans::Transpose>(LU, w, D, 1);
    impl::copy(etai, eta_out, D);
    impl::gemv_t(Scalar(1), Ai, D, D, w, Scalar(1), eta_out);
    // J = A_i^T N J_j A_i + J_i
    impl::copy(Jj, X, DD);
    impl::lu_solve<Trans::Transpose>(LU, X, D, D);
    impl::gemm(Scalar(1), X, Ai, Scalar(0), Y, D);
    impl::copy(Ji, J_out, DD);
    impl::gemm<Trans::Transpose, Trans::NoTranspose>(Scalar(1), Ai, Y, Scalar(1), J_out, D);
    impl::symmetrize(J_out, D);
  }
};

/// Scalar Kalman filter elements for diagonal A_t (quasi-ELK): D independent scalar models per
/// sequence, M = N = 1 / (1 + C_i J_j). A summary stores A | C | J | b | eta (D each); a state
/// is m | P (D each). Outputs as for the dense filter (`cov` is (B, T, D) or empty).
template <class Scalar, class MemorySpace>
struct ScalarKalmanFilterAlgebra {
  using value_type = Scalar;
  Kokkos::View<Scalar***, Kokkos::LayoutRight, MemorySpace> a;        ///< (B, T, D), a_0 = 0
  Kokkos::View<Scalar***, Kokkos::LayoutRight, MemorySpace> b;        ///< (B, T, D)
  Kokkos::View<const Scalar***, Kokkos::LayoutRight, MemorySpace> y;  ///< (B, T, D)
  Kokkos::View<Scalar***, Kokkos::LayoutRight, MemorySpace> mean;     ///< (B, T, D) out
  Kokkos::View<Scalar***, Kokkos::LayoutRight, MemorySpace> cov;      ///< (B, T, D) out or empty
  Scalar k = Scalar(0);

  KOKKOS_FUNCTION int batch() const { return static_cast<int>(b.extent(0)); }
  KOKKOS_FUNCTION int length() const { return static_cast<int>(b.extent(1)); }
  int summary_size() const { return 5 * dim(); }
  int state_size() const { return 2 * dim(); }
  int scratch_size() const { return 0; }

  KOKKOS_FUNCTION int dim() const { return static_cast<int>(b.extent(2)); }

  KOKKOS_FUNCTION void summarize(int s, int t_begin, int t_end, Scalar* summary, Scalar*) const {
    const int D = dim();
    for (int d = 0; d < D; ++d) {
      Scalar e[5];
      element(s, t_begin, d, e);
      for (int t = t_begin + 1; t < t_end; ++t) {
        Scalar ej[5];
        element(s, t, d, ej);
        combine_lane(e, ej, e);
      }
      for (int q = 0; q < 5; ++q) summary[q * D + d] = e[q];
    }
  }

  KOKKOS_FUNCTION void combine(const Scalar* ei, const Scalar* ej, Scalar* out, Scalar*) const {
    const int D = dim();
    for (int d = 0; d < D; ++d) {
      Scalar li[5], lj[5], lo[5];
      for (int q = 0; q < 5; ++q) {
        li[q] = ei[q * D + d];
        lj[q] = ej[q * D + d];
      }
      combine_lane(li, lj, lo);
      for (int q = 0; q < 5; ++q) out[q * D + d] = lo[q];
    }
  }

  KOKKOS_FUNCTION void apply(const Scalar* summary, const Scalar* state_in, Scalar* state_out,
                             Scalar*) const {
    const int D = dim();
    for (int d = 0; d < D; ++d) {
      Scalar e[5];
      for (int q = 0; q < 5; ++q) e[q] = summary[q * D + d];
      propagate(state_in[d], state_in[D + d], e, state_out[d], state_out[D + d]);
    }
  }

  KOKKOS_FUNCTION void sweep(int s, int t_begin, int t_end, const Scalar* state_in,
                             Scalar* state_out, Scalar*) const {
    const int D = dim();
    const bool store_cov = cov.extent(0) > 0;
    for (int d = 0; d < D; ++d) {
      Scalar m = state_in != nullptr ? state_in[d] : Scalar(0);
      Scalar P = state_in != nullptr ? state_in[D + d] : Scalar(0);
      for (int t = t_begin; t < t_end; ++t) {
        Scalar e[5];
        element(s, t, d, e);
        if (state_in == nullptr && t == t_begin) {
          m = e[3];
          P = e[1];
        } else {
          propagate(m, P, e, m, P);
        }
        mean(s, t, d) = m;
        if (store_cov) cov(s, t, d) = P;
      }
      if (state_out != nullptr) {
        state_out[d] = m;
        state_out[D + d] = P;
      }
    }
  }

  /// Lane element [A, C, J, b, eta] at (s, t, d).
  KOKKOS_FUNCTION void element(int s, int t, int d, Scalar* e) const {
    const Scalar at = a(s, t, d), bt = b(s, t, d), r = y(s, t, d) - bt;
    e[0] = (Scalar(1) - k) * at;
    e[1] = Scalar(1) - k;
    e[2] = k * at * at;
    e[3] = bt + k * r;
    e[4] = k * at * r;
  }

  /// out = ej o ei on one lane (out may alias ei or ej).
  static KOKKOS_FUNCTION void combine_lane(const Scalar* ei, const Scalar* ej, Scalar* out) {
    const Scalar M = Scalar(1) / (Scalar(1) + ei[1] * ej[2]);
    const Scalar A = ej[0] * M * ei[0];
    const Scalar C = ej[0] * M * ei[1] * ej[0] + ej[1];
    const Scalar J = ei[0] * M * ej[2] * ei[0] + ei[2];
    const Scalar bb = ej[0] * M * (ei[3] + ei[1] * ej[4]) + ej[3];
    const Scalar eta = ei[0] * M * (ej[4] - ej[2] * ei[3]) + ei[4];
    out[0] = A;
    out[1] = C;
    out[2] = J;
    out[3] = bb;
    out[4] = eta;
  }

  /// (m, P) through element e: the b and C parts of e o (0, m, P, ., .).
  static KOKKOS_FUNCTION void propagate(Scalar m, Scalar P, const Scalar* e, Scalar& m_out,
                                        Scalar& P_out) {
    const Scalar M = Scalar(1) / (Scalar(1) + P * e[2]);
    m_out = e[0] * M * (m + P * e[4]) + e[3];
    P_out = e[0] * M * P * e[0] + e[1];
  }
};

/// Dense Rauch-Tung-Striebel smoother elements (E, g, L), scanned from the end: element i of
/// the scan is time t = T - 1 - i. Built on the fly from the filtered means and covariances
/// (m_t, P_t) and the model's A_{t+1}, b_{t+1}:
///   E_t = P_t F^T (F P_t F^T + I)^{-1}, g_t = m_t - E_t (F m_t + b_{t+1}), L_t = P_t - E_t F P_t
/// with F = A_{t+1}, and (0, m_T, P_T) at the sequences' last step. A summary stores E | L (D x D)
/// then g (D); a state is a smoothed mean and covariance. The sweep overwrites `mean` with the
/// smoothed means and, with `with_covariance`, `cov` with the smoothed covariances; without it, L
/// and the covariances are skipped (an ELK step needs only the means).
template <class Scalar, class MemorySpace>
struct DenseRtsSmootherAlgebra {
  using value_type = Scalar;
  Kokkos::View<const Scalar****, Kokkos::LayoutRight, MemorySpace> A;  ///< (B, T, D, D)
  Kokkos::View<const Scalar***, Kokkos::LayoutRight, MemorySpace> b;   ///< (B, T, D)
  Kokkos::View<Scalar***, Kokkos::LayoutRight, MemorySpace> mean;      ///< (B, T, D) in/out
  Kokkos::View<Scalar****, Kokkos::LayoutRight, MemorySpace> cov;      ///< (B, T, D, D) in/out
  bool with_covariance = true;
  /// A and b of the step after the local block when the block does not end the sequences (a
  /// distributed solve's halo), (B, D, D) and (B, D); empty: local step T-1 is the last one.
  Kokkos::View<const Scalar***, Kokkos::LayoutRight, MemorySpace> A_next;
  Kokkos::View<const Scalar**, Kokkos::LayoutRight, MemorySpace> b_next;

  KOKKOS_FUNCTION int batch() const { return static_cast<int>(mean.extent(0)); }
  KOKKOS_FUNCTION int length() const { return static_cast<int>(mean.extent(1)); }
  int summary_size() const { return element_size(dim()); }
  int state_size() const { return dim() + dim() * dim(); }
  int scratch_size() const {
    const int D = dim();
    return 2 * element_size(D) + 2 * (D + D * D) + 3 * D * D + D;
  }

  KOKKOS_FUNCTION int dim() const { return static_cast<int>(mean.extent(2)); }

  KOKKOS_FUNCTION void summarize(int s, int i_begin, int i_end, Scalar* summary,
                                 Scalar* scratch) const {
    const int D = dim();
    Scalar* e = scratch;
    Scalar* next = e + element_size(D);
    Scalar* work = next + element_size(D);
    Scalar* acc = summary;
    element(s, time(i_begin), acc, work);
    for (int i = i_begin + 1; i < i_end; ++i) {
      element(s, time(i), e, work);
      combine(acc, e, next, work);
      Scalar* tmp = acc;
      acc = next;
      next = tmp;
    }
    if (acc != summary) impl::copy(acc, summary, element_size(D));
  }

  /// out = later o earlier in scan order: x -> E_l (E_e x + g_e) + g_l.
  KOKKOS_FUNCTION void combine(const Scalar* earlier, const Scalar* later, Scalar* out,
                               Scalar* work) const {
    combine_parts(dim(), with_covariance, earlier, later, out, work);
  }

  /// combine() of D-dimensional elements (D: dim(), or a block's size for the block smoother).
  static KOKKOS_FUNCTION void combine_parts(int D, bool with_covariance, const Scalar* earlier,
                                            const Scalar* later, Scalar* out, Scalar* work) {
    using impl::Trans;
    const int DD = D * D;
    impl::gemm(Scalar(1), later, earlier, Scalar(0), out, D);
    impl::copy(later + 2 * DD, out + 2 * DD, D);
    impl::gemv(Scalar(1), later, D, D, earlier + 2 * DD, Scalar(1), out + 2 * DD);
    if (!with_covariance) return;
    impl::gemm(Scalar(1), later, earlier + DD, Scalar(0), work, D);
    impl::copy(later + DD, out + DD, DD);
    impl::gemm<Trans::NoTranspose, Trans::Transpose>(Scalar(1), work, later, Scalar(1), out + DD,
                                                     D);
    impl::symmetrize(out + DD, D);
  }

  KOKKOS_FUNCTION void apply(const Scalar* summary, const Scalar* state_in, Scalar* state_out,
                             Scalar* work) const {
    apply_parts(dim(), with_covariance, summary, state_in, state_out, work);
  }

  /// apply() for D-dimensional elements and states.
  static KOKKOS_FUNCTION void apply_parts(int D, bool with_covariance, const Scalar* summary,
                                          const Scalar* state_in, Scalar* state_out,
                                          Scalar* work) {
    using impl::Trans;
    const int DD = D * D;
    impl::copy(summary + 2 * DD, state_out, D);
    impl::gemv(Scalar(1), summary, D, D, state_in, Scalar(1), state_out);
    if (!with_covariance) return;
    impl::gemm(Scalar(1), summary, state_in + D, Scalar(0), work, D);
    impl::copy(summary + DD, state_out + D, DD);
    impl::gemm<Trans::NoTranspose, Trans::Transpose>(Scalar(1), work, summary, Scalar(1),
                                                     state_out + D, D);
    impl::symmetrize(state_out + D, D);
  }

  KOKKOS_FUNCTION void sweep(int s, int i_begin, int i_end, const Scalar* state_in,
                             Scalar* state_out, Scalar* scratch) const {
    const int D = dim();
    const int DD = D * D;
    Scalar* e = scratch;
    Scalar* states = e + element_size(D);
    Scalar* work = states + 2 * (D + DD);
    const Scalar* prev = state_in;
    for (int i = i_begin; i < i_end; ++i) {
      const int t = time(i);
      element(s, t, e, work);
      Scalar* cur = states + ((i - i_begin) % 2) * (D + DD);
      if (prev == nullptr) {  // t = T - 1: E = 0
        impl::copy(e + 2 * DD, cur, D);
        if (with_covariance) impl::copy(e + DD, cur + D, DD);
      } else {
        apply(e, prev, cur, work);
      }
      impl::copy(cur, &mean(s, t, 0), D);
      if (with_covariance) impl::copy(cur + D, &cov(s, t, 0, 0), DD);
      prev = cur;
    }
    if (state_out != nullptr) impl::copy(prev, state_out, D + DD);
  }

  KOKKOS_FUNCTION int time(int i) const { return length() - 1 - i; }
  static KOKKOS_FUNCTION int element_size(int D) { return 2 * D * D + D; }

  /// Element at time t into e = E | L | g (work: 3 D^2 + D scalars).
  KOKKOS_FUNCTION void element(int s, int t, Scalar* e, Scalar* work) const {
    const int T = static_cast<int>(mean.extent(1));
    const bool last = t == T - 1;
    const Scalar* F = !last ? &A(s, t + 1, 0, 0) : A_next.extent(0) > 0 ? &A_next(s, 0, 0) : nullptr;
    const Scalar* bn = !last ? &b(s, t + 1, 0) : F != nullptr ? &b_next(s, 0) : nullptr;
    element_parts(dim(), with_covariance, &mean(s, t, 0), &cov(s, t, 0, 0), F, bn, e, work);
  }

  /// The element of a D-dimensional model at time t from its filtered mean m and covariance P
  /// and the next step's F = A_{t+1} and b_{t+1} (F = nullptr: t is the sequences' last step).
  static KOKKOS_FUNCTION void element_parts(int D, bool with_covariance, const Scalar* m,
                                            const Scalar* P, const Scalar* F, const Scalar* bn,
                                            Scalar* e, Scalar* work) {
    using impl::Trans;
    const int DD = D * D;
    Scalar* E = e;
    Scalar* L = e + DD;
    Scalar* g = e + 2 * DD;
    if (F == nullptr) {
      for (int q = 0; q < DD; ++q) E[q] = Scalar(0);
      impl::copy(m, g, D);
      if (with_covariance) impl::copy(P, L, DD);
      return;
    }
    Scalar* FP = work;    // F P
    Scalar* S = FP + DD;  // F P F^T + I, factored
    Scalar* Y = S + DD;   // S^{-1} F P = E^T
    Scalar* w = Y + DD;   // F m + b_{t+1}
    impl::gemm(Scalar(1), F, P, Scalar(0), FP, D);
    impl::set_identity(S, D);
    impl::gemm<Trans::NoTranspose, Trans::Transpose>(Scalar(1), FP, F, Scalar(1), S, D);
    impl::lu(S, D);
    impl::copy(FP, Y, DD);
    impl::lu_solve(S, Y, D, D);
    for (int r = 0; r < D; ++r)
      for (int c = 0; c < D; ++c) E[r * D + c] = Y[c * D + r];
    for (int r = 0; r < D; ++r) w[r] = bn[r];
    impl::gemv(Scalar(1), F, D, D, m, Scalar(1), w);
    impl::copy(m, g, D);
    impl::gemv(Scalar(-1), E, D, D, w, Scalar(1), g);
    if (with_covariance) {
      impl::copy(P, L, DD);
      impl::gemm(Scalar(-1), E, FP, Scalar(1), L, D);
      impl::symmetrize(L, D);
    }
  }
};

/// Scalar RTS smoother elements for diagonal A_t (quasi-ELK), per lane:
///   E = P a / (a^2 P + 1), g = m - E (a m + b_{t+1}), L = P - E a P,  a = a_{t+1}.
/// A summary stores E | L | g (D each); a state is x | Ps (D each).
template <class Scalar, class MemorySpace>
struct ScalarRtsSmootherAlgebra {
  using value_type = Scalar;
  Kokkos::View<const Scalar***, Kokkos::LayoutRight, MemorySpace> a;  ///< (B, T, D)
  Kokkos::View<const Scalar***, Kokkos::LayoutRight, MemorySpace> b;  ///< (B, T, D)
  Kokkos::View<Scalar***, Kokkos::LayoutRight, MemorySpace> mean;     ///< (B, T, D) in/out
  Kokkos::View<Scalar***, Kokkos::LayoutRight, MemorySpace> cov;      ///< (B, T, D) in/out
  bool with_covariance = true;
  /// a and b of the step after the local block, (B, D) each; empty: T-1 is the last step.
  Kokkos::View<const Scalar**, Kokkos::LayoutRight, MemorySpace> a_next, b_next;

  KOKKOS_FUNCTION int batch() const { return static_cast<int>(mean.extent(0)); }
  KOKKOS_FUNCTION int length() const { return static_cast<int>(mean.extent(1)); }
  int summary_size() const { return 3 * dim(); }
  int state_size() const { return 2 * dim(); }
  int scratch_size() const { return 0; }

  KOKKOS_FUNCTION int dim() const { return static_cast<int>(mean.extent(2)); }
  KOKKOS_FUNCTION int time(int i) const { return length() - 1 - i; }

  KOKKOS_FUNCTION void summarize(int s, int i_begin, int i_end, Scalar* summary, Scalar*) const {
    const int D = dim();
    for (int d = 0; d < D; ++d) {
      Scalar e[3];
      element(s, time(i_begin), d, e);
      for (int i = i_begin + 1; i < i_end; ++i) {
        Scalar l[3];
        element(s, time(i), d, l);
        combine_lane(e, l, e);
      }
      for (int q = 0; q < 3; ++q) summary[q * D + d] = e[q];
    }
  }

  KOKKOS_FUNCTION void combine(const Scalar* earlier, const Scalar* later, Scalar* out,
                               Scalar*) const {
    const int D = dim();
    for (int d = 0; d < D; ++d) {
      Scalar ee[3] = {earlier[d], earlier[D + d], earlier[2 * D + d]};
      Scalar ll[3] = {later[d], later[D + d], later[2 * D + d]};
      combine_lane(ee, ll, ee);
      for (int q = 0; q < 3; ++q) out[q * D + d] = ee[q];
    }
  }

  KOKKOS_FUNCTION void apply(const Scalar* summary, const Scalar* state_in, Scalar* state_out,
                             Scalar*) const {
    const int D = dim();
    for (int d = 0; d < D; ++d) {
      const Scalar E = summary[d], L = summary[D + d], g = summary[2 * D + d];
      state_out[d] = E * state_in[d] + g;
      state_out[D + d] = E * state_in[D + d] * E + L;
    }
  }

  KOKKOS_FUNCTION void sweep(int s, int i_begin, int i_end, const Scalar* state_in,
                             Scalar* state_out, Scalar*) const {
    const int D = dim();
    for (int d = 0; d < D; ++d) {
      Scalar x = state_in != nullptr ? state_in[d] : Scalar(0);
      Scalar Ps = state_in != nullptr ? state_in[D + d] : Scalar(0);
      for (int i = i_begin; i < i_end; ++i) {
        const int t = time(i);
        Scalar e[3];
        element(s, t, d, e);
        if (state_in == nullptr && i == i_begin) {
          x = e[2];
          Ps = e[1];
        } else {
          x = e[0] * x + e[2];
          Ps = e[0] * Ps * e[0] + e[1];
        }
        mean(s, t, d) = x;
        if (with_covariance) cov(s, t, d) = Ps;
      }
      if (state_out != nullptr) {
        state_out[d] = x;
        state_out[D + d] = Ps;
      }
    }
  }

  /// Lane element [E, L, g] at time t.
  KOKKOS_FUNCTION void element(int s, int t, int d, Scalar* e) const {
    const Scalar m = mean(s, t, d), P = cov(s, t, d);
    const bool last = t == length() - 1;
    if (last && a_next.extent(0) == 0) {
      e[0] = Scalar(0);
      e[1] = P;
      e[2] = m;
      return;
    }
    const Scalar at = last ? a_next(s, d) : a(s, t + 1, d);
    const Scalar bt = last ? b_next(s, d) : b(s, t + 1, d);
    const Scalar E = P * at / (at * at * P + Scalar(1));
    e[0] = E;
    e[1] = P - E * at * P;
    e[2] = m - E * (at * m + bt);
  }

  /// out = later o earlier on one lane (out may alias either).
  static KOKKOS_FUNCTION void combine_lane(const Scalar* earlier, const Scalar* later,
                                           Scalar* out) {
    const Scalar E = later[0] * earlier[0];
    const Scalar L = later[0] * earlier[1] * later[0] + later[1];
    const Scalar g = later[0] * earlier[2] + later[2];
    out[0] = E;
    out[1] = L;
    out[2] = g;
  }
};

}  // namespace kelk
