// A step map given as C (or Fortran) host functions: CallbackMap meets kelk's step-map contract
// by calling them, and its handle checks at run time what the C++ contract checks at compile
// time (which optional functions the map has), with the same messages.
#include "kelk_c_map.hpp"

#include <atomic>
#include <memory>

#ifdef KELK_HAVE_MPI
#include <mpi.h>
#endif

namespace kelk::c_api {
// a named namespace, not an anonymous one: the device pass of a CUDA build compiles the
// callbacks' host-only bodies out, and nvcc warns of unreferenced internal functions
namespace callback_map {

/// The first callback failure of a call: which callback, and what it returned.
struct Failure {
  std::atomic<int> code{0};
  const char* which = "";
};

/// The step-map contract over host function pointers. The functions are KOKKOS_FUNCTION, as
/// the contract asks, but a device pass compiles their bodies out: the map is only ever run on
/// the host execution space. Once a callback has failed, the others are no longer called and
/// write zeros, which ends the solve within an iteration or two.
struct CallbackMap {
  using value_type = double;
  kelk_callbacks cb{};
  int D = 1, Din = 0;
  Failure* failure = nullptr;

  int state_dim() const { return D; }
  int input_dim() const { return Din; }
  int scratch_size() const { return 0; }
  int vjp_scratch_size() const { return Din; }  // du when kelk wants none: never NULL

  bool failed(int code, const char* which) const {
    if (code == 0) return false;
    int expected = 0;
    if (failure->code.compare_exchange_strong(expected, code)) failure->which = which;
    return true;
  }
  static void zero(double* x, int n) {
    for (int i = 0; i < n; ++i) x[i] = 0.0;
  }

  KOKKOS_FUNCTION void step(const double* s, const double* u, double* f, double*) const {
    KELK_IMPL_IF_ON_HOST((if (failure->code.load(std::memory_order_relaxed) != 0 ||
                              failed(cb.step(s, u, f, cb.context), "step")) zero(f, D);))
  }
  KOKKOS_FUNCTION void jacobian(const double* s, const double* u, double* f, double* jac,
                                double*) const {
    KELK_IMPL_IF_ON_HOST((if (failure->code.load(std::memory_order_relaxed) != 0 ||
                              failed(cb.jacobian(s, u, f, jac, cb.context), "jacobian")) {
      zero(f, D);
      zero(jac, D * D);
    }))
  }
  KOKKOS_FUNCTION void jacobian_diagonal(const double* s, const double* u, double* f,
                                         double* diag, double*) const {
    KELK_IMPL_IF_ON_HOST((if (failure->code.load(std::memory_order_relaxed) != 0 ||
                              failed(cb.jacobian_diagonal(s, u, f, diag, cb.context),
                                     "jacobian_diagonal")) {
      zero(f, D);
      zero(diag, D);
    }))
  }
  KOKKOS_FUNCTION void vjp(const double* s, const double* u, const double* lambda, double* ds,
                           double* du, double*, double* scratch) const {
    KELK_IMPL_IF_ON_HOST((if (du == nullptr) {
      du = scratch;
      zero(du, Din);
    } if (failure->code.load(std::memory_order_relaxed) == 0)
        failed(cb.vjp(s, u, lambda, ds, du, cb.context), "vjp");))
  }
};

using Space = Kokkos::DefaultHostExecutionSpace;

struct CallbackHandle : MapHandle<CallbackMap, Space> {
  std::unique_ptr<Failure> failure;

  CallbackHandle(const CallbackMap& m, std::unique_ptr<Failure> f)
      : MapHandle(m), failure(std::move(f)) {
    map.failure = failure.get();
  }

  void check_method(Method m) const override {
    failure->code = 0;
    if ((m == Method::deer || m == Method::elk) && map.cb.jacobian == nullptr)
      throw std::invalid_argument(impl::missing_jacobian(
          m, "give kelk_callbacks.jacobian, writing f(s, u) and jac[i * D + j] = df_i/ds_j"));
    if ((m == Method::quasi_deer || m == Method::quasi_elk) && map.cb.jacobian_diagonal == nullptr)
      throw std::invalid_argument(
          impl::missing_jacobian_diagonal(
              m, "give kelk_callbacks.jacobian_diagonal, writing f(s, u) and diag[i] = df_i/ds_i"));
  }
  void check_adjoint(AdjointMethod m) const override {
    failure->code = 0;
    if (map.cb.vjp == nullptr)
      throw std::invalid_argument(
          "kelk_solve_adjoint: the map has no `vjp` callback (kelk_callbacks.vjp), which the "
          "adjoint needs: it adds lambda^T df/ds to ds and lambda^T df/du to du");
    if (m == AdjointMethod::scan && map.cb.jacobian == nullptr)
      throw std::invalid_argument(
          "kelk_solve_adjoint: the adjoint method scan needs the map's `jacobian` callback; "
          "use block_sweeps or sequential");
  }
  void check_callbacks(const void* comm) const override {
    int code = failure->code.load();
    const char* which = failure->which;
#ifdef KELK_HAVE_MPI
    if (comm != nullptr) {  // every rank learns of a failure on any rank
      int codes[2] = {code != 0 ? 1 : 0, code}, any[2] = {0, 0};
      MPI_Allreduce(codes, any, 2, MPI_INT, MPI_MAX, *static_cast<const MPI_Comm*>(comm));
      if (any[0] != 0 && code == 0) {
        throw Error(KELK_ERROR_CALLBACK,
                    "a callback of the map failed on another rank (this rank's callbacks "
                    "succeeded); the states are not the solution");
      }
    }
#else
    (void)comm;
#endif
    if (code != 0)
      throw Error(KELK_ERROR_CALLBACK, std::string("the map's `") + which +
                                           "` callback returned " + std::to_string(code) +
                                           "; the solve stopped and its outputs are not valid");
  }
};

}  // namespace callback_map

kelk_map* make_callback_map(int D, int Din, const kelk_callbacks& callbacks) {
  if (callbacks.step == nullptr)
    throw std::invalid_argument("kelk_map_create_callbacks: the `step` callback is NULL; it is "
                                "the one callback every map needs");
  if (D < 1) throw std::invalid_argument("kelk_map_create_callbacks: state_dim = " +
                                         std::to_string(D) + "; need D >= 1");
  if (Din < 0) throw std::invalid_argument("kelk_map_create_callbacks: input_dim = " +
                                           std::to_string(Din) + "; need Din >= 0");
  callback_map::CallbackMap m;
  m.cb = callbacks;
  m.D = D;
  m.Din = Din;
  return new callback_map::CallbackHandle(m, std::make_unique<callback_map::Failure>());
}

}  // namespace kelk::c_api
