// kelk-bench: times kelk's methods on built-in step maps against the fastest sequential
// evaluation of the same run (the faster of kelk's `sequential` and a hand-written loop, both
// timed on rank 0) and writes one CSV or JSON row per case, with the context needed to compare
// machines and the sequential step against one core's dgemm rate.
//
//   build/apps/kelk-bench                                   # the default sweep (minutes, 2 cores)
//   build/apps/kelk-bench --sweep targets --out t.csv       # issue targets: GRU D=64 T=1e6
//   build/apps/kelk-bench --maps gru --methods quasi_deer --T 1000000 --D 64 --repeats 5
//   mpirun -np 4 build/apps/kelk-bench --sweep strong       # time axis over 4 ranks
//
// Threads come from Kokkos (--kokkos-num-threads=N); ranks from the MPI launcher. See
// docs/PERFORMANCE.md for the columns and scripts/bench.sh for the thread x rank sweep.
#include "bench/baseline.hpp"
#include "common/cli_mpi.hpp"
#include "bench/profiler.hpp"
#include "kelk_git_revision.hpp"

#include <kelk/kelk.hpp>
#include <kelk/kelk_activity.hpp>
#ifdef KELK_HAVE_HDF5
#include <kelk/kelk_argru.hpp>
#endif

#include <CLI/CLI.hpp>
#include <Kokkos_Core.hpp>
#include <mpi.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>


namespace {

using kelk::bench::HostMatrix;
using kelk::bench::HostSequence;
using kelk::bench::Profiler;
using Json = nlohmann::ordered_json;
using Device = Kokkos::DefaultExecutionSpace::memory_space;

/// A read-only copy of a host View in the default memory space (the View itself on host
/// backends): what kelk::solve on the default execution space takes.
template <class HostView>
auto on_device(const HostView& v) {
  using Const = Kokkos::View<typename HostView::const_data_type, Kokkos::LayoutRight, Device>;
  return Const(Kokkos::create_mirror_view_and_copy(Device(), v));
}

// ---------------------------------------------------------------------------------------------
// Cases and sweeps

struct Case {
  std::string map = "gru", method = "quasi_deer", precision = "fp64";
  int B = 1, T = 100000, D = 32, Din = 8, chunks = 0;
  int blocks = 0;  ///< block_jacobi's blocks per rank and sequence (0: automatic)
};

struct Settings {
  std::string sweep = "default";
  std::vector<std::string> maps, methods, precisions;
  std::vector<int> Ts, Ds, Bs;
  int Din = 8, chunks = 0, blocks = 0, repeats = 3, warmup = 1, batch_ranks = 1;
  double recurrent_norm = 0.5;
  bool baseline = true;
  std::string out, format = "csv", history;
  std::string argru_weights = "input/argru/argru_weights.h5";
};

/// The cross product of the lists, methods innermost.
std::vector<Case> grid(const std::vector<std::string>& maps, const std::vector<std::string>& precs,
                       const std::vector<int>& Bs, const std::vector<int>& Ts,
                       const std::vector<int>& Ds, const std::vector<std::string>& methods,
                       int Din, int chunks) {
  std::vector<Case> cases;
  for (const auto& map : maps)
    for (const auto& prec : precs)
      for (int B : Bs)
        for (int T : Ts)
          for (int D : Ds)
            for (const auto& method : methods) cases.push_back({map, method, prec, B, T, D, Din, chunks});
  return cases;
}

/// Named sweeps. `default` and `targets` fit a 2-core machine; the others are for clusters.
std::map<std::string, std::function<std::vector<Case>(const Settings&)>> named_sweeps() {
  const std::vector<std::string> fp64{"fp64"}, gru{"gru"};
  const std::vector<std::string> newton{"sequential", "quasi_deer", "deer"};
  const std::vector<std::string> all{"sequential", "jacobi", "deer", "quasi_deer", "elk", "quasi_elk"};
  std::map<std::string, std::function<std::vector<Case>(const Settings&)>> sweeps;
  sweeps["default"] = [=](const Settings& s) {
    auto cases = grid(gru, fp64, {1}, {1000, 10000, 100000}, {32}, newton, s.Din, 0);
    for (auto c : grid(gru, fp64, {1}, {100000}, {8, 16, 64}, newton, s.Din, 0)) cases.push_back(c);
    for (auto c : grid(gru, fp64, {1}, {10000}, {16}, all, s.Din, 0)) cases.push_back(c);
    // Lorenz-96 is chaotic: Newton needs up to T iterations over long horizons, so it is kept
    // short here
    for (auto c : grid({"elman"}, fp64, {1}, {10000}, {16}, newton, s.Din, 0)) cases.push_back(c);
    for (auto c : grid({"lorenz96"}, fp64, {1}, {200}, {16}, newton, s.Din, 0)) cases.push_back(c);
    return cases;
  };
  sweeps["targets"] = [=](const Settings& s) {
    auto cases = grid(gru, fp64, {1}, {1000000}, {64}, {"quasi_deer"}, s.Din, 0);
    // DEER at T = 1e6, D = 64 needs 32 GiB of Jacobians: T = 1e5 here, plus a shorter run
    // whose scan forms chunk summaries (D x D products) for the dense-scan rate
    for (auto c : grid(gru, fp64, {1}, {100000}, {64}, {"deer"}, s.Din, 0)) cases.push_back(c);
    for (auto c : grid(gru, fp64, {1}, {20000}, {32, 64}, {"deer"}, s.Din, 8)) cases.push_back(c);
    return cases;
  };
  // kelk's sequential method against the hand-written loop and the dgemm rate, one thread
  sweeps["sequential"] = [=](const Settings& s) {
    std::vector<Case> cases;
    for (const std::string prec : {"fp64", "fp32"}) {
      for (auto c : grid({"gru", "elman"}, {prec}, {1}, {100000}, {8, 16, 32, 64, 256}, {"sequential"}, s.Din, 0))
        cases.push_back(c);
      for (auto c : grid({"gru", "elman"}, {prec}, {16}, {10000}, {8, 16, 32, 64}, {"sequential"}, s.Din, 0))
        cases.push_back(c);
    }
    return cases;
  };
  // targets F1-F2: block_jacobi against the sequential loop on a contractive GRU, a GRU
  // initialised as torch.nn.GRU is, the autoregressive GRU and chaotic Lorenz-96
  sweeps["block_jacobi"] = [=](const Settings& s) {
    const std::vector<std::string> pair{"sequential", "block_jacobi"};
    auto cases = grid({"gru", "gru_torch"}, fp64, {1}, {1000000}, {64}, pair, s.Din, 0);
    for (auto c : grid({"argru"}, fp64, {1}, {10000, 1000000}, {4}, pair, 1, 0)) cases.push_back(c);
    for (auto c : grid({"lorenz96"}, fp64, {1}, {100000}, {5}, pair, 0, 0)) cases.push_back(c);
    return cases;
  };
  // issue 13: each adjoint method against the sequential reverse sweep and one DEER iteration
  sweeps["adjoint"] = [=](const Settings& s) {
    return grid(gru, fp64, {1}, {100000}, {32, 64},
                {"deer_iteration", "adjoint_sequential", "adjoint_scan", "adjoint_block_sweeps"},
                s.Din, 0);
  };
  sweeps["scan_T"] = [=](const Settings& s) {
    return grid(gru, fp64, {1}, {1000, 10000, 100000, 1000000}, {32}, newton, s.Din, 0);
  };
  sweeps["scan_D"] = [=](const Settings& s) {
    return grid(gru, fp64, {1}, {100000}, {8, 16, 32, 64, 128}, newton, s.Din, 0);
  };
  sweeps["strong"] = [=](const Settings& s) {
    return grid(gru, fp64, {1}, {10000000}, {64}, {"quasi_deer", "quasi_elk"}, s.Din, 0);
  };
  sweeps["weak"] = [=](const Settings& s) {
    int ranks = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    return grid(gru, fp64, {1}, {1000000 * ranks}, {64}, {"quasi_deer", "quasi_elk"}, s.Din, 0);
  };
  return sweeps;
}

// ---------------------------------------------------------------------------------------------
// Context

std::string cpu_model() {
  std::ifstream info("/proc/cpuinfo");
  for (std::string line; std::getline(info, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

std::string hostname() {
  char name[256] = {};
  int len = 0;
  MPI_Get_processor_name(name, &len);
  return std::string(name, len);
}

std::string now_utc() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

/// One core's (with 1 thread: one thread's) dgemm rate, n = 1024, best of 3, in GFLOP/s.
double measure_dgemm_gflops() {
  const int n = 1024;
  HostMatrix<double> A("kelk::bench::dgemm_A", n, n), B("kelk::bench::dgemm_B", n, n),
      C("kelk::bench::dgemm_C", n, n);
  Kokkos::deep_copy(A, 0.5);
  Kokkos::deep_copy(B, 0.25);
  double best = 1e30;
  for (int i = 0; i < 4; ++i) {
    Kokkos::Timer timer;
    KokkosBlas::gemm("N", "N", 1.0, A, B, 0.0, C);
    Kokkos::fence();
    if (i > 0) best = std::min(best, timer.seconds());
  }
  return 2.0 * n * n * double(n) / best / 1e9;
}

Json context(int ranks, int threads) {
  Json c;
  c["kelk_version"] = kelk::version();
  c["git_rev"] = KELK_GIT_REVISION;
  c["kokkos_version"] = std::to_string(KOKKOS_VERSION / 10000) + "." +
                        std::to_string(KOKKOS_VERSION / 100 % 100) + "." +
                        std::to_string(KOKKOS_VERSION % 100);
  c["backend"] = Kokkos::DefaultExecutionSpace::name();
  c["cpu"] = cpu_model();
#if defined(__clang__)
  c["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  c["compiler"] = std::string("gcc ") + __VERSION__;
#else
  c["compiler"] = "unknown";
#endif
  c["build_type"] = KELK_BUILD_TYPE;
#ifdef KOKKOSKERNELS_ENABLE_TPL_BLAS
  c["blas"] = "TPL BLAS (" KELK_BLAS_LIBRARY ")";
#else
  c["blas"] = "Kokkos Kernels native";
#endif
  c["hostname"] = hostname();
  c["date"] = now_utc();
  c["ranks"] = ranks;
  c["threads"] = threads;
  c["hardware_threads"] = int(std::thread::hardware_concurrency());
  c["dgemm_gflops"] = measure_dgemm_gflops();
  return c;
}

// ---------------------------------------------------------------------------------------------
// Problems

/// A standard normal from (seed, index) alone, so that every rank generates its own slice of the
/// inputs and all rank counts see the same problem.
double hashed_normal(std::uint64_t seed, std::uint64_t i) {
  auto mix = [](std::uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  const std::uint64_t a = mix(seed * 0x100000001b3ULL ^ (2 * i)), b = mix(seed ^ (2 * i + 1));
  const double u1 = (double(a >> 11) + 0.5) * 0x1.0p-53, u2 = double(b >> 11) * 0x1.0p-53;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

/// Inputs of sequences [b0, b1) x steps [t0, t1) of the (B, T, Din) problem.
template <class Scalar>
HostSequence<Scalar> make_inputs(int T, int Din, int b0, int b1, int t0, int t1) {
  HostSequence<Scalar> u(Kokkos::view_alloc(Kokkos::WithoutInitializing, "kelk::bench::inputs"),
                         b1 - b0, t1 - t0, Din);
  Kokkos::parallel_for(
      "kelk::bench::make_inputs",
      Kokkos::MDRangePolicy<Kokkos::DefaultHostExecutionSpace, Kokkos::Rank<2>>({b0, t0}, {b1, t1}),
      [=](int b, int t) {
        for (int k = 0; k < Din; ++k)
          u(b - b0, t - t0, k) = Scalar(hashed_normal(7, (std::uint64_t(b) * T + t) * Din + k));
      });
  return u;
}

template <class Scalar>
HostMatrix<Scalar> make_s0(int B, int D) {
  HostMatrix<Scalar> s0("kelk::bench::s0", B, D);
  for (int b = 0; b < B; ++b)
    for (int d = 0; d < D; ++d) s0(b, d) = Scalar(0.1 * hashed_normal(11, std::uint64_t(b) * D + d));
  return s0;
}

// ---------------------------------------------------------------------------------------------
// Measurements

struct Stats {
  double median = 0, min = 0, max = 0;
};
Stats stats_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return {n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]), v.front(), v.back()};
}

double max_over_ranks(double x) {
  MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return x;
}

/// Per-iteration phase of a kernel or region label (inside a solve, Kokkos Kernels' BLAS
/// regions are the bulk evaluations' gemms).
std::string phase_of(const std::string& label) {
  if (label.find("linearize") != std::string::npos || label.find("bulk") != std::string::npos ||
      label.rfind("KokkosBlas::", 0) == 0)
    return "linearize";
  if (label.find("ChunkedScan") != std::string::npos) return "scan";
  if (label.find("kelk::solve::update") != std::string::npos) return "update";
  return "other";
}

/// Floating-point work and memory traffic per iteration of the kernels whose rate is reported.
struct Work {
  double flops = 0, bytes = 0;
};
Work work_of(const std::string& label, const Case& c, int local_T, int chunks, int sizeof_scalar) {
  const double steps = double(c.B) * local_T, D = c.D, Din = c.Din, s = sizeof_scalar;
  const bool dense = c.method == "deer" || c.method == "elk";
  const double gates = c.map.rfind("gru", 0) == 0 ? 3 : 1;
  if (label.rfind("KokkosBlas::gemm", 0) == 0) return {2 * steps * gates * D * (D + Din), s * steps * (gates + 1) * D * 2};
  if (label == "kelk::Gru::bulk" || label == "kelk::Elman::bulk")
    return {0, s * steps * ((gates + 2) * D + (dense ? D * D : D))};
  if (label == "kelk::ChunkedScan::sweep" && c.method == "deer")
    return {2 * steps * D * D, s * steps * (D * D + 2 * D)};
  if (label == "kelk::ChunkedScan::summarize" && c.method == "deer") {
    const double composed = steps * (chunks - 1.0) / std::max(chunks, 1);
    return {2 * composed * D * D * D + 2 * (steps - composed) * D * D, s * steps * (D * D + D)};
  }
  if (label.rfind("kelk::ChunkedScan::", 0) == 0 && !dense) return {2 * steps * D, s * steps * 3 * D};
  if (label == "kelk::solve::update") return {0, s * steps * 3 * D};
  if (label == "kelk::solve::linearize_dense") return {2 * steps * D * D, s * steps * D * D};
  return {};
}

/// block_jacobi's columns (empty for other methods, so that every CSV row has them): the
/// blocks option, the work of the sweeps after the first, and the merge length m of the cost
/// model (ALGORITHMS.md section 11), the longest recomputation of sweep 2.
void add_block_columns(Json& row, const Case& c, const kelk::SolveResult* result) {
  const bool block = result && c.method == "block_jacobi";
  std::int64_t later = 0;
  if (block)
    for (std::size_t k = 1; k < result->history.size(); ++k) later += result->history[k].steps_recomputed;
  row["blocks"] = block ? Json(c.blocks) : Json();
  row["steps_after_first_sweep"] = block ? Json(later) : Json();
  row["merge_length"] = block ? Json(result->history.size() > 1 ? result->history[1].longest_recomputation : 0) : Json();
}

/// Streams rows to a CSV (header from the first row's keys) or collects them into JSON.
class Output {
 public:
  Output(std::string path, std::string format, Json context)
      : path_(std::move(path)), format_(std::move(format)), context_(std::move(context)) {}
  void add(const Json& row) {
    Json full = context_;
    for (auto it = row.begin(); it != row.end(); ++it) full[it.key()] = it.value();
    rows_.push_back(full);
    if (format_ == "csv") write_csv(full);
  }
  const Json& context() const { return context_; }
  void finish() const {
    if (format_ != "json") return;
    Json doc;
    doc["context"] = context_;
    doc["results"] = rows_;
    if (path_.empty()) {
      std::cout << doc.dump(2) << "\n";
    } else {
      const std::string tmp = path_ + ".tmp";
      std::ofstream(tmp) << doc.dump(2) << "\n";
      std::rename(tmp.c_str(), path_.c_str());
    }
  }

 private:
  static std::string csv_field(const Json& v) {
    std::string s = v.is_string() ? v.get<std::string>() : v.is_null() ? "" : v.dump();
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    return q + "\"";
  }
  void write_csv(const Json& row) {
    if (path_.empty()) return;
    std::ifstream probe(path_);
    const bool fresh = !probe || probe.peek() == std::ifstream::traits_type::eof();
    std::ofstream out(path_, std::ios::app);
    if (fresh) {
      std::string sep;
      for (auto it = row.begin(); it != row.end(); ++it, sep = ",") out << sep << it.key();
      out << "\n";
    }
    std::string sep;
    for (auto it = row.begin(); it != row.end(); ++it, sep = ",") out << sep << csv_field(it.value());
    out << "\n";
  }

  std::string path_, format_;
  Json context_;
  std::vector<Json> rows_;
};

/// Prints one line per case on rank 0.
void print_row(const Json& r) {
  std::printf("%-8s %-11s %-5s B=%-3d T=%-9d D=%-4d %3d it %s  median %9.4f s  %9.3e s/it  "
              "speedup %6.3f  err %8.1e  solver %8.1f MiB  rss %8.1f MiB  %s %s\n",
              r["map"].get<std::string>().c_str(), r["method"].get<std::string>().c_str(),
              r["precision"].get<std::string>().c_str(), r["B"].get<int>(), r["T"].get<int>(),
              r["D"].get<int>(), r["iterations"].get<int>(), r["converged"].get<int>() ? "conv" : "NOT ",
              r["t_median"].get<double>(), r["t_iter"].get<double>(),
              r["speedup"].is_number() ? r["speedup"].get<double>() : 0.0,
              r["max_err"].is_number() ? r["max_err"].get<double>() : 0.0,
              r["solver_peak_mb"].get<double>(), r["peak_rss_mb"].get<double>(),
              r["kernel"].get<std::string>().c_str(),
              r["kernel_rate"].get<std::string>().c_str());
  std::fflush(stdout);
}

/// Prints the reference of one problem on rank 0: kelk's sequential, the hand-written loop, and
/// the sequential step against the time of its flops at one core's dgemm rate.
void print_reference(const Json& r) {
  std::printf("reference: %s, kelk sequential %.4f s", r["reference"].get<std::string>().c_str(),
              r["sequential_s"].get<double>());
  if (r["baseline_s"].is_number())
    std::printf(", hand-written loop %.4f s (%s); sequential step %.3g us = %.2fx the dgemm-rate "
                "time of its flops (%.3g us)",
                r["baseline_s"].get<double>(), r["baseline_kernel"].get<std::string>().c_str(),
                1e6 * r["sequential_step_s"].get<double>(), r["sequential_vs_dgemm"].get<double>(),
                1e6 * r["dgemm_step_s"].get<double>());
  std::printf("\n");
  std::fflush(stdout);
}

/// Seconds per iteration of a solve's cross-rank communication alone, on the solver's rank
/// layout without any kernel: the halo exchange with the time neighbours, the exclusive scan of
/// the block summaries (n_summary scalars per sequence; a copying combine), and the three
/// reductions of the convergence test. Median of 50 after 5 warm-ups, max over ranks.
template <class Scalar>
double measure_cross_rank(const kelk::Partition& part, int D, int n_summary) {
  MPI_Comm time_comm;
  MPI_Comm_split(MPI_COMM_WORLD, part.batch_rank, part.time_rank, &time_comm);
  const int B = part.local_batch();
  const MPI_Datatype type = kelk::impl::mpi_type<Scalar>();
  std::vector<Scalar> halo_out(std::size_t(B) * D, Scalar(1)), halo_in(halo_out.size());
  std::vector<Scalar> in(std::size_t(B) * std::max(n_summary, 1), Scalar(1)), out(in.size());
  const std::function<void(const void*, const void*, void*)> combine =
      [n_summary](const void*, const void* later, void* result) {
        std::memcpy(result, later, sizeof(Scalar) * n_summary);
      };
  const int prev = part.time_rank > 0 ? part.time_rank - 1 : MPI_PROC_NULL;
  const int next = part.time_rank + 1 < part.time_ranks ? part.time_rank + 1 : MPI_PROC_NULL;
  std::vector<double> times;
  for (int i = 0; i < 55; ++i) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double start = MPI_Wtime();
    MPI_Sendrecv(halo_out.data(), int(halo_out.size()), type, next, 0, halo_in.data(),
                 int(halo_in.size()), type, prev, 0, time_comm, MPI_STATUS_IGNORE);
    if (n_summary > 0)
      kelk::impl::exscan_summaries(time_comm, type, B, n_summary, in.data(), out.data(), combine);
    double measures[2] = {1, 2};
    std::int64_t counts[2] = {0, 0};
    double residual = 0;
    MPI_Allreduce(MPI_IN_PLACE, measures, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, counts, 2, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &residual, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    if (i >= 5) times.push_back(max_over_ranks(MPI_Wtime() - start));
  }
  MPI_Comm_free(&time_comm);
  return stats_of(times).median;
}

// ---------------------------------------------------------------------------------------------
// Running one problem: the reference once, then every method

/// The map of one problem twice: on the host for the hand-written baseline, and in the default
/// memory space for kelk's solves (the same Views on host backends' builds: same weights, made
/// from the same seed).
template <class Scalar>
struct Problem {
  std::optional<kelk::Gru<Scalar, Kokkos::HostSpace>> gru;
  std::optional<kelk::Elman<Scalar, Kokkos::HostSpace>> elman;
  std::optional<kelk::Gru<Scalar>> gru_solve;
  std::optional<kelk::Elman<Scalar>> elman_solve;
  std::optional<kelk::Lorenz96<Scalar>> lorenz;
#ifdef KELK_HAVE_HDF5
  std::optional<kelk::ArGru<Scalar>> argru;
#endif

  /// f(the map kelk solves with)
  template <class F>
  auto visit(F&& f) const {
    if (gru_solve) return f(*gru_solve);
    if (elman_solve) return f(*elman_solve);
#ifdef KELK_HAVE_HDF5
    if (argru) return f(*argru);
#endif
    return f(*lorenz);
  }
};

template <class Scalar>
Problem<Scalar> make_problem(const Case& c, const Settings& set) {
  Problem<Scalar> p;
  const double recurrent_norm = set.recurrent_norm;
  if (c.map == "gru") {
    p.gru = kelk::make_random_gru<Scalar, Kokkos::HostSpace>(c.D, c.Din, recurrent_norm, 1);
    p.gru_solve = kelk::make_random_gru<Scalar>(c.D, c.Din, recurrent_norm, 1);
  } else if (c.map == "gru_torch") {  // as torch.nn.GRU initialises it, recurrent weights x 2.3
    p.gru = kelk::make_torch_gru<Scalar, Kokkos::HostSpace>(c.D, c.Din, 2.3, 1);
    p.gru_solve = kelk::make_torch_gru<Scalar>(c.D, c.Din, 2.3, 1);
  } else if (c.map == "argru") {
#ifdef KELK_HAVE_HDF5
    p.argru = kelk::load_argru<Scalar>(set.argru_weights);
#else
    throw std::invalid_argument("the argru map needs kelk built with HDF5");
#endif
  } else if (c.map == "elman") {
    p.elman = kelk::make_random_elman<Scalar, Kokkos::HostSpace>(c.D, c.Din, recurrent_norm, 1);
    p.elman_solve = kelk::make_random_elman<Scalar>(c.D, c.Din, recurrent_norm, 1);
  } else {
    p.lorenz = kelk::Lorenz96<Scalar>(c.D, Scalar(8), Scalar(0.01));
  }
  return p;
}

/// Appends `more`'s columns to `row` in their order (every row of a CSV has the same order).
void append(Json& row, const Json& more) {
  for (auto it = more.begin(); it != more.end(); ++it) row[it.key()] = it.value();
}

Stats time_runs(int repeats, const std::function<void()>& run) {
  std::vector<double> times;
  for (int r = 0; r < repeats; ++r) {
    Kokkos::Timer timer;
    run();
    times.push_back(timer.seconds());
  }
  return stats_of(times);
}

/// The fastest sequential evaluation of one problem, which every speedup of the run divides:
/// the faster of kelk's `sequential` and the hand-written loop (GRU and Elman only; with its
/// fastest per-step product), each timed on rank 0 over the whole problem.
template <class Scalar>
struct Reference {
  HostSequence<Scalar> states;  ///< kelk `sequential`'s: every row's max_err is against them
  double seconds = 0, sequential_s = 0, baseline_s = 0, baseline_gflops = 0;
  double step_flops = 0, dgemm_gflops = 0;  ///< the step's flops (GRU, Elman), one core's rate
  std::string baseline_kernel;
  Json baseline_row;  ///< the hand-written loop's own row (null without one)
  bool measured = false;

  /// The reference columns of every row (null where not measured or not defined).
  Json columns() const {
    const auto when = [](bool defined, const Json& v) { return defined ? v : Json(); };
    const bool base = measured && step_flops > 0;
    const double steps = states.extent(0) * double(states.extent(1));
    const double dgemm_step = step_flops / (dgemm_gflops * 1e9);
    return {{"baseline_s", when(base, baseline_s)},
            {"baseline_gflops", when(base, baseline_gflops)},
            {"baseline_kernel", when(base, baseline_kernel)},
            {"sequential_s", when(measured, sequential_s)},
            {"reference", when(measured, base && baseline_s < sequential_s ? "baseline" : "sequential")},
            {"reference_s", when(measured, seconds)},
            {"step_flops", when(base, step_flops)},
            {"dgemm_step_s", when(base, dgemm_step)},
            {"sequential_step_s", when(measured, sequential_s / steps)},
            {"sequential_vs_dgemm", when(base, sequential_s / steps / dgemm_step)}};
  }
};

template <class Scalar>
Reference<Scalar> measure_reference(const Problem<Scalar>& problem, const Case& c0,
                                    const Settings& set, const HostMatrix<Scalar>& s0, int D,
                                    int Din, double dgemm_gflops) {
  const int B = c0.B, T = c0.T;
  auto& profiler = Profiler::instance();
  Reference<Scalar> ref;
  ref.measured = true;
  ref.dgemm_gflops = dgemm_gflops;
  const auto u = make_inputs<Scalar>(T, Din, 0, B, 0, T);

  // kelk's sequential, on the default execution space; its states come back after timing
  {
    const auto ds0 = on_device(s0);
    const auto du = on_device(u);
    const kelk::SequenceView<Scalar, Device> dstates("kelk::bench::reference", B, T, D);
    kelk::SolveOptions o;
    o.method = kelk::Method::sequential;
    const auto run = [&] {
      problem.visit([&](const auto& map) { kelk::solve(map, ds0, du, dstates, o); });
      Kokkos::fence();
    };
    for (int w = 0; w < set.warmup; ++w) run();
    ref.sequential_s = time_runs(set.repeats, run).median;
    ref.states = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), dstates);
  }
  ref.seconds = ref.sequential_s;

  // the hand-written loop: each per-step product once (the warm-up), the fastest timed
  std::function<void(kelk::bench::MatVec, const HostSequence<Scalar>&)> baseline;
  double flops = 0;
  if (problem.gru) {
    auto bl = std::make_shared<kelk::bench::GruBaseline<Scalar>>(*problem.gru);
    flops = bl->flops(std::int64_t(B) * T);
    baseline = [=](kelk::bench::MatVec k, const HostSequence<Scalar>& s) { bl->run(k, s0, u, s); };
  } else if (problem.elman) {
    auto bl = std::make_shared<kelk::bench::ElmanBaseline<Scalar>>(*problem.elman);
    flops = bl->flops(std::int64_t(B) * T);
    baseline = [=](kelk::bench::MatVec k, const HostSequence<Scalar>& s) { bl->run(k, s0, u, s); };
  }
  if (!baseline) return ref;  // Lorenz-96, the AR GRU: kelk's sequential is the only loop
  HostSequence<Scalar> states("kelk::bench::baseline_states", B, T, D);
  std::vector<kelk::bench::MatVec> kinds{kelk::bench::MatVec::loop, kelk::bench::MatVec::blocked};
  if (B > 1) kinds.push_back(kelk::bench::MatVec::batched);
  auto kind = kinds.front();
  double best = 1e30;
  for (auto k : kinds) {
    Kokkos::Timer timer;
    baseline(k, states);
    if (timer.seconds() < best) best = timer.seconds(), kind = k;
  }
  kelk::bench::reset_peak_rss();
  profiler.reset();
  const Stats st = time_runs(set.repeats, [&] { baseline(kind, states); });
  double err = 0;
  for (std::size_t i = 0; i < states.span(); ++i)
    err = std::max(err, double(std::abs(states.data()[i] - ref.states.data()[i])));
  ref.baseline_s = st.median;
  ref.baseline_gflops = flops / st.median / 1e9;
  ref.baseline_kernel = kelk::bench::to_string(kind);
  ref.step_flops = flops / (double(B) * T);
  ref.seconds = std::min(ref.sequential_s, ref.baseline_s);

  Json& row = ref.baseline_row;
  row = {{"sweep", set.sweep}, {"map", c0.map}, {"method", "baseline"}, {"precision", c0.precision},
         {"B", B}, {"T", T}, {"D", D}, {"Din", Din}, {"chunks", 0}, {"time_ranks", 1},
         {"batch_ranks", 1}, {"iterations", 1}, {"converged", 1}, {"repeats", set.repeats},
         {"t_median", st.median}, {"t_min", st.min}, {"t_max", st.max}, {"t_iter", st.median}};
  append(row, ref.columns());
  append(row, {{"speedup", ref.seconds / st.median}, {"max_err", err},
               {"peak_rss_mb", kelk::bench::peak_rss_mib()},
               {"views_peak_mb", profiler.peak_bytes() / 1048576.0}, {"solver_peak_mb", 0.0},
               {"t_linearize", 0.0}, {"t_scan", 0.0}, {"t_update", 0.0}, {"t_comm", 0.0},
               {"t_cross_measured", Json()}, {"kernel", "baseline"},
               {"kernel_gflops", ref.baseline_gflops}, {"kernel_gbs", 0.0},
               {"kernel_rate", std::to_string(ref.baseline_gflops) + " GFLOP/s"},
               {"compose_gflops", Json()}, {"kernel_times", ""}});
  add_block_columns(row, c0, nullptr);
  return ref;
}

/// Runs the cases of one problem (same map, precision, B, T, D, Din).
template <class Scalar>
void run_problem(const std::vector<Case>& cases, const Settings& set, Output& out,
                 std::ofstream* history) {
  int rank = 0, ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  const Case& c0 = cases.front();
  Case problem_case = c0;
  if (c0.map == "lorenz96") problem_case.Din = 0;
  if (c0.map == "argru") problem_case.Din = 1, problem_case.D = 4;
  const int B = c0.B, T = c0.T, D = problem_case.D, Din = problem_case.Din;
  const auto problem = make_problem<Scalar>(problem_case, set);
  const auto s0 = make_s0<Scalar>(B, D);
  auto& profiler = Profiler::instance();

  // --- the reference, on rank 0 over the whole problem: the other ranks wait
  Reference<Scalar> ref;
  if (set.baseline && rank == 0)
    ref = measure_reference<Scalar>(problem, c0, set, s0, D, Din, out.context().at("dgemm_gflops").get<double>());
  MPI_Barrier(MPI_COMM_WORLD);
  if (ref.measured) print_reference(ref.columns());
  if (!ref.baseline_row.is_null()) {
    out.add(ref.baseline_row);
    print_row(ref.baseline_row);
  }
  const HostSequence<Scalar> reference = ref.states;

  // --- the methods
  std::unique_ptr<kelk::DistributedSolver> solver;
  if (ranks > 1) solver = std::make_unique<kelk::DistributedSolver>(MPI_COMM_WORLD, B, T, set.batch_ranks);
  const kelk::Partition part = solver ? solver->partition() : kelk::Partition(B, T, 1, 0);
  const int lB = part.local_batch(), lT = part.local_length();
  const auto u = make_inputs<Scalar>(T, Din, part.batch_begin, part.batch_end, part.time_begin, part.time_end);
  HostMatrix<Scalar> ls0("kelk::bench::local_s0", lB, D);
  for (int b = 0; b < lB; ++b)
    for (int d = 0; d < D; ++d) ls0(b, d) = s0(part.batch_begin + b, d);
  HostSequence<Scalar> states("kelk::bench::states", lB, lT, D);
  // the solves run on the default execution space: its copies of the data (the same Views on
  // host backends), made once, outside the timings
  const auto dls0 = on_device(ls0);
  const auto du = on_device(u);
  const auto dstates = Kokkos::create_mirror_view(Device(), states);

  // the adjoint cases: the trajectory (sequential), cotangents g = s (L = 1/2 sum |s_t|^2),
  // their outputs, and the sequential reverse sweep's adjoint states as the reference
  const auto is_adjoint = [](const Case& c) { return c.method.rfind("adjoint_", 0) == 0; };
  using DeviceSequence = kelk::SequenceView<Scalar, Device>;
  DeviceSequence trajectory, adjoint_ref;
  kelk::Gradients<Scalar, Device> gradients;
  if (std::any_of(cases.begin(), cases.end(), is_adjoint)) {
    kelk::SolveOptions o;
    o.method = kelk::Method::sequential;
    trajectory = DeviceSequence("kelk::bench::trajectory", lB, lT, D);
    problem.visit([&](const auto& map) {
      if (solver) return solver->solve(map, dls0, du, trajectory, o);
      return kelk::solve(map, dls0, du, trajectory, o);
    });
    problem.visit([&](const auto& map) {
      gradients = {kelk::BatchView<Scalar, Device>("kelk::bench::ds0", lB, D),
                   DeviceSequence("kelk::bench::du", lB, lT, Din),
                   Kokkos::View<Scalar*, Device>("kelk::bench::dtheta", kelk::parameter_count(map)),
                   DeviceSequence("kelk::bench::lambda", lB, lT, D)};
    });
  }
  const auto adjoint_once = [&](kelk::AdjointMethod method, int chunks, int blocks) {
    kelk::AdjointOptions a;
    a.method = method;
    a.chunks = chunks;
    a.blocks = blocks;
    return problem.visit([&](const auto& map) {  // every built-in map has vjp()
      if (solver) return solver->solve_adjoint(map, dls0, du, trajectory, trajectory, gradients, a);
      return kelk::solve_adjoint(map, dls0, du, trajectory, trajectory, gradients, a);
    });
  };

  for (const Case& c : cases) {
    kelk::SolveOptions options;
    const bool adjoint = is_adjoint(c);
    const bool one_iteration = c.method == "deer_iteration";
    options.method = adjoint         ? kelk::Method::sequential
                     : one_iteration ? kelk::Method::deer
                                     : kelk::parse_method(c.method);
    if (one_iteration) options.max_iter = 1, options.fixed_iterations = true;
    options.chunks = c.chunks;
    options.blocks = c.blocks;
    options.record_history = !set.history.empty() || options.method == kelk::Method::block_jacobi;
    const auto adjoint_method =
        adjoint ? kelk::parse_adjoint_method(c.method.substr(8)) : kelk::AdjointMethod::sequential;
    if (adjoint && adjoint_ref.size() == 0) {  // the reference, untimed
      adjoint_once(kelk::AdjointMethod::sequential, 0, 0);
      adjoint_ref = DeviceSequence("kelk::bench::adjoint_reference", lB, lT, D);
      Kokkos::deep_copy(adjoint_ref, gradients.adjoint);
    }
    const auto solve_once = [&] {
      if (adjoint) {
        const auto a = adjoint_once(adjoint_method, c.chunks, c.blocks);
        kelk::SolveResult r;
        r.iterations = a.sweeps;
        r.converged = a.finite;
        return r;
      }
      return problem.visit([&](const auto& map) {
        if (solver) return solver->solve(map, dls0, du, dstates, options);
        return kelk::solve(map, dls0, du, dstates, options);
      });
    };
    for (int w = 0; w < set.warmup; ++w) solve_once();
    MPI_Barrier(MPI_COMM_WORLD);
    kelk::bench::reset_peak_rss();
    const std::int64_t held_before = profiler.current_bytes();
    profiler.reset();
    std::vector<double> times;
    kelk::SolveResult result;
    for (int r = 0; r < set.repeats; ++r) {
      MPI_Barrier(MPI_COMM_WORLD);
      Kokkos::Timer timer;
      result = solve_once();
      Kokkos::fence();
      times.push_back(max_over_ranks(timer.seconds()));
    }
    const Stats st = stats_of(times);
    const int iters = std::max(result.iterations, 1);
    const double per_run = 1.0 / (set.repeats * double(iters));

    // phases and the dominant kernel, per iteration, max over ranks
    std::map<std::string, double> phase;
    std::string kernel;
    std::ostringstream kernel_times;  // "label=seconds per iteration;..."
    double kernel_s = 0, in_kernels = 0;
    for (const auto& [label, s] : profiler.seconds()) {
      phase[phase_of(label)] += s * per_run;
      in_kernels += s * per_run;
      kernel_times << (kernel_times.tellp() > 0 ? ";" : "") << label << "=" << s * per_run;
      if (s > kernel_s) kernel_s = s, kernel = label;
    }
    const int chunks = c.chunks > 0 ? c.chunks : 1;
    const Work work = work_of(kernel, c, lT, chunks, int(sizeof(Scalar)));
    // the rate of DEER's D x D compositions: the chunk summaries of a one-rank run with forced
    // chunks (with several ranks, rank 0's first block has none to compose)
    double compose_gflops = 0;
    const auto summarize = profiler.seconds().find("kelk::ChunkedScan::summarize");
    if (c.method == "deer" && chunks > 1 && ranks == 1 && summarize != profiler.seconds().end() &&
        summarize->second > 0)
      compose_gflops = work_of(summarize->first, c, lT, chunks, int(sizeof(Scalar))).flops /
                       (summarize->second * per_run) / 1e9;
    double rates[2] = {kernel_s > 0 ? work.flops / (kernel_s * per_run) / 1e9 : 0.0,
                       kernel_s > 0 ? work.bytes / (kernel_s * per_run) / 1e9 : 0.0};
    // the time outside kernels is MPI (and waiting for other ranks): the least over ranks
    double measured[7] = {phase["linearize"], phase["scan"], phase["update"],
                          kelk::bench::peak_rss_mib(), profiler.peak_bytes() / 1048576.0,
                          (profiler.peak_bytes() - held_before) / 1048576.0, -in_kernels};
    MPI_Allreduce(MPI_IN_PLACE, measured, 7, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    const double t_iter = st.median / iters;
    const double comm = ranks > 1 ? std::max(0.0, t_iter + measured[6]) : 0.0;
    const bool dense = c.method == "deer" || c.method == "elk";
    const int n_summary = c.method == "jacobi" ? 0 : dense ? D * D + D : 2 * D;
    const double cross = part.time_ranks > 1 ? measure_cross_rank<Scalar>(part, D, n_summary) : 0.0;

    // max |s - s_baseline| on rank 0, from every rank's block; for the adjoint, max |lambda -
    // lambda_sequential| / max |lambda_sequential| over all ranks
    Kokkos::deep_copy(states, dstates);
    double err = 0;
    if (adjoint) {
      double m[2] = {0, 0};
      const auto l = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), gradients.adjoint);
      const auto r = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), adjoint_ref);
      for (std::size_t i = 0; i < l.span(); ++i) {
        m[0] = std::max(m[0], double(std::abs(l.data()[i] - r.data()[i])));
        m[1] = std::max(m[1], double(std::abs(r.data()[i])));
      }
      MPI_Allreduce(MPI_IN_PLACE, m, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
      err = m[1] > 0 ? m[0] / m[1] : m[0];
    } else if (set.baseline) {
      int range[4] = {part.batch_begin, part.batch_end, part.time_begin, part.time_end};
      if (rank == 0) {
        for (int r = 0; r < ranks; ++r) {
          HostSequence<Scalar> block = states;
          if (r > 0) {
            MPI_Recv(range, 4, MPI_INT, r, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            block = HostSequence<Scalar>("kelk::bench::block", range[1] - range[0], range[3] - range[2], D);
            MPI_Recv(block.data(), int(block.span()), kelk::impl::mpi_type<Scalar>(), r, 1, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE);
          }
          for (int b = range[0]; b < range[1]; ++b)
            for (int t = range[2]; t < range[3]; ++t)
              for (int d = 0; d < D; ++d)
                err = std::max(err, double(std::abs(block(b - range[0], t - range[2], d) - reference(b, t, d))));
        }
      } else {
        MPI_Send(range, 4, MPI_INT, 0, 0, MPI_COMM_WORLD);
        MPI_Send(states.data(), int(states.span()), kelk::impl::mpi_type<Scalar>(), 0, 1, MPI_COMM_WORLD);
      }
    }

    if (rank == 0) {
      std::ostringstream rate;
      if (rates[0] > 0) rate << rates[0] << " GFLOP/s";
      if (rates[1] > 0) rate << (rates[0] > 0 ? ", " : "") << rates[1] << " GB/s";
      Json row = {{"sweep", set.sweep}, {"map", c.map}, {"method", c.method},
                  {"precision", c.precision}, {"B", B}, {"T", T}, {"D", D}, {"Din", Din},
                  {"chunks", c.chunks}, {"time_ranks", part.time_ranks},
                  {"batch_ranks", part.batch_ranks}, {"iterations", result.iterations},
                  {"converged", result.converged ? 1 : 0}, {"repeats", set.repeats},
                  {"t_median", st.median}, {"t_min", st.min}, {"t_max", st.max},
                  {"t_iter", t_iter}};
      append(row, ref.columns());
      append(row, {{"speedup", set.baseline ? Json(ref.seconds / st.median) : Json()},
                  {"max_err", set.baseline || adjoint ? Json(err) : Json()},
                  {"peak_rss_mb", measured[3]}, {"views_peak_mb", measured[4]},
                  {"solver_peak_mb", measured[5]}, {"t_linearize", measured[0]},
                  {"t_scan", measured[1]}, {"t_update", measured[2]}, {"t_comm", comm},
                  {"t_cross_measured", part.time_ranks > 1 ? Json(cross) : Json()},
                  {"kernel", kernel}, {"kernel_gflops", rates[0]}, {"kernel_gbs", rates[1]},
                  {"kernel_rate", rate.str()},
                  {"compose_gflops", compose_gflops > 0 ? Json(compose_gflops) : Json()},
                  {"kernel_times", kernel_times.str()}});
      add_block_columns(row, c, &result);
      out.add(row);
      print_row(row);
      if (history)
        for (const auto& h : result.history)
          *history << c.map << "," << c.method << "," << c.precision << "," << B << "," << T << ","
                   << D << "," << h.iteration << "," << h.max_update << "," << h.max_residual << ","
                   << h.steps_recomputed << "," << h.longest_recomputation << "\n";
    }
  }
}

}  // namespace

int main(int argc, char* argv[]) {
  Settings set;
  CLI::App app{
      "kelk-bench: kelk's methods against the fastest sequential evaluation of the run, one CSV/JSON row per case. "
      "Threads: --kokkos-num-threads=N (or --kokkos-threads=N); ranks: the MPI launcher. Kokkos options pass through."};
  const auto sweeps = named_sweeps();
  std::vector<std::string> sweep_names;
  for (const auto& [name, f] : sweeps) sweep_names.push_back(name);
  app.add_option("--sweep", set.sweep,
                 "named sweep: default (a few minutes on 2 cores), targets, scan_T, scan_D, "
                 "strong, weak; ignored when --maps/--methods/--T/--D/--B/--precision is given")
      ->check(CLI::IsMember(sweep_names));
  app.add_option("--maps", set.maps,
                 "step maps (gru, gru_torch: torch.nn.GRU's initialisation with recurrent "
                 "weights x 2.3, elman, lorenz96, argru: the shipped autoregressive GRU), comma separated")
      ->delimiter(',')->check(CLI::IsMember({"gru", "gru_torch", "elman", "lorenz96", "argru"}));
  app.add_option("--argru-weights", set.argru_weights, "the argru map's weights file")->capture_default_str();
  app.add_option("--blocks", set.blocks, "block_jacobi: time blocks per rank and sequence (0: automatic)")
      ->capture_default_str()->check(kelk::apps::cli::non_negative());
  app.add_option("--methods", set.methods,
                 "methods, comma separated; also deer_iteration (one DEER iteration) and "
                 "adjoint_sequential, adjoint_scan, adjoint_block_sweeps (kelk::solve_adjoint of "
                 "L = 1/2 sum |s_t|^2 through the sequential trajectory; max_err: relative to "
                 "adjoint_sequential)")
      ->delimiter(',')->check(CLI::IsMember([] {
        std::vector<std::string> names;
        for (const auto m : kelk::all_methods()) names.push_back(kelk::to_string(m));
        for (const auto m : {kelk::AdjointMethod::sequential, kelk::AdjointMethod::scan,
                             kelk::AdjointMethod::block_sweeps})
          names.push_back("adjoint_" + kelk::to_string(m));
        names.push_back("deer_iteration");
        return names;
      }()));
  app.add_option("--T", set.Ts, "sequence lengths")->delimiter(',')->check(kelk::apps::cli::positive());
  app.add_option("--D", set.Ds, "state dimensions")->delimiter(',')->check(kelk::apps::cli::positive());
  app.add_option("--B", set.Bs, "batch sizes")->delimiter(',')->check(kelk::apps::cli::positive());
  app.add_option("--precision", set.precisions, "fp64 and/or fp32")
      ->delimiter(',')->check(CLI::IsMember({"fp64", "fp32"}));
  app.add_option("--Din", set.Din, "input dimension of gru and elman")->capture_default_str()->check(kelk::apps::cli::non_negative());
  app.add_option("--chunks", set.chunks, "scan chunks per sequence (0: kelk's default)")->capture_default_str()
      ->check(kelk::apps::cli::non_negative());
  app.add_option("--recurrent-norm", set.recurrent_norm,
                 "Frobenius norm of each random recurrent weight matrix (< 1: contractive)")->capture_default_str()
      ->check(kelk::apps::cli::non_negative());
  app.add_option("--repeats", set.repeats, "timed runs per case")->capture_default_str()->check(kelk::apps::cli::positive());
  app.add_option("--warmup", set.warmup, "untimed runs before them")->capture_default_str()->check(kelk::apps::cli::non_negative());
  app.add_option("--batch-ranks", set.batch_ranks,
                 "rank groups splitting the batch (must divide the rank count)")->capture_default_str()
      ->check(kelk::apps::cli::positive());
  app.add_flag("!--no-baseline", set.baseline,
               "skip the reference (the hand-written loop and kelk's sequential on rank 0 over the "
               "whole problem): no speedup, no error check; saves rank 0 memory");
  app.add_option("--out,-o", set.out, "results file (CSV rows are appended; default: stdout only)");
  app.add_option("--format", set.format, "csv or json")->capture_default_str()->check(CLI::IsMember({"csv", "json"}));
  app.add_option("--history", set.history,
                 "CSV file for the convergence history (max update, max residual per iteration)");

  MPI_Init(&argc, &argv);
  kelk::activity::install_fatal_signal_handler("kelk-bench");  // after MPI_Init: replaces MPI's
  int rank = 0, ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  int code = kelk::apps::cli::parse_on_every_rank(kelk::apps::cli::Parser("kelk-bench"), app, argc,
                                                  argv);
  if (code >= 0) {
    MPI_Finalize();
    return code;
  }
  code = 0;
  {
    kelk::ScopeGuard kokkos(argc, argv);
    Profiler::instance().install();
    const bool custom = !set.maps.empty() || !set.methods.empty() || !set.Ts.empty() ||
                        !set.Ds.empty() || !set.Bs.empty() || !set.precisions.empty();
    std::vector<Case> cases;
    if (custom) {
      set.sweep = "custom";
      const auto or_default = [](auto v, auto d) { return v.empty() ? d : v; };
      cases = grid(or_default(set.maps, std::vector<std::string>{"gru"}),
                   or_default(set.precisions, std::vector<std::string>{"fp64"}),
                   or_default(set.Bs, std::vector<int>{1}), or_default(set.Ts, std::vector<int>{100000}),
                   or_default(set.Ds, std::vector<int>{32}),
                   or_default(set.methods, std::vector<std::string>{"sequential", "quasi_deer", "deer"}),
                   set.Din, set.chunks);
    } else {
      cases = sweeps.at(set.sweep)(set);
    }
    for (auto& c : cases) c.blocks = set.blocks;
    const int threads = Kokkos::DefaultExecutionSpace().concurrency();
    Output out(rank == 0 ? set.out : "", set.format, context(ranks, threads));
    std::ofstream history;
    if (rank == 0 && !set.history.empty()) {
      std::ifstream probe(set.history);
      const bool fresh = !probe || probe.peek() == std::ifstream::traits_type::eof();
      history.open(set.history, std::ios::app);
      if (fresh)
        history << "map,method,precision,B,T,D,iteration,max_update,max_residual,steps_recomputed,"
                   "longest_recomputation\n";
    }
    if (rank == 0)
      std::printf("kelk-bench %s: sweep '%s', %zu cases, %d rank(s) x %d thread(s), %s\n",
                  kelk::version(), set.sweep.c_str(), cases.size(), ranks, threads,
                  Kokkos::DefaultExecutionSpace::name());
    try {
      // one problem (map, precision, B, T, D) at a time: its reference once, then its methods
      for (std::size_t i = 0; i < cases.size();) {
        std::size_t j = i;
        const auto same = [&](const Case& a, const Case& b) {
          return a.map == b.map && a.precision == b.precision && a.B == b.B && a.T == b.T &&
                 a.D == b.D && a.Din == b.Din;
        };
        while (j < cases.size() && same(cases[i], cases[j])) ++j;
        std::vector<Case> group(cases.begin() + i, cases.begin() + j);
        if (group.front().precision == "fp64")
          run_problem<double>(group, set, out, history.is_open() ? &history : nullptr);
        else
          run_problem<float>(group, set, out, history.is_open() ? &history : nullptr);
        i = j;
      }
      if (rank == 0) out.finish();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "kelk-bench: rank %d: %s\n", rank, e.what());
      code = 1;
    }
  }
  MPI_Finalize();
  return code;
}
