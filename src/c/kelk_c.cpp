// The C API's entry points (kelk.h): each turns its arguments into kelk's C++ types, calls the
// C++ API inside guard(), and turns every exception into a status and a message.
#include "kelk_c_map.hpp"

#include <kelk/kelk.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <new>
#include <optional>
#include <string>

#ifdef KELK_HAVE_MPI
#include <kelk/kelk_mpi.h>
#endif

namespace kelk::c_api {
namespace {

thread_local std::string last_error;

enum class Lifecycle { idle, started_by_kelk, finalized };
Lifecycle lifecycle = Lifecycle::idle;

/// Kokkos is running after this (started here on first use), or Error(KELK_ERROR_FINALIZED).
void ensure_started(int threads = 0) {
  if (lifecycle == Lifecycle::finalized)
    throw Error(KELK_ERROR_FINALIZED,
                "kelk_finalize was called: Kokkos cannot be started again in this process");
  if (Kokkos::is_initialized()) return;
  impl::initialize_kokkos(threads);
  lifecycle = Lifecycle::started_by_kelk;
}

/// `what`, said by `who`: a message of kelk's C++ layer names its C++ function first
/// ("kelk::solve: ..."), one of this layer may name `who` already; either is replaced.
std::string said_by(const char* who, const std::string& what) {
  const std::string prefix = std::string(who) + ": ";
  std::string text = what;
  if (text.compare(0, prefix.size(), prefix) == 0) text.erase(0, prefix.size());
  const auto colon = text.find(": ");
  if (text.compare(0, 6, "kelk::") == 0 && colon != std::string::npos) text.erase(0, colon + 2);
  return prefix + text;
}

/// Runs f, returning KELK_SUCCESS, or the status of the exception it threw with its message
/// said by `who`.
template <class F>
kelk_status guard(const char* who, F&& f) noexcept {
  try {
    last_error.clear();
    f();
    return KELK_SUCCESS;
  } catch (const Error& e) {
    last_error = said_by(who, e.what());
    return e.status;
  } catch (const std::invalid_argument& e) {
    last_error = said_by(who, e.what());
    return KELK_ERROR_INVALID_ARGUMENT;
#if defined(KELK_HAVE_HDF5) && defined(KELK_HAVE_MPI)
  } catch (const hdf5::Error& e) {
    last_error = said_by(who, e.what());
    return KELK_ERROR_FILE;
#endif
  } catch (const std::bad_alloc&) {
    last_error = std::string(who) + ": out of memory";
    return KELK_ERROR_INTERNAL;
  } catch (const std::exception& e) {
    last_error = said_by(who, e.what());
    return KELK_ERROR_INTERNAL;
  } catch (...) {
    last_error = std::string(who) + ": unknown error";
    return KELK_ERROR_INTERNAL;
  }
}

void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument(what);
}

Method method_of(int m) {
  require(m >= KELK_METHOD_SEQUENTIAL && m <= KELK_METHOD_BLOCK_JACOBI,
          "unknown method " + std::to_string(m) +
              " (KELK_METHOD_SEQUENTIAL .. KELK_METHOD_BLOCK_JACOBI, or KELK_METHOD_AUTO)");
  static const Method methods[] = {Method::sequential, Method::jacobi,    Method::deer,
                                   Method::quasi_deer, Method::elk,       Method::quasi_elk,
                                   Method::block_jacobi};
  return methods[m];
}
int method_code(Method m) {
  for (int i = 0; i <= KELK_METHOD_BLOCK_JACOBI; ++i)
    if (method_of(i) == m) return i;
  return -1;
}

SolveOptions solve_options(const kelk_options* o) {
  kelk_options defaults;
  kelk_options_default(&defaults);
  const kelk_options& c = o != nullptr ? *o : defaults;
  SolveOptions s;
  if (c.method != KELK_METHOD_AUTO) s.method = method_of(c.method);
  if (c.atol >= 0 || std::isnan(c.atol)) s.atol = c.atol;
  s.rtol = c.rtol;
  if (c.max_iter >= 0) s.max_iter = c.max_iter;
  s.fixed_iterations = c.fixed_iterations != 0;
  require(c.initial_guess >= 0 && c.initial_guess <= 2,
          "unknown initial_guess " + std::to_string(c.initial_guess));
  s.initial_guess = static_cast<InitialGuess>(c.initial_guess);
  require(c.non_finite >= 0 && c.non_finite <= 2,
          "unknown non_finite policy " + std::to_string(c.non_finite));
  s.non_finite = static_cast<NonFinitePolicy>(c.non_finite);
  s.clip_value = c.clip_value;
  s.keep_best = c.keep_best != 0;
  s.chunks = c.chunks;
  s.blocks = c.blocks;
  if (c.sigma2 != 0) s.sigma2 = c.sigma2;
  s.sigma2_auto = c.sigma2_auto != 0;
  s.kalman_smoother = c.kalman_smoother != 0;
  require(c.history == nullptr || c.history_capacity >= 0, "history_capacity is negative");
  s.record_history = c.history != nullptr;
  if (c.on_iteration != nullptr) {
    const auto fn = c.on_iteration;
    void* context = c.on_iteration_context;
    s.on_iteration = [fn, context](const IterationProgress& p) {
      const kelk_progress q{p.iteration, p.max_update, p.start_residual,
                            p.sigma2,    p.accepted,   p.converged};
      fn(&q, context);
    };
  }
  return s;
}

void fill_result(const SolveResult& r, const kelk_options* o, double seconds, kelk_result* out) {
  if (o != nullptr && o->history != nullptr) {
    const int n = std::min<int>(o->history_capacity, int(r.history.size()));
    for (int i = 0; i < n; ++i) {
      const auto& h = r.history[i];
      o->history[i] = kelk_iteration_record{h.iteration,        h.max_update,
                                            h.max_residual,     h.steps_recomputed,
                                            h.longest_recomputation, h.sigma2,
                                            h.accepted};
    }
    if (out != nullptr) out->history_length = n;
  }
  if (out == nullptr) return;
  out->method = method_code(r.method);
  out->iterations = r.iterations;
  out->converged = r.converged;
  out->reason = static_cast<int>(r.reason);
  out->final_update = r.final_update;
  out->final_residual = r.final_residual;
  out->returned_iteration = r.returned_iteration;
  out->wall_seconds = seconds;
}

void copy_text(char* to, std::size_t size, const std::string& text) {
  std::snprintf(to, size, "%s", text.c_str());
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// The caller's arrays, checked against the map's dimensions.
Arrays arrays(const kelk_map* map, int B, int T, const double* s0, const double* inputs) {
  require(map != nullptr, "map is NULL");
  require(B >= 1, "batch = " + std::to_string(B) + "; need at least one sequence");
  require(T >= 1, "length = " + std::to_string(T) + "; need T >= 1");
  require(s0 != nullptr, "s0 is NULL; it holds (B, D) initial states");
  require(inputs != nullptr || map->input_dim() == 0,
          "inputs is NULL but the map has Din = " + std::to_string(map->input_dim()) +
              " inputs per step");
  Arrays a;
  a.B = B, a.T = T, a.s0 = s0, a.inputs = inputs;
  return a;
}

/// method = "auto": the probe's verdict on this problem and the method it leads to.
MethodChoice choose(const kelk_map* map, const Arrays& a, int time_ranks) {
  const ProbeResult p = map->probe(a, ProbeOptions{});
  Resources r;
  r.time_ranks = time_ranks;
  r.threads = map->concurrency();
  r.device = map->on_device();
  return choose_method(p, a.T, r);
}

AdjointOptions adjoint_options(const kelk_adjoint_options* o) {
  kelk_adjoint_options defaults;
  kelk_adjoint_options_default(&defaults);
  const kelk_adjoint_options& c = o != nullptr ? *o : defaults;
  require(c.method >= 0 && c.method <= 2,
          "unknown adjoint method " + std::to_string(c.method) +
              " (KELK_ADJOINT_SEQUENTIAL, KELK_ADJOINT_SCAN, KELK_ADJOINT_BLOCK_SWEEPS)");
  AdjointOptions a;
  a.method = static_cast<AdjointMethod>(c.method);
  a.chunks = c.chunks;
  a.blocks = c.blocks;
  return a;
}

void fill_adjoint(const AdjointResult& r, double seconds, kelk_adjoint_result* out) {
  if (out == nullptr) return;
  out->method = static_cast<int>(r.method);
  out->sweeps = r.sweeps;
  out->steps_swept = r.steps_swept;
  out->finite = r.finite;
  out->wall_seconds = seconds;
}

}  // namespace
}  // namespace kelk::c_api

using namespace kelk::c_api;

#ifdef KELK_HAVE_MPI
struct kelk_solver {
  explicit kelk_solver(MPI_Comm comm, int B, int T, int batch_ranks)
      : solver(comm, B, T, batch_ranks) {}
  kelk::DistributedSolver solver;
};
#else
struct kelk_solver {};
#endif

extern "C" {

const char* kelk_last_error(void) { return last_error.c_str(); }
const char* kelk_version(void) { return kelk::version(); }

kelk_status kelk_initialize(int threads) {
  return guard("kelk_initialize", [&] {
    require(threads >= 0, "threads = " + std::to_string(threads) + "; need >= 0 (0: environment)");
    ensure_started(threads);
  });
}

kelk_status kelk_finalize(void) {
  return guard("kelk_finalize", [&] {
    if (lifecycle == Lifecycle::started_by_kelk && Kokkos::is_initialized()) Kokkos::finalize();
    lifecycle = Lifecycle::finalized;
  });
}

void kelk_options_default(kelk_options* o) {
  if (o == nullptr) return;
  const kelk::SolveOptions s;
  *o = kelk_options{};
  o->method = KELK_METHOD_DEER;
  o->atol = -1;
  o->rtol = s.rtol;
  o->max_iter = -1;
  o->initial_guess = KELK_GUESS_ZEROS;
  o->non_finite = KELK_NON_FINITE_CLIP_AND_ZERO;
  o->clip_value = s.clip_value;
  o->keep_best = s.keep_best;
  o->chunks = s.chunks;
  o->blocks = s.blocks;
}

void kelk_adjoint_options_default(kelk_adjoint_options* o) {
  if (o == nullptr) return;
  const kelk::AdjointOptions a;
  o->method = static_cast<int>(a.method);
  o->chunks = a.chunks;
  o->blocks = a.blocks;
}

void kelk_checkpoint_options_default(kelk_checkpoint_options* c) {
  if (c != nullptr) *c = kelk_checkpoint_options{};
}

void kelk_probe_options_default(kelk_probe_options* o) {
  if (o == nullptr) return;
  const kelk::ProbeOptions p;
  o->steps = p.steps;
  o->discard = p.discard;
  o->relative_error = p.relative_error;
  o->tolerance = p.tolerance;
}

kelk_status kelk_map_create_callbacks(kelk_map** map, int D, int Din, const kelk_callbacks* cb) {
  return guard("kelk_map_create_callbacks", [&] {
    require(map != nullptr, "map (the output) is NULL");
    *map = nullptr;
    require(cb != nullptr, "callbacks is NULL");
    ensure_started();
    *map = make_callback_map(D, Din, *cb);
    (*map)->identity =
        "callbacks (D = " + std::to_string(D) + ", Din = " + std::to_string(Din) + ")";
  });
}

kelk_status kelk_map_create_builtin(kelk_map** map, int kind, int D, int Din,
                                    const double* parameters, size_t count, double step) {
  return guard("kelk_map_create_builtin", [&] {
    require(map != nullptr, "map (the output) is NULL");
    *map = nullptr;
    ensure_started();
    *map = make_builtin(kind, D, Din, parameters, count, step);
#if defined(KELK_HAVE_MPI) && defined(KELK_HAVE_HDF5)
    (*map)->identity = "built-in " + std::to_string(kind) + " (D = " + std::to_string(D) +
                       ", Din = " + std::to_string(Din) + ", step " + kelk::impl::number(step) +
                       "), parameters " +
                       kelk::fingerprint_bytes(parameters, count * sizeof(double));
#endif
  });
}

kelk_status kelk_map_load(kelk_map** map, const char* path) {
  return guard("kelk_map_load", [&] {
    require(map != nullptr, "map (the output) is NULL");
    *map = nullptr;
    require(path != nullptr, "path is NULL");
    ensure_started();
    *map = load_builtin(path);
#if defined(KELK_HAVE_MPI) && defined(KELK_HAVE_HDF5)
    (*map)->identity = "model file " + kelk::fingerprint_file(path);
#endif
  });
}

kelk_status kelk_map_dims(const kelk_map* map, int* D, int* Din) {
  return guard("kelk_map_dims", [&] {
    require(map != nullptr, "map is NULL");
    if (D != nullptr) *D = map->state_dim();
    if (Din != nullptr) *Din = map->input_dim();
  });
}

kelk_status kelk_map_parameter_count(const kelk_map* map, size_t* count) {
  return guard("kelk_map_parameter_count", [&] {
    require(map != nullptr && count != nullptr, "map or count is NULL");
    *count = map->parameter_count();
  });
}

void kelk_map_free(kelk_map* map) { delete map; }

kelk_status kelk_solve(const kelk_map* map, int B, int T, const double* s0, const double* inputs,
                       double* states, const kelk_options* options, kelk_result* result) {
  return guard("kelk_solve", [&] {
    ensure_started();
    Arrays a = arrays(map, B, T, s0, inputs);
    require(states != nullptr, "states is NULL; it receives (B, T, D) states");
    a.states = states;
    auto o = solve_options(options);
    if (result != nullptr) *result = kelk_result{};
    if (result != nullptr) *result = kelk_result{};
    const auto t0 = std::chrono::steady_clock::now();
    std::string why;
    if (options != nullptr && options->method == KELK_METHOD_AUTO) {
      const auto choice = choose(map, a, 1);
      o.method = choice.method;
      why = choice.reason;
    }
    map->check_method(o.method);
    const auto r = map->solve(a, o);
    map->check_callbacks(nullptr);
    fill_result(r, options, seconds_since(t0), result);
    if (result != nullptr) copy_text(result->choice, sizeof result->choice, why);
  });
}

kelk_status kelk_solve_adjoint(const kelk_map* map, int B, int T, const double* s0,
                               const double* inputs, const double* states,
                               const double* cotangents, const kelk_adjoint_options* options,
                               const kelk_gradients* gradients, kelk_adjoint_result* result) {
  return guard("kelk_solve_adjoint", [&] {
    ensure_started();
    Arrays a = arrays(map, B, T, s0, inputs);
    require(states != nullptr && cotangents != nullptr, "states or cotangents is NULL");
    require(gradients != nullptr, "gradients is NULL; set the outputs wanted, NULL the others");
    a.const_states = states;
    a.cotangents = cotangents;
    const auto o = adjoint_options(options);
    map->check_adjoint(o.method);
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = map->solve_adjoint(a, o, *gradients);
    map->check_callbacks(nullptr);
    fill_adjoint(r, seconds_since(t0), result);
  });
}

kelk_status kelk_probe(const kelk_map* map, int B, int T, const double* s0, const double* inputs,
                       const kelk_probe_options* options, kelk_probe_result* result) {
  return guard("kelk_probe", [&] {
    ensure_started();
    const Arrays a = arrays(map, B, T, s0, inputs);
    require(result != nullptr, "result is NULL");
    kelk::ProbeOptions o;
    if (options != nullptr) {
      o.steps = options->steps;
      o.discard = options->discard;
      o.relative_error = options->relative_error;
      o.tolerance = options->tolerance;
    }
    map->check_method(kelk::Method::sequential);
    const auto p = map->probe(a, o);
    map->check_callbacks(nullptr);
    *result = kelk_probe_result{};
    result->exponent = p.exponent;
    result->error = p.error;
    result->exponent_min = p.exponent_min;
    result->exponent_max = p.exponent_max;
    result->steps = p.steps;
    result->merge_length = p.merge_length;
    result->predictable = p.predictable;
    result->finite = p.finite;
    copy_text(result->verdict, sizeof result->verdict, p.verdict);
  });
}

// ---- distributed --------------------------------------------------------------------------

#ifdef KELK_HAVE_MPI
kelk_status kelk_solver_create(kelk_solver** solver, MPI_Comm comm, int B, int T,
                               int batch_ranks) {
  return guard("kelk_solver_create", [&] {
    require(solver != nullptr, "solver (the output) is NULL");
    *solver = nullptr;
    int mpi = 0;
    MPI_Initialized(&mpi);
    if (!mpi) throw Error(KELK_ERROR_INVALID_ARGUMENT, "MPI is not initialised (call MPI_Init first)");
    ensure_started();
    *solver = new kelk_solver(comm, B, T, batch_ranks);
  });
}

kelk_status kelk_solver_create_fortran(kelk_solver** solver, int fortran_comm, int B, int T,
                                       int batch_ranks) {
  int mpi = 0;
  MPI_Initialized(&mpi);
  if (!mpi) {
    last_error = "kelk_solver_create: MPI is not initialised (call MPI_Init first)";
    return KELK_ERROR_INVALID_ARGUMENT;
  }
  return kelk_solver_create(solver, MPI_Comm_f2c(fortran_comm), B, T, batch_ranks);
}

kelk_status kelk_solver_partition(const kelk_solver* solver, kelk_partition* out) {
  return guard("kelk_solver_partition", [&] {
    require(solver != nullptr && out != nullptr, "solver or partition is NULL");
    const auto& p = solver->solver.partition();
    *out = kelk_partition{p.batch,       p.length,    p.batch_ranks, p.time_ranks,
                          p.batch_rank,  p.time_rank, p.batch_begin, p.batch_end,
                          p.time_begin,  p.time_end};
  });
}

namespace {
/// A status every rank of the solver agrees on (the worst), so that no rank goes on alone.
kelk_status agree(const kelk_solver* solver, kelk_status status) {
  if (solver == nullptr) return status;
  int mine = status, worst = 0;
  MPI_Allreduce(&mine, &worst, 1, MPI_INT, MPI_MAX, solver->solver.comm());
  if (worst != KELK_SUCCESS && status == KELK_SUCCESS)
    last_error = "kelk: another rank failed (status " + std::to_string(worst) +
                 "; its message is on that rank); this rank's outputs are not valid";
  return static_cast<kelk_status>(worst);
}
}  // namespace

namespace {
#ifdef KELK_HAVE_HDF5
/// The fingerprint of a checkpointed solve: kelk's entries, the map's identity, this problem's
/// s0 and inputs (each rank's block, in rank order) and the caller's own description.
kelk::Fingerprint checkpoint_fingerprint(const kelk_solver* solver, const kelk_map* map,
                                   const Arrays& a, const kelk::SolveOptions& o,
                                   const kelk_checkpoint_options& c) {
  const std::size_t D = map->state_dim(), Din = map->input_dim(), B = a.B, T = a.T;
  std::uint64_t h = kelk::fnv1a(a.s0, B * D * sizeof(double));
  if (Din > 0) h = kelk::fnv1a(a.inputs, B * T * Din * sizeof(double), h);
  kelk::Fingerprint data;
  data.add("map", map->identity);
  data.add("input", kelk::fingerprint_over_ranks(solver->solver.comm(), h));
  if (c.problem != nullptr) data.add("problem", c.problem);
  return kelk::solve_fingerprint<double>(solver->solver.partition(), int(D), o, data);
}
#endif

/// kelk_solver_solve, checkpointed when `checkpoint` is given.
kelk_status solve_distributed(const char* who, const kelk_solver* solver, const kelk_map* map,
                              const double* s0, const double* inputs, double* states,
                              const kelk_options* options, const kelk_checkpoint_options* checkpoint,
                              kelk_result* result) {
  // Two phases, each ended by a status every rank agrees on: this rank's own checks (and the
  // probe of method = "auto", on rank 0), then the collective work. A rank whose arguments are
  // wrong thus never leaves the others waiting in a collective call.
  if (solver == nullptr) return guard(who, [] { require(false, "solver is NULL"); });
  const auto& part = solver->solver.partition();
  const MPI_Comm comm = solver->solver.comm();
  const bool automatic = options != nullptr && options->method == KELK_METHOD_AUTO;
  Arrays a;
  kelk::SolveOptions o;
  int code = 0;
  char why[320] = "";
  kelk_status status = guard(who, [&] {
    ensure_started();
#ifndef KELK_HAVE_HDF5
    if (checkpoint != nullptr)
      throw Error(KELK_ERROR_UNSUPPORTED,
                  "this kelk was built without HDF5 (KELK_ENABLE_HDF5=OFF): no checkpoints");
#endif
    a = arrays(map, part.local_batch(), part.local_length(), s0, inputs);
    require(states != nullptr, "states is NULL");
    a.states = states;
    o = solve_options(options);
    if (result != nullptr) *result = kelk_result{};
    if (!automatic) {
      map->check_method(o.method);
    } else if (part.time_rank == 0 && part.batch_rank == 0) {
      // the probe on rank 0's sequences from their start; every rank takes its choice
      const auto choice = choose(map, a, part.time_ranks);
      code = method_code(choice.method);
      copy_text(why, sizeof why, choice.reason);
    }
  });
  if ((status = agree(solver, status)) != KELK_SUCCESS) return status;
  status = guard(who, [&] {
    if (automatic) {
      MPI_Bcast(&code, 1, MPI_INT, 0, comm);
      MPI_Bcast(why, sizeof why, MPI_CHAR, 0, comm);
      o.method = method_of(code);
      map->check_method(o.method);  // the same map type on every rank: the same verdict
    }
    const auto t0 = std::chrono::steady_clock::now();
    kelk::SolveResult r;
#ifdef KELK_HAVE_HDF5
    if (checkpoint != nullptr) {  // every step below is collective, its errors on every rank
      const auto& c = *checkpoint;
      Checkpointing how;
      how.fingerprint = checkpoint_fingerprint(solver, map, a, o, c);
      std::optional<kelk::Checkpointer> checkpointer;
      if (c.file != nullptr)  // installs the signal's handler until it goes
        checkpointer.emplace(comm, part,
                             kelk::CheckpointPolicy{c.file, c.every, c.seconds, c.signal, c.report != 0},
                             how.fingerprint);
      how.checkpointer = checkpointer ? &*checkpointer : nullptr;
      if (c.restart != nullptr) how.restart = c.restart;
      r = map->solve(solver->solver, a, o, &how);
    } else
#endif
      r = map->solve(solver->solver, a, o, nullptr);
    map->check_callbacks(&comm);
    fill_result(r, options, seconds_since(t0), result);
    if (result != nullptr) copy_text(result->choice, sizeof result->choice, why);
  });
  return agree(solver, status);
}
}  // namespace

kelk_status kelk_solver_solve(const kelk_solver* solver, const kelk_map* map, const double* s0,
                              const double* inputs, double* states, const kelk_options* options,
                              kelk_result* result) {
  return solve_distributed("kelk_solver_solve", solver, map, s0, inputs, states, options, nullptr,
                           result);
}

kelk_status kelk_solver_solve_checkpointed(const kelk_solver* solver, const kelk_map* map,
                                           const double* s0, const double* inputs,
                                           double* states, const kelk_options* options,
                                           const kelk_checkpoint_options* checkpoint,
                                           kelk_result* result) {
  const char* who = "kelk_solver_solve_checkpointed";
  if (checkpoint == nullptr)
    return guard(who, [] { require(false, "checkpoint (the checkpoint options) is NULL"); });
  return solve_distributed(who, solver, map, s0, inputs, states, options, checkpoint, result);
}

kelk_status kelk_solver_solve_adjoint(const kelk_solver* solver, const kelk_map* map,
                                      const double* s0, const double* inputs,
                                      const double* states, const double* cotangents,
                                      const kelk_adjoint_options* options,
                                      const kelk_gradients* gradients,
                                      kelk_adjoint_result* result) {
  const char* who = "kelk_solver_solve_adjoint";
  if (solver == nullptr) return guard(who, [] { require(false, "solver is NULL"); });
  const auto& part = solver->solver.partition();
  const MPI_Comm comm = solver->solver.comm();
  Arrays a;
  kelk::AdjointOptions o;
  kelk_status status = guard(who, [&] {  // this rank's checks, as kelk_solver_solve
    ensure_started();
    a = arrays(map, part.local_batch(), part.local_length(), s0, inputs);
    require(states != nullptr && cotangents != nullptr, "states or cotangents is NULL");
    require(gradients != nullptr, "gradients is NULL");
    a.const_states = states;
    a.cotangents = cotangents;
    o = adjoint_options(options);
    map->check_adjoint(o.method);
  });
  if ((status = agree(solver, status)) != KELK_SUCCESS) return status;
  status = guard(who, [&] {
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = map->solve_adjoint(solver->solver, a, o, *gradients);
    map->check_callbacks(&comm);
    fill_adjoint(r, seconds_since(t0), result);
  });
  return agree(solver, status);
}

void kelk_solver_free(kelk_solver* solver) { delete solver; }

#else  // built without MPI

kelk_status kelk_solver_create_fortran(kelk_solver** solver, int, int, int, int) {
  if (solver != nullptr) *solver = nullptr;
  last_error = "kelk_solver_create: this kelk was built without MPI (KELK_ENABLE_MPI=OFF)";
  return KELK_ERROR_UNSUPPORTED;
}
kelk_status kelk_solver_partition(const kelk_solver*, kelk_partition*) {
  last_error = "kelk_solver_partition: this kelk was built without MPI";
  return KELK_ERROR_UNSUPPORTED;
}
kelk_status kelk_solver_solve(const kelk_solver*, const kelk_map*, const double*, const double*,
                              double*, const kelk_options*, kelk_result*) {
  last_error = "kelk_solver_solve: this kelk was built without MPI";
  return KELK_ERROR_UNSUPPORTED;
}
kelk_status kelk_solver_solve_adjoint(const kelk_solver*, const kelk_map*, const double*,
                                      const double*, const double*, const double*,
                                      const kelk_adjoint_options*, const kelk_gradients*,
                                      kelk_adjoint_result*) {
  last_error = "kelk_solver_solve_adjoint: this kelk was built without MPI";
  return KELK_ERROR_UNSUPPORTED;
}
kelk_status kelk_solver_solve_checkpointed(const kelk_solver*, const kelk_map*, const double*,
                                           const double*, double*, const kelk_options*,
                                           const kelk_checkpoint_options*, kelk_result*) {
  last_error = "kelk_solver_solve_checkpointed: this kelk was built without MPI";
  return KELK_ERROR_UNSUPPORTED;
}
void kelk_solver_free(kelk_solver*) {}
#endif

}  // extern "C"
