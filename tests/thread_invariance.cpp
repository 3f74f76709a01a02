// Thread-count invariance: `write FILE` solves a fixed set of problems with every method and
// stores iterations and states; `compare A B` checks that two such files (written with
// different thread counts) agree to round-off. CTest runs write with 1 and 2 threads, then
// compare.
#include "test_common.hpp"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace {

struct Case {
  std::string name;
  int iterations;
  std::vector<double> states;
};

template <class Map>
void run_all(const std::string& name, const Map& map, std::vector<Case>& out) {
  const int B = 2, T = 20000, D = map.state_dim();
  auto p = kelk_test::random_problem<double>(B, T, D, map.input_dim(), 42, 1.0);
  for (const auto method : kelk::all_methods()) {
    kelk::SequenceView<double> states("states", B, T, D);
    kelk::SolveOptions opt;
    opt.method = method;
    const auto r = kelk::solve(map, p.s0, p.inputs, states, opt);
    auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), states);
    out.push_back({name + "/" + kelk::to_string(method), r.iterations,
                   std::vector<double>(h.data(), h.data() + h.span())});
  }
  // block_jacobi's automatic block count depends on the thread count; a fixed one must not
  kelk::SequenceView<double> states("states", B, T, D);
  kelk::SolveOptions opt;
  opt.method = kelk::Method::block_jacobi;
  opt.blocks = 7;
  const auto r = kelk::solve(map, p.s0, p.inputs, states, opt);
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), states);
  out.push_back({name + "/block_jacobi_7", r.iterations,
                 std::vector<double>(h.data(), h.data() + h.span())});
}

void write(const std::string& path) {
  std::vector<Case> cases;
  run_all("elman", kelk::make_random_elman<double>(8, 3, 0.8, 1), cases);
  run_all("gru", kelk::make_random_gru<double>(8, 3, 0.5, 2), cases);
  run_all("lorenz96", kelk::Lorenz96<double>(5, 0.25, 0.4), cases);
  std::ofstream f(path, std::ios::binary);
  for (const auto& c : cases) {
    const std::size_t n = c.states.size(), len = c.name.size();
    f.write(reinterpret_cast<const char*>(&len), sizeof len);
    f.write(c.name.data(), std::streamsize(len));
    f.write(reinterpret_cast<const char*>(&c.iterations), sizeof c.iterations);
    f.write(reinterpret_cast<const char*>(&n), sizeof n);
    f.write(reinterpret_cast<const char*>(c.states.data()), std::streamsize(n * sizeof(double)));
  }
  std::printf("wrote %zu cases with concurrency %d to %s\n", cases.size(),
              Kokkos::DefaultExecutionSpace().concurrency(), path.c_str());
}

std::vector<Case> read(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  std::vector<Case> cases;
  std::size_t len = 0;
  while (f.read(reinterpret_cast<char*>(&len), sizeof len)) {
    Case c;
    c.name.resize(len);
    std::size_t n = 0;
    f.read(&c.name[0], std::streamsize(len));
    f.read(reinterpret_cast<char*>(&c.iterations), sizeof c.iterations);
    f.read(reinterpret_cast<char*>(&n), sizeof n);
    c.states.resize(n);
    f.read(reinterpret_cast<char*>(c.states.data()), std::streamsize(n * sizeof(double)));
    cases.push_back(std::move(c));
  }
  return cases;
}

int compare(const std::string& a, const std::string& b) {
  const auto ca = read(a), cb = read(b);
  if (ca.empty() || ca.size() != cb.size()) {
    std::printf("FAIL: %zu vs %zu cases\n", ca.size(), cb.size());
    return 1;
  }
  int failures = 0;
  for (std::size_t i = 0; i < ca.size(); ++i) {
    double dev = 0;
    bool same_shape = ca[i].states.size() == cb[i].states.size();
    for (std::size_t j = 0; same_shape && j < ca[i].states.size(); ++j)
      dev = std::max(dev, std::abs(ca[i].states[j] - cb[i].states[j]));
    const bool ok = ca[i].name == cb[i].name && same_shape &&
                    ca[i].iterations == cb[i].iterations && dev <= 1e-12;
    std::printf("%-22s iterations %4d vs %4d  max|difference| %.3e  %s\n", ca[i].name.c_str(),
                ca[i].iterations, cb[i].iterations, dev, ok ? "ok" : "FAIL");
    failures += ok ? 0 : 1;
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char* argv[]) {
  if (argc >= 3 && std::string(argv[1]) == "write") {  // Kokkos arguments may follow
    kelk::ScopeGuard guard(argc, argv);
    write(argv[2]);
    return 0;
  }
  if (argc == 4 && std::string(argv[1]) == "compare") return compare(argv[2], argv[3]);
  std::fprintf(stderr, "usage: %s write FILE | compare FILE_A FILE_B\n", argv[0]);
  return 2;
}
