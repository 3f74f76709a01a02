// Automatic Jacobians by forward-mode AD with Sacado: kelk::AutoDiff turns a map whose step is a
// template over its scalar type into a full step map (step, jacobian, jacobian_diagonal, vjp).
// Needs kelk built with Sacado's headers (KELK_HAVE_SACADO; scripts/build_sacado.sh).
#pragma once

#include <kelk/kelk_config.hpp>

#if !defined(KELK_HAVE_SACADO)
#error "kelk_autodiff.hpp needs kelk built with Sacado (scripts/build_sacado.sh, KELK_ENABLE_SACADO)"
#endif

#include <kelk/kelk_math.hpp>
#include <kelk/kelk_step_map.hpp>

#include <Kokkos_Core.hpp>
#include <kelk/impl/kelk_compat_sacado.hpp>  // Sacado's SFad, for Kokkos 3 and 4

#include <cstdint>
#include <new>
#include <type_traits>
#include <vector>

namespace kelk {

/// \page autodiff Automatic Jacobians (AutoDiff)
///
/// A map for AutoDiff writes its step once, as a template over the scalar type T:
///
/// \code
///   struct MyMap {
///     using value_type = double;    // or float
///     int state_dim() const;  int input_dim() const;
///     int scratch_size() const;     // T scalars of scratch one step uses
///     template <class T>
///     KOKKOS_FUNCTION void step(const T* s, const T* u, T* f, T* scratch) const;
///   };
///   kelk::AutoDiff<MyMap> map{MyMap{...}};   // a step map for every method
/// \endcode
///
/// The step is called with T = value_type (the plain step) and with T = a Sacado Fad type
/// (value plus Width derivatives, a fixed-size array: no allocation, usable in kernels on every
/// backend). Inside it, use arithmetic and the gate functions kelk::ad::exp, tanh, sigmoid,
/// log1p, sqrt, sin, cos (kelk::math's accurate versions or Kokkos' for value_type, Sacado's
/// for Fad types), and branch only on values (`if (x > T(0))` compares values for Fad types
/// too).
///
/// Cost (one evaluation of f with Width-wide derivatives costs about 1 + Width plain ones, less
/// when the loops vectorise): `jacobian` runs the Fad step ceil(D / Width) times, one chunk of
/// Width columns of the Jacobian each; `jacobian_diagonal` costs the same (forward mode cannot
/// pick out the diagonal without a column's derivative); `vjp` builds lambda^T [df/ds, df/du] by
/// columns too, ceil((D + Din) / Width) Fad steps (ceil(D / Width) when du is nullptr). The
/// Jacobian functions also run the plain step once, so that the f they return is bitwise the
/// step's f. A closed-form Jacobian is cheaper (about 10x per call for the GRU at D = 16, host,
/// fp64: kelk-autodiff-example); AutoDiff is for getting a new recurrence right first (and a reference to test a hand-written Jacobian against).
///
/// Parameters: AutoDiff's own vjp differentiates with respect to the state and the input only
/// and leaves dtheta untouched (it has no parameter_layout(), so kelk::solve_adjoint sees no
/// parameters). Parameter gradients need the map's own vjp: when the wrapped map provides `vjp`
/// (and `parameter_layout`), AutoDiff forwards to them instead.
namespace ad {

/// True for Sacado's forward-mode types and expressions (anything not a plain floating type).
template <class T>
inline constexpr bool is_fad_v = !std::is_floating_point<T>::value;
/// The scalar type a gate function returns: T for a floating type, the Fad type an expression
/// of Fads evaluates to (the functions take `r * g + n` without naming its type).
template <class T>
using result_t = typename Sacado::BaseExprType<T>::type;

/// e^x.
template <class T>
KOKKOS_FORCEINLINE_FUNCTION result_t<T> exp(const T& x) {
  if constexpr (is_fad_v<T>) {
    using std::exp;
    return result_t<T>(exp(x));
  } else {
    return math::exp(x);
  }
}
/// Hyperbolic tangent.
template <class T>
KOKKOS_FORCEINLINE_FUNCTION result_t<T> tanh(const T& x) {
  if constexpr (is_fad_v<T>) {
    using std::tanh;
    return result_t<T>(tanh(x));
  } else {
    return math::tanh(x);
  }
}
/// log(1 + x).
template <class T>
KOKKOS_FORCEINLINE_FUNCTION result_t<T> log1p(const T& x) {
  if constexpr (is_fad_v<T>) {
    using std::log;
    using V = typename result_t<T>::value_type;
    return result_t<T>(log(V(1) + x));
  } else {
    return math::log1p(x);
  }
}
/// Square root.
template <class T>
KOKKOS_FORCEINLINE_FUNCTION result_t<T> sqrt(const T& x) {
  if constexpr (is_fad_v<T>) {
    using std::sqrt;
    return result_t<T>(sqrt(x));
  } else {
    return KELK_IMPL_KOKKOS_MATH::sqrt(x);
  }
}
/// Sine.
template <class T>
KOKKOS_FORCEINLINE_FUNCTION result_t<T> sin(const T& x) {
  if constexpr (is_fad_v<T>) {
    using std::sin;
    return result_t<T>(sin(x));
  } else {
    return KELK_IMPL_KOKKOS_MATH::sin(x);
  }
}
/// Cosine.
template <class T>
KOKKOS_FORCEINLINE_FUNCTION result_t<T> cos(const T& x) {
  if constexpr (is_fad_v<T>) {
    using std::cos;
    return result_t<T>(cos(x));
  } else {
    return KELK_IMPL_KOKKOS_MATH::cos(x);
  }
}
/// The logistic function 1 / (1 + e^-x), finite with finite derivatives for every x.
template <class T>
KOKKOS_FORCEINLINE_FUNCTION result_t<T> sigmoid(const T& x) {
  if constexpr (is_fad_v<T>) {
    using std::exp;
    using R = result_t<T>;
    using V = typename R::value_type;
    const R y(x);
    if (y.val() >= V(0)) return R(V(1) / (V(1) + exp(-y)));
    const R e = exp(y);
    return R(e / (V(1) + e));
  } else {
    return math::sigmoid(x);
  }
}

}  // namespace ad

/// A step map with automatic Jacobians: wraps `Map` (whose step is a template over its scalar
/// type, see \ref autodiff) and differentiates it by forward-mode AD with the fixed-capacity
/// Fad type Sacado::Fad::SFad<value_type, Width>, Width derivative columns per evaluation.
/// Width = 8 fills an AVX-512 register in double; for D + Din < 8 a smaller Width saves work.
template <class Map, int Width = 8>
struct AutoDiff {
  static_assert(Width >= 1, "kelk::AutoDiff: Width must be >= 1");
  using value_type = typename Map::value_type;
  using fad_type = Sacado::Fad::SFad<value_type, Width>;
  static constexpr int width = Width;
  static_assert(std::is_trivially_destructible<fad_type>::value,
                "kelk::AutoDiff: the Fad type must not need destruction (it lives in scratch)");

  Map map;  ///< the wrapped map

  AutoDiff() = default;
  /// Reads the map's dimensions on the host (the contract's dimension functions are host
  /// functions; the kernels use the copies).
  explicit AutoDiff(const Map& m)
      : map(m), D_(m.state_dim()), Din_(m.input_dim()), S_(m.scratch_size()) {}

  int state_dim() const { return D_; }
  int input_dim() const { return Din_; }

  /// value_type scalars: the Fad copies of s, u and f and the map's scratch in Fad scalars,
  /// plus room to align them (the plain step's scratch reuses the same space).
  int scratch_size() const {
    const int fads = 2 * D_ + Din_ + S_;
    return fad_pad + fads * fad_words;
  }

  KOKKOS_FUNCTION void step(const value_type* s, const value_type* u, value_type* f,
                            value_type* scratch) const {
    map.step(s, u, f, scratch);
  }

  /// f and jac[i * D + j] = df_i/ds_j: ceil(D / Width) Fad steps, one chunk of columns each.
  KOKKOS_FUNCTION void jacobian(const value_type* s, const value_type* u, value_type* f,
                                value_type* jac, value_type* scratch) const {
    const int D = D_;
    map.step(s, u, f, scratch);
    for (int c0 = 0; c0 < D; c0 += Width) {
      const Fads x = seeded(s, u, c0, scratch);
      for (int i = 0; i < D; ++i)
        for (int k = 0; k < Width && c0 + k < D; ++k) jac[i * D + c0 + k] = x.f[i].fastAccessDx(k);
    }
  }

  /// f and diag[i] = df_i/ds_i: as many Fad steps as the Jacobian (forward mode).
  KOKKOS_FUNCTION void jacobian_diagonal(const value_type* s, const value_type* u, value_type* f,
                                         value_type* diag, value_type* scratch) const {
    const int D = D_;
    map.step(s, u, f, scratch);
    for (int c0 = 0; c0 < D; c0 += Width) {
      const Fads x = seeded(s, u, c0, scratch);
      for (int k = 0; k < Width && c0 + k < D; ++k) diag[c0 + k] = x.f[c0 + k].fastAccessDx(k);
    }
  }

  /// Vector-Jacobian product (kelk_step_map.hpp): ds += lambda^T df/ds, du += lambda^T df/du,
  /// column chunk by column chunk over the D + Din inputs of f (only the D of s when du is
  /// nullptr); dtheta is left untouched. Forwarded to Map's own vjp when it has one.
  int vjp_scratch_size() const {
    if constexpr (provides_vjp_v<Map>)
      return map.vjp_scratch_size();
    else
      return scratch_size();
  }
  KOKKOS_FUNCTION void vjp(const value_type* s, const value_type* u, const value_type* lambda,
                           value_type* ds, value_type* du, value_type* dtheta,
                           value_type* scratch) const {
    if constexpr (provides_vjp_v<Map>) {
      map.vjp(s, u, lambda, ds, du, dtheta, scratch);
    } else {
      const int D = D_;
      const int columns = D + (du != nullptr ? Din_ : 0);
      for (int c0 = 0; c0 < columns; c0 += Width) {
        const Fads x = seeded(s, u, c0, scratch);
        for (int k = 0; k < Width && c0 + k < columns; ++k) {
          value_type sum = value_type(0);
          for (int i = 0; i < D; ++i) sum += lambda[i] * x.f[i].fastAccessDx(k);
          const int c = c0 + k;
          if (c < D)
            ds[c] += sum;
          else
            du[c - D] += sum;
        }
      }
    }
  }

  /// The wrapped map's parameter blocks, when it has its own vjp (AutoDiff's has none).
  std::vector<ParameterBlock> parameter_layout() const {
    if constexpr (provides_vjp_v<Map>)
      return kelk::parameter_layout(map);
    else
      return {};
  }

 private:
  int D_ = 0, Din_ = 0, S_ = 0;  ///< the map's state_dim(), input_dim(), scratch_size()

  /// Fad scalars per Fad object, and the padding that aligns the first one.
  static constexpr int fad_words =
      int((sizeof(fad_type) + sizeof(value_type) - 1) / sizeof(value_type));
  static constexpr int fad_pad = alignof(fad_type) > alignof(value_type)
                                     ? int(alignof(fad_type) / sizeof(value_type))
                                     : 0;

  struct Fads {
    fad_type *s, *u, *f, *scratch;
  };

  /// Builds the Fad copies of s and u in `scratch`, with the Width columns c0, c0 + 1, ... of
  /// the stacked inputs (s, u) seeded (derivative k of column c0 + k is 1), and runs the step.
  KOKKOS_FUNCTION Fads seeded(const value_type* s, const value_type* u, int c0,
                              value_type* scratch) const {
    const int D = D_, Din = Din_, S = S_;
    auto address = reinterpret_cast<std::uintptr_t>(scratch);
    address = (address + alignof(fad_type) - 1) / alignof(fad_type) * alignof(fad_type);
    fad_type* base = reinterpret_cast<fad_type*>(address);
    const Fads x{base, base + D, base + D + Din, base + 2 * D + Din};
    for (int j = 0; j < D; ++j) {
      new (x.s + j) fad_type(s[j]);  // value s_j, derivatives 0
      if (j >= c0 && j < c0 + Width) x.s[j].fastAccessDx(j - c0) = value_type(1);
    }
    for (int j = 0; j < Din; ++j) {
      new (x.u + j) fad_type(u[j]);
      if (D + j >= c0 && D + j < c0 + Width) x.u[j].fastAccessDx(D + j - c0) = value_type(1);
    }
    for (int i = 0; i < D; ++i) new (x.f + i) fad_type(value_type(0));
    for (int i = 0; i < S; ++i) new (x.scratch + i) fad_type(value_type(0));
    map.template step<fad_type>(x.s, x.u, x.f, x.scratch);
    return x;
  }
};

/// AutoDiff<Map> for a map value (the Width default).
template <class Map>
AutoDiff<Map> make_autodiff(const Map& map) {
  return AutoDiff<Map>(map);
}

}  // namespace kelk
