// Bulk linearisation: maps that provide `bulk` evaluate f (and its Jacobian or diagonal) for a
// whole tile of steps at once, with matrix-matrix products, instead of one matrix-vector
// product per step. Within one iteration every step's previous state is known, so the work of
// all steps is independent: this is where an iteration beats the sequential loop per flop.
#pragma once

#include <kelk/kelk_step_map.hpp>

#include <Kokkos_Core.hpp>

#include <algorithm>
#include <cstdint>
#include <string>

namespace kelk::impl {

/// Rows of a tile that a bulk evaluation holds in its (tile, bulk_scratch_size) scratch: about
/// 1 MiB per D-wide block (2048 rows at D = 64 in fp64), between 1024 and 8192 rows. The tile's
/// gemms stay large enough to run at the BLAS' full rate, and the tile's blocks (f, the
/// diagonals, the scratch) stay in the last-level cache until the linearisation has finished
/// the tile (kelk_kernels.hpp).
inline std::int64_t bulk_tile_rows(int D, std::size_t scalar_bytes) {
  const std::int64_t fit = std::int64_t(1) << 20;
  return std::clamp<std::int64_t>(fit / (std::int64_t(std::max(D, 1)) * std::int64_t(scalar_bytes)),
                                  1024, 8192);
}

/// The staging buffers of bulk evaluations, allocated once per solve.
template <class ExecutionSpace, class StepMap>
struct BulkWorkspace {
  using Scalar = typename StepMap::value_type;
  using memory_space = typename ExecutionSpace::memory_space;
  using Rows = Kokkos::View<Scalar**, Kokkos::LayoutRight, memory_space>;
  Rows previous;  ///< (tile, D): the previous states of a tile that starts a sequence
  Rows f;         ///< (tile, D): f of one tile, where f is not kept (the residual)
  Rows scratch;   ///< (tile, bulk_scratch_size)

  std::int64_t rows() const { return std::int64_t(previous.extent(0)); }

  BulkWorkspace() = default;
  BulkWorkspace(const ExecutionSpace& space, const StepMap& map, std::int64_t steps) {
    const std::int64_t tile =
        std::min(steps, bulk_tile_rows(map.state_dim(), sizeof(typename StepMap::value_type)));
    const auto alloc = [&](const std::string& label) {
      return Kokkos::view_alloc(space, Kokkos::WithoutInitializing, label);
    };
    previous = Rows(alloc("kelk::solve::bulk_previous"), tile, map.state_dim());
    f = Rows(alloc("kelk::solve::bulk_f"), tile, map.state_dim());
    scratch = Rows(alloc("kelk::solve::bulk_scratch"), tile, map.bulk_scratch_size());
  }
};

/// One staged tile: steps [begin, begin + n) of the flat index b*T + t, with their previous
/// states (in the workspace) and their inputs as n-row views.
template <class Scalar, class MemorySpace>
struct BulkTile {
  std::int64_t begin, n;
  BulkRows<const Scalar, MemorySpace> previous, inputs;
};

/// Stages the tile of p's steps that starts at flat step `begin`. Inside one sequence and past
/// its first step, the previous states of the tile's rows are the iterate's rows just before
/// them: the tile views them in place. Otherwise (the tile holds a sequence's first step,
/// whose previous state is prev0, or crosses into the next sequence) every row's previous
/// state is copied into ws.previous. Loop over tiles as
///   for (std::int64_t begin = 0; begin < p.steps(); begin += ws.rows()) { stage_bulk_tile(...) }
/// (a plain loop, not a callback: CUDA allows no device lambda in a function templated on a
/// caller's local lambda type).
template <class ExecutionSpace, class StepMap, class P>
BulkTile<typename StepMap::value_type, typename ExecutionSpace::memory_space> stage_bulk_tile(
    const ExecutionSpace& space, const P& p, const BulkWorkspace<ExecutionSpace, StepMap>& ws,
    std::int64_t begin) {
  using Scalar = typename StepMap::value_type;
  using ConstRows = BulkRows<const Scalar, typename ExecutionSpace::memory_space>;
  const std::int64_t n = std::min(ws.rows(), p.steps() - begin);
  const int D = p.D, Din = p.Din;
  const ConstRows inputs(p.inputs.data() + begin * Din, n, Din);
  const bool one_sequence = begin / p.T == (begin + n - 1) / p.T;
  if (one_sequence && begin % p.T != 0)
    return {begin, n, ConstRows(p.states.data() + (begin - 1) * D, n, D), inputs};
  const auto previous = ws.previous;
  Kokkos::parallel_for(
      "kelk::solve::bulk_stage",
      Kokkos::MDRangePolicy<ExecutionSpace, Kokkos::Rank<2>, Kokkos::IndexType<std::int64_t>>(
          space, {0, 0}, {n, std::int64_t(D)}),
      KOKKOS_LAMBDA(std::int64_t r, std::int64_t d) {
        const std::int64_t i = begin + r;
        previous(r, d) = previous_state(p, int(i / p.T), int(i % p.T))[d];
      });
  return {begin, n, ConstRows(previous.data(), n, D), inputs};
}

/// The map's bulk evaluation of one staged tile: f into the tile's n rows starting at
/// `f_rows`, and per `what` the diagonals (flat (B, T, D)) or the Jacobians (flat (B, T, D, D))
/// into `out`.
template <class ExecutionSpace, class StepMap, class P>
void bulk_tile(const ExecutionSpace& space, const P& p,
               const BulkWorkspace<ExecutionSpace, StepMap>& ws,
               const BulkTile<typename StepMap::value_type, typename ExecutionSpace::memory_space>& tile,
               BulkOutput what, typename StepMap::value_type* f_rows,
               typename StepMap::value_type* out) {
  using Rows = BulkRows<typename StepMap::value_type, typename ExecutionSpace::memory_space>;
  const std::int64_t D = p.D;
  const std::int64_t out_width = what == BulkOutput::jacobian ? D * D : D;
  p.map.bulk(space, tile.previous, tile.inputs, Rows(f_rows, tile.n, D),
             Rows(ws.scratch.data(), tile.n, ws.scratch.extent(1)), what,
             what == BulkOutput::value ? nullptr : out + tile.begin * out_width);
}

}  // namespace kelk::impl
