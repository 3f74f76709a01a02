// DistributedSolver::solve_adjoint against the single-process solve_adjoint of the whole
// problem: every method, uneven time blocks, the batch x time split.
#include "../test_common.hpp"
#include "mpi_common.hpp"

#include <mpi.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

/// The entries of a View in its own memory order (comparisons are between Views of one type).
template <class View>
std::vector<double> flat(const View& v) {
  const auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), v);
  return std::vector<double>(h.data(), h.data() + h.span());
}

using kelk_test::relative;

template <class Map>
void check_distributed_adjoint(const Map& map, int B, int T, int batch_ranks,
                               kelk::AdjointOptions options, std::uint64_t seed,
                               double s0_scale = 0.5) {
  using Scalar = typename Map::value_type;
  const int D = map.state_dim(), Din = map.input_dim();
  const std::size_t n_theta = kelk::parameter_count(map);
  auto p = kelk_test::random_problem<Scalar>(B, T, D, Din, seed, s0_scale);
  const auto states = kelk_test::plain_loop(map, p.s0, p.inputs);
  kelk::SequenceView<Scalar> cot("cotangents", B, T, D);
  {
    auto h = Kokkos::create_mirror_view(cot);
    for (std::size_t i = 0; i < h.span(); ++i) h.data()[i] = Scalar(std::sin(0.37 * i + seed));
    Kokkos::deep_copy(cot, h);
  }
  const auto make_out = [&](int b, int t) {
    return kelk::Gradients<Scalar>{kelk::BatchView<Scalar>("ds0", b, D),
                                   kelk::SequenceView<Scalar>("du", b, t, Din),
                                   Kokkos::View<Scalar*>("dtheta", n_theta),
                                   kelk::SequenceView<Scalar>("lambda", b, t, D)};
  };
  const auto whole = make_out(B, T);
  kelk::solve_adjoint(map, p.s0, p.inputs, states, cot, whole, options);

  const kelk::DistributedSolver solver(MPI_COMM_WORLD, B, T, batch_ranks);
  const auto& part = solver.partition();
  const auto rows = std::make_pair(part.batch_begin, part.batch_end);
  const auto steps = std::make_pair(part.time_begin, part.time_end);
  const auto block = [&](const kelk::SequenceView<Scalar>& v) {
    kelk::SequenceView<Scalar> out("block", part.local_batch(), part.local_length(),
                                   v.extent(2));
    Kokkos::deep_copy(out, Kokkos::subview(v, rows, steps, Kokkos::ALL));
    return out;
  };
  kelk::BatchView<Scalar> s0("s0", part.local_batch(), D);
  Kokkos::deep_copy(s0, Kokkos::subview(p.s0, rows, Kokkos::ALL));
  const auto mine = make_out(part.local_batch(), part.local_length());
  const auto result = solver.solve_adjoint(map, s0, block(p.inputs), block(states), block(cot),
                                           mine, options);
  CAPTURE(kelk::to_string(options.method), options.blocks, B, T, batch_ranks,
          kelk_test::world_rank(), part.time_begin, part.time_end, result.sweeps);
  CHECK(result.finite);
  // block_sweeps and sequential repeat the reverse sweep's arithmetic exactly; the scan and
  // the parameter sums (over chunks and ranks) agree to round-off
  const bool exact = options.method != kelk::AdjointMethod::scan;
  const auto same = [&](const std::vector<double>& a, const std::vector<double>& b) {
    if (exact) return a == b;
    return relative(a, b) <= 1e-12;
  };
  CHECK(same(flat(mine.adjoint), flat(block(whole.adjoint))));
  CHECK(same(flat(mine.inputs), flat(block(whole.inputs))));
  if (part.time_rank == 0) {
    kelk::BatchView<Scalar> ref("ref", part.local_batch(), D);
    Kokkos::deep_copy(ref, Kokkos::subview(whole.s0, rows, Kokkos::ALL));
    CHECK(same(flat(mine.s0), flat(ref)));
  }
  CHECK(relative(flat(mine.parameters), flat(whole.parameters)) <= 1e-12);
}

}  // namespace

TEST_CASE("distributed adjoint equals the single-process adjoint, every method", "[mpi][adjoint]") {
  const int n = kelk_test::world_size();
  const int batch_ranks = GENERATE(1, 2);
  if (n % batch_ranks != 0) return;
  const int T = GENERATE(101, 600);  // 101: uneven blocks on 2, 3 and 4 ranks
  const auto gru = kelk::make_random_gru<double>(6, 3, 0.6, 5);
  const kelk::Lorenz96<double> lorenz(6, 8.0, 0.01);
  for (const auto method : {kelk::AdjointMethod::sequential, kelk::AdjointMethod::scan,
                            kelk::AdjointMethod::block_sweeps}) {
    for (const int blocks : {0, 3}) {
      if (method != kelk::AdjointMethod::block_sweeps && blocks > 0) continue;
      kelk::AdjointOptions options;
      options.method = method;
      options.blocks = blocks;
      check_distributed_adjoint(gru, 3, T, batch_ranks, options, 7);
      check_distributed_adjoint(lorenz, 3, T, batch_ranks, options, 8, 2.0);
    }
  }
}
