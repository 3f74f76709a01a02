// Distributed solves over MPI ranks (ALGORITHMS.md section 8): every rank owns a block of
// sequences (batch) times a contiguous block of time steps, exchanges boundary states with its
// time neighbours, and combines its block's scan summary with the other ranks' by an exclusive
// scan under a non-commutative user-defined MPI reduction. Same options and results as
// kelk::solve; available when kelk is built with MPI (KELK_HAVE_MPI).
#pragma once

#include <kelk/impl/kelk_iteration.hpp>
#include <kelk/kelk_adjoint.hpp>
#include <kelk/kelk_config.hpp>
#include <kelk/kelk_scan.hpp>
#include <kelk/kelk_solve.hpp>

#ifndef KELK_HAVE_MPI
#error "kelk/kelk_distributed.hpp needs kelk built with MPI (KELK_ENABLE_MPI=ON)"
#endif
#include <mpi.h>
#include <Kokkos_Core.hpp>

#include <algorithm>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace kelk {

/// The split of B sequences of T steps over batch_ranks x time_ranks MPI ranks. Rank r has
/// batch rank r / time_ranks and time rank r % time_ranks (time neighbours are consecutive
/// ranks). Blocks are contiguous and as even as possible (sizes differ by at most one).
struct Partition {
  int batch = 0, length = 0;
  int batch_ranks = 1, time_ranks = 1;
  int batch_rank = 0, time_rank = 0;
  int batch_begin = 0, batch_end = 0;  ///< this rank's sequences [batch_begin, batch_end)
  int time_begin = 0, time_end = 0;    ///< this rank's steps [time_begin, time_end), 0-based

  /// Throws std::invalid_argument, identically on every rank, if the split is impossible:
  /// batch_ranks not dividing the rank count, more time ranks than steps, more batch ranks
  /// than sequences.
  Partition(int batch, int length, int ranks, int rank, int batch_ranks = 1);

  int local_batch() const { return batch_end - batch_begin; }
  int local_length() const { return time_end - time_begin; }
  /// This rank's sequences and steps as Kokkos::subview ranges.
  std::pair<int, int> batch_range() const { return {batch_begin, batch_end}; }
  std::pair<int, int> time_range() const { return {time_begin, time_end}; }
};

/// This rank's block of a global array, as a Kokkos::subview (no copy): rows
/// [batch_begin, batch_end) of a (B, D) array (s0), or rows [batch_begin, batch_end) x steps
/// [time_begin, time_end) of a (B, T, n) array (inputs, states, cotangents). The result is a
/// LayoutStride View that DistributedSolver::solve and solve_adjoint accept as it is (a block
/// of several sequences and not all steps is copied into a contiguous View for the solve, and
/// the states copied back).
template <class View>
auto local_block(const Partition& part, const View& global) {
  static_assert(Kokkos::is_view<View>::value && (int(View::rank) == 2 || int(View::rank) == 3),
                "kelk::local_block: a rank-2 (B, D) or rank-3 (B, T, n) Kokkos View");
  if (global.extent(0) != std::size_t(part.batch) ||
      (int(View::rank) == 3 && global.extent(1) != std::size_t(part.length)))
    throw std::invalid_argument(
        "kelk::local_block: the global array has " + std::to_string(global.extent(0)) +
        " sequences" +
        (int(View::rank) == 3 ? " x " + std::to_string(global.extent(1)) + " steps" : "") +
        "; the partition splits " + std::to_string(part.batch) + " x " +
        std::to_string(part.length));
  if constexpr (int(View::rank) == 2)
    return Kokkos::subview(global, part.batch_range(), Kokkos::ALL);
  else
    return Kokkos::subview(global, part.batch_range(), part.time_range(), Kokkos::ALL);
}

namespace impl {

/// What collective_check throws: the same error on every rank.
struct CollectiveError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

/// Runs `f` on every rank of `comm`; if it throws on any rank, throws on every rank a
/// CollectiveError with the message of the lowest failing rank (naming that rank when some
/// ranks did not fail). Collective.
void collective_check(MPI_Comm comm, const std::function<void()>& f);

/// For an error on one rank inside a collective operation, which the others are already waiting
/// in and cannot be told about: prints it (naming the rank) and ends every rank (MPI_Abort).
[[noreturn]] void abort_all(MPI_Comm comm, const std::string& what);

template <class Scalar>
MPI_Datatype mpi_type() {
  static_assert(std::is_floating_point<Scalar>::value, "kelk: float or double");
  return std::is_same<Scalar, float>::value ? MPI_FLOAT : MPI_DOUBLE;
}

/// MPI_Exscan of B per-sequence summaries (B x n scalars, host memory) under `combine`, a
/// non-commutative operation combine(earlier, later, out). Rank 0's result is left untouched.
void exscan_summaries(MPI_Comm comm, MPI_Datatype scalar, int count, int n, void* in, void* out,
                      const std::function<void(const void*, const void*, void*)>& combine);

/// The MPI Topology of iterate(): halo exchange between time neighbours, scans across time
/// blocks by MPI_Exscan of block summaries, reductions over all ranks.
template <class ExecutionSpace, class Scalar>
class MpiTopology {
 public:
  using memory_space = typename ExecutionSpace::memory_space;

  MpiTopology(MPI_Comm comm, MPI_Comm time_comm, MPI_Comm reversed_time_comm, const Partition& part,
              BatchView<const Scalar, memory_space> s0, int D)
      : comm_(comm),
        time_comm_(time_comm),
        reversed_comm_(reversed_time_comm),
        part_(part),
        s0_(s0),
        halo_(Kokkos::view_alloc(Kokkos::WithoutInitializing, "kelk::DistributedSolver::halo"),
              s0.extent(0), D) {}

  bool last_time_block() const { return part_.time_rank == part_.time_ranks - 1; }
  bool first_time_block() const { return part_.time_rank == 0; }

  /// Runs f (allocations) on every rank; if it threw on any, throws on every rank.
  template <class F>
  void agree(F&& f) const {
    collective_check(comm_, f);
  }

  /// {blocks on the time ranks before this one, blocks along the whole sequences}.
  std::pair<std::int64_t, std::int64_t> blocks_along_time(int K) const {
    std::int64_t mine = K, before = 0, total = 0;
    MPI_Exscan(&mine, &before, 1, MPI_INT64_T, MPI_SUM, time_comm_);
    MPI_Allreduce(&mine, &total, 1, MPI_INT64_T, MPI_SUM, time_comm_);
    return {first_time_block() ? 0 : before, total};
  }

  /// p.prev0 = the left time neighbour's last states (s0 on the first time block).
  template <class P>
  void exchange_boundary(const ExecutionSpace&, P& p) {
    if (part_.time_ranks > 1) {
      auto last = Kokkos::subview(p.states, Kokkos::ALL, p.T - 1, Kokkos::ALL);
      shift(last, halo_, /*to_right=*/true);
    }
    p.prev0 = first_time_block() ? s0_ : BatchView<const Scalar, memory_space>(halo_);
  }

  /// next = the right time neighbour's slice t = 0 of `first` (e.g. its A_0 and b_0); `next`
  /// is empty on the last time block. Every rank of a time communicator must call it.
  template <class First, class Next>
  void shift_from_next(const ExecutionSpace&, const First& first, const Next& next) {
    if (part_.time_ranks == 1) return;
    shift(slice0(first), next, /*to_right=*/false);
  }

  template <class Scan, class Algebra>
  void forward_scan(Scan& scan, const Algebra& algebra) {
    scan_over(scan, algebra, time_comm_, first_time_block());
  }
  template <class Scan, class Algebra>
  void backward_scan(Scan& scan, const Algebra& algebra) {
    scan_over(scan, algebra, reversed_comm_, last_time_block());
  }

  /// The sequential chain backwards along time: receive `next` (B, D) from the right neighbour
  /// (its slice 0 of `out` after its run), run, send this block's slice 0 of `out` (B, K, D) to
  /// the left neighbour. Rank r waits for the ranks after it.
  template <class Next, class Out, class F>
  void chain_from_next(const ExecutionSpace& space, const Next& next, const Out& out, F&& run) {
    const std::size_t n = next.size();
    if (part_.time_ranks > 1 && !last_time_block()) {
      const Unmanaged<Scalar**, Kokkos::HostSpace> h(at_least(recv_, n), next.extent(0),
                                                     next.extent(1));
      MPI_Recv(h.data(), int(n), mpi_type<Scalar>(), part_.time_rank + 1, 2, time_comm_,
               MPI_STATUS_IGNORE);
      Kokkos::deep_copy(space, next, h);
    }
    run();
    if (part_.time_ranks > 1 && !first_time_block()) {
      const auto first = Kokkos::subview(out, Kokkos::ALL, 0, Kokkos::ALL);
      const Unmanaged<Scalar**, memory_space> packed(at_least(device_, n), first.extent(0),
                                                     first.extent(1));
      const Unmanaged<Scalar**, Kokkos::HostSpace> h(at_least(send_, n), first.extent(0),
                                                     first.extent(1));
      Kokkos::deep_copy(space, packed, first);
      Kokkos::deep_copy(space, h, packed);
      space.fence();
      MPI_Send(h.data(), int(n), mpi_type<Scalar>(), part_.time_rank - 1, 2, time_comm_);
    }
  }

  /// v = the sum of v over all ranks (v: a contiguous View of Scalar).
  template <class V>
  void sum_over_ranks(const ExecutionSpace& space, const V& v) {
    const std::size_t n = v.size();
    const Unmanaged<Scalar*, Kokkos::HostSpace> h(at_least(send_, n), n);
    const Unmanaged<Scalar*, memory_space> flat(v.data(), n);
    Kokkos::deep_copy(space, h, flat);
    space.fence();
    MPI_Allreduce(MPI_IN_PLACE, h.data(), int(n), mpi_type<Scalar>(), MPI_SUM, comm_);
    Kokkos::deep_copy(space, flat, h);
    space.fence();
  }

  void max(double* values, int n) {
    MPI_Allreduce(MPI_IN_PLACE, values, n, MPI_DOUBLE, MPI_MAX, comm_);
  }
  void sum(std::int64_t* values, int n) {
    MPI_Allreduce(MPI_IN_PLACE, values, n, MPI_INT64_T, MPI_SUM, comm_);
  }
  void sum(double* values, int n) {
    MPI_Allreduce(MPI_IN_PLACE, values, n, MPI_DOUBLE, MPI_SUM, comm_);
  }

  /// The sequential method across time blocks: receive the left neighbour's last states,
  /// run the block, pass the last states on. Rank r waits for ranks 0..r-1.
  template <class P>
  void sequential(const ExecutionSpace& space, P& p) {
    const int B = p.B, D = p.D;
    // the left neighbour's last states, then a flag: 1 when a rank before failed
    std::vector<Scalar> message(std::size_t(B) * D + 1, Scalar(0));
    const Unmanaged<Scalar**, Kokkos::HostSpace> h(message.data(), B, D);
    const int count = int(message.size());
    if (!first_time_block())
      MPI_Recv(message.data(), count, mpi_type<Scalar>(), part_.time_rank - 1, 0, time_comm_,
               MPI_STATUS_IGNORE);
    bool failed = message.back() != Scalar(0);
    std::string error;
    if (!failed) try {
        if (!first_time_block()) {
          Kokkos::deep_copy(halo_, h);
          p.prev0 = halo_;
        }
        evaluate_sequential(space, p);
        if (!last_time_block()) {
          // The last states are a strided slice: pack them into a contiguous buffer of the
          // same memory space first, as no backend copies a strided device slice to the host.
          const Unmanaged<Scalar**, memory_space> packed(at_least(device_, std::size_t(B) * D), B,
                                                         D);
          Kokkos::deep_copy(space, packed,
                            Kokkos::subview(p.states, Kokkos::ALL, p.T - 1, Kokkos::ALL));
          Kokkos::deep_copy(space, h, packed);
          space.fence();
        }
      } catch (const std::exception& e) {
        failed = true;
        error = e.what();
      }
    // the ranks after this one are waiting for its states: tell them too when it failed
    message.back() = failed ? Scalar(1) : Scalar(0);
    if (!last_time_block())
      MPI_Send(message.data(), count, mpi_type<Scalar>(), part_.time_rank + 1, 0, time_comm_);
    collective_check(comm_, [&] {
      if (!error.empty()) throw std::runtime_error(error);
    });
  }

 private:
  template <class V>
  static auto slice0(const V& v) {
    if constexpr (V::rank == 3)
      return Kokkos::subview(v, Kokkos::ALL, 0, Kokkos::ALL);
    else
      return Kokkos::subview(v, Kokkos::ALL, 0, Kokkos::ALL, Kokkos::ALL);
  }

  template <class DataType, class Space>
  using Unmanaged =
      Kokkos::View<DataType, Kokkos::LayoutRight, Space, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

  /// `buffer`, grown to hold at least n scalars: the message and summary buffers are allocated
  /// once per solve, not once per iteration.
  template <class Buffer>
  static Scalar* at_least(Buffer& buffer, std::size_t n) {
    if (buffer.extent(0) < n)
      buffer = Buffer(Kokkos::view_alloc(Kokkos::WithoutInitializing, buffer.label()), n);
    return buffer.data();
  }

  /// Sends `src` (a slice of a sequence View) to the time neighbour on one side and receives
  /// into `dst` (a contiguous View of the same shape) from the other; every rank of the time
  /// communicator takes part, dst is left untouched where there is no neighbour to receive from.
  template <class Src, class Dst>
  void shift(const Src& src, const Dst& dst, bool to_right) {
    using Data = typename Src::non_const_data_type;
    Kokkos::LayoutRight shape(src.extent(0), src.extent(1), Src::rank > 2 ? src.extent(2) : 1);
    if constexpr (Src::rank == 2) shape = Kokkos::LayoutRight(src.extent(0), src.extent(1));
    const std::size_t n = src.size();
    const Unmanaged<Data, memory_space> packed(at_least(device_, n), shape);
    const Unmanaged<Data, Kokkos::HostSpace> send(at_least(send_, n), shape);
    const Unmanaged<Data, Kokkos::HostSpace> recv(at_least(recv_, n), shape);
    Kokkos::deep_copy(packed, src);  // same memory space, any layout
    Kokkos::deep_copy(send, packed);
    const int left = part_.time_rank - 1, right = part_.time_rank + 1;
    const int dest = to_right ? (last_time_block() ? MPI_PROC_NULL : right)
                              : (first_time_block() ? MPI_PROC_NULL : left);
    const int source = to_right ? (first_time_block() ? MPI_PROC_NULL : left)
                                : (last_time_block() ? MPI_PROC_NULL : right);
    MPI_Sendrecv(send.data(), int(n), mpi_type<Scalar>(), dest, 1, recv.data(), int(n),
                 mpi_type<Scalar>(), source, 1, time_comm_, MPI_STATUS_IGNORE);
    if (source != MPI_PROC_NULL) Kokkos::deep_copy(dst, recv);
  }

  /// Summaries of every local chunk, combined into the block summary, exclusive-scanned over
  /// `comm` (in scan order), applied to a zero state: the state entering this block.
  template <class Scan, class Algebra>
  void scan_over(Scan& scan, const Algebra& algebra, MPI_Comm comm, bool first_block) {
    if (part_.time_ranks == 1) {
      scan.run(algebra);
      return;
    }
    const std::size_t B = scan.batch(), S = algebra.summary_size(), N = algebra.state_size();
    scan.summarize(algebra, false);
    const Unmanaged<Scalar**, memory_space> block(at_least(device_, B * std::max(S, N)), B, S);
    scan.block_summary(algebra, block);
    const Unmanaged<Scalar**, Kokkos::HostSpace> mine(at_least(send_, B * std::max(S, N)), B, S);
    const Unmanaged<Scalar**, Kokkos::HostSpace> prefix(at_least(recv_, B * S), B, S);
    Kokkos::deep_copy(mine, block);
    scratch_.resize(std::size_t(std::max(1, algebra.scratch_size())));
    exscan_summaries(comm, mpi_type<Scalar>(), int(B), int(S), mine.data(), prefix.data(),
                     [&](const void* earlier, const void* later, void* out) {
                       for (std::size_t b = 0; b < B; ++b)
                         algebra.combine(static_cast<const Scalar*>(earlier) + b * S,
                                         static_cast<const Scalar*>(later) + b * S,
                                         static_cast<Scalar*>(out) + b * S, scratch_.data());
                     });
    // the prefix contains the sequences' first element, which ignores its incoming state;
    // `mine` has been sent and its buffer holds the incoming states now
    const Unmanaged<Scalar**, Kokkos::HostSpace> incoming(send_.data(), B, N);
    if (first_block) {
      Kokkos::deep_copy(incoming, Scalar(0));
    } else {
      zero_state_.assign(N, Scalar(0));
      for (std::size_t b = 0; b < B; ++b)
        algebra.apply(&prefix(b, 0), zero_state_.data(), &incoming(b, 0), scratch_.data());
    }
    const Unmanaged<Scalar**, memory_space> incoming_device(device_.data(), B, N);
    Kokkos::deep_copy(incoming_device, incoming);
    scan.resume(algebra, incoming_device);
  }

  MPI_Comm comm_, time_comm_, reversed_comm_;
  Partition part_;
  BatchView<const Scalar, memory_space> s0_;
  BatchView<Scalar, memory_space> halo_;
  // message and summary buffers, reused by every iteration
  Kokkos::View<Scalar*, memory_space> device_{"kelk::DistributedSolver::device_buffer", 0};
  Kokkos::View<Scalar*, Kokkos::HostSpace> send_{"kelk::DistributedSolver::send_buffer", 0};
  Kokkos::View<Scalar*, Kokkos::HostSpace> recv_{"kelk::DistributedSolver::recv_buffer", 0};
  std::vector<Scalar> scratch_, zero_state_;
};

}  // namespace impl

/// A solver for sequences distributed over the ranks of an MPI communicator, with the same
/// options and results as kelk::solve (results agree with a one-rank run to round-off).
/// Every rank passes the Views of its own block (see partition()). All member functions
/// taking data are collective.
class DistributedSolver {
 public:
  /// Collective. Duplicates `comm` (the caller keeps and frees its own); splits its ranks into
  /// batch_ranks groups of sequences, each group's ranks splitting the time axis. Throws
  /// std::invalid_argument on every rank if the split is impossible.
  DistributedSolver(MPI_Comm comm, int batch, int length, int batch_ranks = 1);
  ~DistributedSolver();
  DistributedSolver(const DistributedSolver&) = delete;
  DistributedSolver& operator=(const DistributedSolver&) = delete;

  const Partition& partition() const { return part_; }
  /// The duplicated communicator (owned by the solver).
  MPI_Comm comm() const { return comm_; }

  /// Solves this rank's block: s0 (local B, D), inputs (local B, local T, Din), states
  /// (local B, local T, D), where local means partition()'s ranges (kelk::local_block cuts
  /// them out of global arrays). s0 holds the initial states of this rank's sequences; only
  /// the first time rank (time_rank 0) uses it, the later ones start from their left
  /// neighbour's last states, but every rank passes a finite s0 of that shape. Views of any
  /// layout are accepted, as by kelk::solve. Collective; throws std::invalid_argument on every
  /// rank when any rank's input is invalid.
  template <class ExecutionSpace, class StepMap, class S0, class Inputs, class States,
            class = std::enable_if_t<Kokkos::is_execution_space<ExecutionSpace>::value>>
  SolveResult solve(const ExecutionSpace& space, const StepMap& map, const S0& s0,
                    const Inputs& inputs, const States& states,
                    const SolveOptions& options = {}) const {
    if constexpr (impl::check_arguments<ExecutionSpace, StepMap, S0, States, Inputs>()) {
      return impl::on_layout_right<typename StepMap::value_type>(
          space, "kelk::DistributedSolver", s0, inputs, states,
          [&](const auto& s0_, const auto& inputs_, const auto& states_) {
            return solve_contiguous(space, map, s0_, inputs_, states_, options);
          });
    } else {
      return {};
    }
  }

  /// kelk::solve_adjoint over the ranks: every rank passes its block's s0, inputs, states and
  /// cotangents (as for solve(), any layout) and gets its block of dL/du and of the adjoint
  /// states; dL/ds0 on the first time rank (on the others: dL/d(the state entering the
  /// block)); dL/dtheta summed over all ranks, on every rank. Collective; throws
  /// std::invalid_argument on every rank when any rank's input is invalid. Results equal one
  /// process's to round-off (bitwise for sequential and block_sweeps, whose arithmetic does
  /// not depend on the split).
  template <class ExecutionSpace, class StepMap, class S0, class Inputs, class States,
            class Cotangents,
            class = std::enable_if_t<Kokkos::is_execution_space<ExecutionSpace>::value>>
  AdjointResult solve_adjoint(
      const ExecutionSpace& space, const StepMap& map, const S0& s0, const Inputs& inputs,
      const States& states, const Cotangents& cotangents,
      const Gradients<typename impl::value_type_or_double<StepMap>::type,
                      typename ExecutionSpace::memory_space>& out,
      const AdjointOptions& options = {}) const {
    if constexpr (impl::check_arguments<ExecutionSpace, StepMap, S0, void, Inputs, States,
                                        Cotangents>()) {
      static_assert(provides_vjp_v<StepMap>,
                    "kelk::DistributedSolver::solve_adjoint: the step map must provide vjp() "
                    "(see kelk_step_map.hpp)");
      return impl::adjoint_on_layout_right<typename StepMap::value_type>(
          space, "kelk::DistributedSolver", s0, inputs, states, cotangents,
          [&](const auto& s0_, const auto& inputs_, const auto& states_, const auto& g) {
            return solve_adjoint_contiguous(space, map, s0_, inputs_, states_, g, out, options);
          });
    } else {
      return {};
    }
  }

  /// solve_adjoint() on the default execution space.
  template <class StepMap, class S0, class Inputs, class States, class Cotangents,
            class = std::enable_if_t<!Kokkos::is_execution_space<StepMap>::value>>
  AdjointResult solve_adjoint(
      const StepMap& map, const S0& s0, const Inputs& inputs, const States& states,
      const Cotangents& cotangents,
      const Gradients<typename impl::value_type_or_double<StepMap>::type>& out,
      const AdjointOptions& options = {}) const {
    return solve_adjoint(Kokkos::DefaultExecutionSpace(), map, s0, inputs, states, cotangents,
                         out, options);
  }

  /// solve() on the default execution space.
  template <class StepMap, class S0, class Inputs, class States,
            class = std::enable_if_t<!Kokkos::is_execution_space<StepMap>::value>>
  SolveResult solve(const StepMap& map, const S0& s0, const Inputs& inputs, const States& states,
                    const SolveOptions& options = {}) const {
    return solve(Kokkos::DefaultExecutionSpace(), map, s0, inputs, states, options);
  }

 private:
  int rank() const;

  template <class ExecutionSpace, class StepMap>
  SolveResult solve_contiguous(
      const ExecutionSpace& space, const StepMap& map,
      const BatchView<const typename StepMap::value_type, typename ExecutionSpace::memory_space>&
          s0,
      const SequenceView<const typename StepMap::value_type, typename ExecutionSpace::memory_space>&
          inputs,
      const SequenceView<typename StepMap::value_type, typename ExecutionSpace::memory_space>&
          states,
      const SolveOptions& options) const {
    return distributed<StepMap>(
        "solve", to_string(options.method), space, states, s0,
        [&] { return impl::make_problem(space, map, s0, inputs, states, options); },
        [&](auto& p, auto& topology) { return impl::solve_with(space, p, options, topology); });
  }

  template <class ExecutionSpace, class StepMap>
  AdjointResult solve_adjoint_contiguous(
      const ExecutionSpace& space, const StepMap& map,
      const BatchView<const typename StepMap::value_type, typename ExecutionSpace::memory_space>&
          s0,
      const SequenceView<const typename StepMap::value_type, typename ExecutionSpace::memory_space>&
          inputs,
      const SequenceView<const typename StepMap::value_type, typename ExecutionSpace::memory_space>&
          states,
      const SequenceView<const typename StepMap::value_type, typename ExecutionSpace::memory_space>&
          cotangents,
      const Gradients<typename StepMap::value_type, typename ExecutionSpace::memory_space>& out,
      const AdjointOptions& options) const {
    return distributed<StepMap>(
        "solve_adjoint", "solve_adjoint::" + to_string(options.method), space, states, s0,
        [&] {
          return impl::make_adjoint_problem(space, map, s0, inputs, states, cotangents, out,
                                            options);
        },
        [&](auto& p, auto& topology) {
          return impl::adjoint_with(space, p, cotangents, out, options, topology);
        });
  }

  /// The frame of every distributed call `who`: on every rank, checks that this rank's `states`
  /// block has the partition's shape and makes the problem (`make`; an error on any rank is
  /// thrown on all), then runs `work(problem, topology)` in the profiling region
  /// kelk::DistributedSolver::`region`. An error the ranks agreed on (an allocation) is
  /// rethrown; one thrown on this rank alone between collective calls, where the others would
  /// wait forever, ends every rank (impl::abort_all).
  template <class StepMap, class ExecutionSpace, class States, class S0, class Make, class Work>
  auto distributed(const std::string& who, const std::string& region, const ExecutionSpace&,
                   const States& states, const S0& s0, Make&& make, Work&& work) const {
    std::optional<impl::Problem<ExecutionSpace, StepMap>> checked;
    impl::collective_check(comm_, [&] {
      if (int(states.extent(0)) != part_.local_batch() ||
          int(states.extent(1)) != part_.local_length())
        throw std::invalid_argument("kelk::DistributedSolver::" + who + ": rank " +
                                    std::to_string(rank()) + " was given states of shape (" +
                                    std::to_string(states.extent(0)) + ", " +
                                    std::to_string(states.extent(1)) + ", .) but owns " +
                                    std::to_string(part_.local_batch()) + " sequences x " +
                                    std::to_string(part_.local_length()) + " steps");
      checked = make();
    });
    auto& p = *checked;
    p.global_T = part_.length;
    p.starts_sequence = part_.time_rank == 0;
    impl::MpiTopology<ExecutionSpace, typename StepMap::value_type> topology(
        comm_, time_comm_, reversed_time_comm_, part_, s0, p.D);
    Kokkos::Profiling::pushRegion("kelk::DistributedSolver::" + region);
    decltype(work(p, topology)) result{};
    try {
      result = work(p, topology);
    } catch (const impl::CollectiveError&) {
      Kokkos::Profiling::popRegion();
      throw;
    } catch (const std::exception& e) {
      impl::abort_all(comm_, "kelk::DistributedSolver::" + who + ": " + e.what());
    }
    Kokkos::Profiling::popRegion();
    return result;
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  MPI_Comm time_comm_ = MPI_COMM_NULL;           ///< the ranks sharing this rank's sequences
  MPI_Comm reversed_time_comm_ = MPI_COMM_NULL;  ///< the same, ranks in reverse time order
  Partition part_;
};

}  // namespace kelk
