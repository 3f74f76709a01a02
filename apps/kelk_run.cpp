// kelk-run: solves the recurrence an input deck describes, distributed over MPI ranks, reading
// and writing HDF5 in parallel. Sample (4 ranks, the example GRU deck):
//
//   mpirun -np 4 build/apps/kelk-run input/examples/gru/deck.toml --output gru_states.h5
//
// The deck (TOML) names the model, input and output files and the solver options; flags
// override it. Rank 0 prints one line per iteration (unless --quiet) and a summary. The exit
// code is 0 only when the solve converged, or when --iterations asked for a fixed count.
#include <kelk/kelk.hpp>

#include <mpi.h>
#include <CLI/CLI.hpp>
#include <Kokkos_Core.hpp>
#include <toml.hpp>

#include <sys/stat.h>

#include <cstdio>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <utility>

namespace {

const char* deck_help = R"(Input deck (TOML; relative paths are relative to the deck's folder):

  model  = "model.h5"       # model file: step map and weights (docs/FILES.md)
  input  = "inputs.h5"      # input file: s0 (B, D), inputs (B, T, Din)
  output = "states.h5"      # output file: states (B, T, D), history, run attributes

  [solver]                  # every key optional
  method = "deer"           # sequential, jacobi, deer, quasi_deer, elk, quasi_elk, block_jacobi
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
  sigma2 = 1e6              # elk, quasi_elk (default 1e6, 1e2)
  kalman_smoother = false   # elk, quasi_elk: exact Levenberg-Marquardt steps

  [parallel]
  batch_ranks = 1           # ranks split over the batch; the others split time)";

/// Everything a run needs, from the deck and the command line.
struct RunConfig {
  std::string deck, model, input, output;
  std::string model_kind;  ///< read from the model file
  std::string precision = "fp64";
  kelk::SolveOptions options;
  std::optional<int> iterations;  // fixed iteration count
  int batch_ranks = 1;
  bool quiet = false;
};

std::string folder_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? "" : path.substr(0, slash + 1);
}
std::string resolve(const std::string& base, const std::string& path) {
  return path.empty() || path[0] == '/' ? path : base + path;
}

/// Throws if the model, input or deck path is not a regular file (a FIFO would block the read
/// forever), if the output path is a folder, or if it names the same file as the model, input
/// or deck (compared by device and inode, so `../` spellings and links count): writing it would
/// destroy that file.
void check_paths(const RunConfig& cfg) {
  const std::pair<const char*, const std::string*> others[] = {
      {"model", &cfg.model}, {"input", &cfg.input}, {"deck", &cfg.deck}};
  for (const auto& [what, path] : others) {
    struct stat st {};
    if (::stat(path->c_str(), &st) == 0 && !S_ISREG(st.st_mode))
      throw std::invalid_argument("the " + std::string(what) + " file '" + *path +
                                  "' is not a regular file");
  }
  struct stat out {};
  if (::stat(cfg.output.c_str(), &out) != 0) return;  // not there yet: nothing to destroy
  if (S_ISDIR(out.st_mode))
    throw std::invalid_argument("the output path '" + cfg.output +
                                "' is a folder; name a file in it");
  for (const auto& [what, path] : others) {
    struct stat other {};
    if (::stat(path->c_str(), &other) == 0 && other.st_dev == out.st_dev &&
        other.st_ino == out.st_ino)
      throw std::invalid_argument("the output file '" + cfg.output + "' is the " + what +
                                  " file '" + *path + "': writing it would destroy it; choose "
                                  "another output path");
  }
}

/// Reads the deck into cfg; throws std::invalid_argument naming any unknown or ill-typed key.
void read_deck(RunConfig& cfg) {
  toml::value deck;
  try {
    deck = toml::parse(cfg.deck);
  } catch (const std::exception& e) {
    throw std::invalid_argument("cannot read the input deck '" + cfg.deck + "':\n" + e.what());
  }
  if (!deck.is_table())
    throw std::invalid_argument("the input deck '" + cfg.deck + "' is not a TOML table");
  const std::set<std::string> top = {"model", "input", "output", "solver", "parallel"};
  const std::set<std::string> solver = {
      "method",     "precision",     "atol",           "rtol",       "max_iter",
      "iterations", "initial_guess", "non_finite",     "clip_value", "keep_best",
      "chunks",     "blocks",        "sigma2",         "kalman_smoother"};
  const std::set<std::string> parallel = {"batch_ranks"};
  const auto check_keys = [&](const toml::value& table, const std::set<std::string>& known,
                              const std::string& prefix) {
    for (const auto& [key, value] : table.as_table())
      if (!known.count(key))
        throw std::invalid_argument("unknown option '" + prefix + key + "' in the input deck '" +
                                    cfg.deck + "'");
  };
  check_keys(deck, top, "");
  // the value of `key` in `table` as T, if present; an error naming the key otherwise
  const auto get = [&](const toml::value& table, const std::string& key,
                       auto type) -> std::optional<decltype(type)> {
    using T = decltype(type);
    if (!table.contains(key)) return std::nullopt;
    const toml::value& v = table.at(key);
    try {
      if constexpr (std::is_same<T, double>::value)  // accept integers where floats go
        if (v.is_integer()) return double(toml::get<std::int64_t>(v));
      return toml::get<T>(v);
    } catch (const std::exception& e) {
      throw std::invalid_argument("option '" + key + "' in the input deck '" + cfg.deck +
                                  "' has the wrong type:\n" + e.what());
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
      throw std::invalid_argument("[solver] in '" + cfg.deck + "' must be a table");
    check_keys(s, solver, "solver.");
    auto& o = cfg.options;
    if (auto v = get(s, "method", text)) o.method = kelk::parse_method(*v);
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
    if (auto v = get(s, "sigma2", real)) o.sigma2 = *v;
    if (auto v = get(s, "kalman_smoother", true)) o.kalman_smoother = *v;
  }
  if (deck.contains("parallel")) {
    const auto& p = deck.at("parallel");
    check_keys(p, parallel, "parallel.");
    if (auto v = get(p, "batch_ranks", integer)) cfg.batch_ranks = to_int("batch_ranks", *v);
  }
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
    options.atol = 0.0;
    options.rtol = 0.0;
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
    kelk::SequenceView<Scalar> states("kelk::run::states", part.local_batch(), part.local_length(),
                                      shape.D);
    const int threads = Kokkos::DefaultExecutionSpace().concurrency();
    if (talk) {
      std::printf("kelk-run %s: %s model '%s' (D = %d, Din = %d), B = %d, T = %d, %s\n",
                  kelk::version(), cfg.model_kind.c_str(), cfg.model.c_str(), shape.D, shape.Din,
                  shape.B, shape.T, cfg.precision.c_str());
      std::printf("  %s, %d ranks (%d batch x %d time), Kokkos %s with %d threads per rank\n",
                  kelk::to_string(options.method).c_str(), ranks, part.batch_ranks, part.time_ranks,
                  Kokkos::DefaultExecutionSpace::name(), threads);
    }
    Kokkos::Timer timer;
    if (talk && !cfg.quiet) {
      std::printf("%6s %14s %16s %10s\n", "iter", "max |update|", "start residual", "time [s]");
      options.on_iteration = [&](const kelk::IterationProgress& p) {
        std::printf("%6d %14.6e %16.6e %10.3f\n", p.iteration, p.max_update, p.start_residual,
                    timer.seconds());
        std::fflush(stdout);
      };
    }
    const kelk::SolveResult result = solver->solve(map, block->s0, block->inputs, states, options);
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
    kelk::impl::collective_check(
        comm, [&] { kelk::io::write_output(cfg.output, comm, part, states, result, attributes); });
    if (talk) {
      std::printf("%s after %d iterations (%s): max |update| %.3e, residual %.3e, %.3f s\n",
                  result.converged ? "converged" : "NOT converged", result.iterations,
                  kelk::to_string(result.reason).c_str(), result.final_update,
                  result.final_residual, wall);
      std::printf("states written to %s\n", cfg.output.c_str());
    }
    return result.converged || cfg.iterations ? 0 : 2;
  });
}

}  // namespace

int main(int argc, char* argv[]) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  RunConfig cfg;
  std::string method, initial_guess, non_finite;
  std::optional<double> atol, sigma2;
  std::optional<int> max_iter, iterations, chunks, blocks, batch_ranks;
  bool smoother = false;
  CLI::App app{
      "kelk-run: parallel-in-time evaluation of the recurrence described by an input "
      "deck, distributed over MPI ranks (mpirun -np N kelk-run DECK). Flags override "
      "the deck; Kokkos flags (--kokkos-num-threads=N or --kokkos-threads=N, ...) pass through."};
  app.footer(deck_help);
  app.allow_extras();
  app.add_option("deck", cfg.deck, "input deck (TOML)")->required();
  app.add_option("--model", cfg.model, "model file (overrides the deck)");
  app.add_option("--input", cfg.input, "input file (overrides the deck)");
  app.add_option("--output,-o", cfg.output, "output file (overrides the deck)");
  app.add_option("--method,-m", method,
                 "sequential, jacobi, deer, quasi_deer, elk, quasi_elk or block_jacobi");
  app.add_option("--precision", cfg.precision, "fp64 or fp32");
  app.add_option("--atol", atol, "absolute tolerance");
  app.add_option("--rtol", cfg.options.rtol, "relative tolerance");
  app.add_option("--max-iter", max_iter, "iteration cap");
  app.add_option("--iterations", iterations,
                 "run exactly this many iterations and exit 0 whether converged or not");
  app.add_option("--initial-guess", initial_guess, "zeros or repeat_s0");
  app.add_option("--non-finite", non_finite, "clip_and_zero, reset_to_guess or none");
  app.add_option("--sigma2", sigma2, "elk/quasi_elk trust-region parameter");
  app.add_flag("--smoother", smoother, "elk/quasi_elk: add the RTS smoother");
  app.add_option("--chunks", chunks, "time chunks of each rank's scans (0: automatic)");
  app.add_option("--blocks", blocks,
                 "block_jacobi: time blocks per rank and sequence (0: automatic)");
  app.add_option("--batch-ranks", batch_ranks, "ranks split over the batch");
  app.add_flag("--quiet,-q", cfg.quiet, "no per-iteration lines");
  int code = 0;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and friends exit 0; a parse error prints its message and exits 1, as documented
    if (rank == 0) app.exit(e);
    code = e.get_exit_code() == 0 ? 0 : 1;
    MPI_Finalize();
    return code;
  }
  // extras are allowed for Kokkos' own flags only: anything else is a misspelt option
  for (const auto& extra : app.remaining()) {
    if (extra.rfind("--kokkos-", 0) == 0) continue;
    if (rank == 0)
      std::fprintf(stderr, "kelk-run: error: unknown option '%s' (kelk-run --help lists them)\n",
                   extra.c_str());
    MPI_Finalize();
    return 1;
  }
  kelk::initialize(argc, argv);
  try {
    kelk::impl::collective_check(MPI_COMM_WORLD, [&] {
      const bool rtol_from_cli = app.count("--rtol") > 0;
      const double rtol = cfg.options.rtol;
      read_deck(cfg);
      if (!method.empty()) cfg.options.method = kelk::parse_method(method);
      if (atol) cfg.options.atol = *atol;
      if (rtol_from_cli) cfg.options.rtol = rtol;
      if (max_iter) cfg.options.max_iter = *max_iter;
      if (iterations) cfg.iterations = *iterations;
      if (!initial_guess.empty())
        cfg.options.initial_guess = kelk::parse_initial_guess(initial_guess);
      if (!non_finite.empty()) cfg.options.non_finite = kelk::parse_non_finite_policy(non_finite);
      if (sigma2) cfg.options.sigma2 = *sigma2;
      if (smoother) cfg.options.kalman_smoother = true;
      if (chunks) cfg.options.chunks = *chunks;
      if (blocks) cfg.options.blocks = *blocks;
      if (batch_ranks) cfg.batch_ranks = *batch_ranks;
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
