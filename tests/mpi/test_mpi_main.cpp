// The MPI test runner: starts MPI and Kokkos and runs Catch on every rank. Rank 0 reports
// normally; the other ranks report only failures. Any failing rank fails the run.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <kelk/kelk_initialize.hpp>

#include <mpi.h>
#include <Kokkos_Core.hpp>

#include <cstring>
#include <string>
#include <vector>

int main(int argc, char* argv[]) {
  bool listing = false;
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], "--list", 6) == 0 || std::strcmp(argv[i], "-h") == 0 ||
        std::strcmp(argv[i], "--help") == 0)
      listing = true;
  if (listing) return Catch::Session().run(argc, argv);

  MPI_Init(&argc, &argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::vector<char*> args(argv, argv + argc);
  std::string reporter = "--reporter=compact";
  if (rank > 0) args.push_back(&reporter[0]);
  int failures = 0;
  kelk::initialize(argc, argv);
  {
    Catch::Session session;
    failures = session.run(static_cast<int>(args.size()), args.data());
  }
  Kokkos::finalize();
  MPI_Allreduce(MPI_IN_PLACE, &failures, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return failures == 0 ? 0 : 1;
}
