// Checkpoint and restart of a distributed solve: the fingerprint of a problem, the atomic write
// of the current iterate from SolveOptions::on_iteration (every N iterations, every S seconds,
// and when a signal asks for it, e.g. SLURM's --signal=USR1@300), and the checked read of a
// checkpoint to resume from with InitialGuess::provided. The file is an output file with the
// checkpoint_* attributes of docs/FILES.md ("Checkpoint files"); kelk-run writes and reads the
// same files. Needs KELK_HAVE_MPI and KELK_HAVE_HDF5.
//
//   const auto fingerprint = kelk::solve_fingerprint<double>(part, D, options, data);
//   kelk::Checkpointer checkpointer(comm, part, {"ck.h5", 10, 600.0, SIGUSR1}, fingerprint);
//   std::optional<kelk::Checkpoint> from;  // a restart: the checkpoint's iterate into states
//   if (restart) from = kelk::read_checkpoint("old.h5", comm, part, fingerprint, states);
//   auto result = kelk::solve_checkpointed(solver, space, map, s0, inputs, states, options,
//                                          &checkpointer, from ? &*from : nullptr);
#pragma once

#include <kelk/kelk_config.hpp>
#if !defined(KELK_HAVE_MPI) || !defined(KELK_HAVE_HDF5)
#error \
    "kelk/kelk_checkpoint.hpp needs kelk built with MPI and HDF5 (KELK_ENABLE_MPI=ON, KELK_ENABLE_HDF5=ON)"
#endif
#include <kelk/kelk_distributed.hpp>
#include <kelk/kelk_io.hpp>
#include <kelk/kelk_options.hpp>
#include <kelk/kelk_views.hpp>

#include <mpi.h>
#include <Kokkos_Core.hpp>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace kelk {

// --- fingerprints ---------------------------------------------------------------------------

/// FNV-1a, 64 bits, of `n` bytes, continuing from `h` (not a cryptographic hash).
constexpr std::uint64_t fnv1a_basis = 1469598103934665603ull;
std::uint64_t fnv1a(const void* data, std::size_t n, std::uint64_t h = fnv1a_basis);

/// What a checkpoint must match to be resumed: named entries, each saying what it describes
/// ("method", "model", ...) and its value. A checkpoint stores entry `what` as the attribute
/// "checkpoint_<what>"; read_checkpoint refuses a file whose entry differs from this one's.
struct Fingerprint {
  struct Entry {
    std::string what, value;
  };
  std::vector<Entry> entries;

  /// Appends an entry; returns *this.
  Fingerprint& add(std::string what, std::string value);
  /// The value of entry `what`, or nullptr.
  const std::string* find(const std::string& what) const;
};

/// "fnv1a <16 hex digits>": the FNV-1a hash of bytes, as fingerprint entries spell it.
std::string fingerprint_bytes(const void* data, std::size_t n);
/// fingerprint_bytes of a file's contents (e.g. a model file). Throws std::invalid_argument if
/// it cannot be read.
std::string fingerprint_file(const std::string& path);
/// fingerprint_bytes of every rank's `mine` (a hash of its block), in rank order. Collective.
std::string fingerprint_over_ranks(MPI_Comm comm, std::uint64_t mine);

/// A fingerprint of distributed data: each rank hashes the bytes of its contiguous Views in
/// turn (e.g. its s0 and inputs blocks; copied to the host if needed), then the ranks' hashes
/// are hashed in rank order. Collective. The same data split the same way give the same value.
template <class... Views>
std::string fingerprint_blocks(MPI_Comm comm, const Views&... views) {
  std::uint64_t h = fnv1a_basis;
  const auto add = [&h](const auto& v) {
    using V = std::decay_t<decltype(v)>;
    static_assert(Kokkos::is_view<V>::value, "kelk::fingerprint_blocks: Kokkos Views");
    if (!v.span_is_contiguous())
      throw std::invalid_argument("kelk::fingerprint_blocks: the View '" + v.label() +
                                  "' is not contiguous");
    const auto host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), v);
    h = fnv1a(host.data(), host.span() * sizeof(typename V::value_type), h);
  };
  (add(views), ...);
  return fingerprint_over_ranks(comm, h);
}

/// The entries kelk itself knows of a distributed solve in precision Scalar of the partition's
/// (B, T) and state dimension D: "method", "precision" (fp64, fp32), "shape", "ranks" (the rank
/// count and batch split), then `data`'s entries (what the problem's data are: e.g. "model"
/// (fingerprint_file) and "input" (fingerprint_blocks)), then "options" (those that change the
/// iterates: non_finite, clip_value, chunks; sigma2 and smoother for elk and quasi_elk; blocks,
/// atol and rtol for block_jacobi). kelk-run's checkpoints carry exactly these.
template <class Scalar>
Fingerprint solve_fingerprint(const Partition& part, int D, const SolveOptions& options,
                              const Fingerprint& data = {});

// --- checkpoints ----------------------------------------------------------------------------

/// When a Checkpointer writes the current iterate to `file` (atomically: the file holds either
/// the previous checkpoint or the new one): after every `every`-th iteration (0: never), when
/// `seconds` have passed since the last checkpoint (0: never), and after the iteration during
/// which the signal `signal` arrived (0: none), e.g. SIGUSR1.
struct CheckpointPolicy {
  std::string file;
  int every = 0;
  double seconds = 0;
  int signal = 0;
  /// Rank 0 prints "checkpoint: iteration N written to FILE" after each checkpoint.
  bool report = false;
};

/// The number of a signal named "USR1", "SIGUSR1", ... (USR1, USR2, TERM, INT, HUP, XCPU,
/// ALRM); throws std::invalid_argument naming the valid ones otherwise.
int checkpoint_signal_number(const std::string& name);

/// What a checkpoint says of its iterate.
struct Checkpoint {
  int iteration = 0;          ///< the iteration whose iterate it holds
  bool converged = false;     ///< that iterate met the stopping rule ...
  double atol = 0, rtol = 0;  ///< ... with these tolerances (0, 0 in older checkpoints)
  /// The history of the iterations up to `iteration` (the last record's max_residual is NaN:
  /// the residual of the iterate is only known once the resumed solve linearises around it).
  std::vector<IterationRecord> history;
};

/// Reads the checkpoint `path` to resume a solve: checks that it is a checkpoint, that its
/// states carry a checksum, and that every entry of `fingerprint` equals the file's (or throws
/// std::invalid_argument naming what differs: "its method is 'deer', this run's 'jacobi'"),
/// then fills this rank's `states` block (partition `part`) with the checkpoint's iterate, a
/// damaged block refused naming the dataset. Pass `states` to the resumed solve with
/// InitialGuess::provided. Collective: throws on every rank if any rank fails.
namespace impl {
template <class Scalar>
Checkpoint read_checkpoint(const std::string& path, MPI_Comm comm, const Partition& part,
                           const Fingerprint& fingerprint, const SequenceView<Scalar>& states);

/// `states` as a SequenceView<Scalar> (kelk's default memory): itself where it is one, else a
/// copy there (checkpoints of a host-space solve in a device build go through it).
template <class View>
auto in_default_memory(const View& states, bool copy) {
  using Scalar = typename View::non_const_value_type;
  using Target = SequenceView<Scalar>;
  if constexpr (std::is_same_v<typename View::memory_space, typename Target::memory_space> &&
                std::is_same_v<typename View::array_layout, Kokkos::LayoutRight>) {
    return Target(states);
  } else {
    Target target(Kokkos::view_alloc(std::string("kelk::checkpoint_states"),
                                     Kokkos::WithoutInitializing),
                  states.extent(0), states.extent(1), states.extent(2));
    if (copy) Kokkos::deep_copy(target, states);
    return target;
  }
}
}  // namespace impl

template <class View>
Checkpoint read_checkpoint(const std::string& path, MPI_Comm comm, const Partition& part,
                           const Fingerprint& fingerprint, const View& states) {
  static_assert(Kokkos::is_view<View>::value && View::rank == 3,
                "kelk::read_checkpoint: states is a (B, T, D) Kokkos View");
  using Scalar = typename View::non_const_value_type;
  const auto target = impl::in_default_memory(states, false);
  Checkpoint c = impl::read_checkpoint<Scalar>(path, comm, part, fingerprint, target);
  if (target.data() != states.data()) Kokkos::deep_copy(states, target);
  return c;
}

/// Writes checkpoints of a distributed solve by a policy. Construct it on every rank of the
/// solver's communicator; it installs the policy's signal handler (the previous one comes back
/// when it is destroyed). Not copyable; it must outlive the solves its on_iteration hooks see.
class Checkpointer {
 public:
  /// Collective: throws std::invalid_argument on every rank if the policy is invalid (no file,
  /// every < 0, seconds < 0 or NaN, a signal that cannot be caught). `fingerprint` is written with
  /// each checkpoint (see read_checkpoint), and `attributes` too.
  Checkpointer(MPI_Comm comm, const Partition& part, CheckpointPolicy policy,
               Fingerprint fingerprint, io::Attributes attributes = {});
  ~Checkpointer();
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  /// Continue a resumed solve: on_iteration's iterations are numbered after the checkpoint's,
  /// and the checkpoints' history starts with its history.
  void resume(const Checkpoint& from);

  /// Whether to write a checkpoint of `iteration` now: the signal arrived on some rank (the
  /// request is consumed), `iteration` is a multiple of `every`, or `seconds` have passed on
  /// rank 0 since the last checkpoint (or since construction). Collective: every rank gets the
  /// same answer.
  bool due(int iteration);

  /// Writes `states` (this rank's block: the View given to the solve, which holds the iterate
  /// during on_iteration) as the iterate of `iteration`, with the history recorded so far, the
  /// describing attributes of `options` and the fingerprint, atomically (a failed write leaves
  /// the previous checkpoint). `converged`: the iterate met the stopping rule of `options`.
  /// Collective.
  template <class View>
  void write(const View& states, int iteration, const SolveOptions& options,
             bool converged = false) {
    write_default(impl::in_default_memory(states, true), iteration, options, converged);
  }

  /// A SolveOptions::on_iteration hook: records each iteration in the history and, when due(),
  /// writes `states` (the View given to the solve) with `options` (copied now).
  template <class View>
  std::function<void(const IterationProgress&)> on_iteration(const View& states,
                                                             const SolveOptions& options) {
    SolveOptions copy = options;
    copy.on_iteration = nullptr;
    return [this, states, copy](const IterationProgress& p) {
      const int it = offset_ + p.iteration;
      record(it, p);
      if (due(it)) write(states, it, copy, p.converged);
    };
  }

  const CheckpointPolicy& policy() const { return policy_; }
  const Fingerprint& fingerprint() const { return fingerprint_; }
  /// The history the next checkpoint carries.
  const std::vector<IterationRecord>& history() const { return history_; }
  /// The iteration of the last checkpoint written, or -1.
  int last_written() const { return last_written_; }

 private:
  template <class Scalar>
  void write_default(const SequenceView<Scalar>& states, int iteration,
                     const SolveOptions& options, bool converged);
  void record(int iteration, const IterationProgress& p);
  double since_last() const;

  MPI_Comm comm_;
  Partition part_;
  CheckpointPolicy policy_;
  Fingerprint fingerprint_;
  io::Attributes attributes_;
  int offset_ = 0;
  int last_written_ = -1;
  std::vector<IterationRecord> history_;
  std::chrono::steady_clock::time_point last_time_;
  bool handler_installed_ = false;
  struct sigaction previous_ {};
};

// --- a solve that checkpoints and resumes ---------------------------------------------------

/// Whether checkpoint `from`'s iterate already met the stopping rule of `options` (it was
/// written as converged with the same atol and rtol, and `options` asks for no fixed count):
/// resuming it runs no further iteration, as the uninterrupted solve stopped there.
template <class Scalar>
bool resumes_converged(const Checkpoint& from, const SolveOptions& options) {
  const double atol = options.atol ? *options.atol : default_atol<Scalar>();
  return from.converged && !options.fixed_iterations && !from.history.empty() &&
         from.atol == atol && from.rtol == options.rtol;
}

/// The options that continue a solve of T steps from checkpoint `from`: its iterate as the
/// initial guess (InitialGuess::provided), sigma2 = auto from the trust region of its last step,
/// and what is left of the iteration cap (max_iter, or the method's default; block_jacobi's own
/// bound starts afresh); none left when resumes_converged.
template <class Scalar>
SolveOptions resume_options(const Checkpoint& from, SolveOptions options, int T) {
  const bool done = resumes_converged<Scalar>(from, options);
  options.initial_guess = InitialGuess::provided;
  if (options.sigma2_auto && !from.history.empty() && from.history.back().sigma2 > 0)
    options.sigma2 = from.history.back().sigma2;
  const auto left = [&](int total) { return std::max(0, total - from.iteration); };
  if (done)
    options.max_iter = 0;
  else if (options.max_iter)
    options.max_iter = left(*options.max_iter);
  else if (options.method != Method::block_jacobi)
    options.max_iter = left(default_max_iter(options.method, T));
  return options;
}

/// DistributedSolver::solve on `space` that writes checkpoints through `checkpointer` (nullptr:
/// none) and, given the checkpoint `from` whose iterate `states` holds (read_checkpoint), goes
/// on from it with resume_options. Iterations are numbered on from the checkpoint's, in
/// options.on_iteration, in the checkpoints and in the result, whose count and history are
/// those of the whole solve as if it had never been interrupted (a resumed converged iterate:
/// no iteration, the checkpoint's last update). Collective, as DistributedSolver::solve.
template <class ExecutionSpace, class Map, class S0, class Inputs, class States>
SolveResult solve_checkpointed(const DistributedSolver& solver, const ExecutionSpace& space,
                               const Map& map, const S0& s0, const Inputs& inputs,
                               const States& states, SolveOptions options,
                               Checkpointer* checkpointer = nullptr,
                               const Checkpoint* from = nullptr) {
  using Scalar = typename States::non_const_value_type;
  int offset = 0;
  std::vector<IterationRecord> earlier;
  bool done = false;
  if (from != nullptr) {
    offset = from->iteration;
    earlier = from->history;
    done = resumes_converged<Scalar>(*from, options);
    options = resume_options<Scalar>(*from, options, solver.partition().length);
    if (checkpointer != nullptr) checkpointer->resume(*from);
  }
  const auto caller = options.on_iteration;
  std::function<void(const IterationProgress&)> checkpoint;
  if (checkpointer != nullptr) checkpoint = checkpointer->on_iteration(states, options);
  if (caller || checkpoint || !earlier.empty())
    options.on_iteration = [&](const IterationProgress& p) {
      // the residual of the checkpoint's iterate is known once the solve linearises around it
      if (p.iteration == 1 && !earlier.empty()) earlier.back().max_residual = p.start_residual;
      if (caller) {
        IterationProgress numbered = p;
        numbered.iteration += offset;
        caller(numbered);
      }
      if (checkpoint) checkpoint(p);
    };
  SolveResult result = solver.solve(space, map, s0, inputs, states, options);
  if (from == nullptr) return result;
  if (done) {  // no iteration ran: the checkpoint's iterate and its last update
    result.converged = true;
    result.reason = StopReason::converged;
    result.final_update = earlier.back().max_update;
    earlier.back().max_residual = result.final_residual;
  }
  result.iterations += offset;
  result.returned_iteration += offset;
  for (auto& r : result.history) r.iteration += offset;
  result.history.insert(result.history.begin(), earlier.begin(), earlier.end());
  return result;
}

}  // namespace kelk
