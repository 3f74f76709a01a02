// The built-in LSTM step map (torch.nn.LSTM's cell) with its closed-form Jacobian, diagonal,
// vector-Jacobian product, projected form, and constructors with random weights.
#pragma once

#include <kelk/impl/kelk_map_common.hpp>

namespace kelk {

namespace impl {
/// The LSTM cell's derivative terms of one entry k, from the gates i, f, g, o, the previous
/// cell c and the new cell c' (ALGORITHMS.md, "The LSTM cell"):
///   dc'_k/dh = a_i W_hi(k,:) + a_f W_hf(k,:) + a_g W_hg(k,:),  dc'_k/dc_k = f,
///   dh'_k/dh = a_o W_ho(k,:) + b dc'_k/dh,                     dh'_k/dc_k = b f,
/// with a_i = g i (1 - i), a_f = c f (1 - f), a_g = i (1 - g^2), tau = tanh(c'),
/// b = o (1 - tau^2) and a_o = o (1 - o) tau.
template <class T>
struct LstmTerms {
  T a_i, a_f, a_g, a_o, b;
  KOKKOS_INLINE_FUNCTION LstmTerms(T i, T f, T g, T o, T c, T c_new) {
    const T tau = math::tanh(c_new);
    a_i = g * i * (T(1) - i);
    a_f = c * f * (T(1) - f);
    a_g = i * (T(1) - g * g);
    b = o * (T(1) - tau * tau);
    a_o = o * (T(1) - o) * tau;
  }
};
}  // namespace impl

/// LSTM cell (torch.nn.LSTM's, one layer) on the state s = [h, c] of D = 2H entries:
///   i  = sigma(W_ii u + W_hi h + b_i),   f = sigma(W_if u + W_hf h + b_f),
///   g  = tanh (W_ig u + W_hg h + b_g),   o = sigma(W_io u + W_ho h + b_o),
///   c' = f * c + i * g,                  h' = o * tanh(c').
/// torch's two biases of a gate add up to kelk's one (b_i = b_ii + b_hi, ...). The Jacobian
/// (2H x 2H) has the blocks
///   dc'/dh = diag(a_i) W_hi + diag(a_f) W_hf + diag(a_g) W_hg,  dc'/dc = diag(f),
///   dh'/dh = diag(a_o) W_ho + diag(b) dc'/dh,                    dh'/dc = diag(b f),
/// with a_i = g i (1 - i), a_f = c f (1 - f), a_g = i (1 - g^2), b = o (1 - tanh^2 c'),
/// a_o = o (1 - o) tanh c'. The diagonal takes the weights' diagonals only: O(H) after f.
template <class Scalar, class MemorySpace = Kokkos::DefaultExecutionSpace::memory_space>
struct Lstm {
  using value_type = Scalar;
  using memory_space = MemorySpace;

  impl::WeightMatrix<Scalar, MemorySpace> W_ii, W_if, W_ig, W_io;  ///< (H, Din) input weights
  impl::WeightMatrix<Scalar, MemorySpace> W_hi, W_hf, W_hg, W_ho;  ///< (H, H) recurrent weights
  impl::WeightVector<Scalar, MemorySpace> b_i, b_f, b_g, b_o;      ///< (H) biases

  /// H, the hidden size (the state holds h and c: D = 2H). Callable in kernels too (the cell's
  /// functions use them).
  KOKKOS_INLINE_FUNCTION int hidden_dim() const { return static_cast<int>(W_hi.extent(0)); }
  KOKKOS_INLINE_FUNCTION int state_dim() const { return 2 * hidden_dim(); }
  KOKKOS_INLINE_FUNCTION int input_dim() const { return static_cast<int>(W_ii.extent(1)); }
  /// The gates i, f, g, o.
  int scratch_size() const { return 4 * hidden_dim(); }

  KOKKOS_FUNCTION void step(const Scalar* s, const Scalar* u, Scalar* out, Scalar* scratch) const {
    cell(s, u, out, scratch);
  }

  KOKKOS_FUNCTION void jacobian(const Scalar* s, const Scalar* u, Scalar* out, Scalar* jac,
                                Scalar* scratch) const {
    const int H = hidden_dim(), D = 2 * H;
    cell(s, u, out, scratch);
    const Scalar *i = scratch, *f = scratch + H, *g = scratch + 2 * H, *o = scratch + 3 * H;
    for (int k = 0; k < H; ++k) {
      const impl::LstmTerms<Scalar> t(i[k], f[k], g[k], o[k], s[H + k], out[H + k]);
      Scalar* hrow = jac + k * D;        // dh'_k / ds
      Scalar* crow = jac + (H + k) * D;  // dc'_k / ds
      for (int j = 0; j < H; ++j) {
        const Scalar dc = t.a_i * W_hi(k, j) + t.a_f * W_hf(k, j) + t.a_g * W_hg(k, j);
        crow[j] = dc;
        hrow[j] = t.a_o * W_ho(k, j) + t.b * dc;
        crow[H + j] = Scalar(0);
        hrow[H + j] = Scalar(0);
      }
      crow[H + k] = f[k];
      hrow[H + k] = t.b * f[k];
    }
  }

  KOKKOS_FUNCTION void jacobian_diagonal(const Scalar* s, const Scalar* u, Scalar* out,
                                         Scalar* diag, Scalar* scratch) const {
    const int H = hidden_dim();
    cell(s, u, out, scratch);
    const Scalar *i = scratch, *f = scratch + H, *g = scratch + 2 * H, *o = scratch + 3 * H;
    for (int k = 0; k < H; ++k) {
      const impl::LstmTerms<Scalar> t(i[k], f[k], g[k], o[k], s[H + k], out[H + k]);
      const Scalar dc = t.a_i * W_hi(k, k) + t.a_f * W_hf(k, k) + t.a_g * W_hg(k, k);
      diag[k] = t.a_o * W_ho(k, k) + t.b * dc;
      diag[H + k] = f[k];
    }
  }

  /// Vector-Jacobian product (kelk_step_map.hpp), for the cotangent lambda = [l_h, l_c]:
  ///   e = l_c + l_h b (the cotangent of c'), and of the pre-activations
  ///   d_i = e g i (1 - i), d_f = e c f (1 - f), d_g = e i (1 - g^2), d_o = l_h o (1 - o) tau;
  ///   ds_h += W_hi^T d_i + W_hf^T d_f + W_hg^T d_g + W_ho^T d_o,  ds_c += e f,
  ///   du += W_ii^T d_i + ... + W_io^T d_o; the weights get the outer products with u and h.
  /// Parameters: W_ii, W_if, W_ig, W_io (H, Din), W_hi, W_hf, W_hg, W_ho (H, H), b_i, b_f,
  /// b_g, b_o (H), the model file's datasets in that order.
  int vjp_scratch_size() const { return 4 * hidden_dim(); }
  std::vector<ParameterBlock> parameter_layout() const {
    const std::size_t H = hidden_dim(), Din = input_dim();
    return {{"W_ii", {H, Din}}, {"W_if", {H, Din}}, {"W_ig", {H, Din}}, {"W_io", {H, Din}},
            {"W_hi", {H, H}},   {"W_hf", {H, H}},   {"W_hg", {H, H}},   {"W_ho", {H, H}},
            {"b_i", {H}},       {"b_f", {H}},       {"b_g", {H}},       {"b_o", {H}}};
  }
  KOKKOS_FUNCTION void vjp(const Scalar* s, const Scalar* u, const Scalar* lambda, Scalar* ds,
                           Scalar* du, Scalar* dtheta, Scalar* scratch) const {
    const int H = hidden_dim(), Din = input_dim();
    // the gates, then in place the cotangents of their pre-activations
    Scalar *i = scratch, *f = scratch + H, *g = scratch + 2 * H, *o = scratch + 3 * H;
    gate_values(s, u, scratch);
    for (int k = 0; k < H; ++k) {
      const Scalar c_new = f[k] * s[H + k] + i[k] * g[k];
      const impl::LstmTerms<Scalar> t(i[k], f[k], g[k], o[k], s[H + k], c_new);
      const Scalar e = lambda[H + k] + lambda[k] * t.b;
      ds[H + k] += e * f[k];
      i[k] = e * t.a_i;
      f[k] = e * t.a_f;
      g[k] = e * t.a_g;
      o[k] = lambda[k] * t.a_o;
    }
    impl::gemv_t(Scalar(1), W_hi.data(), H, H, i, Scalar(1), ds);
    impl::gemv_t(Scalar(1), W_hf.data(), H, H, f, Scalar(1), ds);
    impl::gemv_t(Scalar(1), W_hg.data(), H, H, g, Scalar(1), ds);
    impl::gemv_t(Scalar(1), W_ho.data(), H, H, o, Scalar(1), ds);
    if (du != nullptr && Din > 0) {
      impl::gemv_t(Scalar(1), W_ii.data(), H, Din, i, Scalar(1), du);
      impl::gemv_t(Scalar(1), W_if.data(), H, Din, f, Scalar(1), du);
      impl::gemv_t(Scalar(1), W_ig.data(), H, Din, g, Scalar(1), du);
      impl::gemv_t(Scalar(1), W_io.data(), H, Din, o, Scalar(1), du);
    }
    if (dtheta != nullptr) {
      const int HI = H * Din, HH = H * H;
      Scalar* p = dtheta;
      impl::add_outer(i, u, p, H, Din);
      impl::add_outer(f, u, p + HI, H, Din);
      impl::add_outer(g, u, p + 2 * HI, H, Din);
      impl::add_outer(o, u, p + 3 * HI, H, Din);
      p += 4 * HI;
      impl::add_outer(i, s, p, H, H);
      impl::add_outer(f, s, p + HH, H, H);
      impl::add_outer(g, s, p + 2 * HH, H, H);
      impl::add_outer(o, s, p + 3 * HH, H, H);
      p += 4 * HH;
      for (int k = 0; k < H; ++k) {
        p[k] += i[k];
        p[H + k] += f[k];
        p[2 * H + k] += g[k];
        p[3 * H + k] += o[k];
      }
    }
  }

  /// Projected form (kelk_step_map.hpp), P = 4H: ws = W s with W = [W_hi; W_hf; W_hg; W_ho]
  /// padded with H zero columns (the cell state c enters no gate), vu = [W_ii; ...; W_io] u.
  /// The padding doubles the recurrent product's work in the `sequential` method; built on
  /// each call (once per solve).
  int projection_dim() const { return 4 * hidden_dim(); }
  Kokkos::View<const Scalar**, Kokkos::LayoutRight, MemorySpace> recurrent_weights() const {
    const int H = hidden_dim();
    const auto stacked = impl::stack_rows("kelk::Lstm::W_h", {W_hi, W_hf, W_hg, W_ho});
    impl::WeightMatrix<Scalar, MemorySpace> padded("kelk::Lstm::W_h_padded", 4 * H, 2 * H);
    Kokkos::deep_copy(Kokkos::subview(padded, Kokkos::ALL, std::make_pair(0, H)), stacked);
    return padded;
  }
  Kokkos::View<const Scalar**, Kokkos::LayoutRight, MemorySpace> input_weights() const {
    return impl::stack_rows("kelk::Lstm::W_i", {W_ii, W_if, W_ig, W_io});
  }
  KOKKOS_FUNCTION void finish_step(const Scalar* s, const Scalar* ws, const Scalar* vu,
                                   Scalar* KOKKOS_RESTRICT out) const {
    const int H = hidden_dim();
    const Scalar *bi = b_i.data(), *bf = b_f.data(), *bg = b_g.data(), *bo = b_o.data();
    for (int k = 0; k < H; ++k) {
      const Scalar i = math::sigmoid(bi[k] + vu[k] + ws[k]);
      const Scalar f = math::sigmoid(bf[k] + vu[H + k] + ws[H + k]);
      const Scalar g = math::tanh(bg[k] + vu[2 * H + k] + ws[2 * H + k]);
      const Scalar o = math::sigmoid(bo[k] + vu[3 * H + k] + ws[3 * H + k]);
      const Scalar c = f * s[H + k] + i * g;
      out[H + k] = c;
      out[k] = o * math::tanh(c);
    }
  }

 private:
  /// out = [h', c'], scratch = [i, f, g, o].
  KOKKOS_FUNCTION void cell(const Scalar* s, const Scalar* u, Scalar* out, Scalar* scratch) const {
    const int H = hidden_dim();
    gate_values(s, u, scratch);
    const Scalar *i = scratch, *f = scratch + H, *g = scratch + 2 * H, *o = scratch + 3 * H;
    for (int k = 0; k < H; ++k) {
      const Scalar c = f[k] * s[H + k] + i[k] * g[k];
      out[H + k] = c;
      out[k] = o[k] * math::tanh(c);
    }
  }

  /// scratch = [i, f, g, o] from h = s[0, H) and u.
  KOKKOS_FUNCTION void gate_values(const Scalar* s, const Scalar* u, Scalar* scratch) const {
    const int H = hidden_dim(), Din = input_dim();
    Scalar *i = scratch, *f = scratch + H, *g = scratch + 2 * H, *o = scratch + 3 * H;
    for (int k = 0; k < H; ++k) {
      i[k] = b_i(k);
      f[k] = b_f(k);
      g[k] = b_g(k);
      o[k] = b_o(k);
    }
    impl::gemv(Scalar(1), W_ii.data(), H, Din, u, Scalar(1), i);
    impl::gemv(Scalar(1), W_hi.data(), H, H, s, Scalar(1), i);
    impl::gemv(Scalar(1), W_if.data(), H, Din, u, Scalar(1), f);
    impl::gemv(Scalar(1), W_hf.data(), H, H, s, Scalar(1), f);
    impl::gemv(Scalar(1), W_ig.data(), H, Din, u, Scalar(1), g);
    impl::gemv(Scalar(1), W_hg.data(), H, H, s, Scalar(1), g);
    impl::gemv(Scalar(1), W_io.data(), H, Din, u, Scalar(1), o);
    impl::gemv(Scalar(1), W_ho.data(), H, H, s, Scalar(1), o);
    for (int k = 0; k < H; ++k) {
      i[k] = math::sigmoid(i[k]);
      f[k] = math::sigmoid(f[k]);
      g[k] = math::tanh(g[k]);
      o[k] = math::sigmoid(o[k]);
    }
  }
};

/// An LSTM with random weights and hidden size H (state dimension 2H): each recurrent matrix
/// has Frobenius norm `recurrent_norm`, input weights are uniform with scale 1/sqrt(Din),
/// biases uniform in [-0.1, 0.1]. The forget gate's bias is shifted by `forget_bias` (the
/// usual initialisation uses 1: the cell remembers longer).
template <class Scalar, class MemorySpace = Kokkos::DefaultExecutionSpace::memory_space>
Lstm<Scalar, MemorySpace> make_random_lstm(int H, int Din, double recurrent_norm,
                                           std::uint64_t seed, double forget_bias = 0.0) {
  impl::check_dims("kelk::make_random_lstm", H, Din);
  std::mt19937_64 rng(seed);
  Lstm<Scalar, MemorySpace> m;
  const auto input = [&](const char* label) {
    return impl::random_matrix<Scalar, MemorySpace>(label, H, Din, -1.0, rng);
  };
  const auto recurrent = [&](const char* label) {
    return impl::random_matrix<Scalar, MemorySpace>(label, H, H, recurrent_norm, rng);
  };
  const auto bias = [&](const char* label) {
    return impl::random_vector<Scalar, MemorySpace>(label, H, 0.1, rng);
  };
  m.W_ii = input("kelk::Lstm::W_ii");
  m.W_if = input("kelk::Lstm::W_if");
  m.W_ig = input("kelk::Lstm::W_ig");
  m.W_io = input("kelk::Lstm::W_io");
  m.W_hi = recurrent("kelk::Lstm::W_hi");
  m.W_hf = recurrent("kelk::Lstm::W_hf");
  m.W_hg = recurrent("kelk::Lstm::W_hg");
  m.W_ho = recurrent("kelk::Lstm::W_ho");
  m.b_i = bias("kelk::Lstm::b_i");
  m.b_f = bias("kelk::Lstm::b_f");
  m.b_g = bias("kelk::Lstm::b_g");
  m.b_o = bias("kelk::Lstm::b_o");
  if (forget_bias != 0.0) {
    auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), m.b_f);
    for (int k = 0; k < H; ++k) h(k) += static_cast<Scalar>(forget_bias);
    Kokkos::deep_copy(m.b_f, h);
  }
  return m;
}

}  // namespace kelk
