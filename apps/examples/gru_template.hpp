// The built-in GRU's step (kelk::Gru, ALGORITHMS.md section 10) written once as a template over
// the scalar type, on a built-in map's weights, for kelk::AutoDiff: the same recurrence with
// automatic instead of closed-form Jacobians. Used by apps/kelk_autodiff_example.cpp (the cost
// comparison) and tests/test_autodiff.cpp (AD against the closed forms).
#pragma once

#include <kelk/kelk_autodiff.hpp>
#include <kelk/kelk_maps.hpp>

namespace kelk_examples {

template <class Scalar>
struct GruTemplate {
  using value_type = Scalar;
  kelk::Gru<Scalar> m;
  int state_dim() const { return m.state_dim(); }
  int input_dim() const { return m.input_dim(); }
  int scratch_size() const { return 0; }
  template <class T>
  KOKKOS_FUNCTION void step(const T* h, const T* u, T* f, T*) const {
    const int D = int(m.W_hr.extent(0)), Din = int(m.W_ir.extent(1));  // device-callable
    for (int i = 0; i < D; ++i) {
      T r = T(m.b_ir(i)), z = T(m.b_iz(i)), n = T(m.b_in(i)), g = T(m.b_hn(i));
      for (int j = 0; j < Din; ++j) {
        r += m.W_ir(i, j) * u[j];
        z += m.W_iz(i, j) * u[j];
        n += m.W_in(i, j) * u[j];
      }
      for (int j = 0; j < D; ++j) {
        r += m.W_hr(i, j) * h[j];
        z += m.W_hz(i, j) * h[j];
        g += m.W_hn(i, j) * h[j];
      }
      r = kelk::ad::sigmoid(r);
      z = kelk::ad::sigmoid(z);
      n = kelk::ad::tanh(n + r * g);
      f[i] = (Scalar(1) - z) * n + z * h[i];
    }
  }
};

}  // namespace kelk_examples
