// kelk-checksum-cost: the time kelk::hdf5 takes to write and read back a (1, T, 8) double
// dataset collectively, with and without the fletcher32 checksums kelk's output and checkpoint
// files carry (docs/PERFORMANCE.md). Three rounds of each; the file is removed at the end.
//
//   mpirun -np 2 --bind-to core build/apps/kelk-checksum-cost [T (default 1e7)] [folder (.)]
#include <kelk/kelk_hdf5.hpp>

#include <mpi.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const std::size_t T = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 10000000, D = 8;
  const std::string path = std::string(argc > 2 ? argv[2] : ".") + "/kelk_checksum_cost.h5";
  const std::size_t lT = T / size;
  std::vector<double> data(lT * D);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = 1e-3 * double(i % 9973) + rank;
  const auto seconds_since = [](std::chrono::steady_clock::time_point t0) {
    MPI_Barrier(MPI_COMM_WORLD);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  int code = 0;
  try {
    for (int round = 0; round < 3; ++round)
      for (const bool checksum : {false, true}) {
        if (rank == 0) ::unlink(path.c_str());
        MPI_Barrier(MPI_COMM_WORLD);
        auto t0 = std::chrono::steady_clock::now();
        {
          auto file = kelk::hdf5::File::create_new(path, MPI_COMM_WORLD);
          file.create_dataset<double>("states", {1, lT * size, D}, checksum);
          file.write_slab<double>("states", {0, rank * lT, 0}, {1, lT, D}, data.data());
          file.close();
        }
        const double write = seconds_since(t0);
        t0 = std::chrono::steady_clock::now();
        {
          const auto file = kelk::hdf5::File::open_read(path, MPI_COMM_WORLD);
          const auto back = file.read_slab<double>("states", {0, rank * lT, 0}, {1, lT, D});
          if (back != data) throw std::runtime_error("the data read back differ");
        }
        const double read = seconds_since(t0);
        if (rank == 0)
          std::printf("ranks %d, %.0f MB, checksum %s: write %.3f s, read %.3f s\n", size,
                      double(lT * size * D * sizeof(double)) / 1e6, checksum ? "yes" : "no ",
                      write, read);
      }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kelk-checksum-cost: error: %s\n", e.what());
    code = 1;
  }
  if (rank == 0) ::unlink(path.c_str());
  MPI_Finalize();
  return code;
}
