// A complete MPI program with kelk::DistributedSolver, quoted in README.md ("Distributed solves
// over MPI ranks"): every rank holds the same global arrays, cuts its block out of them with
// kelk::local_block, and solves it with deer; each rank then checks its block against the
// sequential evaluation of the whole problem. Built and run by CTest at 1 and 2 ranks:
//   mpirun -np 2 build/tests/kelk-distributed-example
//   rank 0 of 2: sequences [0, 2) x steps [0, 500): deer converged in 4 iterations, max |s - sequential| = 4.4e-16
//   rank 1 of 2: sequences [0, 2) x steps [500, 1000): deer converged in 4 iterations, max |s - sequential| = 3.3e-16
#include <kelk/kelk.hpp>

#include <mpi.h>

#include <cmath>
#include <cstdio>
#include <exception>

int main(int argc, char* argv[]) {
  MPI_Init(&argc, &argv);  // MPI first, then Kokkos; Kokkos is finalised before MPI
  int failed = 0, rank = 0, ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  {
    kelk::ScopeGuard guard(argc, argv);  // Kokkos, until the end of this scope
    const int B = 2, T = 1000, D = 8, Din = 3;
    const auto map = kelk::make_random_gru<double>(D, Din, /*recurrent_norm=*/0.5, /*seed=*/1);

    // The global arrays, identical on every rank (a real code would read only its block).
    kelk::BatchView<double> s0("s0", B, D);               // (B, D)
    kelk::SequenceView<double> u("u", B, T, Din);         // (B, T, Din)
    kelk::SequenceView<double> s("s", B, T, D);           // (B, T, D), the result
    auto h0 = Kokkos::create_mirror_view(s0);
    auto hu = Kokkos::create_mirror_view(u);
    for (int b = 0; b < B; ++b) {
      for (int d = 0; d < D; ++d) h0(b, d) = 0.1 * std::cos(b + d);
      for (int t = 0; t < T; ++t)
        for (int i = 0; i < Din; ++i) hu(b, t, i) = std::sin(0.01 * t * (i + 1) + b);
    }
    Kokkos::deep_copy(s0, h0);
    Kokkos::deep_copy(u, hu);

    try {
      // Collective: splits the T steps over the ranks (batch_ranks = 1: every rank has all B
      // sequences). partition() says which block this rank owns.
      const kelk::DistributedSolver solver(MPI_COMM_WORLD, B, T, /*batch_ranks=*/1);
      const kelk::Partition& part = solver.partition();
      // This rank's block, as subviews of the global arrays (no copy here). s0 is the initial
      // states of this rank's sequences: the first time rank starts from it, the later ones
      // from their left neighbour's last states (their s0 is only checked for shape and NaN).
      const auto my_s0 = kelk::local_block(part, s0);  // (local B, D)
      const auto my_u = kelk::local_block(part, u);    // (local B, local T, Din)
      const auto my_s = kelk::local_block(part, s);    // (local B, local T, D): written
      kelk::SolveOptions options;
      options.method = kelk::Method::deer;
      const kelk::SolveResult r = solver.solve(map, my_s0, my_u, my_s, options);  // collective

      // The check: the sequential evaluation of the whole problem, on this rank.
      kelk::SequenceView<double> reference("reference", B, T, D);
      options.method = kelk::Method::sequential;
      kelk::solve(map, s0, u, reference, options);
      const auto hs = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), s);
      const auto hr = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), reference);
      double error = 0;
      for (int b = part.batch_begin; b < part.batch_end; ++b)
        for (int t = part.time_begin; t < part.time_end; ++t)
          for (int d = 0; d < D; ++d) error = std::fmax(error, std::abs(hs(b, t, d) - hr(b, t, d)));
      std::printf("rank %d of %d: sequences [%d, %d) x steps [%d, %d): deer %s in %d iterations, "
                  "max |s - sequential| = %.2g\n",
                  rank, ranks, part.batch_begin, part.batch_end, part.time_begin, part.time_end,
                  r.converged ? "converged" : "did not converge", r.iterations, error);
      failed = !r.converged || !(error <= 1e-10);
    } catch (const std::exception& e) {  // kelk's errors are thrown on every rank alike
      std::fprintf(stderr, "rank %d: %s\n", rank, e.what());
      failed = 1;
    }
  }
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return failed;
}
