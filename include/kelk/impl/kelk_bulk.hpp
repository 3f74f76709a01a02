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
  Rows scratch;   ///< (tile, bulk_scratch_size)

  BulkWorkspace() = default;
  BulkWorkspace(const ExecutionSpace& space, const StepMap& map, std::int64_t steps) {
    const std::int64_t tile = std::min(steps, bulk_tile_rows);
    const auto alloc = [&](const std::string& label) {
      return Kokkos::view_alloc(space, Kokkos::WithoutInitializing, label);
    };
    previous = Rows(alloc("kelk::solve::bulk_previous"), tile, map.state_dim());
    scratch = Rows(alloc("kelk::solve::bulk_scratch"), tile, map.bulk_scratch_size());
  }
};

/// Runs the map's bulk evaluation over every step of p, tile by tile: f into `f` (flat (B, T,
/// D)), and per `what` the diagonal (flat (B, T, D)) or the Jacobians (flat (B, T, D, D)) into
/// `out`. The steps' previous states are staged per tile (local step 0 reads prev0).
template <class ExecutionSpace, class StepMap, class P>
void bulk_evaluate(const ExecutionSpace& space, const P& p,
                   const BulkWorkspace<ExecutionSpace, StepMap>& ws, BulkOutput what,
                   typename StepMap::value_type* f, typename StepMap::value_type* out) {
  using Scalar = typename StepMap::value_type;
  using memory_space = typename ExecutionSpace::memory_space;
  using Rows = BulkRows<Scalar, memory_space>;
  using ConstRows = BulkRows<const Scalar, memory_space>;
  const std::int64_t steps = p.steps(), tile = std::int64_t(ws.previous.extent(0));
  const int D = p.D, Din = p.Din;
  const std::int64_t out_width = what == BulkOutput::jacobian ? std::int64_t(D) * D : D;
  for (std::int64_t begin = 0; begin < steps; begin += tile) {
    const std::int64_t n = std::min(tile, steps - begin);
    const auto previous = ws.previous;
    Kokkos::parallel_for(
        "kelk::solve::bulk_stage",
        Kokkos::MDRangePolicy<ExecutionSpace, Kokkos::Rank<2>, Kokkos::IndexType<std::int64_t>>(
            space, {0, 0}, {n, std::int64_t(D)}),
        KOKKOS_LAMBDA(std::int64_t r, std::int64_t d) {
          const std::int64_t i = begin + r;
          previous(r, d) = previous_state(p, int(i / p.T), int(i % p.T))[d];
        });
    p.map.bulk(space, ConstRows(ws.previous.data(), n, D),
               ConstRows(p.inputs.data() + begin * Din, n, Din), Rows(f + begin * D, n, D),
               Rows(ws.scratch.data(), n, ws.scratch.extent(1)), what,
               what == BulkOutput::value ? nullptr : out + begin * out_width);
  }
}

}  // namespace kelk::impl
