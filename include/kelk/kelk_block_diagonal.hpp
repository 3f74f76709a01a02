// Block-diagonal element algebras for ChunkedScan (ALGORITHMS.md section 4.1): the affine scan,
// Kalman filter and RTS smoother of a linearised recurrence whose A_t is block diagonal, D / k
// blocks of k x k (JacobianStructure::block of quasi_deer and quasi_elk). The blocks never
// mix: O(D k^2) per composition instead of O(D^3) dense or O(D) diagonal. The affine algebra
// composes blocks with plain loops (impl::block_product); the Kalman filter and smoother run
// the dense algebras' element and composition (kelk_kalman.hpp) on every block with dimension k,
// so with k = D they perform the dense algebras' operations in the same order.
//
// Storage: A_t's blocks are (B, T, D k), block j's k x k entries row-major at [j k^2, (j+1) k^2);
// vectors (b_t, means) are (B, T, D) with block j's entries at [j k, (j + 1) k). A summary or
// state is the blocks' dense summaries or states one after another.
#pragma once

#include <kelk/impl/kelk_dense.hpp>
#include <kelk/kelk_affine.hpp>
#include <kelk/kelk_kalman.hpp>

#include <Kokkos_Core.hpp>

namespace kelk {

namespace impl {
/// C = A B for k x k row-major blocks, and y += A x: plain loops, which the compiler unrolls for
/// a block's small k. (The batched serial kernels of kelk_dense.hpp cost a View construction
/// per call, several times the arithmetic of a 2 x 2 block: measured on the affine scan at
/// D = 16, 227 ns per step with them against ... ns with these loops, PERFORMANCE.md.)
template <class Scalar>
KOKKOS_INLINE_FUNCTION void block_product(const Scalar* A, const Scalar* B, Scalar* C, int k) {
  for (int i = 0; i < k; ++i)
    for (int j = 0; j < k; ++j) {
      Scalar sum = Scalar(0);
      for (int l = 0; l < k; ++l) sum += A[i * k + l] * B[l * k + j];
      C[i * k + j] = sum;
    }
}
template <class Scalar>
KOKKOS_INLINE_FUNCTION void block_apply_add(const Scalar* A, const Scalar* x, Scalar* y, int k) {
  for (int i = 0; i < k; ++i) {
    Scalar sum = y[i];
    for (int l = 0; l < k; ++l) sum += A[i * k + l] * x[l];
    y[i] = sum;
  }
}
/// out = later o earlier for one block's affine summaries (A | b): (A_l A_e, A_l b_e + b_l).
template <class Scalar>
KOKKOS_INLINE_FUNCTION void block_compose(const Scalar* earlier, const Scalar* later, Scalar* out,
                                          int k) {
  const int kk = k * k;
  block_product(later, earlier, out, k);
  for (int i = 0; i < k; ++i) out[kk + i] = later[kk + i];
  block_apply_add(later, earlier + kk, out + kk, k);
}
}  // namespace impl

/// Block-diagonal affine elements e_t = (blockdiag(A_t), b_t). A summary is, per block, A | b
/// (k^2 + k); a state is a D-vector. The sweep overwrites b with the trajectory.
template <class Scalar, class MemorySpace>
struct BlockAffineAlgebra {
  using value_type = Scalar;
  Kokkos::View<Scalar***, Kokkos::LayoutRight, MemorySpace> A;  ///< (B, T, D k)
  Kokkos::View<Scalar***, Kokkos::LayoutRight, MemorySpace> b;  ///< (B, T, D): in b_t, out s_t
  int block = 1;                                                ///< k

  KOKKOS_FUNCTION int batch() const { return static_cast<int>(b.extent(0)); }
  KOKKOS_FUNCTION int length() const { return static_cast<int>(b.extent(1)); }
  KOKKOS_FUNCTION int dim() const { return static_cast<int>(b.extent(2)); }
  KOKKOS_FUNCTION int blocks() const { return dim() / block; }
  int summary_size() const { return blocks() * (block * block + block); }
  int state_size() const { return dim(); }
  int scratch_size() const { return blocks() * (block * block + block); }

  KOKKOS_FUNCTION void summarize(int s, int t_begin, int t_end, Scalar* summary,
                                 Scalar* scratch) const {
    // time outermost, so that each step's blocks are read contiguously; the summaries of all
    // blocks ping-pong between `summary` and the scratch
    const int k = block, kk = k * k, size = kk + k, n = blocks();
    Scalar* acc = summary;
    Scalar* next = scratch;
    for (int j = 0; j < n; ++j) {
      impl::copy(&A(s, t_begin, j * kk), acc + j * size, kk);
      impl::copy(&b(s, t_begin, j * k), acc + j * size + kk, k);
    }
    for (int t = t_begin + 1; t < t_end; ++t) {
      const Scalar* At = &A(s, t, 0);
      const Scalar* bt = &b(s, t, 0);
      for (int j = 0; j < n; ++j) {
        const Scalar* Aj = At + j * kk;
        const Scalar* cur = acc + j * size;
        Scalar* out = next + j * size;
        impl::block_product(Aj, cur, out, k);
        for (int i = 0; i < k; ++i) out[kk + i] = bt[j * k + i];
        impl::block_apply_add(Aj, cur + kk, out + kk, k);
      }
      Scalar* tmp = acc;
      acc = next;
      next = tmp;
    }
    if (acc != summary) impl::copy(acc, summary, n * size);
  }

  KOKKOS_FUNCTION void combine(const Scalar* earlier, const Scalar* later, Scalar* out,
                               Scalar*) const {
    const int k = block, size = k * k + k;
    for (int j = 0; j < blocks(); ++j)
      impl::block_compose(earlier + j * size, later + j * size, out + j * size, k);
  }

  KOKKOS_FUNCTION void apply(const Scalar* summary, const Scalar* x_in, Scalar* x_out,
                             Scalar*) const {
    const int k = block, kk = k * k, size = kk + k;
    for (int j = 0; j < blocks(); ++j) {
      impl::copy(summary + j * size + kk, x_out + j * k, k);
      impl::block_apply_add(summary + j * size, x_in + j * k, x_out + j * k, k);
    }
  }

  KOKKOS_FUNCTION void sweep(int s, int t_begin, int t_end, const Scalar* x_in, Scalar* x_out,
                             Scalar*) const {
    const int k = block, D = dim();
    const Scalar* prev = x_in;  // nullptr at a sequence start: s_0 = b_0
    for (int t = t_begin; t < t_end; ++t) {
      Scalar* xt = &b(s, t, 0);
      if (prev != nullptr) {
        const Scalar* At = &A(s, t, 0);
        for (int d = 0; d < D; ++d) {  // row d of block d / k
          const Scalar* row = At + d * k;
          const Scalar* x = prev + d / k * k;
          Scalar sum = xt[d];
          for (int c = 0; c < k; ++c) sum += row[c] * x[c];
          xt[d] = sum;
        }
      }
      prev = xt;
    }
    if (x_out != nullptr) impl::copy(prev, x_out, D);
  }
};

/// Block-diagonal Kalman filter elements (quasi_elk with blocks): the model
/// z_t = A_t z_{t-1} + b_t + w_t, y_t = z_t + v_t with block-diagonal A_t and Q = I,
/// R = sigma2 I splits into D / k independent k-dimensional filters, each run with
/// DenseKalmanFilterAlgebra's element and composition. A summary is, per block,
/// A | C | J | b | eta; a state is, per block, m | P (k + k^2). Outputs as for the dense
/// filter; `cov` holds the blocks of the filtered covariances, (B, T, D k), or is empty.
template <class Scalar, class MemorySpace>
struct BlockKalmanFilterAlgebra {
  using value_type = Scalar;
  using Dense = DenseKalmanFilterAlgebra<Scalar, MemorySpace>;
  Kokkos::View<Scalar***, Kokkos::LayoutRight, MemorySpace> A;        ///< (B, T, D k), A_0 = 0
  Kokkos::View<Scalar***, Kokkos::LayoutRight, MemorySpace> b;        ///< (B, T, D)
  Kokkos::View<const Scalar***, Kokkos::LayoutRight, MemorySpace> y;  ///< (B, T, D)
  Kokkos::View<Scalar***, Kokkos::LayoutRight, MemorySpace> mean;     ///< (B, T, D) out
  Kokkos::View<Scalar***, Kokkos::LayoutRight, MemorySpace> cov;      ///< (B, T, D k) or empty
  Scalar k = Scalar(0);                                               ///< kalman_gain(sigma2)
  int block = 1;

  KOKKOS_FUNCTION int batch() const { return static_cast<int>(b.extent(0)); }
  KOKKOS_FUNCTION int length() const { return static_cast<int>(b.extent(1)); }
  KOKKOS_FUNCTION int dim() const { return static_cast<int>(b.extent(2)); }
  KOKKOS_FUNCTION int blocks() const { return dim() / block; }
  int summary_size() const { return blocks() * Dense::element_size(block); }
  int state_size() const { return blocks() * (block + block * block); }
  int scratch_size() const {
    const int n = block;
    return 2 * Dense::element_size(n) + 2 * (n + n * n) + Dense::combine_work(n);
  }

  KOKKOS_FUNCTION void summarize(int s, int t_begin, int t_end, Scalar* summary,
                                 Scalar* scratch) const {
    const int n = block, size = Dense::element_size(n);
    Scalar* e = scratch;
    Scalar* work = e + 2 * size;
    for (int j = 0; j < blocks(); ++j) {
      Scalar* acc = summary + j * size;
      Scalar* next = e + size;
      element(s, t_begin, j, acc);
      for (int t = t_begin + 1; t < t_end; ++t) {
        element(s, t, j, e);
        combine_block(acc, e, next, work);
        Scalar* tmp = acc;
        acc = next;
        next = tmp;
      }
      if (acc != summary + j * size) impl::copy(acc, summary + j * size, size);
    }
  }

  KOKKOS_FUNCTION void combine(const Scalar* ei, const Scalar* ej, Scalar* out,
                               Scalar* work) const {
    const int size = Dense::element_size(block);
    for (int j = 0; j < blocks(); ++j)
      combine_block(ei + j * size, ej + j * size, out + j * size, work);
  }

  KOKKOS_FUNCTION void apply(const Scalar* summary, const Scalar* state_in, Scalar* state_out,
                             Scalar* work) const {
    const int n = block, size = Dense::element_size(n), state = n + n * n;
    for (int j = 0; j < blocks(); ++j) {
      const Scalar* in = state_in + j * state;
      Scalar* out = state_out + j * state;
      Dense::combine_parts(n, nullptr, in, in + n, nullptr, nullptr, summary + j * size, nullptr,
                           out, out + n, nullptr, nullptr, work);
    }
  }

  KOKKOS_FUNCTION void sweep(int s, int t_begin, int t_end, const Scalar* state_in,
                             Scalar* state_out, Scalar* scratch) const {
    const int n = block, nn = n * n, state = n + nn;
    Scalar* e = scratch;
    Scalar* states = e + Dense::element_size(n);  // two states, ping-pong
    Scalar* work = states + 2 * state;
    for (int j = 0; j < blocks(); ++j) {
      const Scalar* prev = state_in != nullptr ? state_in + j * state : nullptr;
      for (int t = t_begin; t < t_end; ++t) {
        element(s, t, j, e);
        Scalar* cur = states + ((t - t_begin) % 2) * state;
        if (prev == nullptr) {  // a sequence start: A_0 = 0, the state is the element's (b, C)
          impl::copy(e + 3 * nn, cur, n);
          impl::copy(e + nn, cur + n, nn);
        } else {
          Dense::combine_parts(n, nullptr, prev, prev + n, nullptr, nullptr, e, nullptr, cur,
                               cur + n, nullptr, nullptr, work);
        }
        impl::copy(cur, &mean(s, t, j * n), n);
        if (cov.extent(0) > 0) impl::copy(cur + n, &cov(s, t, j * nn), nn);
        prev = cur;
      }
      if (state_out != nullptr) impl::copy(prev, state_out + j * state, state);
    }
  }

  /// Block j's element at step t.
  KOKKOS_FUNCTION void element(int s, int t, int j, Scalar* e) const {
    const int n = block;
    Dense::element_parts(n, k, &A(s, t, j * n * n), &b(s, t, j * n), &y(s, t, j * n), e);
  }

  /// out = e_j o e_i for one block's elements.
  KOKKOS_FUNCTION void combine_block(const Scalar* ei, const Scalar* ej, Scalar* out,
                                     Scalar* work) const {
    const int n = block, nn = n * n;
    Dense::combine_parts(n, ei, ei + 3 * nn, ei + nn, ei + 2 * nn, ei + 3 * nn + n, ej, out,
                         out + 3 * nn, out + nn, out + 2 * nn, out + 3 * nn + n, work);
  }
};

/// Block-diagonal RTS smoother elements (quasi_elk with blocks and the smoother): per block,
/// DenseRtsSmootherAlgebra's element and composition with dimension k. A summary is, per block,
/// E | L | g; a state is, per block, x | P (k + k^2).
template <class Scalar, class MemorySpace>
struct BlockRtsSmootherAlgebra {
  using value_type = Scalar;
  using Dense = DenseRtsSmootherAlgebra<Scalar, MemorySpace>;
  Kokkos::View<const Scalar***, Kokkos::LayoutRight, MemorySpace> A;  ///< (B, T, D k)
  Kokkos::View<const Scalar***, Kokkos::LayoutRight, MemorySpace> b;  ///< (B, T, D)
  Kokkos::View<Scalar***, Kokkos::LayoutRight, MemorySpace> mean;     ///< (B, T, D) in/out
  Kokkos::View<Scalar***, Kokkos::LayoutRight, MemorySpace> cov;      ///< (B, T, D k) in/out
  bool with_covariance = true;
  /// A's blocks and b of the step after the local block, (B, D k) and (B, D); empty: T - 1 is
  /// the sequences' last step.
  Kokkos::View<const Scalar**, Kokkos::LayoutRight, MemorySpace> A_next, b_next;
  int block = 1;

  KOKKOS_FUNCTION int batch() const { return static_cast<int>(mean.extent(0)); }
  KOKKOS_FUNCTION int length() const { return static_cast<int>(mean.extent(1)); }
  KOKKOS_FUNCTION int dim() const { return static_cast<int>(mean.extent(2)); }
  KOKKOS_FUNCTION int blocks() const { return dim() / block; }
  KOKKOS_FUNCTION int time(int i) const { return length() - 1 - i; }
  int summary_size() const { return blocks() * Dense::element_size(block); }
  int state_size() const { return blocks() * (block + block * block); }
  int scratch_size() const {
    const int n = block;
    return 2 * Dense::element_size(n) + 2 * (n + n * n) + 3 * n * n + n;
  }

  KOKKOS_FUNCTION void summarize(int s, int i_begin, int i_end, Scalar* summary,
                                 Scalar* scratch) const {
    const int n = block, size = Dense::element_size(n);
    Scalar* e = scratch;
    Scalar* work = e + 2 * size;
    for (int j = 0; j < blocks(); ++j) {
      Scalar* acc = summary + j * size;
      Scalar* next = e + size;
      element(s, time(i_begin), j, acc, work);
      for (int i = i_begin + 1; i < i_end; ++i) {
        element(s, time(i), j, e, work);
        Dense::combine_parts(n, with_covariance, acc, e, next, work);
        Scalar* tmp = acc;
        acc = next;
        next = tmp;
      }
      if (acc != summary + j * size) impl::copy(acc, summary + j * size, size);
    }
  }

  KOKKOS_FUNCTION void combine(const Scalar* earlier, const Scalar* later, Scalar* out,
                               Scalar* work) const {
    const int size = Dense::element_size(block);
    for (int j = 0; j < blocks(); ++j)
      Dense::combine_parts(block, with_covariance, earlier + j * size, later + j * size,
                           out + j * size, work);
  }

  KOKKOS_FUNCTION void apply(const Scalar* summary, const Scalar* state_in, Scalar* state_out,
                             Scalar* work) const {
    const int n = block, size = Dense::element_size(n), state = n + n * n;
    for (int j = 0; j < blocks(); ++j)
      Dense::apply_parts(n, with_covariance, summary + j * size, state_in + j * state,
                         state_out + j * state, work);
  }

  KOKKOS_FUNCTION void sweep(int s, int i_begin, int i_end, const Scalar* state_in,
                             Scalar* state_out, Scalar* scratch) const {
    const int n = block, nn = n * n, state = n + nn;
    Scalar* e = scratch;
    Scalar* states = e + Dense::element_size(n);
    Scalar* work = states + 2 * state;
    for (int j = 0; j < blocks(); ++j) {
      const Scalar* prev = state_in != nullptr ? state_in + j * state : nullptr;
      for (int i = i_begin; i < i_end; ++i) {
        const int t = time(i);
        element(s, t, j, e, work);
        Scalar* cur = states + ((i - i_begin) % 2) * state;
        if (prev == nullptr) {  // t = T - 1: E = 0
          impl::copy(e + 2 * nn, cur, n);
          if (with_covariance) impl::copy(e + nn, cur + n, nn);
        } else {
          Dense::apply_parts(n, with_covariance, e, prev, cur, work);
        }
        impl::copy(cur, &mean(s, t, j * n), n);
        if (with_covariance) impl::copy(cur + n, &cov(s, t, j * nn), nn);
        prev = cur;
      }
      if (state_out != nullptr) impl::copy(prev, state_out + j * state, state);
    }
  }

  /// Block j's element at time t into e = E | L | g (work: 3 k^2 + k scalars).
  KOKKOS_FUNCTION void element(int s, int t, int j, Scalar* e, Scalar* work) const {
    const int n = block, nn = n * n;
    const bool last = t == length() - 1;
    const Scalar* F = !last                 ? &A(s, t + 1, j * nn)
                      : A_next.extent(0) > 0 ? &A_next(s, j * nn)
                                             : nullptr;
    const Scalar* bn = !last ? &b(s, t + 1, j * n) : F != nullptr ? &b_next(s, j * n) : nullptr;
    Dense::element_parts(n, with_covariance, &mean(s, t, j * n), &cov(s, t, j * nn), F, bn, e,
                         work);
  }
};

}  // namespace kelk
