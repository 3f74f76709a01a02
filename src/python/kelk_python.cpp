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
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

namespace nb = nanobind;
using namespace nb::literals;

namespace kelk::python {
namespace {

using Array = nb::ndarray<nb::device::cpu>;  // written (out, gradients)
using ConstArray = nb::ndarray<nb::ro, nb::device::cpu>;  // read: read-only arrays welcome

enum class Lifecycle { not_started, started, finalized };
Lifecycle lifecycle = Lifecycle::not_started;
std::thread::id kokkos_thread;

void start(int threads) {
  if (lifecycle == Lifecycle::finalized)
    throw std::runtime_error("kelk: Kokkos was finalized; it cannot be started again in this process");
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
                          (is_double ? "float64" : is_float ? "float32" : "not float32/float64") +
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
                             "; dimension " + std::to_string(i) + " should be " +
                             std::to_string(e))
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
      [](const AnyMap& map, ConstArray s0, ConstArray inputs, Array states, const std::string& method,
         std::optional<double> atol, double rtol, std::optional<int> max_iter,
         bool fixed_iterations, const std::string& initial_guess, const std::string& non_finite,
         double clip_value, bool keep_best, bool record_history, int chunks, int blocks,
         std::optional<double> sigma2, bool sigma2_auto, bool kalman_smoother) {
        check_usable(map);
        const char* who = "kelk.solve";
        Arrays a = arrays(map, who, s0, inputs);
        check_array(map, who, "out", states, {a.B, a.T, map.state_dim()});
        a.states = states.data();
        SolveOptions o;
        o.atol = atol;
        o.rtol = rtol;
        o.max_iter = max_iter;
        o.fixed_iterations = fixed_iterations;
        o.initial_guess = parse_initial_guess(initial_guess);
        o.non_finite = parse_non_finite_policy(non_finite);
        o.clip_value = clip_value;
        o.keep_best = keep_best;
        o.record_history = record_history;
        o.chunks = chunks;
        o.blocks = blocks;
        o.sigma2 = sigma2;
        o.sigma2_auto = sigma2_auto;
        o.kalman_smoother = kalman_smoother;
        const bool automatic = method == "auto";
        if (!automatic) o.method = parse_method(method);
        SolveResult r;
        std::string why;
        double seconds = 0;
        {
          nb::gil_scoped_release release;
          const auto t0 = std::chrono::steady_clock::now();
          if (automatic) {
            const ProbeResult p = map.probe(a, ProbeOptions{});
            Resources res;
            res.threads = Kokkos::DefaultExecutionSpace().concurrency();
            res.device = false;
            const MethodChoice choice = choose_method(p, a.T, res);
            o.method = choice.method;
            why = choice.reason;
          }
          r = map.solve(a, o);
          seconds = seconds_since(t0);
        }
        return solve_result(r, seconds, why);
      },
      "map"_a, "s0"_a, "inputs"_a, "out"_a, "method"_a, "atol"_a.none(), "rtol"_a,
      "max_iter"_a.none(), "fixed_iterations"_a, "initial_guess"_a, "non_finite"_a,
      "clip_value"_a, "keep_best"_a, "record_history"_a, "chunks"_a, "blocks"_a,
      "sigma2"_a.none(), "sigma2_auto"_a, "kalman_smoother"_a);

  m.def(
      "solve_adjoint",
      [](const AnyMap& map, ConstArray s0, ConstArray inputs, ConstArray states, ConstArray cotangents,
         std::optional<Array> ds0, std::optional<Array> dinputs,
         std::optional<Array> dparameters, const std::string& method, int chunks, int blocks) {
        check_usable(map);
        const char* who = "kelk.solve_adjoint";
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
        AdjointOptions o;
        o.method = parse_adjoint_method(method);
        o.chunks = chunks;
        o.blocks = blocks;
        AdjointResult r;
        double seconds = 0;
        {
          nb::gil_scoped_release release;
          const auto t0 = std::chrono::steady_clock::now();
          r = map.solve_adjoint(a, o);
          seconds = seconds_since(t0);
        }
        nb::dict d;
        d["method"] = to_string(r.method);
        d["sweeps"] = r.sweeps;
        d["steps_swept"] = r.steps_swept;
        d["finite"] = r.finite;
        d["seconds"] = seconds;
        return d;
      },
      "map"_a, "s0"_a, "inputs"_a, "states"_a, "cotangents"_a, "ds0"_a.none(),
      "dinputs"_a.none(), "dparameters"_a.none(), "method"_a, "chunks"_a, "blocks"_a);

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
}
