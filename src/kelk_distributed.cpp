// The non-template parts of kelk's MPI layer: partitions, communicators, collective error
// agreement, and the exclusive scan of block summaries under a user-defined reduction.
#include <kelk/kelk_distributed.hpp>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace kelk {

Partition::Partition(int batch_, int length_, int ranks, int rank, int batch_ranks_)
    : batch(batch_), length(length_), batch_ranks(batch_ranks_) {
  const auto fail = [](const std::string& what) {
    throw std::invalid_argument("kelk::Partition: " + what);
  };
  if (ranks < 1 || rank < 0 || rank >= ranks) fail("invalid rank " + std::to_string(rank));
  if (batch_ranks < 1 || ranks % batch_ranks != 0)
    fail(std::to_string(ranks) + " ranks cannot be split into " + std::to_string(batch_ranks) +
         " batch groups; the batch rank count must divide the rank count");
  time_ranks = ranks / batch_ranks;
  if (batch < batch_ranks)
    fail("more batch groups (" + std::to_string(batch_ranks) + ") than sequences (" +
         std::to_string(batch) + ")");
  if (length < time_ranks)
    fail("more ranks along time (" + std::to_string(time_ranks) + ") than time steps (" +
         std::to_string(length) + "); use fewer ranks or split them over the batch");
  batch_rank = rank / time_ranks;
  time_rank = rank % time_ranks;
  batch_begin = chunk_begin(batch_rank, batch, batch_ranks);
  batch_end = chunk_begin(batch_rank + 1, batch, batch_ranks);
  time_begin = chunk_begin(time_rank, length, time_ranks);
  time_end = chunk_begin(time_rank + 1, length, time_ranks);
}

namespace impl {

void collective_check(MPI_Comm comm, const std::function<void()>& f) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  std::string message;
  bool failed = false;
  try {
    f();
  } catch (const std::exception& e) {
    failed = true;
    message = e.what();
  }
  // {lowest failing rank (size: none), 1 if every rank failed}
  int agreed[2] = {failed ? rank : size, failed ? 1 : 0};
  MPI_Allreduce(MPI_IN_PLACE, agreed, 2, MPI_INT, MPI_MIN, comm);
  const int first = agreed[0];
  if (first == size) return;
  int length = static_cast<int>(message.size());
  MPI_Bcast(&length, 1, MPI_INT, first, comm);
  message.resize(std::size_t(length));
  MPI_Bcast(&message[0], length, MPI_CHAR, first, comm);
  // Kokkos 3 appends a line about its traceback to allocation errors: noise in a message
  const std::string noise = "Traceback functionality not available";
  if (const auto at = message.find(noise); at != std::string::npos) message.erase(at, noise.size());
  while (!message.empty() && std::isspace(static_cast<unsigned char>(message.back())))
    message.pop_back();
  // a failure of some ranks only (memory, a file system) says where it happened
  if (!agreed[1] && first != 0)
    message += " (on rank " + std::to_string(first) + " of " + std::to_string(size) + ")";
  throw CollectiveError(message);
}

void abort_all(MPI_Comm comm, const std::string& what) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  std::fprintf(stderr,
               "kelk: error on rank %d: %s\nkelk: the other ranks cannot be told inside a "
               "collective operation: aborting all of them\n",
               rank, what.c_str());
  std::fflush(stderr);
  MPI_Abort(comm, 1);
  std::abort();  // not reached
}

namespace {
// MPI user functions receive no context: the combination in progress is held here. kelk calls
// MPI from one thread, and the reduction runs inside the MPI_Exscan call that sets it.
const std::function<void(const void*, const void*, void*)>* current_combine = nullptr;
std::vector<char> current_result;

void combine_summaries(void* in, void* inout, int* len, MPI_Datatype*) {
  const std::size_t bytes = current_result.size();
  for (int i = 0; i < *len; ++i) {
    char* later = static_cast<char*>(inout) + i * bytes;
    (*current_combine)(static_cast<const char*>(in) + i * bytes, later, current_result.data());
    std::memcpy(later, current_result.data(), bytes);
  }
}
}  // namespace

void exscan_summaries(MPI_Comm comm, MPI_Datatype scalar, int count, int n, void* in, void* out,
                      const std::function<void(const void*, const void*, void*)>& combine) {
  int scalar_bytes = 0;
  MPI_Type_size(scalar, &scalar_bytes);
  MPI_Datatype block;
  MPI_Type_contiguous(count * n, scalar, &block);
  MPI_Type_commit(&block);
  MPI_Op op;
  MPI_Op_create(&combine_summaries, /*commute=*/0, &op);
  current_combine = &combine;
  current_result.assign(std::size_t(count) * n * scalar_bytes, 0);
  MPI_Exscan(in, out, 1, block, op, comm);
  current_combine = nullptr;
  MPI_Op_free(&op);
  MPI_Type_free(&block);
}

}  // namespace impl

namespace {
Partition make_partition(MPI_Comm comm, int batch, int length, int batch_ranks) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  return Partition(batch, length, size, rank, batch_ranks);
}
}  // namespace

DistributedSolver::DistributedSolver(MPI_Comm comm, int batch, int length, int batch_ranks)
    : part_(make_partition(comm, batch, length, batch_ranks)) {
  MPI_Comm_dup(comm, &comm_);
  MPI_Comm_split(comm_, part_.batch_rank, part_.time_rank, &time_comm_);
  MPI_Comm_split(comm_, part_.batch_rank, part_.time_ranks - 1 - part_.time_rank,
                 &reversed_time_comm_);
}

DistributedSolver::~DistributedSolver() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  MPI_Comm_free(&reversed_time_comm_);
  MPI_Comm_free(&time_comm_);
  MPI_Comm_free(&comm_);
}

int DistributedSolver::rank() const {
  int rank = 0;
  MPI_Comm_rank(comm_, &rank);
  return rank;
}

}  // namespace kelk
