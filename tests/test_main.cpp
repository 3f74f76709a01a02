// The test runner: starts Kokkos (unless Catch only lists tests, so that discovery sees no
// Kokkos output) and runs Catch. `--kelk-threads=N` sets the Kokkos thread count, so that
// CTest can register the suite once per thread count.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <kelk/impl/kelk_compat.hpp>

#include <Kokkos_Core.hpp>

#include <cstring>
#include <string>
#include <vector>

int main(int argc, char* argv[]) {
  int threads = -1;
  bool listing = false;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--kelk-threads=", 15) == 0) {
      threads = std::stoi(argv[i] + 15);
      continue;
    }
    if (std::strncmp(argv[i], "--list", 6) == 0 || std::strcmp(argv[i], "-l") == 0 ||
        std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0)
      listing = true;
    args.push_back(argv[i]);
  }
  const int n = static_cast<int>(args.size());
  if (listing) return Catch::Session().run(n, args.data());

  kelk::impl::initialize_kokkos(threads);
  int result = 0;
  {
    Catch::Session session;
    result = session.run(n, args.data());
  }
  Kokkos::finalize();
  return result;
}
