// Distributed solves against the single-process solve of the whole problem, for every method,
// uneven time blocks, batches, and the batch x time split; collective errors.
#include "../test_common.hpp"
#include "mpi_common.hpp"

#include <mpi.h>
#include <catch2/catch.hpp>

#include <string>

namespace {

using kelk_test::world_rank;
using kelk_test::world_size;

/// A copy of the block [b0, b1) x [t0, t1) of a (B, T, n) View.
template <class Scalar>
kelk::SequenceView<Scalar> block_of(const kelk::SequenceView<Scalar>& v,
                                    const kelk::Partition& part) {
  auto sub = Kokkos::subview(v, std::make_pair(part.batch_begin, part.batch_end),
                             std::make_pair(part.time_begin, part.time_end), Kokkos::ALL);
  kelk::SequenceView<Scalar> out("block", sub.extent(0), sub.extent(1), sub.extent(2));
  Kokkos::deep_copy(out, sub);
  return out;
}

template <class Scalar>
kelk::BatchView<Scalar> rows_of(const kelk::BatchView<Scalar>& v, const kelk::Partition& part) {
  auto sub = Kokkos::subview(v, std::make_pair(part.batch_begin, part.batch_end), Kokkos::ALL);
  kelk::BatchView<Scalar> out("rows", sub.extent(0), sub.extent(1));
  Kokkos::deep_copy(out, sub);
  return out;
}

/// Solves the whole problem on this rank and distributed, and compares this rank's block.
template <class Map>
void check_distributed(const Map& map, int B, int T, int batch_ranks, kelk::SolveOptions opt,
                       double tolerance, std::uint64_t seed, double s0_scale = 0.5,
                       bool same_iterations = true) {
  using Scalar = typename Map::value_type;
  const int D = map.state_dim();
  auto p = kelk_test::random_problem<Scalar>(B, T, D, map.input_dim(), seed, s0_scale);
  kelk::SequenceView<Scalar> whole("whole", B, T, D);
  const Scalar guess(0.1);  // used by InitialGuess::provided
  Kokkos::deep_copy(whole, guess);
  const auto serial = kelk::solve(map, p.s0, p.inputs, whole, opt);

  const kelk::DistributedSolver solver(MPI_COMM_WORLD, B, T, batch_ranks);
  const auto& part = solver.partition();
  auto s0 = rows_of(p.s0, part);
  auto inputs = block_of(p.inputs, part);
  kelk::SequenceView<Scalar> states("states", part.local_batch(), part.local_length(), D);
  Kokkos::deep_copy(states, guess);
  const auto dist = solver.solve(map, s0, inputs, states, opt);

  CAPTURE(kelk::to_string(opt.method), opt.kalman_smoother, B, T, batch_ranks, world_rank(),
          part.time_begin, part.time_end, serial.iterations, dist.iterations);
  CHECK(dist.converged == serial.converged);
  CHECK(dist.reason == serial.reason);
  CHECK(dist.final_residual == Approx(serial.final_residual).margin(tolerance));
  CHECK(kelk_test::max_abs_diff(states, block_of(whole, part)) <= tolerance);
  if (same_iterations) {
    CHECK(dist.iterations == serial.iterations);
    CHECK(dist.history.size() == serial.history.size());
  }
}

const kelk::Method all_methods[] = {kelk::Method::sequential, kelk::Method::jacobi,
                                    kelk::Method::deer,       kelk::Method::quasi_deer,
                                    kelk::Method::elk,        kelk::Method::quasi_elk};

}  // namespace

TEST_CASE("distributed solves equal the single-process solve, every method", "[mpi]") {
  const int n = world_size();
  const int batch_ranks = GENERATE(1, 2);
  if (n % batch_ranks != 0) return;
  const int T = GENERATE(101, 1000);  // 101: uneven blocks on 2, 3 and 4 ranks
  const int B = 3;
  for (const auto method : all_methods) {
    kelk::SolveOptions opt;
    opt.method = method;
    opt.record_history = true;
    check_distributed(kelk::make_random_gru<double>(5, 2, 0.5, 1), B, T, batch_ranks, opt, 1e-12,
                      10u + T);
    check_distributed(kelk::make_random_elman<double>(4, 3, 0.8, 2), B, T, batch_ranks, opt, 1e-12,
                      20u + T);
    check_distributed(kelk::Lorenz96<double>(5, 0.25, 0.4), B, T, batch_ranks, opt, 1e-12, 30u + T,
                      1.0);
  }
}

TEST_CASE("distributed block_jacobi equals the single-process solve", "[mpi]") {
  // The blocks differ with the rank count (each rank splits its own steps), so the sweep
  // counts do. With tolerance 0 a block merges only where its states are bitwise the stored
  // ones, so every layout gives the step-by-step evaluation exactly; with the default
  // tolerance they agree to it.
  const int n = world_size();
  const int batch_ranks = GENERATE(1, 2);
  if (n % batch_ranks != 0) return;
  const int T = GENERATE(101, 1000);
  const int blocks = GENERATE(0, 3);
  const int B = 3;
  for (const bool exact : {true, false}) {
    kelk::SolveOptions opt;
    opt.method = kelk::Method::block_jacobi;
    opt.blocks = blocks;
    opt.record_history = true;
    if (exact) opt.atol = 0.0;
    const double tol = exact ? 0.0 : 1e-6;
    CAPTURE(exact, blocks);
    check_distributed(kelk::make_random_gru<double>(5, 2, 0.5, 1), B, T, batch_ranks, opt, tol,
                      10u + T, 0.5, false);
    check_distributed(kelk::make_random_elman<double>(4, 3, 0.8, 2), B, T, batch_ranks, opt, tol,
                      20u + T, 0.5, false);
    check_distributed(kelk::Lorenz96<double>(5, 0.25, 0.4), B, T, batch_ranks, opt, tol, 30u + T,
                      1.0, false);
    // chaotic: nothing merges, the sweeps walk the blocks
    check_distributed(kelk::Lorenz96<double>(5, 8.0, 0.01), B, T, batch_ranks, opt,
                      exact ? 0.0 : 1e-4, 31u + T, 3.0, false);
  }
  SECTION("a provided initial guess") {
    kelk::SolveOptions opt;
    opt.method = kelk::Method::block_jacobi;
    opt.initial_guess = kelk::InitialGuess::provided;
    opt.atol = 0.0;
    check_distributed(kelk::make_random_gru<double>(5, 2, 0.5, 3), B, T, batch_ranks, opt, 0.0,
                      40u + T, 0.5, false);
  }
}

TEST_CASE("distributed ELK with the smoother, and other options", "[mpi]") {
  const int T = 203, B = 2;
  SECTION("elk and quasi_elk with the RTS smoother") {
    for (const auto method : {kelk::Method::elk, kelk::Method::quasi_elk}) {
      kelk::SolveOptions opt;
      opt.method = method;
      opt.kalman_smoother = true;
      opt.sigma2 = 10.0;
      check_distributed(kelk::make_random_gru<double>(4, 2, 0.8, 3), B, T, 1, opt, 1e-11, 40);
    }
  }
  SECTION("elk and quasi_elk with sigma2 auto: the same accept/reject decisions on every rank") {
    for (const auto method : {kelk::Method::elk, kelk::Method::quasi_elk}) {
      kelk::SolveOptions opt;
      opt.method = method;
      opt.sigma2_auto = true;
      opt.record_history = true;
      check_distributed(kelk::Lorenz96<double>(5, 8.0, 0.01), 1, 400, 1, opt, 1e-9, 45, 2.0);
    }
  }
  SECTION("initial guesses, a fixed iteration count, single precision") {
    kelk::SolveOptions opt;
    opt.method = kelk::Method::quasi_deer;
    opt.initial_guess = kelk::InitialGuess::repeat_s0;
    check_distributed(kelk::make_random_gru<double>(4, 2, 0.5, 4), B, T, 1, opt, 1e-12, 41);
    opt.initial_guess = kelk::InitialGuess::provided;
    opt.max_iter = 3;
    check_distributed(kelk::make_random_gru<double>(4, 2, 0.5, 4), B, T, 1, opt, 1e-12, 42);
    kelk::SolveOptions single;
    single.method = kelk::Method::deer;
    check_distributed(kelk::make_random_gru<float>(4, 2, 0.5, 5), B, T, 1, single, 1e-5, 43);
  }
  SECTION("quasi_deer and quasi_elk with Jacobian blocks (filter, smoother, sigma2 auto)") {
    for (int variant = 0; variant < 4; ++variant) {
      kelk::SolveOptions opt;
      opt.method = variant == 0 ? kelk::Method::quasi_deer : kelk::Method::quasi_elk;
      opt.jacobian_structure = kelk::JacobianStructure::block;
      opt.block_size = 2;
      opt.record_history = true;
      opt.kalman_smoother = variant == 2;
      opt.sigma2_auto = variant == 3;
      if (variant == 2) opt.sigma2 = 10.0;
      CAPTURE(variant);
      check_distributed(kelk::make_random_gru<double>(4, 2, 0.8, 3), B, T, 1, opt, 1e-11, 46);
      check_distributed(kelk::Lorenz96<double>(6, 0.25, 0.4), B, T, 1, opt, 1e-11, 47, 1.0);
      check_distributed(kelk::make_pendulum_chain<double>(3), B, T, 1, opt, 1e-11, 48);
    }
  }
  SECTION("many chunks per block: the nested pass over chunk summaries and block summaries") {
    for (const auto method : {kelk::Method::deer, kelk::Method::quasi_deer, kelk::Method::elk,
                              kelk::Method::quasi_elk}) {
      kelk::SolveOptions opt;
      opt.method = method;
      opt.chunks = 300;  // >= kelk::nested_propagate_min_chunks on every block
      if (method == kelk::Method::elk || method == kelk::Method::quasi_elk) {
        opt.kalman_smoother = true;
        opt.sigma2 = 10.0;
      }
      check_distributed(kelk::make_random_gru<double>(4, 2, 0.5, 6), B, 1400, 1, opt, 1e-11, 44);
    }
  }
}

TEST_CASE("the solver duplicates the communicator", "[mpi]") {
  MPI_Comm mine;
  MPI_Comm_dup(MPI_COMM_WORLD, &mine);
  {
    const kelk::DistributedSolver solver(mine, 1, 100);
    int same = MPI_UNEQUAL;
    MPI_Comm_compare(mine, solver.comm(), &same);
    CHECK(same == MPI_CONGRUENT);
  }
  // still the caller's, still usable
  int size = 0;
  MPI_Comm_size(mine, &size);
  CHECK(size == world_size());
  MPI_Barrier(mine);
  MPI_Comm_free(&mine);
}

TEST_CASE("impossible splits and bad blocks fail on every rank", "[mpi]") {
  const int n = world_size();
  if (n > 1) {
    CHECK_THROWS_WITH(kelk::DistributedSolver(MPI_COMM_WORLD, 1, n - 1),
                      Catch::Contains("more ranks along time"));
  }
  if (n > 2) {
    CHECK_THROWS_WITH(kelk::DistributedSolver(MPI_COMM_WORLD, 4, 100, n - 1),
                      Catch::Contains("must divide"));
  }
  // one rank is given data of the wrong shape: every rank throws its message
  const auto map = kelk::make_random_gru<double>(3, 1, 0.5, 1);
  const kelk::DistributedSolver solver(MPI_COMM_WORLD, 2, 40);
  const auto& part = solver.partition();
  const int wrong = world_rank() == n - 1 ? 1 : 0;
  auto p = kelk_test::random_problem<double>(2, part.local_length() + wrong, 3, 1, 5);
  kelk::SequenceView<double> states("states", 2, part.local_length() + wrong, 3);
  CHECK_THROWS_WITH(solver.solve(map, p.s0, p.inputs, states),
                    Catch::Contains("rank " + std::to_string(n - 1)));
  // NaN in one rank's inputs
  auto q = kelk_test::random_problem<double>(2, part.local_length(), 3, 1, 6);
  if (world_rank() == 0) Kokkos::deep_copy(Kokkos::subview(q.inputs, 1, 0, 0), std::nan(""));
  kelk::SequenceView<double> out("out", 2, part.local_length(), 3);
  CHECK_THROWS_WITH(solver.solve(map, q.s0, q.inputs, out), Catch::Contains("inputs contain NaN"));
}

TEST_CASE("blocks cut out of global arrays with kelk::local_block", "[mpi][local_block]") {
  const auto map = kelk::make_random_gru<double>(4, 2, 0.5, 3);
  const int B = GENERATE(1, 3), T = 101;
  const int batch_ranks = B == 3 && world_size() % 3 == 0 ? 3 : 1;
  auto p = kelk_test::random_problem<double>(B, T, 4, 2, 17);
  const auto reference = kelk_test::plain_loop(map, p.s0, p.inputs);

  const kelk::DistributedSolver solver(MPI_COMM_WORLD, B, T, batch_ranks);
  const auto& part = solver.partition();
  kelk::SequenceView<double> global("global", B, T, 4);
  Kokkos::deep_copy(global, 5.0);
  const auto s0 = kelk::local_block(part, p.s0);
  const auto inputs = kelk::local_block(part, p.inputs);
  const auto states = kelk::local_block(part, global);
  CHECK(states.extent(0) == std::size_t(part.local_batch()));
  CHECK(states.extent(1) == std::size_t(part.local_length()));
  kelk::SolveOptions o;
  o.method = kelk::Method::deer;
  const auto r = solver.solve(map, s0, inputs, states, o);
  CAPTURE(B, world_rank(), part.time_begin, part.time_end);
  CHECK(r.converged);
  // this rank's block equals the sequential evaluation there, and nothing else was written
  CHECK(kelk_test::max_abs_diff(states, kelk::local_block(part, reference)) <= 1e-12);
  const auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), global);
  int outside = 0;
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < T; ++t)
      if ((b < part.batch_begin || b >= part.batch_end || t < part.time_begin ||
           t >= part.time_end) &&
          h(b, t, 0) != 5.0)
        ++outside;
  CHECK(outside == 0);

  // the adjoint takes the same cuts, with the results of contiguous blocks (bitwise: sequential)
  kelk::SequenceView<double> cot("cot", B, T, 4);
  Kokkos::deep_copy(cot, 0.25);
  const auto gradients = [&] {
    return kelk::Gradients<double>{kelk::BatchView<double>("ds0", part.local_batch(), 4), {},
                                   Kokkos::View<double*>("dtheta", kelk::parameter_count(map)),
                                   {}};
  };
  const auto cut = gradients(), packed = gradients();
  kelk::AdjointOptions a;
  a.method = kelk::AdjointMethod::sequential;
  solver.solve_adjoint(map, s0, inputs, kelk::local_block(part, reference),
                       kelk::local_block(part, cot), cut, a);
  solver.solve_adjoint(map, rows_of(p.s0, part), block_of(p.inputs, part),
                       block_of(reference, part), block_of(cot, part), packed, a);
  const auto h_cut = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), cut.parameters);
  const auto h_packed =
      Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), packed.parameters);
  CHECK(std::equal(h_cut.data(), h_cut.data() + h_cut.size(), h_packed.data()));

  // a global array of the wrong shape is named
  kelk::SequenceView<double> wrong("wrong", B, T - 1, 4);
  CHECK_THROWS_WITH(kelk::local_block(part, wrong), Catch::Contains("kelk::local_block"));
}
