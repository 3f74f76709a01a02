// The Kokkos 3 / 4 shims of impl/kelk_compat.hpp that are checkable on any version.
#include "test_common.hpp"

#include <kelk/impl/kelk_compat.hpp>
#include <kelk/impl/kelk_dense.hpp>

#include <string>
#include <vector>

TEST_CASE("the thread-count flag is translated to this Kokkos' spelling", "[compat]") {
#if KOKKOS_VERSION >= 40000
  const std::string mine = "--kokkos-num-threads", other = "--kokkos-threads";
#else
  const std::string mine = "--kokkos-threads", other = "--kokkos-num-threads";
#endif
  std::vector<std::string> in = {"prog",        other + "=3",      mine + "=5", "--other=1",
                                 other + "x=2", "--kokkos-numa=1", other};
  std::vector<char*> argv;
  for (auto& a : in) argv.push_back(&a[0]);
  kelk::impl::translate_kokkos_arguments(int(argv.size()), argv.data());
  CHECK(std::string(argv[0]) == "prog");
  CHECK(std::string(argv[1]) == mine + "=3");
  CHECK(std::string(argv[2]) == mine + "=5");
  CHECK(std::string(argv[3]) == "--other=1");
  CHECK(std::string(argv[4]) == other + "x=2");  // a longer flag is not this one
  CHECK(std::string(argv[5]) == "--kokkos-numa=1");
  CHECK(std::string(argv[6]) == mine);
}

TEST_CASE("the serial gemv of this Kokkos Kernels computes A x and A^T x", "[compat]") {
  // 3 x 2 row-major A
  Kokkos::View<double*, Kokkos::HostSpace> A("A", 6), x("x", 3), y("y", 3);
  for (int i = 0; i < 6; ++i) A(i) = 1.0 + i;
  x(0) = 1, x(1) = -2, x(2) = 0.5;
  y(0) = 10, y(1) = 20, y(2) = 30;
  // y = 2 A x[0..1] + 1 y: rows (1 2), (3 4), (5 6)
  kelk::impl::gemv(2.0, A.data(), 3, 2, x.data(), 1.0, y.data());
  CHECK(y(0) == 10 + 2 * (1 * 1 + 2 * -2));
  CHECK(y(1) == 20 + 2 * (3 * 1 + 4 * -2));
  CHECK(y(2) == 30 + 2 * (5 * 1 + 6 * -2));
  // y[0..1] = A^T x: columns (1 3 5), (2 4 6)
  kelk::impl::gemv_t(1.0, A.data(), 3, 2, x.data(), 0.0, y.data());
  CHECK(y(0) == 1 * 1 + 3 * -2 + 5 * 0.5);
  CHECK(y(1) == 2 * 1 + 4 * -2 + 6 * 0.5);
}
