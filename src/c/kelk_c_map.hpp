// The C API's maps: kelk_map is an interface over one C++ step map, so that a C handle carries
// any of them; MapHandle<M, Space> implements it once for every map type by calling kelk's C++
// entry points on unmanaged Views of the caller's host arrays.
#pragma once

#include <kelk/kelk.h>
#include <kelk/kelk.hpp>

#if defined(KELK_HAVE_MPI) && defined(KELK_HAVE_HDF5)
#include <kelk/kelk_checkpoint.hpp>
#endif

#include <Kokkos_Core.hpp>

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>

namespace kelk::c_api {

/// An error that the C layer returns with its own status (std::invalid_argument becomes
/// KELK_ERROR_INVALID_ARGUMENT without this).
struct Error : std::runtime_error {
  kelk_status status;
  Error(kelk_status s, const std::string& what) : std::runtime_error(what), status(s) {}
};

/// The caller's arrays of one call: s0 (B, D), inputs (B, T, Din), states / cotangents (B, T, D).
struct Arrays {
  int B = 0, T = 0;
  const double* s0 = nullptr;
  const double* inputs = nullptr;
  double* states = nullptr;              ///< solve: output (and guess)
  const double* const_states = nullptr;  ///< adjoint: input
  const double* cotangents = nullptr;
};

/// A checkpointed distributed solve (kelk_checkpoint.hpp): checkpoints through `checkpointer`
/// (may be null), resumed from `restart` (empty: afresh) when it matches `fingerprint`.
struct Checkpointing;

}  // namespace kelk::c_api

/// The C handle: one C++ step map behind virtual calls.
struct kelk_map {
  /// What a checkpoint's fingerprint says of the map (its kind, dimensions and parameters).
  std::string identity;

  virtual ~kelk_map() = default;
  virtual int state_dim() const = 0;
  virtual int input_dim() const = 0;
  virtual std::size_t parameter_count() const = 0;
  /// Whether the map runs on a device (method = "auto" asks).
  virtual bool on_device() const = 0;
  /// Host threads or device concurrency the map's solves run on.
  virtual int concurrency() const = 0;

  virtual kelk::SolveResult solve(const kelk::c_api::Arrays& a,
                                  const kelk::SolveOptions& options) const = 0;
  virtual kelk::AdjointResult solve_adjoint(const kelk::c_api::Arrays& a,
                                            const kelk::AdjointOptions& options,
                                            const kelk_gradients& out) const = 0;
  virtual kelk::ProbeResult probe(const kelk::c_api::Arrays& a,
                                  const kelk::ProbeOptions& options) const = 0;
#ifdef KELK_HAVE_MPI
  /// `checkpointing` may be null (a plain solve).
  virtual kelk::SolveResult solve(const kelk::DistributedSolver& solver,
                                  const kelk::c_api::Arrays& a, const kelk::SolveOptions& options,
                                  const kelk::c_api::Checkpointing* checkpointing) const = 0;
  virtual kelk::AdjointResult solve_adjoint(const kelk::DistributedSolver& solver,
                                            const kelk::c_api::Arrays& a,
                                            const kelk::AdjointOptions& options,
                                            const kelk_gradients& out) const = 0;
#endif
  /// Before a call: refuse what the map cannot serve (a callback map without its jacobian).
  virtual void check_method(kelk::Method) const {}
  virtual void check_adjoint(kelk::AdjointMethod) const {}
  /// After a call (on every rank, collectively when `comm` is given): throws c_api::Error when
  /// a callback failed during it.
  virtual void check_callbacks(const void* /*MPI_Comm or nullptr*/) const {}
};

namespace kelk::c_api {

#if defined(KELK_HAVE_MPI) && defined(KELK_HAVE_HDF5)
struct Checkpointing {
  kelk::Checkpointer* checkpointer = nullptr;
  std::string restart;
  kelk::Fingerprint fingerprint;
};
#endif

using HostRows = Kokkos::View<const double**, Kokkos::LayoutRight, Kokkos::HostSpace,
                              Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
using HostSequence = Kokkos::View<const double***, Kokkos::LayoutRight, Kokkos::HostSpace,
                                  Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

/// `host` where Space can read host memory (no copy), else a copy in Space's memory.
template <class Space, class HostView>
auto readable(const HostView& host, const char* label) {
  using Memory = typename Space::memory_space;
  using Out = Kokkos::View<typename HostView::const_data_type, Kokkos::LayoutRight, Memory>;
  if constexpr (Kokkos::SpaceAccessibility<Space, Kokkos::HostSpace>::accessible) {
    return Out(host);
  } else {
    Kokkos::View<typename HostView::non_const_data_type, Kokkos::LayoutRight, Memory> copy(
        Kokkos::view_alloc(std::string(label), Kokkos::WithoutInitializing), host.layout());
    Kokkos::deep_copy(copy, host);
    return Out(copy);
  }
}

/// A writable (B, T, n) or (n) output: the caller's array where Space can write host memory,
/// else a View in Space's memory copied back by `finish()`.
template <class Space, class DataType>
struct Writable {
  using Memory = typename Space::memory_space;
  using Host = Kokkos::View<DataType, Kokkos::LayoutRight, Kokkos::HostSpace,
                            Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
  using View = Kokkos::View<DataType, Kokkos::LayoutRight, Memory>;
  Host host;
  View view;
  template <class... Extents>
  Writable(double* data, bool copy_in, const char* label, Extents... n) {
    if (data == nullptr) return;  // an output not asked for: empty
    host = Host(data, n...);
    if constexpr (Kokkos::SpaceAccessibility<Space, Kokkos::HostSpace>::accessible) {
      view = View(host);
    } else {
      view = View(Kokkos::view_alloc(std::string(label), Kokkos::WithoutInitializing), n...);
      if (copy_in) Kokkos::deep_copy(view, host);
    }
  }
  void finish() const {
    if constexpr (!Kokkos::SpaceAccessibility<Space, Kokkos::HostSpace>::accessible)
      if (host.data() != nullptr) Kokkos::deep_copy(host, view);
  }
};

/// kelk_map for a C++ step map M evaluated on execution space Space.
template <class M, class Space>
struct MapHandle : kelk_map {
  M map;
  explicit MapHandle(const M& m) : map(m) {}

  int state_dim() const override { return map.state_dim(); }
  int input_dim() const override { return map.input_dim(); }
  std::size_t parameter_count() const override { return kelk::parameter_count(map); }
  bool on_device() const override {
    return !Kokkos::SpaceAccessibility<Kokkos::HostSpace, typename Space::memory_space>::accessible;
  }
  int concurrency() const override { return Space().concurrency(); }

  auto s0_view(const Arrays& a) const {
    return readable<Space>(HostRows(a.s0, a.B, map.state_dim()), "kelk_c::s0");
  }
  auto sequence(const double* data, const Arrays& a, int n, const char* label) const {
    return readable<Space>(HostSequence(data, a.B, a.T, n), label);
  }

  template <class Solve>
  kelk::SolveResult solve_with(const Arrays& a, const kelk::SolveOptions& options,
                               const Solve& run) const {
    const bool guess = options.initial_guess == kelk::InitialGuess::provided;
    Writable<Space, double***> states(a.states, guess, "kelk_c::states", a.B, a.T,
                                      map.state_dim());
    const auto result = run(s0_view(a), sequence(a.inputs, a, map.input_dim(), "kelk_c::inputs"),
                            states.view);
    states.finish();
    return result;
  }

  template <class Adjoint>
  kelk::AdjointResult adjoint_with(const Arrays& a, const kelk_gradients& out,
                                   const Adjoint& run) const {
    const int D = map.state_dim(), Din = map.input_dim();
    Writable<Space, double**> ds0(out.s0, false, "kelk_c::ds0", a.B, D);
    Writable<Space, double***> du(Din > 0 ? out.inputs : nullptr, false, "kelk_c::du", a.B, a.T,
                                  Din);
    Writable<Space, double*> dtheta(parameter_count() > 0 ? out.parameters : nullptr, false,
                                    "kelk_c::dtheta", parameter_count());
    Writable<Space, double***> adjoint(out.adjoint, false, "kelk_c::adjoint", a.B, a.T, D);
    kelk::Gradients<double, typename Space::memory_space> g{ds0.view, du.view, dtheta.view,
                                                             adjoint.view};
    const auto result = run(s0_view(a), sequence(a.inputs, a, Din, "kelk_c::inputs"),
                            sequence(a.const_states, a, D, "kelk_c::states"),
                            sequence(a.cotangents, a, D, "kelk_c::cotangents"), g);
    ds0.finish();
    du.finish();
    adjoint.finish();
    dtheta.finish();
    return result;
  }

  kelk::SolveResult solve(const Arrays& a, const kelk::SolveOptions& options) const override {
    return solve_with(a, options, [&](const auto& s0, const auto& u, const auto& s) {
      return kelk::solve(Space(), map, s0, u, s, options);
    });
  }
  kelk::AdjointResult solve_adjoint(const Arrays& a, const kelk::AdjointOptions& options,
                                    const kelk_gradients& out) const override {
    return adjoint_with(a, out, [&](const auto& s0, const auto& u, const auto& s,
                                    const auto& g, const auto& grads) {
      return kelk::solve_adjoint(Space(), map, s0, u, s, g, grads, options);
    });
  }
  kelk::ProbeResult probe(const Arrays& a, const kelk::ProbeOptions& options) const override {
    return kelk::probe(Space(), map, s0_view(a),
                       sequence(a.inputs, a, map.input_dim(), "kelk_c::inputs"), options);
  }
#ifdef KELK_HAVE_MPI
  kelk::SolveResult solve(const kelk::DistributedSolver& solver, const Arrays& a,
                          const kelk::SolveOptions& options,
                          const Checkpointing* checkpointing) const override {
    return solve_with(a, options, [&](const auto& s0, const auto& u, const auto& s) {
#ifdef KELK_HAVE_HDF5
      if (checkpointing != nullptr) {
        const auto& c = *checkpointing;
        std::optional<kelk::Checkpoint> from;  // its iterate into s, the initial guess
        if (!c.restart.empty())
          from = kelk::read_checkpoint(c.restart, solver.comm(), solver.partition(),
                                       c.fingerprint, s);
        return kelk::solve_checkpointed(solver, Space(), map, s0, u, s, options, c.checkpointer,
                                        from ? &*from : nullptr);
      }
#else
      (void)checkpointing;
#endif
      return solver.solve(Space(), map, s0, u, s, options);
    });
  }
  kelk::AdjointResult solve_adjoint(const kelk::DistributedSolver& solver, const Arrays& a,
                                    const kelk::AdjointOptions& options,
                                    const kelk_gradients& out) const override {
    return adjoint_with(a, out, [&](const auto& s0, const auto& u, const auto& s,
                                    const auto& g, const auto& grads) {
      return solver.solve_adjoint(Space(), map, s0, u, s, g, grads, options);
    });
  }
#endif
};

/// The handle of a built-in map on kelk's default execution space (kelk_c_builtin.cpp).
kelk_map* make_builtin(int kind, int D, int Din, const double* parameters, std::size_t count,
                       double step);
kelk_map* load_builtin(const std::string& path);
/// The handle of a callback map (kelk_c_callback.cpp).
kelk_map* make_callback_map(int D, int Din, const kelk_callbacks& callbacks);

}  // namespace kelk::c_api
