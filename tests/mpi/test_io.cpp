// The HDF5 file schema: model and input files written and read back, output files written by
// every rank's slab and read back by any rank count.
#include "../test_common.hpp"
#include "mpi_common.hpp"

#include <mpi.h>
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace {

using kelk_test::world_rank;
using kelk_test::world_size;

/// A test file name shared by all ranks (under the ctest working folder).
std::string shared_name(const std::string& stem) {
  return stem + "_np" + std::to_string(world_size()) + ".h5";
}

bool file_exists(const std::string& path) {
  return std::ifstream(path).good();
}

/// The value of global entry (b, t, d) in the round-trip files.
double pattern(int b, int t, int d) {
  return 1e4 * b + t + 0.125 * d;
}

const int B = 3, T = 101, D = 4;

kelk::SequenceView<double> pattern_block(const kelk::Partition& part) {
  kelk::SequenceView<double> v("pattern", part.local_batch(), part.local_length(), D);
  auto h = Kokkos::create_mirror_view(v);
  for (int b = 0; b < part.local_batch(); ++b)
    for (int t = 0; t < part.local_length(); ++t)
      for (int d = 0; d < D; ++d)
        h(b, t, d) = pattern(part.batch_begin + b, part.time_begin + t, d);
  Kokkos::deep_copy(v, h);
  return v;
}

void write_pattern(const std::string& path) {
  const int n = world_size();
  const kelk::Partition part(B, T, n, world_rank(), n % 2 == 0 ? 2 : 1);
  kelk::SolveResult result;
  result.method = kelk::Method::deer;
  result.iterations = 7;
  result.history = {{1, 0.5, 0.25}, {2, 0.125, 0.0625}};
  kelk::SolveOptions options;
  options.method = kelk::Method::deer;
  auto attributes = kelk::io::describe(options, result);
  attributes.push_back({"ranks", std::int64_t(n)});
  kelk::io::write_output(path, MPI_COMM_WORLD, part, pattern_block(part), result, attributes);
}

/// Reads `path` with this run's rank count and a batch x time split, and checks every entry.
void check_pattern(const std::string& path, int written_by) {
  const int n = world_size();
  for (int batch_ranks : {1, 3}) {
    if (n % batch_ranks != 0) continue;
    const kelk::Partition part(B, T, n, world_rank(), batch_ranks);
    const auto states = kelk::io::read_states_block<double>(path, MPI_COMM_WORLD, part);
    CAPTURE(batch_ranks, world_rank());
    CHECK(kelk_test::max_abs_diff(states, pattern_block(part)) == 0.0);
  }
  const auto file = kelk::hdf5::File::open_read(path);
  CHECK(file.read_attribute<std::string>("method") == "deer");
  CHECK(file.read_attribute<std::int64_t>("iterations") == 7);
  CHECK(file.read_attribute<std::int64_t>("ranks") == written_by);
  CHECK(file.read<double>("history/max_update", {2}) == std::vector<double>{0.5, 0.125});
  CHECK(file.read<std::int64_t>("history/iteration", {2}) == std::vector<std::int64_t>{1, 2});
}

}  // namespace

TEST_CASE("output files: every rank writes its slab, any rank count reads them", "[io]") {
  const std::string path = shared_name("roundtrip");
  write_pattern(path);
  MPI_Barrier(MPI_COMM_WORLD);
  check_pattern(path, world_size());
  // written under a temporary name and renamed: nothing else is left in the folder
  CHECK_FALSE(file_exists(path + ".tmp"));
  MPI_Barrier(MPI_COMM_WORLD);
  if (world_rank() == 0) std::remove(path.c_str());
}

// Run by CTest as a pair: written with 4 ranks, read back with 1 and with 3.
TEST_CASE("write the cross-rank-count file", "[.io_cross_write]") {
  write_pattern(std::getenv("KELK_CROSS_FILE"));
}
TEST_CASE("read the cross-rank-count file", "[.io_cross_read]") {
  check_pattern(std::getenv("KELK_CROSS_FILE"), 4);
}

TEST_CASE("a failed output write leaves no file behind", "[io]") {
  const int n = world_size();
  const kelk::Partition part(B, T, n, world_rank(), 1);
  const std::string path = "no_such_folder/states.h5";
  CHECK_THROWS(kelk::io::check_writable(path, MPI_COMM_WORLD));
  CHECK_THROWS(kelk::impl::collective_check(MPI_COMM_WORLD, [&] {
    kelk::io::write_output(path, MPI_COMM_WORLD, part, pattern_block(part), {}, {});
  }));
  CHECK_FALSE(file_exists(path));
}

TEST_CASE("model and input files round-trip", "[io]") {
  const std::string stem = "model_rank" + std::to_string(world_rank());
  SECTION("gru") {
    const auto gru = kelk::make_random_gru<double>(5, 3, 0.7, 9);
    kelk::io::write_model(stem + ".h5", gru);
    const auto file = kelk::hdf5::File::open_read(stem + ".h5");
    CHECK(kelk::io::model_kind(file) == kelk::io::ModelKind::gru);
    const auto back = kelk::io::read_gru<double>(file);
    // the same map: same trajectory
    auto p = kelk_test::random_problem<double>(2, 50, 5, 3, 1);
    CHECK(kelk_test::max_abs_diff(kelk_test::plain_loop(gru, p.s0, p.inputs),
                                  kelk_test::plain_loop(back, p.s0, p.inputs)) == 0.0);
  }
  SECTION("lstm") {
    const auto lstm = kelk::make_random_lstm<double>(3, 2, 0.7, 10, 1.0);
    kelk::io::write_model(stem + ".h5", lstm);
    const auto file = kelk::hdf5::File::open_read(stem + ".h5");
    CHECK(kelk::io::model_kind(file) == kelk::io::ModelKind::lstm);
    auto p = kelk_test::random_problem<double>(2, 50, 6, 2, 3);
    const auto loaded = kelk::io::with_model<double>(stem + ".h5", [&](const auto& back) {
      return kelk_test::plain_loop(back, p.s0, p.inputs);
    });
    CHECK(kelk_test::max_abs_diff(kelk_test::plain_loop(lstm, p.s0, p.inputs), loaded) == 0.0);
  }
  SECTION("elman and lorenz96") {
    const auto elman = kelk::make_random_elman<double>(4, 2, 0.9, 3);
    kelk::io::write_model(stem + ".h5", elman);
    auto p = kelk_test::random_problem<double>(1, 30, 4, 2, 2);
    {
      const auto back = kelk::io::read_elman<double>(kelk::hdf5::File::open_read(stem + ".h5"));
      CHECK(kelk_test::max_abs_diff(kelk_test::plain_loop(elman, p.s0, p.inputs),
                                    kelk_test::plain_loop(back, p.s0, p.inputs)) == 0.0);
    }
    kelk::io::write_model(stem + ".h5", kelk::Lorenz96<double>(6, 7.5, 0.02));
    const auto l = kelk::io::read_lorenz96<double>(kelk::hdf5::File::open_read(stem + ".h5"));
    CHECK(l.D == 6);
    CHECK(l.forcing == 7.5);
    CHECK(l.dt == 0.02);
  }
  SECTION("inputs, read back by slabs") {
    const kelk::io::InputShape shape{3, 17, 2, 5};
    std::vector<double> s0(3 * 2), in(3 * 17 * 5);
    for (std::size_t i = 0; i < s0.size(); ++i) s0[i] = 0.5 * double(i);
    for (std::size_t i = 0; i < in.size(); ++i) in[i] = double(i);
    kelk::io::write_inputs(stem + ".h5", shape, s0, in);
    const kelk::Partition part(3, 17, 3, 2, 3);  // the third of three batch ranks
    const auto block =
        kelk::io::read_input_block<float>(kelk::hdf5::File::open_read(stem + ".h5"), part);
    auto hs = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), block.s0);
    auto hi = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), block.inputs);
    CHECK(hs(0, 1) == 2.5f);                    // s0[2][1]
    CHECK(hi(0, 16, 4) == float(2 * 85 + 84));  // inputs[2][16][4]
  }
  std::remove((stem + ".h5").c_str());
}
