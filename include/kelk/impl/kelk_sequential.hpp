// The `sequential` method: the plain loop s_t = f(s_{t-1}, u_t), parallel over the batch only.
// For a map with the projected form f(s, u) = g(s, W s, V u) (kelk_step_map.hpp) it runs as the
// best hand-written RNN loop does: the input projections V u of a tile of steps by one matrix
// product, then per step one product with the stacked recurrent weights and g.
#pragma once

#include <kelk/impl/kelk_compat.hpp>
#include <kelk/impl/kelk_kernels.hpp>
#include <kelk/impl/kelk_tiled.hpp>
#include <kelk/kelk_maps.hpp>
#include <kelk/kelk_step_map.hpp>

#include <Kokkos_Core.hpp>

#include <algorithm>
#include <cstdint>
#include <string>

namespace kelk::impl {

/// Steps per tile of the projected loop: the tile's input projections (tile x P per sequence)
/// stay near 256 KiB, an L2 cache, while each tile's matrix product keeps >= 64 rows.
inline int projected_tile_steps(int P, int T, std::size_t scalar_bytes) {
  const std::int64_t fit = std::int64_t(256 * 1024) / (std::int64_t(P) * std::int64_t(scalar_bytes));
  return int(std::max<std::int64_t>(1, std::min<std::int64_t>(T, std::max<std::int64_t>(64, fit))));
}

/// y = W s from the transpose wt = W^T (D x P, row-major): y = sum_j s_j wt(j, :). Blocks of
/// 256 bytes of y (32 doubles, 64 floats) stay in registers over the whole sum, so each entry
/// of W is loaded once and nothing is reduced horizontally; measured 2x faster than a
/// row-by-row dot product (or a BLAS gemv call) at D = 32-64 on AVX2.
template <class Scalar>
KOKKOS_INLINE_FUNCTION void transposed_product(const Scalar* wt, const Scalar* s, Scalar* y,
                                               int D, int P) {
  constexpr int block = 256 / int(sizeof(Scalar));
  int i0 = 0;
  for (; i0 + block <= P; i0 += block) {
    Scalar acc[block] = {};
    for (int j = 0; j < D; ++j) {
      const Scalar sj = s[j];
      const Scalar* w = wt + std::int64_t(j) * P + i0;
      for (int k = 0; k < block; ++k) acc[k] += sj * w[k];
    }
    for (int k = 0; k < block; ++k) y[i0 + k] = acc[k];
  }
  for (int i = i0; i < P; ++i) y[i] = Scalar(0);
  for (int j = 0; j < D; ++j) {
    const Scalar sj = s[j];
    const Scalar* w = wt + std::int64_t(j) * P;
    for (int i = i0; i < P; ++i) y[i] += sj * w[i];
  }
}

/// A (cols x rows) copy of the transpose of `w`, in ExecutionSpace's memory space. (A free
/// function: CUDA's extended lambdas cannot live in constructors or private members.)
template <class Matrix, class ExecutionSpace, class Weights>
Matrix transposed_copy(const ExecutionSpace& space, const Weights& w, const std::string& label) {
  const Matrix t(Kokkos::view_alloc(space, Kokkos::WithoutInitializing, label), w.extent(1),
                 w.extent(0));
  if (t.size() == 0) return t;
  Kokkos::parallel_for(
      label,
      Kokkos::MDRangePolicy<ExecutionSpace, Kokkos::Rank<2>>(
          space, {0, 0}, {std::int64_t(w.extent(0)), std::int64_t(w.extent(1))}),
      KOKKOS_LAMBDA(std::int64_t i, std::int64_t j) { t(j, i) = w(i, j); });
  return t;
}

/// The generic loop: every step through the map's `step`.
template <class ExecutionSpace, class StepMap>
void evaluate_steps(const ExecutionSpace& space, const Problem<ExecutionSpace, StepMap>& p) {
  using Scalar = typename StepMap::value_type;
  tiled_max<Scalar>(
      "kelk::solve::sequential", space, p.B, p.map.scratch_size(),
      KOKKOS_LAMBDA(std::int64_t b, Scalar * scratch) {
        for (int t = 0; t < p.T; ++t)
          p.map.step(previous_state(p, int(b), t), input_at(p, int(b), t), &p.states(b, t, 0),
                     scratch);
        return Scalar(0);
      });
}

/// The projected loop, tile by tile of `tile` steps:
///   1. vu(b, r, :) = V u(b, t0 + r) for the tile: one matrix product per sequence;
///   2. per step, ws = W s_{t-1}: inside one kernel per tile, each sequence's thread runs its
///      steps with transposed_product (one pass over W^T); or, batched, one matrix product
///      (B x D) (D x P) per step, then g over the batch.
template <class ExecutionSpace, class StepMap>
void evaluate_projected(const ExecutionSpace& space, const Problem<ExecutionSpace, StepMap>& p,
                        bool batched) {
  using Scalar = typename StepMap::value_type;
  using memory_space = typename ExecutionSpace::memory_space;
  using Matrix = Kokkos::View<Scalar**, Kokkos::LayoutRight, memory_space>;
  using Rows = BulkRows<Scalar, memory_space>;
  using ConstRows = BulkRows<const Scalar, memory_space>;
  const auto alloc = [&](const std::string& label) {
    return Kokkos::view_alloc(space, Kokkos::WithoutInitializing, label);
  };
  const int B = p.B, T = p.T, D = p.D, Din = p.Din;
  const int P = p.map.projection_dim();
  const auto W = p.map.recurrent_weights();
  const auto V = p.map.input_weights();
  const int tile = projected_tile_steps(P, T, sizeof(Scalar));
  const Kokkos::View<Scalar***, Kokkos::LayoutRight, memory_space> vu(
      alloc("kelk::solve::sequential_input_projections"), B, tile, P);

  Matrix WT, ws, prev;
  if (batched) {
    ws = Matrix(alloc("kelk::solve::sequential_recurrent_products"), B, P);
    prev = Matrix(alloc("kelk::solve::sequential_previous"), B, D);
    Kokkos::deep_copy(space, prev, p.prev0);
  } else {
    WT = transposed_copy<Matrix>(space, W, "kelk::solve::sequential_W_transposed");
  }

  for (int t0 = 0; t0 < T; t0 += tile) {
    const int n = std::min(tile, T - t0);
    {
      const ProjectionBatch<ExecutionSpace> batch(space);
      for (int b = 0; b < B; ++b)
        project_rows(space,
                     ConstRows(p.inputs.data() + (std::int64_t(b) * T + t0) * Din, n, Din), V,
                     Scalar(0), Rows(vu.data() + std::int64_t(b) * tile * P, n, P));
    }
    if (!batched) {
      tiled_max<Scalar>(
          "kelk::solve::sequential", space, B, P, KOKKOS_LAMBDA(std::int64_t b, Scalar * w) {
            for (int r = 0; r < n; ++r) {
              const int t = t0 + r;
              const Scalar* s = previous_state(p, int(b), t);
              transposed_product(WT.data(), s, w, D, P);
              p.map.finish_step(s, w, &vu(b, r, 0), &p.states(b, t, 0));
            }
            return Scalar(0);
          });
      continue;
    }
    for (int r = 0; r < n; ++r) {
      const int t = t0 + r;
      {
        const ProjectionBatch<ExecutionSpace> batch(space);
        project_rows(space, ConstRows(prev.data(), B, D), W, Scalar(0), ws);
      }
      Kokkos::parallel_for(
          "kelk::solve::sequential_finish", Kokkos::RangePolicy<ExecutionSpace>(space, 0, B),
          KOKKOS_LAMBDA(int b) {
            Scalar* f = &p.states(b, t, 0);
            p.map.finish_step(&prev(b, 0), &ws(b, 0), &vu(b, r, 0), f);
            for (int d = 0; d < D; ++d) prev(b, d) = f[d];
          });
    }
  }
}

/// The plain loop s_t = f(s_{t-1}, u_t) over p's steps, parallel over the batch: through the
/// projected form where the map has one, else step by step. The batched recurrent product (one
/// gemm over the batch per step) runs on devices only, where one thread per sequence would
/// leave the device idle. On CPUs it lost to the per-sequence pass over W^T (one Zen 3 core,
/// B = 16: the GRU 2x slower at D = 8, 1.2x at D = 32, within noise at D = 64; the Elman cell
/// 1.5x slower at D = 64, fp32).
template <class ExecutionSpace, class StepMap>
void evaluate_sequential(const ExecutionSpace& space, const Problem<ExecutionSpace, StepMap>& p) {
  using memory_space = typename ExecutionSpace::memory_space;
  if constexpr (provides_projected_form_v<StepMap, memory_space>)
    evaluate_projected(space, p,
                       !Kokkos::SpaceAccessibility<Kokkos::HostSpace, memory_space>::accessible);
  else
    evaluate_steps(space, p);
}

}  // namespace kelk::impl
