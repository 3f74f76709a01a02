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

/// Rows of a tile that a bulk evaluation holds in its (tile, bulk_scratch_size) scratch.
/// 8192 rows keep the gemms large enough to run at the kernels' full rate and the buffers at a
/// few MiB.
inline constexpr std::int64_t bulk_tile_rows = 8192;

/// The staging buffers of bulk evaluations, allocated once per solve.
template <class ExecutionSpace, class StepMap>
struct BulkWorkspace {
  using Scalar = typename StepMap::value_type;
  using memory_space = typename ExecutionSpace::memory_space;
  using Rows = Kokkos::View<Scalar**, Kokkos::LayoutRight, memory_space>;
  Rows previous;  ///< (tile, D): the previous state of every step of the tile
  Rows f;         ///< (tile, D): f of one tile, where f is not kept (the residual)
  Rows scratch;   ///< (tile, bulk_scratch_size)

  std::int64_t rows() const { return std::int64_t(previous.extent(0)); }

  BulkWorkspace() = default;
  BulkWorkspace(const ExecutionSpace& space, const StepMap& map, std::int64_t steps) {
    const std::int64_t tile = std::min(steps, bulk_tile_rows);
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

/// Stages the tile of p's steps that starts at flat step `begin`: copies every step's previous
/// state into ws.previous (local step 0 reads prev0). Loop over tiles as
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
  const auto previous = ws.previous;
  Kokkos::parallel_for(
      "kelk::solve::bulk_stage",
      Kokkos::MDRangePolicy<ExecutionSpace, Kokkos::Rank<2>, Kokkos::IndexType<std::int64_t>>(
          space, {0, 0}, {n, std::int64_t(D)}),
      KOKKOS_LAMBDA(std::int64_t r, std::int64_t d) {
        const std::int64_t i = begin + r;
        previous(r, d) = previous_state(p, int(i / p.T), int(i % p.T))[d];
      });
  return {begin, n, ConstRows(previous.data(), n, D),
          ConstRows(p.inputs.data() + begin * Din, n, Din)};
}

/// Runs the map's bulk evaluation over every step of p: f into `f` (flat (B, T, D)), and per
/// `what` the diagonals (flat (B, T, D)) or the Jacobians (flat (B, T, D, D)) into `out`.
template <class ExecutionSpace, class StepMap, class P>
void bulk_evaluate(const ExecutionSpace& space, const P& p,
                   const BulkWorkspace<ExecutionSpace, StepMap>& ws, BulkOutput what,
                   typename StepMap::value_type* f, typename StepMap::value_type* out) {
  using Scalar = typename StepMap::value_type;
  using Rows = BulkRows<Scalar, typename ExecutionSpace::memory_space>;
  const int D = p.D;
  const std::int64_t out_width = what == BulkOutput::jacobian ? std::int64_t(D) * D : D;
  for (std::int64_t begin = 0; begin < p.steps(); begin += ws.rows()) {
    const auto tile = stage_bulk_tile(space, p, ws, begin);
    p.map.bulk(space, tile.previous, tile.inputs, Rows(f + begin * D, tile.n, D),
               Rows(ws.scratch.data(), tile.n, ws.scratch.extent(1)), what,
               what == BulkOutput::value ? nullptr : out + begin * out_width);
  }
}

}  // namespace kelk::impl
