// The scan engine: work-efficient, chunked evaluation of an associative scan over B independent
// sequences of T elements, generic over the element algebra (ALGORITHMS.md section 4).
#pragma once

#include <kelk/impl/kelk_dense.hpp>

#include <Kokkos_Core.hpp>

#include <algorithm>
#include <cmath>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace kelk {

/// \page element_algebra The element-algebra contract of ChunkedScan
///
/// The engine never looks inside elements. An algebra type `Alg` describes B sequences of T
/// elements e_{b,0..T-1}, a "summary" (the composition of a run of elements) and a "state" (what
/// a prefix yields, e.g. the vector s_t of an affine scan):
///
/// \code
///   using value_type = double;                 // scalar type of summaries, states, scratch
///   int batch() const;  int length() const;    // B, T (host; mark them KOKKOS_FUNCTION
///                                              // where the algebra's kernels call them)
///   int summary_size() const;                  // scalars in one summary (host)
///   int state_size() const;                    // scalars in one state (host)
///   int scratch_size() const;                  // scratch scalars one call may use (host)
///   // summary = e_{t_end-1} o ... o e_{t_begin}   (t_begin < t_end)
///   KOKKOS_FUNCTION void summarize(int b, int t_begin, int t_end, value_type* summary,
///                                  value_type* scratch) const;
///   // out = later o earlier
///   KOKKOS_FUNCTION void combine(const value_type* earlier, const value_type* later,
///                                value_type* out, value_type* scratch) const;
///   // state_out = summary applied to state_in
///   KOKKOS_FUNCTION void apply(const value_type* summary, const value_type* state_in,
///                              value_type* state_out, value_type* scratch) const;
///   // apply e_{t_begin}, ..., e_{t_end-1} in turn to state_in and store every resulting state
///   // (where is the algebra's business); state_in == nullptr means t_begin == 0 starts the
///   // sequence, whose first element ignores its incoming state; if state_out != nullptr it
///   // receives the state after e_{t_end-1}.
///   KOKKOS_FUNCTION void sweep(int b, int t_begin, int t_end, const value_type* state_in,
///                              value_type* state_out, value_type* scratch) const;
/// \endcode
///
/// Backward scans (e.g. a smoother run from T down to 1) are algebras that number their
/// elements from the end.

/// First step of chunk k when T steps are split into P contiguous, near-equal chunks.
KOKKOS_INLINE_FUNCTION int chunk_begin(int k, int T, int P) {
  return static_cast<int>(static_cast<long long>(k) * T / P);
}

/// Shortest chunk the automatic rule makes on a device backend: below it a chunk's summary and
/// sweep are dominated by the pass over chunk summaries.
inline constexpr int device_min_chunk_length = 8;

/// From this many chunks on, a ChunkedScan propagates the chunks' incoming states with a scan
/// of its own over the chunk summaries (parallel over ceil(sqrt(chunks)) groups) instead of one
/// sequential walk per sequence.
inline constexpr int nested_propagate_min_chunks = 256;

/// Default number of time chunks per sequence for a scan on `concurrency` workers.
///
/// Work items are (sequence, chunk) pairs. Chunks beyond the first cost a summary pass and a
/// sweep instead of one sweep; `summary_cost` is the cost of summarizing one element relative
/// to sweeping it (about 1 for diagonal elements, about D for dense D x D ones). Splitting time
/// into P chunks then pays off only if P > 1 + summary_cost; P = ceil(concurrency / B) fills
/// the workers. The cap depends on the kind of execution space:
///   - host (a few fat workers; `device = false`): P <= sqrt(T), which balances the sequential
///     pass over a sequence's chunk summaries against the chunk sweeps;
///   - device (GPUs: ~1e5 workers): P <= T / device_min_chunk_length, and the pass over the
///     chunk summaries is itself a parallel scan (nested_propagate_min_chunks).
inline int default_chunks(int concurrency, int batch, int length, double summary_cost,
                          bool device = false) {
  if (batch < 1 || length < 1) return 1;
  const int wanted = (std::max(concurrency, 1) + batch - 1) / batch;
  if (wanted <= 1 || wanted <= 1.0 + summary_cost) return 1;
  const int cap = device ? std::max(1, length / device_min_chunk_length)
                         : std::max(1, static_cast<int>(std::sqrt(static_cast<double>(length))));
  return std::min(wanted, cap);
}

/// default_chunks for the kind of `space`: a device space is one that cannot access host
/// memory (CUDA, HIP, SYCL), a host space one that can (Serial, OpenMP, Threads).
template <class ExecutionSpace>
int default_chunks(const ExecutionSpace& space, int batch, int length, double summary_cost) {
  constexpr bool device =
      !Kokkos::SpaceAccessibility<ExecutionSpace, Kokkos::HostSpace>::accessible;
  return default_chunks(space.concurrency(), batch, length, summary_cost, device);
}

namespace impl {

/// The chunk summaries of a ChunkedScan seen as the elements of a scan of their own, so that
/// the incoming states of many chunks are propagated in parallel: element j is the summary of
/// chunk first + j, its sweep applies the summaries in turn from a chunk's incoming state and
/// writes the states entering chunks first + j + 1 into `carried`. Summaries compose by the
/// algebra's own combine. Always scanned as a continued scan (from carried(b, first)).
template <class Algebra, class Buffer>
struct SummaryAlgebra {
  using value_type = typename Algebra::value_type;
  Algebra inner;
  Buffer summaries;  ///< (B, chunks, summary_size)
  Buffer carried;    ///< (B, chunks + 1, state_size)
  int first = 0, count = 0;

  int batch() const { return inner.batch(); }
  int length() const { return count; }
  int summary_size() const { return inner.summary_size(); }
  int state_size() const { return inner.state_size(); }
  int scratch_size() const { return inner.summary_size() + std::max(1, inner.scratch_size()); }

  KOKKOS_FUNCTION void summarize(int b, int j_begin, int j_end, value_type* summary,
                                 value_type* scratch) const {
    const int n = static_cast<int>(summaries.extent(2));
    value_type* work = scratch + n;
    // ping-pong between summary and scratch; one copy at the end when the result is in scratch
    value_type* acc = summary;
    value_type* next = scratch;
    impl::copy(&summaries(b, first + j_begin, 0), acc, n);
    for (int j = j_begin + 1; j < j_end; ++j) {
      inner.combine(acc, &summaries(b, first + j, 0), next, work);
      value_type* done = next;
      next = acc;
      acc = done;
    }
    if (acc != summary) impl::copy(acc, summary, n);
  }
  KOKKOS_FUNCTION void combine(const value_type* earlier, const value_type* later, value_type* out,
                               value_type* scratch) const {
    inner.combine(earlier, later, out, scratch);
  }
  KOKKOS_FUNCTION void apply(const value_type* summary, const value_type* state_in,
                             value_type* state_out, value_type* scratch) const {
    inner.apply(summary, state_in, state_out, scratch);
  }
  KOKKOS_FUNCTION void sweep(int b, int j_begin, int j_end, const value_type* state_in,
                             value_type* state_out, value_type* scratch) const {
    const value_type* x = state_in;  // never nullptr: a continued scan
    for (int j = j_begin; j < j_end; ++j) {
      value_type* next = &carried(b, first + j + 1, 0);
      inner.apply(&summaries(b, first + j, 0), x, next, scratch);
      x = next;
    }
    if (state_out != nullptr) impl::copy(x, state_out, static_cast<int>(carried.extent(2)));
  }

};

struct NoNestedScan {};

}  // namespace impl

/// Three-phase chunked scan (ALGORITHMS.md section 4) over the B sequences of an algebra:
///   1. summarize: every chunk composes its elements into a chunk summary (chunks that start a
///      sequence are swept right away instead, as their incoming state is known);
///   2. propagate: the states entering each chunk, from the summaries, in order;
///   3. sweep: every remaining chunk applies its elements from its incoming state.
/// Work is about twice the sequential recurrence; the span is O(T/P + P).
///
/// The summaries and carried states are exposed so that a distributed layer can combine the
/// summaries of a whole block across processes and feed the block's incoming state back in.
/// Buffers are allocated once, for the algebra's sizes, and reused by every run.
///
/// Phase 2 walks each sequence's chunk summaries in order, or, with propagate groups (by
/// default from nested_propagate_min_chunks chunks on: ceil(sqrt(chunks)) groups), runs this
/// same engine over the chunk summaries (impl::SummaryAlgebra): span O(T/P + P/G + G).
template <class ExecutionSpace, class Algebra, bool NestedPropagate = true>
class ChunkedScan {
 public:
  using execution_space = ExecutionSpace;
  using memory_space = typename ExecutionSpace::memory_space;
  using value_type = typename Algebra::value_type;
  /// (B, chunks or chunks + 1, size) buffers.
  using buffer_type = Kokkos::View<value_type***, Kokkos::LayoutRight, memory_space>;

  /// `chunks` time chunks per sequence (clamped to [1, T]). `propagate_groups`: < 0 automatic
  /// (see above), 0 or 1 a sequential walk over the chunk summaries, G > 1 a nested scan over
  /// them in G groups (clamped to the chunk count).
  ChunkedScan(const ExecutionSpace& space, const Algebra& algebra, int chunks,
              int propagate_groups = -1)
      : space_(space),
        batch_(algebra.batch()),
        length_(algebra.length()),
        chunks_(std::max(1, std::min(chunks, algebra.length()))) {
    if (propagate_groups < 0)
      propagate_groups = chunks_ >= nested_propagate_min_chunks
                             ? static_cast<int>(std::ceil(std::sqrt(double(chunks_))))
                             : 0;
    groups_ = NestedPropagate && propagate_groups > 1 ? std::min(propagate_groups, chunks_) : 0;
    if (batch_ < 1 || length_ < 1)
      throw std::invalid_argument("kelk::ChunkedScan: need at least one sequence of one element");
    summaries_ = buffer_type(
        Kokkos::view_alloc(space_, Kokkos::WithoutInitializing, "kelk::ChunkedScan::summaries"),
        batch_, chunks_, algebra.summary_size());
    carried_ = buffer_type(
        Kokkos::view_alloc(space_, Kokkos::WithoutInitializing, "kelk::ChunkedScan::carried"),
        batch_, chunks_ + 1, algebra.state_size());
    combined_ = buffer_type(
        Kokkos::view_alloc(space_, Kokkos::WithoutInitializing, "kelk::ChunkedScan::combined"),
        batch_, 2, algebra.summary_size());
    scratch_ = Kokkos::View<value_type**, Kokkos::LayoutRight, memory_space>(
        Kokkos::view_alloc(space_, Kokkos::WithoutInitializing, "kelk::ChunkedScan::scratch"),
        batch_ * chunks_, std::max(1, algebra.scratch_size()));
  }

  int batch() const { return batch_; }
  int length() const { return length_; }
  int chunks() const { return chunks_; }
  /// Groups of the nested scan over chunk summaries in phase 2; 0 when it is a sequential walk.
  int propagate_groups() const { return groups_; }

  /// Chunk summaries, (B, chunks, summary_size). Chunk k covers
  /// [chunk_begin(k, T, chunks), chunk_begin(k + 1, T, chunks)).
  buffer_type summaries() const { return summaries_; }
  /// Carried states, (B, chunks + 1, state_size): entry k is the state entering chunk k and
  /// entry `chunks` the state after the last element. Without a sequence start, the caller
  /// writes entry 0 (the state entering the block) before propagate().
  buffer_type carried() const { return carried_; }

  /// The whole scan of sequences that start at element 0.
  void run(const Algebra& algebra) {
    summarize(algebra, true);
    propagate(algebra, true);
    sweep(algebra, true);
  }

  /// The scan of a block that continues a sequence: `incoming` (B, state_size) is the state
  /// entering element 0 of every sequence.
  template <class IncomingView>
  void run(const Algebra& algebra, const IncomingView& incoming) {
    summarize(algebra, false);
    resume(algebra, incoming);
  }

  /// Phases 2 and 3 of a continued scan whose chunks are summarized already (summarize(algebra,
  /// false)), from the state `incoming` (B, state_size) entering the block. A distributed
  /// solve combines block_summary() across ranks in between to obtain `incoming`.
  template <class IncomingView>
  void resume(const Algebra& algebra, const IncomingView& incoming) {
    set_incoming(incoming);
    propagate(algebra, false);
    sweep(algebra, false);
  }

  /// Phase 1. With sequence_start, chunk 0 is swept directly and has no summary.
  void summarize(const Algebra& algebra, bool sequence_start) {
    const int T = length_, P = chunks_;
    auto summaries = summaries_;
    auto carried = carried_;
    auto scratch = scratch_;
    Kokkos::parallel_for(
        "kelk::ChunkedScan::summarize", Kokkos::RangePolicy<ExecutionSpace>(space_, 0, batch_ * P),
        KOKKOS_LAMBDA(int item) {
          const int b = item / P, k = item % P;
          const int t0 = chunk_begin(k, T, P), t1 = chunk_begin(k + 1, T, P);
          value_type* work = &scratch(item, 0);
          if (k == 0 && sequence_start)
            algebra.sweep(b, t0, t1, nullptr, &carried(b, 1, 0), work);
          else
            algebra.summarize(b, t0, t1, &summaries(b, k, 0), work);
        });
  }

  /// Phase 2: carried(b, k + 1) = summary(b, k) applied to carried(b, k), in chunk order (or by
  /// the nested scan over the summaries).
  void propagate(const Algebra& algebra, bool sequence_start) {
    const int P = chunks_;
    const int first = sequence_start ? 1 : 0;
    if constexpr (NestedPropagate) {
      if (groups_ > 1 && P - first >= 2) {
        const auto summaries = summary_algebra(algebra, first);
        nested(first, summaries)
            .run(summaries, Kokkos::subview(carried_, Kokkos::ALL, first, Kokkos::ALL));
        return;
      }
    }
    auto summaries = summaries_;
    auto carried = carried_;
    auto scratch = scratch_;
    Kokkos::parallel_for(
        "kelk::ChunkedScan::propagate", Kokkos::RangePolicy<ExecutionSpace>(space_, 0, batch_),
        KOKKOS_LAMBDA(int b) {
          value_type* work = &scratch(b * P, 0);
          for (int k = sequence_start ? 1 : 0; k < P; ++k)
            algebra.apply(&summaries(b, k, 0), &carried(b, k, 0), &carried(b, k + 1, 0), work);
        });
  }

  /// Phase 3: every chunk not swept in phase 1 sweeps from its incoming state.
  void sweep(const Algebra& algebra, bool sequence_start) {
    const int T = length_, P = chunks_;
    auto carried = carried_;
    auto scratch = scratch_;
    Kokkos::parallel_for(
        "kelk::ChunkedScan::sweep", Kokkos::RangePolicy<ExecutionSpace>(space_, 0, batch_ * P),
        KOKKOS_LAMBDA(int item) {
          const int b = item / P, k = item % P;
          if (k == 0 && sequence_start) return;
          const int t0 = chunk_begin(k, T, P), t1 = chunk_begin(k + 1, T, P);
          algebra.sweep(b, t0, t1, &carried(b, k, 0), nullptr, &scratch(item, 0));
        });
  }

  /// Composition of all chunk summaries of each sequence into `block` (B, summary_size):
  /// e_{T-1} o ... o e_0. Needs summarize(algebra, false) first.
  template <class BlockView>
  void block_summary(const Algebra& algebra, const BlockView& block) {
    const int P = chunks_;
    if constexpr (NestedPropagate) {
      if (groups_ > 1 && P >= 2) {  // group summaries in parallel, then their composition
        const auto summaries = summary_algebra(algebra, 0);
        auto& n = nested(0, summaries);
        n.summarize(summaries, false);
        n.block_summary(summaries, block);
        return;
      }
    }
    const int n = static_cast<int>(summaries_.extent(2));
    auto summaries = summaries_;
    auto scratch = scratch_;
    auto ping = combined_;
    Kokkos::parallel_for(
        "kelk::ChunkedScan::block_summary", Kokkos::RangePolicy<ExecutionSpace>(space_, 0, batch_),
        KOKKOS_LAMBDA(int b) {
          value_type* work = &scratch(b * P, 0);
          const value_type* acc = &summaries(b, 0, 0);
          for (int k = 1; k < P; ++k) {
            value_type* out = &ping(b, k % 2, 0);
            algebra.combine(acc, &summaries(b, k, 0), out, work);
            acc = out;
          }
          for (int i = 0; i < n; ++i) block(b, i) = acc[i];
        });
  }

 private:
  using Summaries = impl::SummaryAlgebra<Algebra, buffer_type>;
  using Nested = std::conditional_t<NestedPropagate, ChunkedScan<ExecutionSpace, Summaries, false>,
                                    impl::NoNestedScan>;

  Summaries summary_algebra(const Algebra& algebra, int first) const {
    return Summaries{algebra, summaries_, carried_, first, chunks_ - first};
  }

  /// The nested scan over the summaries of chunks first.., made on first use (its buffers are
  /// then reused like this engine's own).
  Nested& nested(int first, const Summaries& summaries) {
    if (!nested_[first]) nested_[first].emplace(space_, summaries, groups_, 0);
    return *nested_[first];
  }

  template <class IncomingView>
  void set_incoming(const IncomingView& incoming) {
    if (static_cast<int>(incoming.extent(0)) != batch_ || incoming.extent(1) != carried_.extent(2))
      throw std::invalid_argument(
          "kelk::ChunkedScan: incoming states must have shape (B, state_size) = (" +
          std::to_string(batch_) + ", " + std::to_string(carried_.extent(2)) + ")");
    Kokkos::deep_copy(space_, Kokkos::subview(carried_, Kokkos::ALL, 0, Kokkos::ALL), incoming);
  }

  ExecutionSpace space_;
  int batch_, length_, chunks_, groups_ = 0;
  std::optional<Nested> nested_[2];  ///< indexed by the first chunk it propagates from (0 or 1)
  buffer_type summaries_, carried_;
  buffer_type combined_;  ///< (B, 2, summary_size): block_summary's partial combinations
  Kokkos::View<value_type**, Kokkos::LayoutRight, memory_space> scratch_;
};

}  // namespace kelk
