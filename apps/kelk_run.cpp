// kelk-run: solves the recurrence an input deck describes, distributed over MPI ranks, reading
// and writing HDF5 in parallel. Sample (4 ranks, the example GRU deck):
//
//   mpirun -np 4 build/apps/kelk-run input/examples/gru/deck.toml --output gru_states.h5
//
// The deck (TOML) names the model, input and output files and the solver options; flags
// override it. Rank 0 prints one line per iteration (unless --quiet) and a summary. The exit
// code is 0 only when the solve converged, or when --iterations asked for a fixed count.
#include "common/cli_mpi.hpp"

#include <kelk/kelk.hpp>
#include <kelk/kelk_activity.hpp>

#include <mpi.h>
#include <CLI/CLI.hpp>
#include <Kokkos_Core.hpp>
#include <toml.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace {

const char* deck_help = R"(Input deck (TOML; relative paths are relative to the deck's folder):

  model  = "model.h5"       # model file: step map and weights (docs/FILES.md)
  input  = "inputs.h5"      # input file: s0 (B, D), inputs (B, T, Din)
  output = "states.h5"      # output file: states (B, T, D), history, run attributes

  [solver]                  # every key optional
  method = "deer"           # sequential, jacobi, deer, quasi_deer, elk, quasi_elk, block_jacobi,
                            # auto (chosen from the predictability probe and the ranks x threads)
  precision = "fp64"        # fp64 or fp32
  atol = 1e-7               # default 1e-7 (fp64), 1e-4 (fp32)
  rtol = 0.0
  max_iter = 100            # default T (max(T, 100) for elk, quasi_elk; blocks for block_jacobi)
  iterations = 20           # run exactly this many iterations; exit 0 whether converged or not
  initial_guess = "zeros"   # zeros, repeat_s0
  non_finite = "clip_and_zero"  # clip_and_zero, reset_to_guess, none
  clip_value = 1e8
  keep_best = true
  chunks = 0                # time chunks per rank's scans; 0 automatic
  blocks = 0                # block_jacobi: time blocks per rank and sequence; 0 automatic
  sigma2 = 1e6              # elk, quasi_elk (default 1e6, 1e2), or "auto": adapted every
                            # iteration (a Levenberg-Marquardt trust region)
  kalman_smoother = false   # elk, quasi_elk: exact Levenberg-Marquardt steps
  jacobian_structure = "diagonal"  # quasi_deer, quasi_elk: diagonal, block, dense
  block_size = 4            # jacobian_structure = "block": k x k blocks (k divides D)

  [parallel]
  batch_ranks = 1           # ranks split over the batch; the others split time

  [checkpoint]              # optional; resume with --restart FILE
  file = "checkpoint.h5"    # the current iterate, written atomically (an output file)
  every = 10                # ... every 10 iterations (0: never)
  seconds = 600.0           # ... every 600 s (0: never)
  signal = "USR1"           # ... and when this signal arrives (sbatch --signal=USR1@120)

  [adjoint]                 # optional: gradients after a converged solve (docs/FILES.md)
  target = "obs.h5"         # the misfit L = 1/2 sum_t |s_t - y_t|^2 against y = dataset `dataset`
  # cotangents = "g.h5"     # ... or given cotangents g_t = dL/ds_t (one of target, cotangents)
  dataset = "targets"       # (B, T, D); default "targets" for target, "cotangents" otherwise
  method = "block_sweeps"   # sequential, scan, block_sweeps
  blocks = 0                # block_sweeps: blocks per rank and sequence; 0 automatic
  chunks = 0                # scan: time chunks; 0 automatic)";

/// Everything a run needs, from the deck and the command line.
struct RunConfig {
  std::string deck, model, input, output;
  std::string model_kind;  ///< read from the model file
  std::string precision = "fp64";
  kelk::SolveOptions options;
  std::optional<int> iterations;  // fixed iteration count
  int batch_ranks = 1;
  bool quiet = false;
  // checkpoint and restart
  std::string checkpoint, restart;
  int checkpoint_every = 0;         ///< iterations between checkpoints (0: none)
  double checkpoint_seconds = 0.0;  ///< seconds between checkpoints (0: none)
  std::string checkpoint_signal = "USR1";
  bool probe = false;        ///< --probe
  bool method_auto = false;  ///< method = "auto"
  // gradients ([adjoint])
  bool adjoint = false;
  kelk::AdjointOptions adjoint_options;
  std::string adjoint_target, adjoint_cotangents, adjoint_dataset;
};

std::string folder_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? "" : path.substr(0, slash + 1);
}
std::string resolve(const std::string& base, const std::string& path) {
  return path.empty() || path[0] == '/' ? path : base + path;
}

/// `path` as the file system resolves it: its folder's real path and its name, so that `../`
/// spellings and links to folders compare equal; empty if the folder does not exist.
std::string resolved(const std::string& path) {
  const auto slash = path.find_last_of('/');
  const std::string folder = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  char* real = ::realpath(folder.c_str(), nullptr);
  if (!real) return "";
  std::string r = std::string(real) + "/" + path.substr(slash == std::string::npos ? 0 : slash + 1);
  std::free(real);
  return r;
}

/// True if `a` and `b` name one file: the same device and inode when both exist, otherwise the
/// same resolved path (a file still to be written).
bool same_file(const std::string& a, const std::string& b) {
  if (a.empty() || b.empty()) return false;
  struct stat sa {}, sb {};
  if (::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0)
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  const std::string ra = resolved(a);
  return !ra.empty() && ra == resolved(b);
}

/// Throws if the model, input, deck or restart path is not a regular file (a FIFO would block
/// the read forever), if the output or checkpoint path is a folder, or if a file this run
/// writes is one it reads or the other one it writes (compared by device and inode, or by the
/// resolved path of a file not yet there, so `../` spellings and links count): writing it would
/// destroy that file. The checkpoint may be the restart file (it replaces it with a later
/// iterate); the output may not (the final write would destroy the checkpoint resumed from).
void check_paths(const RunConfig& cfg) {
  const std::pair<const char*, const std::string*> read[] = {
      {"model", &cfg.model}, {"input", &cfg.input}, {"deck", &cfg.deck}, {"restart", &cfg.restart}};
  for (const auto& [what, path] : read) {
    struct stat st {};
    if (!path->empty() && ::stat(path->c_str(), &st) == 0 && !S_ISREG(st.st_mode))
      throw std::invalid_argument("the " + std::string(what) + " file '" + *path +
                                  "' is not a regular file");
  }
  const std::pair<const char*, const std::string*> written[] = {{"output", &cfg.output},
                                                               {"checkpoint", &cfg.checkpoint}};
  for (const auto& [kind, target] : written) {
    struct stat out {};
    if (!target->empty() && ::stat(target->c_str(), &out) == 0 && S_ISDIR(out.st_mode))
      throw std::invalid_argument("the " + std::string(kind) + " path '" + *target +
                                  "' is a folder; name a file in it");
  }
  const auto refuse = [](const char* kind, const std::string& target, const char* what,
                         const std::string& path, const std::string& why) {
    throw std::invalid_argument("the " + std::string(kind) + " file '" + target + "' is the " +
                                what + " file '" + path + "': " + why + "; choose another path");
  };
  for (const auto& [kind, target] : written)
    for (const auto& [what, path] : read)
      if (std::string(kind) + what != "checkpointrestart" && same_file(*target, *path))
        refuse(kind, *target, what, *path,
               std::string(what) == "restart"
                   ? "the final write would destroy the checkpoint this run resumes from"
                   : "writing it would destroy it");
  if (same_file(cfg.checkpoint, cfg.output))
    refuse("checkpoint", cfg.checkpoint, "output", cfg.output,
           "every checkpoint would replace the result (an interrupted run would leave an "
           "unfinished iterate there)");
}

/// The deck file's bytes; throws if it cannot be read or is not a regular file.
std::string read_deck_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    throw std::invalid_argument("the deck file '" + path + "' is not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open())
    throw std::invalid_argument("cannot read the input deck '" + path +
                                "': " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (!in || in.bad())
    throw std::invalid_argument("cannot read the input deck '" + path +
                                "': " + std::strerror(errno));
  return text.str();
}

/// `text` on every rank of comm as rank 0 has it.
void broadcast(MPI_Comm comm, std::string& text) {
  long long n = static_cast<long long>(text.size());
  MPI_Bcast(&n, 1, MPI_LONG_LONG, 0, comm);
  text.resize(std::size_t(n));
  if (n > 0) MPI_Bcast(&text[0], int(n), MPI_CHAR, 0, comm);
}

/// Reads the deck (its text, as read by rank 0) into cfg; throws std::invalid_argument naming
/// any unknown or ill-typed key.
void read_deck(RunConfig& cfg, const std::string& deck_text) {
  toml::value deck;
  try {
    std::istringstream in(deck_text);
    deck = toml::parse(in, cfg.deck);
  } catch (const std::exception& e) {
    throw std::invalid_argument("cannot read the input deck '" + cfg.deck + "':\n" + e.what());
  }
  if (!deck.is_table())
    throw std::invalid_argument("the input deck '" + cfg.deck + "' is not a TOML table");
  const std::set<std::string> top = {"model", "input", "output", "solver", "parallel",
                                     "checkpoint", "adjoint"};
  const std::set<std::string> adjoint = {"target", "cotangents", "dataset", "method", "blocks",
                                         "chunks"};
  const std::set<std::string> checkpoint = {"file", "every", "seconds", "signal"};
  const std::set<std::string> solver = {
      "method",     "precision",     "atol",           "rtol",       "max_iter",
      "iterations", "initial_guess", "non_finite",     "clip_value", "keep_best",
      "chunks",     "blocks",        "sigma2",         "kalman_smoother", "jacobian_structure",
      "block_size"};
  const std::set<std::string> parallel = {"batch_ranks"};
  const auto check_keys = [&](const toml::value& table, const std::set<std::string>& known,
                              const std::string& prefix) {
    for (const auto& [key, value] : table.as_table())
      if (!known.count(key))
        throw std::invalid_argument("unknown option '" + prefix + key + "' in the input deck '" +
                                    cfg.deck + "'");
  };
  check_keys(deck, top, "");
  // "solver." for the [solver] table, ...: how messages name a key of `table`
  const auto prefix_of = [&](const toml::value& table) -> std::string {
    for (const std::string name : {"solver", "parallel", "checkpoint", "adjoint"})
      if (deck.contains(name) && &deck.at(name) == &table) return name + ".";
    return "";
  };
  // the value of `key` in `table` as T, if present; an error naming the key if it has another
  // type, or if it is an empty string (an empty path or name is never what was meant)
  const auto get = [&](const toml::value& table, const std::string& key,
                       auto type) -> std::optional<decltype(type)> {
    using T = decltype(type);
    if (!table.contains(key)) return std::nullopt;
    const toml::value& v = table.at(key);
    const std::string option = "option '" + prefix_of(table) + key + "' in the input deck '" +
                               cfg.deck + "'";
    try {
      if constexpr (std::is_same<T, double>::value)  // accept integers where floats go
        if (v.is_integer()) return double(toml::get<std::int64_t>(v));
      if constexpr (std::is_same<T, std::string>::value)
        if (v.is_string() && toml::get<std::string>(v).empty())
          throw std::invalid_argument(option + " is empty; give a value or leave it out");
      return toml::get<T>(v);
    } catch (const std::invalid_argument&) {
      throw;
    } catch (const std::exception& e) {
      throw std::invalid_argument(option + " has the wrong type:\n" + e.what());
    }
  };
  const std::string text, base = folder_of(cfg.deck);
  const std::int64_t integer = 0;
  // an integer key's value as an int, or an error naming the key and the range
  const auto to_int = [&](const std::string& key, std::int64_t v) {
    if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max())
      throw std::invalid_argument("option '" + key + "' = " + std::to_string(v) +
                                  " in the input deck '" + cfg.deck + "' is out of range (" +
                                  std::to_string(std::numeric_limits<int>::min()) + " .. " +
                                  std::to_string(std::numeric_limits<int>::max()) + ")");
    return int(v);
  };
  const double real = 0;
  if (cfg.model.empty()) cfg.model = resolve(base, get(deck, "model", text).value_or(""));
  if (cfg.input.empty()) cfg.input = resolve(base, get(deck, "input", text).value_or(""));
  if (cfg.output.empty()) cfg.output = resolve(base, get(deck, "output", text).value_or(""));
  if (deck.contains("solver")) {
    const auto& s = deck.at("solver");
    if (!s.is_table())
      throw std::invalid_argument("[solver] in '" + cfg.deck + "' must be a table (e.g. " +
                                  "[solver] then method = \"deer\" on the next line)");
    check_keys(s, solver, "solver.");
    auto& o = cfg.options;
    if (auto v = get(s, "method", text)) {
      cfg.method_auto = *v == "auto";
      if (!cfg.method_auto) o.method = kelk::parse_method(*v);
    }
    if (auto v = get(s, "precision", text)) cfg.precision = *v;
    if (auto v = get(s, "atol", real)) o.atol = *v;
    if (auto v = get(s, "rtol", real)) o.rtol = *v;
    if (auto v = get(s, "max_iter", integer)) o.max_iter = to_int("max_iter", *v);
    if (auto v = get(s, "iterations", integer)) cfg.iterations = to_int("iterations", *v);
    if (auto v = get(s, "initial_guess", text)) o.initial_guess = kelk::parse_initial_guess(*v);
    if (auto v = get(s, "non_finite", text)) o.non_finite = kelk::parse_non_finite_policy(*v);
    if (auto v = get(s, "clip_value", real)) o.clip_value = *v;
    if (auto v = get(s, "keep_best", true)) o.keep_best = *v;
    if (auto v = get(s, "chunks", integer)) o.chunks = to_int("chunks", *v);
    if (auto v = get(s, "blocks", integer)) o.blocks = to_int("blocks", *v);
    if (s.contains("sigma2") && s.at("sigma2").is_string()) {
      const auto v = *get(s, "sigma2", text);
      if (v != "auto")
        throw std::invalid_argument("option 'sigma2' in the input deck '" + cfg.deck +
                                    "' must be a number or \"auto\", got \"" + v + "\"");
      o.sigma2_auto = true;
    } else if (auto v = get(s, "sigma2", real)) {
      o.sigma2 = *v;
    }
    if (auto v = get(s, "kalman_smoother", true)) o.kalman_smoother = *v;
    if (auto v = get(s, "jacobian_structure", text))
      o.jacobian_structure = kelk::parse_jacobian_structure(*v);
    if (auto v = get(s, "block_size", integer)) o.block_size = to_int("block_size", *v);
  }
  if (deck.contains("checkpoint")) {
    const auto& c = deck.at("checkpoint");
    if (!c.is_table())
      throw std::invalid_argument("[checkpoint] in '" + cfg.deck + "' must be a table");
    check_keys(c, checkpoint, "checkpoint.");
    if (auto v = get(c, "file", text); v && cfg.checkpoint.empty())
      cfg.checkpoint = resolve(base, *v);
    if (auto v = get(c, "every", integer)) cfg.checkpoint_every = to_int("every", *v);
    if (auto v = get(c, "seconds", real)) cfg.checkpoint_seconds = *v;
    if (auto v = get(c, "signal", text)) cfg.checkpoint_signal = *v;
  }
  if (deck.contains("adjoint")) {
    const auto& a = deck.at("adjoint");
    if (!a.is_table())
      throw std::invalid_argument("[adjoint] in '" + cfg.deck + "' must be a table (e.g. " +
                                  "[adjoint] then target = \"obs.h5\" on the next line)");
    check_keys(a, adjoint, "adjoint.");
    cfg.adjoint = true;
    if (auto v = get(a, "target", text)) cfg.adjoint_target = resolve(base, *v);
    if (auto v = get(a, "cotangents", text)) cfg.adjoint_cotangents = resolve(base, *v);
    if (cfg.adjoint_target.empty() == cfg.adjoint_cotangents.empty())
      throw std::invalid_argument("[adjoint] in '" + cfg.deck + "' needs exactly one of " +
                                  "'target' (a misfit against observations) and 'cotangents'");
    cfg.adjoint_dataset = get(a, "dataset", text).value_or(
        cfg.adjoint_target.empty() ? "cotangents" : "targets");
    if (auto v = get(a, "method", text)) cfg.adjoint_options.method = kelk::parse_adjoint_method(*v);
    if (auto v = get(a, "blocks", integer)) cfg.adjoint_options.blocks = to_int("blocks", *v);
    if (auto v = get(a, "chunks", integer)) cfg.adjoint_options.chunks = to_int("chunks", *v);
  }
  if (deck.contains("parallel")) {
    const auto& p = deck.at("parallel");
    if (!p.is_table())
      throw std::invalid_argument("[parallel] in '" + cfg.deck + "' must be a table (e.g. " +
                                  "[parallel] then batch_ranks = 2 on the next line)");
    check_keys(p, parallel, "parallel.");
    if (auto v = get(p, "batch_ranks", integer)) cfg.batch_ranks = to_int("batch_ranks", *v);
  }
}

/// What a checkpoint of this run must match: kelk's entries of the solve (method, precision,
/// shape, rank layout, options) and the model file's bytes and the input values (hashed per
/// rank, in rank order). Collective.
template <class Scalar>
kelk::Fingerprint fingerprint_of(const RunConfig& cfg, const kelk::SolveOptions& options, int D,
                                 const kelk::Partition& part, MPI_Comm comm,
                                 const kelk::io::InputBlock<Scalar>& block) {
  kelk::Fingerprint data;
  kelk::impl::collective_check(comm, [&] { data.add("model", kelk::fingerprint_file(cfg.model)); });
  data.add("input", kelk::fingerprint_blocks(comm, block.s0, block.inputs));
  return kelk::solve_fingerprint<Scalar>(part, D, options, data);
}

/// The gradients of an [adjoint] run, this rank's blocks, and how they go into the output file.
template <class Scalar>
struct GradientOutput {
  kelk::Gradients<Scalar> views;
  std::vector<kelk::ParameterBlock> layout;

  /// The bytes they take in the file (all ranks' blocks).
  std::uint64_t bytes(const kelk::Partition& part) const {
    const std::uint64_t B = part.batch, T = part.length, D = views.adjoint.extent(2),
                        Din = views.inputs.extent(2);
    std::uint64_t n = B * D + B * T * (Din + D);
    for (const auto& p : layout) n += p.size();
    return n * sizeof(Scalar);
  }
  /// gradients/s0 (B, D), gradients/inputs (B, T, Din), gradients/adjoint (B, T, D) and
  /// gradients/parameters/<dataset name> (its shape; a scalar as (1,)). Collective.
  void write(kelk::hdf5::File& file, const kelk::Partition& part) const {
    const std::size_t B = part.batch, T = part.length, D = views.adjoint.extent(2),
                      Din = views.inputs.extent(2);
    const auto h = [](const auto& v) {
      return Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), v);
    };
    const std::size_t b0 = part.batch_begin, t0 = part.time_begin;
    const std::size_t lB = part.local_batch(), lT = part.local_length();
    const auto ds0 = h(views.s0);
    file.create_dataset<Scalar>("gradients/s0", {B, D});
    file.write_slab<Scalar>("gradients/s0", {b0, 0}, {part.time_rank == 0 ? lB : 0, D},
                            ds0.data());
    const auto du = h(views.inputs);
    file.create_dataset<Scalar>("gradients/inputs", {B, T, Din});
    file.write_slab<Scalar>("gradients/inputs", {b0, t0, 0}, {lB, lT, Din}, du.data());
    const auto l = h(views.adjoint);
    file.create_dataset<Scalar>("gradients/adjoint", {B, T, D});
    file.write_slab<Scalar>("gradients/adjoint", {b0, t0, 0}, {lB, lT, D}, l.data());
    const auto theta = h(views.parameters);
    std::size_t at = 0;
    for (const auto& p : layout) {
      const std::vector<Scalar> values(theta.data() + at, theta.data() + at + p.size());
      file.write<Scalar>("gradients/parameters/" + p.name,
                         p.shape.empty() ? kelk::hdf5::Shape{1} : kelk::hdf5::Shape(p.shape),
                         values);
      at += p.size();
    }
  }
};

/// [adjoint]: the cotangents (read, or those of the misfit against the targets), then
/// solve_adjoint over the ranks; adds its attributes to `attributes`. Collective.
template <class Scalar, class Map>
GradientOutput<Scalar> adjoint_of(const RunConfig& cfg, MPI_Comm comm,
                             const kelk::DistributedSolver& solver, const Map& map, const kelk::io::InputBlock<Scalar>& block,
                             const kelk::SequenceView<Scalar>& states,
                             kelk::io::Attributes& attributes) {
  const kelk::Partition& part = solver.partition();
  const int D = map.state_dim(), Din = map.input_dim();
  const int lB = part.local_batch(), lT = part.local_length();
  const std::string& file = cfg.adjoint_target.empty() ? cfg.adjoint_cotangents : cfg.adjoint_target;
  kelk::SequenceView<Scalar> g;
  kelk::impl::collective_check(comm, [&] {
    g = kelk::io::read_sequence_block<Scalar>(file, comm, part, cfg.adjoint_dataset, D);
    if (kelk::impl::count_non_finite(Kokkos::DefaultExecutionSpace(), g) > 0)
      throw std::invalid_argument("dataset '" + cfg.adjoint_dataset + "' of '" + file +
                                  "' contains NaN or Inf");
  });
  std::string what = "dataset '" + cfg.adjoint_dataset + "' of '" + file + "'";
  double loss = 0;
  if (!cfg.adjoint_target.empty()) {  // g = s - y, L = 1/2 sum |s - y|^2
    const auto s = states;
    Kokkos::parallel_reduce(
        "kelk::run::misfit",
        Kokkos::RangePolicy<Kokkos::IndexType<std::int64_t>>(0, std::int64_t(g.span())),
        KOKKOS_LAMBDA(std::int64_t i, double& sum) {
          const Scalar r = s.data()[i] - g.data()[i];
          g.data()[i] = r;
          sum += 0.5 * double(r) * double(r);
        },
        loss);
    MPI_Allreduce(MPI_IN_PLACE, &loss, 1, MPI_DOUBLE, MPI_SUM, comm);
    what = "misfit 1/2 sum |s_t - y_t|^2 against " + what;
  }
  GradientOutput<Scalar> out;
  out.layout = kelk::parameter_layout(map);
  kelk::impl::collective_check(comm, [&] {
    out.views = {kelk::BatchView<Scalar>("kelk::run::gradient_s0", lB, D),
                 kelk::SequenceView<Scalar>("kelk::run::gradient_inputs", lB, lT, Din),
                 Kokkos::View<Scalar*>("kelk::run::gradient_parameters", kelk::parameter_count(map)),
                 kelk::SequenceView<Scalar>("kelk::run::adjoint", lB, lT, D)};
  });
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  Kokkos::Timer timer;
  const auto r = solver.solve_adjoint(map, block.s0, block.inputs, states, g, out.views,
                                      cfg.adjoint_options);
  const double wall = timer.seconds();
  using I = std::int64_t;
  attributes.insert(attributes.end(), {{"adjoint_method", kelk::to_string(r.method)},
                                       {"adjoint_cotangents", what},
                                       {"adjoint_sweeps", I(r.sweeps)},
                                       {"adjoint_steps_swept", I(r.steps_swept)},
                                       {"adjoint_wall_time_seconds", wall}});
  if (!cfg.adjoint_target.empty()) attributes.push_back({"adjoint_loss", loss});
  if (rank == 0) {
    std::printf("adjoint (%s): %d sweep(s), %.3f s%s", kelk::to_string(r.method).c_str(),
                r.sweeps, wall, r.finite ? "" : ", NOT finite");
    if (!cfg.adjoint_target.empty()) std::printf(", misfit %.6e", loss);
    std::printf("\n");
  }
  return out;
}

/// The run, in precision Scalar, for the model in cfg.model.
template <class Scalar>
int run(const RunConfig& cfg, MPI_Comm comm) {
  int rank = 0, ranks = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &ranks);
  const bool talk = rank == 0;
  kelk::SolveOptions options = cfg.options;
  options.record_history = true;
  if (cfg.iterations) {
    options.max_iter = *cfg.iterations;
    options.fixed_iterations = true;
  }
  if (options.initial_guess == kelk::InitialGuess::provided)
    throw std::invalid_argument("initial_guess 'provided' is not available in kelk-run");

  return kelk::io::with_model<Scalar>(cfg.model, [&](const auto& map) {
    kelk::io::InputShape shape;
    kelk::impl::collective_check(comm, [&] {
      const auto file = kelk::hdf5::File::open_read(cfg.input);
      shape = kelk::io::read_input_shape(file);
      if (shape.D != map.state_dim() || shape.Din != map.input_dim())
        throw std::invalid_argument("the input file '" + cfg.input +
                                    "' has D = " + std::to_string(shape.D) +
                                    ", Din = " + std::to_string(shape.Din) + " but the model '" +
                                    cfg.model + "' has D = " + std::to_string(map.state_dim()) +
                                    ", Din = " + std::to_string(map.input_dim()));
      if (shape.B < 1 || shape.T < 1)
        throw std::invalid_argument("the input file '" + cfg.input +
                                    "' holds no steps (B = " + std::to_string(shape.B) +
                                    ", T = " + std::to_string(shape.T) + ")");
    });
    kelk::io::check_writable(cfg.output, comm);
    std::optional<kelk::DistributedSolver> solver;
    kelk::impl::collective_check(comm,
                                 [&] { solver.emplace(comm, shape.B, shape.T, cfg.batch_ranks); });
    const auto& part = solver->partition();
    std::optional<kelk::io::InputBlock<Scalar>> block;
    kelk::impl::collective_check(comm, [&] {
      const auto file = kelk::hdf5::File::open_read(cfg.input, comm);
      block = kelk::io::read_input_block<Scalar>(file, part);
    });
    kelk::SequenceView<Scalar> states;
    kelk::impl::collective_check(comm, [&] {  // a rank short of memory must tell the others
      states = kelk::SequenceView<Scalar>("kelk::run::states", part.local_batch(),
                                          part.local_length(), shape.D);
    });
    // the predictability probe (rank 0's sequences, from their start) and method = "auto"
    kelk::io::Attributes probe_attributes;
    if (cfg.probe || cfg.method_auto) {
      double values[6] = {0, 0, 0, 0, 0, 0};  // exponent, error, min, max, steps, merge length
      std::string verdict;
      kelk::impl::collective_check(comm, [&] {
        if (rank != 0) return;
        const auto p = kelk::probe(map, kelk::BatchView<const Scalar>(block->s0),
                                   kelk::SequenceView<const Scalar>(block->inputs));
        values[0] = p.exponent, values[1] = p.error, values[2] = p.exponent_min;
        values[3] = p.exponent_max, values[4] = p.steps, values[5] = p.merge_length;
        verdict = p.verdict;
      });
      MPI_Bcast(values, 6, MPI_DOUBLE, 0, comm);
      broadcast(comm, verdict);
      kelk::ProbeResult p;
      p.exponent = values[0], p.error = values[1], p.exponent_min = values[2];
      p.exponent_max = values[3], p.steps = int(values[4]), p.merge_length = values[5];
      p.verdict = verdict;
      if (talk)
        std::printf("probe: largest Lyapunov exponent %.4g +- %.2g per step (sequences %.4g .. "
                    "%.4g, up to %d steps each), merge length %.4g steps\n  %s\n",
                    p.exponent, p.error, p.exponent_min, p.exponent_max, p.steps,
                    p.merge_length, verdict.c_str());
      probe_attributes = {{"probe_exponent", p.exponent},
                          {"probe_exponent_error", p.error},
                          {"probe_exponent_min", p.exponent_min},
                          {"probe_exponent_max", p.exponent_max},
                          {"probe_steps", std::int64_t(p.steps)},
                          {"probe_merge_length", p.merge_length},
                          {"probe_verdict", verdict}};
      if (cfg.method_auto) {
        kelk::Resources resources;
        resources.time_ranks = part.time_ranks;
        resources.threads = Kokkos::DefaultExecutionSpace().concurrency();
        resources.device = !Kokkos::SpaceAccessibility<
            Kokkos::HostSpace, Kokkos::DefaultExecutionSpace::memory_space>::accessible;
        // the measuring rule runs the candidates on rank 0's sequences (kelk_auto.hpp)
        kelk::MethodChoice choice;
        int chosen[3] = {0, 0, 0};  // method, structure, block size
        kelk::impl::collective_check(comm, [&] {
          if (rank != 0) return;
          choice = kelk::choose_method(Kokkos::DefaultExecutionSpace(), map,
                                       kelk::BatchView<const Scalar>(block->s0),
                                       kelk::SequenceView<const Scalar>(block->inputs), p,
                                       resources, options.atol);
          chosen[0] = int(choice.method), chosen[1] = int(choice.structure);
          chosen[2] = choice.block_size;
        });
        MPI_Bcast(chosen, 3, MPI_INT, 0, comm);
        broadcast(comm, choice.reason);
        choice.method = kelk::Method(chosen[0]);
        choice.structure = kelk::JacobianStructure(chosen[1]);
        choice.block_size = chosen[2];
        choice.apply(options);
        probe_attributes.push_back({"method_auto", choice.reason});
        if (talk)
          std::printf("auto: %s, as %s\n",
                      kelk::impl::candidate_name(choice.method, choice.structure,
                                                 choice.block_size).c_str(),
                      choice.reason.c_str());
      }
    }
    // sigma2 (a number or auto) only steers elk and quasi_elk; an invalid number is refused for
    // every method (by kelk::solve), a valid one given to another method is said to be unused
    const bool kalman =
        options.method == kelk::Method::elk || options.method == kelk::Method::quasi_elk;
    if (talk && !kalman && (options.sigma2 || options.sigma2_auto) &&
        (!options.sigma2 || (*options.sigma2 > 0 && std::isfinite(*options.sigma2))))
      std::fprintf(stderr,
                   "kelk-run: warning: sigma2 = %s is ignored: only elk and quasi_elk use it, "
                   "this run uses %s\n",
                   options.sigma2_auto ? "auto" : kelk::impl::number(*options.sigma2).c_str(),
                   kelk::to_string(options.method).c_str());
    // checkpoint and restart (kelk_checkpoint.hpp: every rank takes the same decisions)
    kelk::Fingerprint fingerprint;
    if (!cfg.checkpoint.empty() || !cfg.restart.empty())
      fingerprint = fingerprint_of(cfg, options, shape.D, part, comm, *block);
    std::optional<kelk::Checkpointer> checkpointer;
    if (!cfg.checkpoint.empty())  // installs the signal's handler
      checkpointer.emplace(comm, part,
                           kelk::CheckpointPolicy{cfg.checkpoint, cfg.checkpoint_every,
                                                  cfg.checkpoint_seconds,
                                                  kelk::checkpoint_signal_number(cfg.checkpoint_signal),
                                                  /*report=*/true},
                           fingerprint);
    std::optional<kelk::Checkpoint> from;  // a restart: its iterate is in states
    if (!cfg.restart.empty())
      from = kelk::read_checkpoint(cfg.restart, comm, part, fingerprint, states);
    // the checkpoint's iterate met this run's stopping rule: it is the result, with no further
    // iteration (a check of the recurrence only), as the uninterrupted run stopped there
    const bool resumed_converged = from && kelk::resumes_converged<Scalar>(*from, options);
    const int threads = Kokkos::DefaultExecutionSpace().concurrency();
    if (talk) {
      std::printf("kelk-run %s: %s model '%s' (D = %d, Din = %d), B = %d, T = %d, %s\n",
                  kelk::version(), cfg.model_kind.c_str(), cfg.model.c_str(), shape.D, shape.Din,
                  shape.B, shape.T, cfg.precision.c_str());
      std::printf("  %s, %d ranks (%d batch x %d time), Kokkos %s with %d threads per rank\n",
                  kelk::to_string(options.method).c_str(), ranks, part.batch_ranks, part.time_ranks,
                  Kokkos::DefaultExecutionSpace::name(), threads);
    }
    if (talk && resumed_converged)
      std::printf("restart: the iterate of iteration %d met the stopping rule; it is the result\n",
                  from->iteration);
    Kokkos::Timer timer;
    const bool progress = talk && !cfg.quiet;
    const bool adaptive = options.sigma2_auto && kalman;
    if (progress) {
      std::printf("%6s %14s %16s %10s%s\n", "iter", "max |update|", "start residual", "time [s]",
                  adaptive ? "     sigma2  step" : "");
      options.on_iteration = [&](const kelk::IterationProgress& p) {
        std::printf("%6d %14.6e %16.6e %10.3f", p.iteration, p.max_update, p.start_residual,
                    timer.seconds());
        if (adaptive) std::printf(" %10.3e  %s", p.sigma2, p.accepted ? "accepted" : "rejected");
        std::printf("\n");
        std::fflush(stdout);
      };
    }
    const kelk::SolveResult result = kelk::solve_checkpointed(
        *solver, Kokkos::DefaultExecutionSpace(), map, block->s0, block->inputs, states, options,
        checkpointer ? &*checkpointer : nullptr, from ? &*from : nullptr);
    const double wall = timer.seconds();

    auto attributes = kelk::io::describe(options, result);
    using I = std::int64_t;
    attributes.insert(attributes.end(), {{"precision", cfg.precision},
                                         {"model_file", cfg.model},
                                         {"model_kind", cfg.model_kind},
                                         {"input_file", cfg.input},
                                         {"ranks", I(ranks)},
                                         {"batch_ranks", I(part.batch_ranks)},
                                         {"time_ranks", I(part.time_ranks)},
                                         {"threads_per_rank", I(threads)},
                                         {"wall_time_seconds", wall}});
    attributes.insert(attributes.end(), probe_attributes.begin(), probe_attributes.end());
    if (from)
      attributes.insert(attributes.end(), {{"restarted_from", cfg.restart},
                                           {"restart_iteration", I(from->iteration)}});
    std::function<void(kelk::hdf5::File&)> gradients_writer;
    std::uint64_t gradient_bytes = 0;
    std::optional<GradientOutput<Scalar>> gradients;
    if (cfg.adjoint && !result.converged && talk)
      std::printf("the solve did not converge: no gradients computed\n");
    if (cfg.adjoint && result.converged) {
      gradients = adjoint_of(cfg, comm, *solver, map, *block, states, attributes);
      gradient_bytes = gradients->bytes(part);
      gradients_writer = [&](kelk::hdf5::File& file) { gradients->write(file, part); };
    }
    kelk::impl::collective_check(comm, [&] {
      kelk::io::write_output(cfg.output, comm, part, states, result, attributes,
                             gradients_writer, gradient_bytes);
    });
    if (talk) {
      std::printf("%s after %d iterations (%s): max |update| %.3e, residual %.3e, %.3f s\n",
                  result.converged ? "converged" : "NOT converged", result.iterations,
                  kelk::to_string(result.reason).c_str(), result.final_update,
                  result.final_residual, wall);
      std::printf("states%s written to %s\n", gradients ? " and gradients" : "",
                  cfg.output.c_str());
    }
    return result.converged || cfg.iterations ? 0 : 2;
  });
}

}  // namespace

int main(int argc, char* argv[]) {
  MPI_Init(&argc, &argv);
  kelk::activity::install_fatal_signal_handler("kelk-run");  // after MPI_Init: it replaces MPI's
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  RunConfig cfg;
  std::string method, initial_guess, non_finite;
  std::optional<double> atol;
  std::optional<std::string> sigma2;
  std::optional<int> max_iter, iterations, chunks, blocks, batch_ranks;
  bool smoother = false;
  CLI::App app{
      "kelk-run: parallel-in-time evaluation of the recurrence described by an input "
      "deck, distributed over MPI ranks (mpirun -np N kelk-run DECK). Flags override "
      "the deck; Kokkos flags (--kokkos-num-threads=N or --kokkos-threads=N, ...) pass through."};
  app.footer(deck_help);
  app.add_option("deck", cfg.deck, "input deck (TOML)")->required();
  app.add_option("--model", cfg.model, "model file (overrides the deck)");
  app.add_option("--input", cfg.input, "input file (overrides the deck)");
  app.add_option("--output,-o", cfg.output, "output file (overrides the deck)");
  app.add_option("--method,-m", method,
                 "sequential, jacobi, deer, quasi_deer, elk, quasi_elk, block_jacobi or auto "
                 "(chosen from the predictability probe and the ranks x threads)");
  app.add_option("--precision", cfg.precision, "fp64 or fp32");
  app.add_option("--atol", atol, "absolute tolerance")->check(kelk::apps::cli::finite());
  app.add_option("--rtol", cfg.options.rtol, "relative tolerance")
      ->check(kelk::apps::cli::finite());
  app.add_option("--max-iter", max_iter, "iteration cap");
  app.add_option("--iterations", iterations,
                 "run exactly this many iterations and exit 0 whether converged or not");
  app.add_option("--initial-guess", initial_guess, "zeros or repeat_s0");
  app.add_option("--non-finite", non_finite, "clip_and_zero, reset_to_guess or none");
  app.add_option("--sigma2", sigma2,
                 "elk/quasi_elk trust-region parameter: a number > 0, or auto (adapted every "
                 "iteration)");
  app.add_flag("--smoother", smoother, "elk/quasi_elk: add the RTS smoother");
  app.add_option("--chunks", chunks, "time chunks of each rank's scans (0: automatic)");
  app.add_option("--blocks", blocks,
                 "block_jacobi: time blocks per rank and sequence (0: automatic)");
  app.add_option("--batch-ranks", batch_ranks, "ranks split over the batch");
  app.add_flag("--quiet,-q", cfg.quiet, "no per-iteration lines");
  app.add_flag("--probe", cfg.probe,
               "estimate the largest Lyapunov exponent along a prefix of the trajectory first, "
               "print whether parallel evaluation pays, and record it in the output file");
  std::optional<int> checkpoint_every;
  std::optional<double> checkpoint_seconds;
  std::string checkpoint_signal;
  app.add_option("--checkpoint", cfg.checkpoint,
                 "write the current iterate to this checkpoint file (on --checkpoint-signal, "
                 "and every --checkpoint-every iterations or --checkpoint-seconds seconds)");
  app.add_option("--checkpoint-every", checkpoint_every, "iterations between checkpoints")
      ->check(kelk::apps::cli::non_negative());
  app.add_option("--checkpoint-seconds", checkpoint_seconds, "seconds between checkpoints")
      ->check(kelk::apps::cli::non_negative());
  app.add_option("--checkpoint-signal", checkpoint_signal,
                 "signal that asks for a checkpoint (default USR1)");
  app.add_option("--restart", cfg.restart,
                 "resume from this checkpoint (same model, input, method, precision, ranks)");
  // unknown options, stray arguments, empty values and misspelt Kokkos flags exit 1 here
  const kelk::apps::cli::Parser cli("kelk-run");
  int code = kelk::apps::cli::parse_on_every_rank(cli, app, argc, argv);
  if (code >= 0) {
    MPI_Finalize();
    return code;
  }
  code = 0;
  kelk::initialize(argc, argv);
  try {
    // rank 0 reads the deck and every rank parses its text: the ranks agree on the options
    std::string deck_text;
    kelk::impl::collective_check(MPI_COMM_WORLD, [&] {
      if (rank == 0) deck_text = read_deck_file(cfg.deck);
    });
    broadcast(MPI_COMM_WORLD, deck_text);
    kelk::impl::collective_check(MPI_COMM_WORLD, [&] {
      const bool rtol_from_cli = app.count("--rtol") > 0;
      const double rtol = cfg.options.rtol;
      read_deck(cfg, deck_text);
      if (!method.empty()) {
        cfg.method_auto = method == "auto";
        if (!cfg.method_auto) cfg.options.method = kelk::parse_method(method);
      }
      if (atol) cfg.options.atol = *atol;
      if (rtol_from_cli) cfg.options.rtol = rtol;
      if (max_iter) cfg.options.max_iter = *max_iter;
      if (iterations) cfg.iterations = *iterations;
      if (!initial_guess.empty())
        cfg.options.initial_guess = kelk::parse_initial_guess(initial_guess);
      if (!non_finite.empty()) cfg.options.non_finite = kelk::parse_non_finite_policy(non_finite);
      if (sigma2) {
        cfg.options.sigma2_auto = *sigma2 == "auto";
        if (!cfg.options.sigma2_auto) {
          char* end = nullptr;
          cfg.options.sigma2 = std::strtod(sigma2->c_str(), &end);
          if (sigma2->empty() || *end != '\0')
            throw std::invalid_argument("--sigma2 must be a number or auto, got '" + *sigma2 +
                                        "'");
        }
      }
      if (smoother) cfg.options.kalman_smoother = true;
      if (chunks) cfg.options.chunks = *chunks;
      if (blocks) cfg.options.blocks = *blocks;
      if (batch_ranks) cfg.batch_ranks = *batch_ranks;
      if (checkpoint_every) cfg.checkpoint_every = *checkpoint_every;
      if (checkpoint_seconds) cfg.checkpoint_seconds = *checkpoint_seconds;
      if (!checkpoint_signal.empty()) cfg.checkpoint_signal = checkpoint_signal;
      if (cfg.checkpoint_every < 0 || !(cfg.checkpoint_seconds >= 0))
        throw std::invalid_argument("checkpoint every/seconds must be >= 0");
      if (!cfg.checkpoint.empty()) kelk::checkpoint_signal_number(cfg.checkpoint_signal);
      if (cfg.precision != "fp64" && cfg.precision != "fp32")
        throw std::invalid_argument("unknown precision '" + cfg.precision +
                                    "' (valid: fp64, fp32)");
      if (cfg.iterations && *cfg.iterations < 0)
        throw std::invalid_argument("iterations must be >= 0");
      for (const auto* f : {&cfg.model, &cfg.input, &cfg.output})
        if (f->empty())
          throw std::invalid_argument("the deck '" + cfg.deck +
                                      "' must name the model, input and output files");
      check_paths(cfg);
    });
    kelk::impl::collective_check(MPI_COMM_WORLD, [&] {
      // the model's kind, agreed on by every rank before any rank loads the model
      cfg.model_kind =
          kelk::io::to_string(kelk::io::model_kind(kelk::hdf5::File::open_read(cfg.model)));
    });
    code = cfg.precision == "fp64" ? run<double>(cfg, MPI_COMM_WORLD)
                                   : run<float>(cfg, MPI_COMM_WORLD);
  } catch (const std::exception& e) {
    if (rank == 0) std::fprintf(stderr, "kelk-run: error: %s\n", e.what());
    code = 1;
  }
  Kokkos::finalize();
  MPI_Finalize();
  return code;
}
