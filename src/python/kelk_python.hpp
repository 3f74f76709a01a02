// The Python extension's maps: AnyMap is a type-erased kelk step map of either precision, so
// that one Python class holds any built-in map; MapOf<M> implements it once per map type by
// calling kelk's C++ entry points (solve, solve_adjoint, probe) on unmanaged host Views of the
// caller's arrays. Nothing here is solver logic: only argument conversion.
#pragma once

#include <kelk/kelk.hpp>

#include <Kokkos_Core.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace kelk::python {

/// The caller's arrays of one call, already checked for dtype, shape and contiguity: s0 (B, D),
/// inputs (B, T, Din), states / cotangents (B, T, D); gradient outputs may be null (not asked).
struct Arrays {
  int B = 0, T = 0;
  const void* s0 = nullptr;
  const void* inputs = nullptr;
  void* states = nullptr;              ///< solve: output (and guess)
  const void* const_states = nullptr;  ///< adjoint: input
  const void* cotangents = nullptr;
  void* ds0 = nullptr;
  void* dinputs = nullptr;
  void* dparameters = nullptr;
};

/// One built-in map in the precision it was built with. The registry of live maps lets the
/// module release every View before Kokkos::finalize (release(); the map is unusable after).
class AnyMap {
 public:
  AnyMap();
  virtual ~AnyMap();
  AnyMap(const AnyMap&) = delete;
  AnyMap& operator=(const AnyMap&) = delete;

  virtual std::string kind() const = 0;
  virtual bool is_double() const = 0;
  virtual int state_dim() const = 0;
  virtual int input_dim() const = 0;
  virtual std::vector<ParameterBlock> layout() const = 0;
  /// Writes the map to a kelk model file (float64 Elman, GRU, LSTM, Lorenz-96 maps; others
  /// throw std::invalid_argument).
  virtual void save(const std::string& path) const = 0;
  virtual SolveResult solve(const Arrays& a, const SolveOptions& o) const = 0;
  virtual AdjointResult solve_adjoint(const Arrays& a, const AdjointOptions& o) const = 0;
  virtual ProbeResult probe(const Arrays& a, const ProbeOptions& o) const = 0;
  /// method = "auto": the probe, then the measuring rule (kelk_auto.hpp) where it applies.
  virtual MethodChoice choose(const Arrays& a, const Resources& r,
                              std::optional<double> atol) const = 0;
#ifdef KELK_HAVE_MPI
  /// This rank's block (partition()'s ranges) of a distributed solve. Collective.
  virtual SolveResult solve(const DistributedSolver& solver, const Arrays& a,
                            const SolveOptions& o) const = 0;
  virtual AdjointResult solve_adjoint(const DistributedSolver& solver, const Arrays& a,
                                      const AdjointOptions& o) const = 0;
#endif
  virtual void release() = 0;
  bool released() const {
    return released_;
  }

  /// Releases the Views of every live map (before Kokkos::finalize).
  static void release_all();

 protected:
  bool released_ = false;
};

/// A named parameter array handed over by Python: float64, C-contiguous, already checked.
struct HostArray {
  const double* data = nullptr;
  std::vector<std::size_t> shape;
};

/// Factories (kelk_python_maps.cpp, one per precision).
template <class Scalar>
std::unique_ptr<AnyMap> make_elman(const HostArray& W, const HostArray& U, const HostArray& c);
template <class Scalar>
std::unique_ptr<AnyMap> make_gru(const std::vector<HostArray>& w);  // in parameter_layout order
template <class Scalar>
std::unique_ptr<AnyMap> make_lstm(const std::vector<HostArray>& w);  // in parameter_layout order
template <class Scalar>
std::unique_ptr<AnyMap> make_lorenz96(int D, double F, double dt);
template <class Scalar>
std::unique_ptr<AnyMap> make_argru(const std::vector<HostArray>& w, double c_mu, double c_ls);
template <class Scalar>
std::unique_ptr<AnyMap> load_model(const std::string& path);

}  // namespace kelk::python
