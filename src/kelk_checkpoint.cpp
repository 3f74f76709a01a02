// Checkpoint and restart of a distributed solve (kelk_checkpoint.hpp, docs/FILES.md).
#include <kelk/kelk_checkpoint.hpp>
#include <kelk/kelk_hdf5.hpp>
#include <kelk/kelk_solve.hpp>

#include <signal.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <utility>

namespace kelk {

namespace {

std::string hex(std::uint64_t v) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(v));
  return text;
}

/// Set by the checkpoint signal's handler, per signal; Checkpointer::due reads and clears it.
volatile std::sig_atomic_t requested[NSIG] = {};
extern "C" void request_checkpoint(int sig) {
  if (sig > 0 && sig < NSIG) requested[sig] = 1;
}

}  // namespace

std::uint64_t fnv1a(const void* data, std::size_t n, std::uint64_t h) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) h = (h ^ bytes[i]) * 1099511628211ull;
  return h;
}

Fingerprint& Fingerprint::add(std::string what, std::string value) {
  entries.push_back({std::move(what), std::move(value)});
  return *this;
}

const std::string* Fingerprint::find(const std::string& what) const {
  for (const auto& e : entries)
    if (e.what == what) return &e.value;
  return nullptr;
}

std::string fingerprint_bytes(const void* data, std::size_t n) {
  return "fnv1a " + hex(fnv1a(data, n));
}

std::string fingerprint_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open())
    throw std::invalid_argument("kelk: cannot read '" + path + "' to fingerprint it: " +
                                std::strerror(errno));
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad())
    throw std::invalid_argument("kelk: cannot read '" + path + "' to fingerprint it");
  return fingerprint_bytes(bytes.data(), bytes.size());
}

std::string fingerprint_over_ranks(MPI_Comm comm, std::uint64_t mine) {
  int ranks = 1;
  MPI_Comm_size(comm, &ranks);
  std::vector<std::uint64_t> all(std::size_t(ranks), 0);
  MPI_Allgather(&mine, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, comm);
  return fingerprint_bytes(all.data(), all.size() * sizeof(std::uint64_t));
}

template <class Scalar>
Fingerprint solve_fingerprint(const Partition& part, int D, const SolveOptions& o,
                              const Fingerprint& data) {
  std::string options = "non_finite=" + to_string(o.non_finite) +
                        " clip_value=" + impl::number(o.clip_value) +
                        " chunks=" + std::to_string(o.chunks);
  if (o.method == Method::elk || o.method == Method::quasi_elk)
    options += " sigma2=" +
               (o.sigma2_auto ? std::string("auto")
                              : impl::number(o.sigma2 ? *o.sigma2 : default_sigma2(o.method))) +
               " smoother=" + std::to_string(int(o.kalman_smoother));
  // (the published diagonal adds nothing, so that earlier checkpoints still resume)
  if ((o.method == Method::quasi_deer || o.method == Method::quasi_elk) &&
      o.jacobian_structure != JacobianStructure::diagonal)
    options += " jacobian=" + to_string(o.jacobian_structure) +
               (o.jacobian_structure == JacobianStructure::block
                    ? " block_size=" + std::to_string(o.block_size)
                    : std::string());
  if (o.method == Method::block_jacobi)
    options += " blocks=" + std::to_string(o.blocks) +
               " atol=" + impl::number(o.atol ? *o.atol : default_atol<Scalar>()) +
               " rtol=" + impl::number(o.rtol);
  const int ranks = part.batch_ranks * part.time_ranks;
  Fingerprint f;
  f.add("method", to_string(o.method));
  f.add("precision", std::is_same<Scalar, float>::value ? "fp32" : "fp64");
  f.add("shape", "B " + std::to_string(part.batch) + ", T " + std::to_string(part.length) +
                     ", D " + std::to_string(D));
  f.add("ranks", std::to_string(ranks) + " ranks, " + std::to_string(part.batch_ranks) +
                     " over the batch");
  for (const auto& e : data.entries) f.add(e.what, e.value);
  f.add("options", options);
  return f;
}

int checkpoint_signal_number(const std::string& name) {
  const std::pair<const char*, int> known[] = {
      {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"INT", SIGINT},
      {"HUP", SIGHUP},   {"XCPU", SIGXCPU}, {"ALRM", SIGALRM}};
  const std::string bare = name.rfind("SIG", 0) == 0 ? name.substr(3) : name;
  for (const auto& [n, number] : known)
    if (bare == n) return number;
  throw std::invalid_argument("unknown checkpoint signal '" + name +
                              "' (valid: USR1, USR2, TERM, INT, HUP, XCPU, ALRM)");
}

namespace {

/// Checks that `path` is a checkpoint matching `fingerprint`; what it says of its iterate.
Checkpoint read_metadata(const std::string& path, const Fingerprint& fingerprint) {
  const auto file = hdf5::File::open_read(path);
  if (!file.has_attribute("checkpoint_iteration"))
    throw std::invalid_argument("'" + path + "' is not a kelk-run checkpoint (it has no " +
                                "'checkpoint_iteration' attribute)");
  if (!file.has_checksum("states"))
    throw std::invalid_argument("the checkpoint '" + path + "' carries no checksum of " +
                                "its states (written by an older kelk-run, or rewritten): it " +
                                "cannot be verified; run again from the start");
  for (const auto& [what, value] : fingerprint.entries) {
    const std::string name = "checkpoint_" + what;
    const std::string stored =
        file.has_attribute(name) ? file.read_attribute<std::string>(name) : "(none)";
    if (stored != value)
      throw std::invalid_argument("the checkpoint '" + path + "' does not match this run: its " +
                                  what + " is '" + stored + "', this run's '" + value + "'");
  }
  Checkpoint c;
  const auto n = file.shape("history/iteration");
  const auto it = file.read<std::int64_t>("history/iteration", n);
  const auto update = file.read<double>("history/max_update", n);
  const auto residual = file.read<double>("history/max_residual", n);
  for (std::size_t i = 0; i < it.size(); ++i)
    c.history.push_back({int(it[i]), update[i], residual[i]});
  if (file.exists("history/sigma2")) {  // elk, quasi_elk
    const auto sigma2 = file.read<double>("history/sigma2", n);
    const auto accepted = file.read<std::int64_t>("history/accepted", n);
    for (std::size_t i = 0; i < it.size(); ++i) {
      c.history[i].sigma2 = sigma2[i];
      c.history[i].accepted = accepted[i] != 0;
    }
  }
  c.iteration = int(file.read_attribute<std::int64_t>("checkpoint_iteration"));
  if (file.has_attribute("checkpoint_converged")) {  // older checkpoints lack it: resume them
    c.converged = file.read_attribute<std::int64_t>("checkpoint_converged") != 0;
    c.atol = file.read_attribute<double>("checkpoint_atol");
    c.rtol = file.read_attribute<double>("checkpoint_rtol");
  }
  return c;
}

}  // namespace

template <class Scalar>
Checkpoint impl::read_checkpoint(const std::string& path, MPI_Comm comm, const Partition& part,
                           const Fingerprint& fingerprint, const SequenceView<Scalar>& states) {
  Checkpoint c;
  impl::collective_check(comm, [&] { c = read_metadata(path, fingerprint); });
  impl::collective_check(comm, [&] {
    Kokkos::deep_copy(states, io::read_sequence_block<Scalar>(path, comm, part, "states",
                                                              int(states.extent(2))));
  });
  return c;
}

Checkpointer::Checkpointer(MPI_Comm comm, const Partition& part, CheckpointPolicy policy,
                           Fingerprint fingerprint, io::Attributes attributes)
    : comm_(comm),
      part_(part),
      policy_(std::move(policy)),
      fingerprint_(std::move(fingerprint)),
      attributes_(std::move(attributes)),
      last_time_(std::chrono::steady_clock::now()) {
  impl::collective_check(comm_, [&] {
    if (policy_.file.empty())
      throw std::invalid_argument("kelk::Checkpointer: no checkpoint file named");
    if (policy_.every < 0 || !(policy_.seconds >= 0))
      throw std::invalid_argument("checkpoint every/seconds must be >= 0");
    if (policy_.signal < 0 || policy_.signal >= NSIG || policy_.signal == SIGKILL ||
        policy_.signal == SIGSTOP)
      throw std::invalid_argument("kelk::Checkpointer: cannot catch signal " +
                                  std::to_string(policy_.signal));
  });
  if (policy_.signal > 0) {
    requested[policy_.signal] = 0;
    struct sigaction action {};
    action.sa_handler = request_checkpoint;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    handler_installed_ = ::sigaction(policy_.signal, &action, &previous_) == 0;
  }
}

Checkpointer::~Checkpointer() {
  if (handler_installed_) ::sigaction(policy_.signal, &previous_, nullptr);
}

void Checkpointer::resume(const Checkpoint& from) {
  offset_ = from.iteration;
  history_ = from.history;
}

double Checkpointer::since_last() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - last_time_).count();
}

void Checkpointer::record(int iteration, const IterationProgress& p) {
  // the start residual of this iteration is the residual of the previous iterate
  if (!history_.empty()) history_.back().max_residual = p.start_residual;
  history_.push_back({iteration, p.max_update, std::numeric_limits<double>::quiet_NaN(), 0, 0,
                      p.sigma2, p.accepted});
}

bool Checkpointer::due(int iteration) {
  int rank = 0;
  MPI_Comm_rank(comm_, &rank);
  int signalled = 0;
  if (policy_.signal > 0 && requested[policy_.signal]) {  // a later signal stays pending
    requested[policy_.signal] = 0;
    signalled = 1;
  }
  int due = signalled || (policy_.every > 0 && iteration % policy_.every == 0) ||
            (rank == 0 && policy_.seconds > 0 && since_last() >= policy_.seconds);
  MPI_Allreduce(MPI_IN_PLACE, &due, 1, MPI_INT, MPI_MAX, comm_);
  return due != 0;
}

template <class Scalar>
void Checkpointer::write_default(const SequenceView<Scalar>& states, int iteration,
                         const SolveOptions& options, bool converged) {
  SolveResult partial;
  partial.method = options.method;
  partial.iterations = partial.returned_iteration = iteration;
  partial.history = history_;
  auto attributes = io::describe(options, partial);
  attributes.push_back({"checkpoint_iteration", std::int64_t(iteration)});
  attributes.push_back({"checkpoint_converged", std::int64_t(converged)});
  attributes.push_back({"checkpoint_atol", options.atol ? *options.atol : default_atol<Scalar>()});
  attributes.push_back({"checkpoint_rtol", options.rtol});
  for (const auto& [what, value] : fingerprint_.entries)
    attributes.push_back({"checkpoint_" + what, value});
  attributes.insert(attributes.end(), attributes_.begin(), attributes_.end());
  io::write_output(policy_.file, comm_, part_, states, partial, attributes);
  last_written_ = iteration;
  last_time_ = std::chrono::steady_clock::now();
  int rank = 0;
  MPI_Comm_rank(comm_, &rank);
  if (policy_.report && rank == 0) {
    std::printf("checkpoint: iteration %d written to %s\n", iteration, policy_.file.c_str());
    std::fflush(stdout);
  }
}

#define KELK_CHECKPOINT_INSTANTIATE(S)                                                          \
  template Fingerprint solve_fingerprint<S>(const Partition&, int, const SolveOptions&,         \
                                            const Fingerprint&);                                \
  template Checkpoint impl::read_checkpoint<S>(const std::string&, MPI_Comm, const Partition&,        \
                                         const Fingerprint&, const SequenceView<S>&);           \
  template void Checkpointer::write_default<S>(const SequenceView<S>&, int, const SolveOptions&, \
                                              bool);
KELK_CHECKPOINT_INSTANTIATE(float)
KELK_CHECKPOINT_INSTANTIATE(double)
#undef KELK_CHECKPOINT_INSTANTIATE

}  // namespace kelk
