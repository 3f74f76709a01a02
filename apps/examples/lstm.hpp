// An LSTM cell as a kelk step map written once, as a template over the scalar type, for
// kelk::AutoDiff (kelk_autodiff.hpp) to differentiate: no hand-written Jacobian.
// Used by apps/kelk_autodiff_example.cpp and tests/test_autodiff.cpp.
#pragma once

#include <kelk/kelk_autodiff.hpp>
#include <kelk/kelk_maps.hpp>

#include <Kokkos_Core.hpp>

#include <cstdint>
#include <random>

namespace kelk_examples {

/// LSTM cell (the torch.nn.LSTM convention), state s = (h, c) of D = 2H scalars:
///   i = sigma(W_i u + R_i h + b_i),  f = sigma(W_f u + R_f h + b_f),
///   g = tanh(W_g u + R_g h + b_g),   o = sigma(W_o u + R_o h + b_o),
///   c' = f c + i g,  h' = o tanh(c'),
/// with the four gates' weights stacked in the order i, f, g, o: W (4H x Din), R (4H x H),
/// b (4H). No built-in map covers it: its state is two vectors, and c' depends on c through
/// the forget gate only (dc'/dc = diag(f)), while h' depends on everything.
template <class Scalar, class MemorySpace = Kokkos::DefaultExecutionSpace::memory_space>
struct Lstm {
  using value_type = Scalar;
  Kokkos::View<Scalar**, Kokkos::LayoutRight, MemorySpace> W;  ///< (4H, Din) input weights
  Kokkos::View<Scalar**, Kokkos::LayoutRight, MemorySpace> R;  ///< (4H, H) recurrent weights
  Kokkos::View<Scalar*, Kokkos::LayoutRight, MemorySpace> b;   ///< (4H) biases

  int hidden() const { return static_cast<int>(R.extent(1)); }
  int state_dim() const { return 2 * hidden(); }
  int input_dim() const { return static_cast<int>(W.extent(1)); }
  int scratch_size() const { return 4 * hidden(); }  ///< the gate pre-activations

  template <class T>
  KOKKOS_FUNCTION void step(const T* s, const T* u, T* out, T* scratch) const {
    const int H = static_cast<int>(R.extent(1));
    const int Din = static_cast<int>(W.extent(1));
    const T* h = s;
    const T* c = s + H;
    T* a = scratch;  // pre-activations of i, f, g, o
    for (int r = 0; r < 4 * H; ++r) {
      T sum = T(b(r));
      for (int j = 0; j < Din; ++j) sum += W(r, j) * u[j];
      for (int j = 0; j < H; ++j) sum += R(r, j) * h[j];
      a[r] = sum;
    }
    for (int k = 0; k < H; ++k) {
      const T gi = kelk::ad::sigmoid(a[k]);
      const T gf = kelk::ad::sigmoid(a[H + k]);
      const T gg = kelk::ad::tanh(a[2 * H + k]);
      const T go = kelk::ad::sigmoid(a[3 * H + k]);
      const T cn = gf * c[k] + gi * gg;
      out[H + k] = cn;
      out[k] = go * kelk::ad::tanh(cn);
    }
  }
};

/// An LSTM with random weights: each gate's recurrent block has Frobenius norm
/// `recurrent_norm`, input weights uniform with scale 1/sqrt(Din), biases uniform in
/// [-0.1, 0.1] plus `forget_bias` on the forget gate (larger: the cell state lives longer).
template <class Scalar, class MemorySpace = Kokkos::DefaultExecutionSpace::memory_space>
Lstm<Scalar, MemorySpace> make_random_lstm(int H, int Din, double recurrent_norm,
                                           double forget_bias, std::uint64_t seed) {
  kelk::impl::check_dims("kelk_examples::make_random_lstm", H, Din);
  std::mt19937_64 rng(seed);
  Lstm<Scalar, MemorySpace> m;
  m.W = kelk::impl::random_matrix<Scalar, MemorySpace>("lstm::W", 4 * H, Din, -1.0, rng);
  m.R = kelk::impl::random_matrix<Scalar, MemorySpace>("lstm::R", 4 * H, H, 2 * recurrent_norm,
                                                       rng);  // norm 2x overall: ~x per gate
  auto b = kelk::impl::random_vector<Scalar, MemorySpace>("lstm::b", 4 * H, 0.1, rng);
  auto hb = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), b);
  for (int k = 0; k < H; ++k) hb(H + k) += static_cast<Scalar>(forget_bias);
  Kokkos::deep_copy(b, hb);
  m.b = b;
  return m;
}

}  // namespace kelk_examples
