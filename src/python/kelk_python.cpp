// kelk._kelk: the nanobind extension under the Python package `kelk`. It checks and converts
// arguments (numpy or DLPack arrays, options) and calls kelk's C++ API through the maps of
// kelk_python.hpp; the Python package (src/python/kelk) adds the documented functions.
#include "kelk_python.hpp"

#include <kelk/kelk_initialize.hpp>

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include <chrono>
#include <cmath>
#include <exception>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

namespace nb = nanobind;
using namespace nb::literals;

namespace kelk::python {
namespace {

using Array = nb::ndarray<nb::device::cpu>;               // written (out, gradients)
using ConstArray = nb::ndarray<nb::ro, nb::device::cpu>;  // read: read-only arrays welcome

enum class Lifecycle { not_started, started, finalized };
Lifecycle lifecycle = Lifecycle::not_started;
constexpr bool host_accessible =
    Kokkos::SpaceAccessibility<Kokkos::DefaultExecutionSpace, Kokkos::HostSpace>::accessible;
std::thread::id kokkos_thread;

void start(int threads) {
  if (lifecycle == Lifecycle::finalized)
    throw std::runtime_error(
        "kelk: Kokkos was finalized; it cannot be started again in this process");
  if (lifecycle == Lifecycle::started) return;
  if (!Kokkos::is_initialized()) impl::initialize_kokkos(threads);
  kokkos_thread = std::this_thread::get_id();
  lifecycle = Lifecycle::started;
}

/// Before every call into Kokkos: started, and on the thread that started it (Kokkos 3's
/// OpenMP backend runs only from there).
void ensure_started() {
  start(0);
  if (std::this_thread::get_id() != kokkos_thread)
    throw std::runtime_error(
        "kelk: called from a thread other than the one that initialised Kokkos; Kokkos' OpenMP "
        "backend runs only from that thread (call kelk from it)");
}

void check_usable(const AnyMap& m) {
  ensure_started();
  if (m.released())
    throw std::runtime_error("kelk: this map was released when Kokkos was finalized");
}

template <class A>
std::string shape_text(const A& a) {
  std::string t = "(";
  for (size_t i = 0; i < a.ndim(); ++i) t += (i ? ", " : "") + std::to_string(a.shape(i));
  return t + (a.ndim() == 1 ? ",)" : ")");
}

/// Checks `a` (named `name`) is of the map's dtype, C-contiguous and of `shape` (-1: any).
template <class A>
void check_array(const AnyMap& m, const char* who, const char* name, const A& a,
                 std::initializer_list<long> shape) {
  const bool is_double = a.dtype() == nb::dtype<double>();
  const bool is_float = a.dtype() == nb::dtype<float>();
  if ((m.is_double() && !is_double) || (!m.is_double() && !is_float))
    throw nb::type_error((std::string(who) + ": " + name + " has dtype " +
                          (is_double  ? "float64"
                           : is_float ? "float32"
                                      : "not float32/float64") +
                          " but the map is " + (m.is_double() ? "float64" : "float32"))
                             .c_str());
  if (a.ndim() != shape.size())
    throw nb::value_error((std::string(who) + ": " + name + " has shape " + shape_text(a) +
                           "; expected " + std::to_string(shape.size()) + " dimensions")
                              .c_str());
  size_t i = 0;
  for (long e : shape) {
    if (e >= 0 && long(a.shape(i)) != e)
      throw nb::value_error((std::string(who) + ": " + name + " has shape " + shape_text(a) +
                             "; dimension " + std::to_string(i) + " should be " + std::to_string(e))
                                .c_str());
    ++i;
  }
  // C-contiguous (strides in elements; extents of 1 may carry any stride)
  int64_t expected = 1;
  for (size_t d = a.ndim(); d-- > 0;) {
    if (a.shape(d) != 1 && a.stride(d) != expected)
      throw nb::value_error((std::string(who) + ": " + name +
                             " is not C-contiguous; pass numpy.ascontiguousarray(" + name +
                             ") (kelk does not copy silently)")
                                .c_str());
    expected *= int64_t(a.shape(d));
  }
}

/// The (B, T) of s0 (B, D) and inputs (B, T, Din), checked against the map.
Arrays arrays(const AnyMap& m, const char* who, const ConstArray& s0, const ConstArray& inputs) {
  check_array(m, who, "s0", s0, {-1, m.state_dim()});
  check_array(m, who, "inputs", inputs, {long(s0.shape(0)), -1, m.input_dim()});
  Arrays a;
  a.B = int(s0.shape(0));
  a.T = int(inputs.shape(1));
  a.s0 = s0.data();
  a.inputs = inputs.data();
  return a;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

nb::dict solve_result(const SolveResult& r, double seconds, const std::string& why) {
  nb::dict d;
  d["method"] = to_string(r.method);
  d["method_reason"] = why;
  d["iterations"] = r.iterations;
  d["converged"] = r.converged;
  d["reason"] = to_string(r.reason);
  d["final_update"] = r.final_update;
  d["final_residual"] = r.final_residual;
  d["returned_iteration"] = r.returned_iteration;
  d["seconds"] = seconds;
  nb::list it, up, res, sig, acc, rec, longest;
  for (const auto& h : r.history) {
    it.append(h.iteration);
    up.append(h.max_update);
    res.append(h.max_residual);
    sig.append(h.sigma2);
    acc.append(h.accepted);
    rec.append(h.steps_recomputed);
    longest.append(h.longest_recomputation);
  }
  nb::dict hist;
  hist["iteration"] = it;
  hist["max_update"] = up;
  hist["max_residual"] = res;
  hist["sigma2"] = sig;
  hist["accepted"] = acc;
  hist["steps_recomputed"] = rec;
  hist["longest_recomputation"] = longest;
  d["history"] = hist;
  return d;
}

nb::dict probe_result(const ProbeResult& p) {
  nb::dict d;
  d["exponent"] = p.exponent;
  d["error"] = p.error;
  d["exponent_min"] = p.exponent_min;
  d["exponent_max"] = p.exponent_max;
  d["steps"] = p.steps;
  d["merge_length"] = p.merge_length;
  d["predictable"] = p.predictable;
  d["finite"] = p.finite;
  d["non_finite_sequence"] = p.non_finite_sequence;
  d["non_finite_step"] = p.non_finite_step;
  d["verdict"] = p.verdict;
  return d;
}

HostArray host_array(const nb::ndarray<const double, nb::c_contig, nb::device::cpu>& a) {
  HostArray h;
  h.data = a.data();
  for (size_t i = 0; i < a.ndim(); ++i) h.shape.push_back(a.shape(i));
  return h;
}

using Param = nb::ndarray<const double, nb::c_contig, nb::device::cpu>;

std::vector<HostArray> host_arrays(const std::vector<Param>& p) {
  std::vector<HostArray> out;
  for (const auto& a : p) out.push_back(host_array(a));
  return out;
}

/// s0, inputs and the states output of a solve, checked.
Arrays solve_arrays(const AnyMap& map, const char* who, const ConstArray& s0,
                    const ConstArray& inputs, const Array& states) {
  Arrays a = arrays(map, who, s0, inputs);
  check_array(map, who, "out", states, {a.B, a.T, map.state_dim()});
  a.states = states.data();
  return a;
}

/// The arrays of an adjoint, checked; gradient outputs may be absent.
Arrays adjoint_arrays(const AnyMap& map, const char* who, const ConstArray& s0,
                      const ConstArray& inputs, const ConstArray& states,
                      const ConstArray& cotangents, const std::optional<Array>& ds0,
                      const std::optional<Array>& dinputs,
                      const std::optional<Array>& dparameters) {
  Arrays a = arrays(map, who, s0, inputs);
  const int D = map.state_dim();
  check_array(map, who, "states", states, {a.B, a.T, D});
  check_array(map, who, "cotangents", cotangents, {a.B, a.T, D});
  a.const_states = states.data();
  a.cotangents = cotangents.data();
  if (ds0) {
    check_array(map, who, "ds0", *ds0, {a.B, D});
    a.ds0 = ds0->data();
  }
  if (dinputs) {
    check_array(map, who, "dinputs", *dinputs, {a.B, a.T, map.input_dim()});
    a.dinputs = dinputs->data();
  }
  if (dparameters) {
    std::size_t P = 0;
    for (const auto& b : map.layout()) P += b.size();
    check_array(map, who, "dparameters", *dparameters, {long(P)});
    a.dparameters = dparameters->data();
  }
  return a;
}

AdjointOptions adjoint_options(const std::string& method, int chunks, int blocks) {
  AdjointOptions o;
  o.method = parse_adjoint_method(method);
  o.chunks = chunks;
  o.blocks = blocks;
  return o;
}

nb::dict adjoint_result(const AdjointResult& r, double seconds) {
  nb::dict d;
  d["method"] = to_string(r.method);
  d["sweeps"] = r.sweeps;
  d["steps_swept"] = r.steps_swept;
  d["finite"] = r.finite;
  d["seconds"] = seconds;
  return d;
}

/// kelk::SolveOptions from the keywords of kelk.solve (all present: the Python layer fills in
/// the defaults; method is set by the caller).
SolveOptions solve_options(const nb::dict& d) {
  SolveOptions o;
  auto get = [&](const char* key) { return d[key]; };
  if (!get("atol").is_none()) o.atol = nb::cast<double>(get("atol"));
  o.rtol = nb::cast<double>(get("rtol"));
  if (!get("max_iter").is_none()) o.max_iter = nb::cast<int>(get("max_iter"));
  o.fixed_iterations = nb::cast<bool>(get("fixed_iterations"));
  o.initial_guess = parse_initial_guess(nb::cast<std::string>(get("initial_guess")));
  o.non_finite = parse_non_finite_policy(nb::cast<std::string>(get("non_finite")));
  o.clip_value = nb::cast<double>(get("clip_value"));
  o.keep_best = nb::cast<bool>(get("keep_best"));
  o.record_history = nb::cast<bool>(get("record_history"));
  o.chunks = nb::cast<int>(get("chunks"));
  o.blocks = nb::cast<int>(get("blocks"));
  if (!get("sigma2").is_none()) o.sigma2 = nb::cast<double>(get("sigma2"));
  o.sigma2_auto = nb::cast<bool>(get("sigma2_auto"));
  o.kalman_smoother = nb::cast<bool>(get("kalman_smoother"));
  o.jacobian_structure = parse_jacobian_structure(nb::cast<std::string>(get("jacobian_structure")));
  o.block_size = nb::cast<int>(get("block_size"));
  return o;
}

/// method = "auto": the probe's verdict on this problem and, where it allows a parallel method,
/// the candidates measured on the probe's prefix (kelk_auto.hpp).
MethodChoice choose(const AnyMap& map, const Arrays& a, int time_ranks,
                    std::optional<double> atol) {
  Resources res;
  res.time_ranks = time_ranks;
  res.threads = Kokkos::DefaultExecutionSpace().concurrency();
  res.device = !host_accessible;
  return map.choose(a, res, atol);
}

#ifdef KELK_HAVE_MPI
/// A DistributedSolver held by Python; the registry lets finalize() free every one (its
/// communicator and Views) before Kokkos::finalize and MPI_Finalize.
struct PySolver {
  std::unique_ptr<DistributedSolver> solver;
  PySolver();
  ~PySolver();
  const DistributedSolver& get() const {
    if (!solver)
      throw std::runtime_error(
          "kelk: this DistributedSolver was released when Kokkos was finalized");
    return *solver;
  }
};
std::set<PySolver*>& solvers() {
  static std::set<PySolver*> all;
  return all;
}
PySolver::PySolver() {
  solvers().insert(this);
}
PySolver::~PySolver() {
  solvers().erase(this);
}

void release_solvers() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  for (PySolver* s : solvers()) {
    if (finalized)
      (void)s->solver.release();  // MPI is gone: its communicator cannot be freed any more
    else
      s->solver.reset();
  }
}

/// Runs `local` (this rank's own checks) and agrees with the other ranks before any collective
/// call: when any rank failed, every rank raises (its own error, or one saying that another
/// rank's arguments were invalid), so that no rank is left waiting in a collective call.
template <class F>
void agree(const DistributedSolver& s, F&& local) {
  std::exception_ptr error;
  try {
    local();
  } catch (...) {
    error = std::current_exception();
  }
  int mine = error ? 1 : 0, any = 0;
  MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, s.comm());
  if (error) std::rethrow_exception(error);
  if (any)
    throw std::invalid_argument(
        "kelk.DistributedSolver: another rank's arguments were invalid (its error says which)");
}
#endif

}  // namespace
}  // namespace kelk::python

NB_MODULE(_kelk, m) {
  using namespace kelk;
  using namespace kelk::python;
  m.doc() = "kelk's compiled core; use the package `kelk` instead.";
  nb::set_leak_warnings(false);

  m.def("version", [] { return std::string(kelk::version()); });
  m.def(
      "initialize", [](int threads) { start(threads); }, "threads"_a = 0,
      "Starts Kokkos (threads <= 0: OMP_NUM_THREADS or Kokkos' default).");
  m.def("is_initialized", [] { return lifecycle == Lifecycle::started; });
  m.def("finalize", [] {
    if (lifecycle != Lifecycle::started) return;
    if (std::this_thread::get_id() != kokkos_thread) return;  // cannot: leave it to the OS
    AnyMap::release_all();
#ifdef KELK_HAVE_MPI
    release_solvers();
#endif
    if (Kokkos::is_initialized()) Kokkos::finalize();
    lifecycle = Lifecycle::finalized;
  });
  m.def("concurrency", [] {
    ensure_started();
    return Kokkos::DefaultExecutionSpace().concurrency();
  });

  nb::class_<ParameterBlock>(m, "ParameterBlock")
      .def_ro("name", &ParameterBlock::name)
      .def_ro("shape", &ParameterBlock::shape);

  nb::class_<AnyMap>(m, "Map")
      .def_prop_ro("kind", &AnyMap::kind)
      .def_prop_ro("is_double", &AnyMap::is_double)
      .def_prop_ro("state_dim", &AnyMap::state_dim)
      .def_prop_ro("input_dim", &AnyMap::input_dim)
      .def("save",
           [](const AnyMap& self, const std::string& path) {
             check_usable(self);
             nb::gil_scoped_release release;
             self.save(path);
           })
      .def("parameter_layout", [](const AnyMap& self) {
        nb::list l;
        for (const auto& b : self.layout()) {
          nb::tuple shape = nb::steal<nb::tuple>(PyTuple_New(Py_ssize_t(b.shape.size())));
          for (size_t i = 0; i < b.shape.size(); ++i)
            PyTuple_SET_ITEM(shape.ptr(), Py_ssize_t(i), PyLong_FromSize_t(b.shape[i]));
          l.append(nb::make_tuple(b.name, shape));
        }
        return l;
      });

  m.def("make_elman", [](bool is_double, Param W, Param U, Param c) {
    ensure_started();
    return is_double ? make_elman<double>(host_array(W), host_array(U), host_array(c))
                     : make_elman<float>(host_array(W), host_array(U), host_array(c));
  });
  m.def("make_gru", [](bool is_double, std::vector<Param> w) {
    ensure_started();
    return is_double ? make_gru<double>(host_arrays(w)) : make_gru<float>(host_arrays(w));
  });
  m.def("make_lstm", [](bool is_double, std::vector<Param> w) {
    ensure_started();
    return is_double ? make_lstm<double>(host_arrays(w)) : make_lstm<float>(host_arrays(w));
  });
  m.def("make_lorenz96", [](bool is_double, int D, double F, double dt) {
    ensure_started();
    return is_double ? make_lorenz96<double>(D, F, dt) : make_lorenz96<float>(D, F, dt);
  });
  m.def("make_argru", [](bool is_double, std::vector<Param> w, double c_mu, double c_ls) {
    ensure_started();
    return is_double ? make_argru<double>(host_arrays(w), c_mu, c_ls)
                     : make_argru<float>(host_arrays(w), c_mu, c_ls);
  });
  m.def("load", [](const std::string& path, bool is_double) {
    ensure_started();
    nb::gil_scoped_release release;
    return is_double ? load_model<double>(path) : load_model<float>(path);
  });

  m.def(
      "solve",
      [](const AnyMap& map, ConstArray s0, ConstArray inputs, Array states,
         const std::string& method, const nb::dict& options) {
        check_usable(map);
        Arrays a = solve_arrays(map, "kelk.solve", s0, inputs, states);
        SolveOptions o = solve_options(options);
        const bool automatic = method == "auto";
        if (!automatic) o.method = parse_method(method);
        SolveResult r;
        std::string why;
        double seconds = 0;
        {
          nb::gil_scoped_release release;
          const auto t0 = std::chrono::steady_clock::now();
          if (automatic) {
            const MethodChoice choice = choose(map, a, 1, o.atol);
            choice.apply(o);
            why = choice.reason;
          }
          r = map.solve(a, o);
          seconds = seconds_since(t0);
        }
        return solve_result(r, seconds, why);
      },
      "map"_a, "s0"_a, "inputs"_a, "out"_a, "method"_a, "options"_a);

  m.def(
      "solve_adjoint",
      [](const AnyMap& map, ConstArray s0, ConstArray inputs, ConstArray states,
         ConstArray cotangents, std::optional<Array> ds0, std::optional<Array> dinputs,
         std::optional<Array> dparameters, const std::string& method, int chunks, int blocks) {
        check_usable(map);
        const Arrays a = adjoint_arrays(map, "kelk.solve_adjoint", s0, inputs, states, cotangents,
                                        ds0, dinputs, dparameters);
        const AdjointOptions o = adjoint_options(method, chunks, blocks);
        AdjointResult r;
        double seconds = 0;
        {
          nb::gil_scoped_release release;
          const auto t0 = std::chrono::steady_clock::now();
          r = map.solve_adjoint(a, o);
          seconds = seconds_since(t0);
        }
        return adjoint_result(r, seconds);
      },
      "map"_a, "s0"_a, "inputs"_a, "states"_a, "cotangents"_a, "ds0"_a.none(), "dinputs"_a.none(),
      "dparameters"_a.none(), "method"_a, "chunks"_a, "blocks"_a);

  m.def(
      "probe",
      [](const AnyMap& map, ConstArray s0, ConstArray inputs, int steps, int discard,
         double relative_error, double tolerance) {
        check_usable(map);
        Arrays a = arrays(map, "kelk.probe", s0, inputs);
        ProbeOptions o;
        o.steps = steps;
        o.discard = discard;
        o.relative_error = relative_error;
        o.tolerance = tolerance;
        ProbeResult p;
        std::string why;
        {
          nb::gil_scoped_release release;
          p = map.probe(a, o);
          Resources res;
          res.threads = Kokkos::DefaultExecutionSpace().concurrency();
          const MethodChoice c = choose_method(p, a.T, res);
          why = to_string(c.method) + ": " + c.reason;
        }
        nb::dict d = probe_result(p);
        d["choice"] = why;
        return d;
      },
      "map"_a, "s0"_a, "inputs"_a, "steps"_a, "discard"_a, "relative_error"_a, "tolerance"_a);

#ifdef KELK_HAVE_MPI
  m.attr("have_mpi") = true;
  nb::class_<PySolver>(m, "DistributedSolver")
      .def(
          "__init__",
          [](PySolver* self, long fortran_comm, int batch, int length, int batch_ranks) {
            ensure_started();
            int initialized = 0;
            MPI_Initialized(&initialized);
            if (!initialized)
              throw std::runtime_error(
                  "kelk.DistributedSolver: MPI is not initialized "
                  "(import mpi4py.MPI first)");
            auto solver = std::make_unique<DistributedSolver>(MPI_Comm_f2c(MPI_Fint(fortran_comm)),
                                                              batch, length, batch_ranks);
            new (self) PySolver();
            self->solver = std::move(solver);
          },
          "fortran_comm"_a, "batch"_a, "length"_a, "batch_ranks"_a)
      .def_prop_ro("partition", [](const PySolver& self) {
        const Partition& p = self.get().partition();
        nb::dict d;
        d["batch"] = p.batch;
        d["length"] = p.length;
        d["batch_ranks"] = p.batch_ranks;
        d["time_ranks"] = p.time_ranks;
        d["batch_rank"] = p.batch_rank;
        d["time_rank"] = p.time_rank;
        d["batch_begin"] = p.batch_begin;
        d["batch_end"] = p.batch_end;
        d["time_begin"] = p.time_begin;
        d["time_end"] = p.time_end;
        return d;
      });

  m.def(
      "solve_distributed",
      [](const PySolver& holder, const AnyMap& map, ConstArray s0, ConstArray inputs, Array states,
         const std::string& method, const nb::dict& options) {
        const DistributedSolver& solver = holder.get();
        const Partition& part = solver.partition();
        const bool automatic = method == "auto";
        Arrays a;
        SolveOptions o;
        int code[3] = {0, 0, 0};  // method, Jacobian structure, block size
        char why[2048] = "";
        int rank = 0;
        MPI_Comm_rank(solver.comm(), &rank);
        agree(solver, [&] {
          check_usable(map);
          a = solve_arrays(map, "kelk.DistributedSolver.solve", s0, inputs, states);
          if (a.B != part.local_batch() || a.T != part.local_length())
            throw std::invalid_argument("kelk.DistributedSolver.solve: this rank's block is (" +
                                        std::to_string(part.local_batch()) + ", " +
                                        std::to_string(part.local_length()) +
                                        ") sequences x steps (partition); got (" +
                                        std::to_string(a.B) + ", " + std::to_string(a.T) + ")");
          o = solve_options(options);
          if (!automatic) {
            o.method = parse_method(method);
          } else if (rank == 0) {  // the probe on rank 0's sequences from their start
            const MethodChoice c = choose(map, a, part.time_ranks, o.atol);
            code[0] = int(c.method), code[1] = int(c.structure), code[2] = c.block_size;
            std::snprintf(why, sizeof why, "%s", c.reason.c_str());
          }
        });
        SolveResult r;
        double seconds = 0;
        {
          nb::gil_scoped_release release;
          if (automatic) {
            MPI_Bcast(code, 3, MPI_INT, 0, solver.comm());
            MPI_Bcast(why, sizeof why, MPI_CHAR, 0, solver.comm());
            o.method = static_cast<Method>(code[0]);
            o.jacobian_structure = static_cast<JacobianStructure>(code[1]);
            o.block_size = code[2];
          }
          const auto t0 = std::chrono::steady_clock::now();
          r = map.solve(solver, a, o);
          seconds = seconds_since(t0);
        }
        return solve_result(r, seconds, automatic ? std::string(why) : std::string());
      },
      "solver"_a, "map"_a, "s0"_a, "inputs"_a, "out"_a, "method"_a, "options"_a);

  m.def(
      "solve_adjoint_distributed",
      [](const PySolver& holder, const AnyMap& map, ConstArray s0, ConstArray inputs,
         ConstArray states, ConstArray cotangents, std::optional<Array> ds0,
         std::optional<Array> dinputs, std::optional<Array> dparameters, const std::string& method,
         int chunks, int blocks) {
        const DistributedSolver& solver = holder.get();
        Arrays a;
        AdjointOptions o;
        agree(solver, [&] {
          check_usable(map);
          a = adjoint_arrays(map, "kelk.DistributedSolver.solve_adjoint", s0, inputs, states,
                             cotangents, ds0, dinputs, dparameters);
          const Partition& part = solver.partition();
          if (a.B != part.local_batch() || a.T != part.local_length())
            throw std::invalid_argument(
                "kelk.DistributedSolver.solve_adjoint: this rank's block is (" +
                std::to_string(part.local_batch()) + ", " + std::to_string(part.local_length()) +
                ") sequences x steps (partition)");
          o = adjoint_options(method, chunks, blocks);
        });
        AdjointResult r;
        double seconds = 0;
        {
          nb::gil_scoped_release release;
          const auto t0 = std::chrono::steady_clock::now();
          r = map.solve_adjoint(solver, a, o);
          seconds = seconds_since(t0);
        }
        return adjoint_result(r, seconds);
      },
      "solver"_a, "map"_a, "s0"_a, "inputs"_a, "states"_a, "cotangents"_a, "ds0"_a.none(),
      "dinputs"_a.none(), "dparameters"_a.none(), "method"_a, "chunks"_a, "blocks"_a);
#else
  m.attr("have_mpi") = false;
#endif
}
