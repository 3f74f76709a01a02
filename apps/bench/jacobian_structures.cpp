// What the Jacobian structure of quasi-DEER buys (docs/PERFORMANCE.md "Jacobian structures"):
//   1. iterations and time of quasi_deer with the diagonal, 2 x 2 and 4 x 4 blocks and the dense
//      Jacobian (deer), against sequential and block_jacobi, on a chain of 8 damped, driven,
//      spring-coupled pendulums (D = 16), a contracting GRU (D = 16), a contracting
//      Lorenz-96 (D = 16) and the shipped autoregressive GRU (D = 4, with HDF5), at each T;
//   2. what method = "auto" measures and chooses there, and its own cost against the solve;
//   3. the affine scan's cost per step with diagonal, block (k = 2, 4, 8) and dense elements at
//      D = 16 and 64.
// Every ratio compares two times of the same run. Iterative solves stop at `cap` iterations.
//
//   OMP_PROC_BIND=false build/apps/kelk-structures [--kokkos-num-threads=2] [T ...] [--cap N]
//       [--argru input/argru/argru_weights.h5]
#include "../random_normals.hpp"

#include <kelk/kelk.hpp>
#include <kelk/kelk_map_pendulum_chain.hpp>

#include <Kokkos_Core.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Space = Kokkos::DefaultExecutionSpace;

template <class View>
void fill_normal(const View& v, std::uint64_t seed, double scale) {
  const auto z = kelk::apps::standard_normals(v.span(), seed, scale);
  auto h = Kokkos::create_mirror_view(v);
  for (std::size_t i = 0; i < v.span(); ++i) h.data()[i] = z[i];
  Kokkos::deep_copy(v, h);
}

struct Case {
  const char* label;
  kelk::Method method;
  kelk::JacobianStructure structure;
  int k;
};

template <class Map>
void compare(const char* name, const Map& map, int T, int cap, double s0_scale, double drive,
             bool table = true) {
  const int B = 1, D = map.state_dim(), Din = map.input_dim();
  kelk::BatchView<double> s0("s0", B, D);
  kelk::SequenceView<double> inputs("inputs", B, T, Din), states("states", B, T, D),
      reference("reference", B, T, D);
  fill_normal(s0, 1, s0_scale);
  fill_normal(inputs, 2, drive);
  const Space space;
  const auto timed = [&](const kelk::SolveOptions& o, const kelk::SequenceView<double>& out) {
    space.fence();
    Kokkos::Timer timer;
    const auto r = kelk::solve(space, map, s0, inputs, out, o);
    space.fence();
    return std::make_pair(r, timer.seconds());
  };
  kelk::SolveOptions seq;
  seq.method = kelk::Method::sequential;
  timed(seq, reference);  // warm-up
  const double t_seq = timed(seq, reference).second;
  const Case cases[] = {
      {"block_jacobi", kelk::Method::block_jacobi, kelk::JacobianStructure::diagonal, 0},
      {"quasi_deer diagonal", kelk::Method::quasi_deer, kelk::JacobianStructure::diagonal, 0},
      {"quasi_deer block 2", kelk::Method::quasi_deer, kelk::JacobianStructure::block, 2},
      {"quasi_deer block 4", kelk::Method::quasi_deer, kelk::JacobianStructure::block, 4},
      {"deer (dense)", kelk::Method::deer, kelk::JacobianStructure::dense, 0},
  };
  std::printf("\n%s, D = %d, T = %d, %d threads: sequential %.4f s\n", name, D, T,
              int(space.concurrency()), t_seq);
  if (table)
    std::printf("  %-22s %10s %10s %10s %12s %12s %10s\n", "method", "iterations", "converged",
                "time [s]", "s/iteration", "time / seq", "max error");
  for (const Case& c : cases) {
    if (!table) break;
    kelk::SolveOptions o;
    o.method = c.method;
    o.jacobian_structure = c.structure;
    o.block_size = c.k;
    if (c.method != kelk::Method::block_jacobi) o.max_iter = cap;
    const auto [r, t] = timed(o, states);
    double error = 0;
    {
      auto a = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), states);
      auto b = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), reference);
      for (std::size_t i = 0; i < a.span(); ++i)
        error = std::max(error, std::abs(a.data()[i] - b.data()[i]));
    }
    std::printf("  %-22s %10d %10s %10.4f %12.3g %12.2f %10.2g\n", c.label, r.iterations,
                r.converged ? "yes" : "no", t, t / std::max(1, r.iterations), t / t_seq, error);
  }
  // method = "auto": its measurements, choice and own cost
  kelk::Resources resources;
  resources.threads = space.concurrency();
  resources.device =
      !Kokkos::SpaceAccessibility<Kokkos::HostSpace, Space::memory_space>::accessible;
  Kokkos::Timer timer;
  const auto probe = kelk::probe(space, map, s0, inputs);
  const double t_probe = timer.seconds();
  const auto choice = kelk::choose_method(space, map, s0, inputs, probe, resources);
  kelk::SolveOptions o;
  choice.apply(o);
  const auto [r, t] = timed(o, states);
  std::printf("  auto: %s (%d iterations, %.4f s); probe %.4f s + measurements %.4f s = %.2f of "
              "the solve\n    %s\n",
              kelk::impl::candidate_name(choice.method, choice.structure, choice.block_size).c_str(),
              r.iterations, t, t_probe, choice.seconds, (t_probe + choice.seconds) / t,
              choice.reason.c_str());
}

/// One affine scan's time per step with the given elements (ChunkedScan, default chunks).
template <class Algebra>
double scan_seconds(const Algebra& algebra, const kelk::SequenceView<double>& b0,
                    double summary_cost) {
  const Space space;
  kelk::ChunkedScan<Space, Algebra> scan(
      space, algebra, kelk::default_chunks(space, algebra.batch(), algebra.length(), summary_cost));
  double best = 1e300;
  for (int repeat = 0; repeat < 3; ++repeat) {
    Kokkos::deep_copy(algebra.b, b0);
    space.fence();
    Kokkos::Timer timer;
    scan.run(algebra);
    space.fence();
    best = std::min(best, timer.seconds());
  }
  return best / double(algebra.batch()) / double(algebra.length());
}

/// A (B, T, D, k) View of k x k blocks (k = D: dense) near 0.95 I, so that products over a chunk
/// neither grow nor underflow to subnormal numbers (which would time the FPU's slow path).
template <class View>
void fill_near_identity(const View& v, int D, int k, std::uint64_t seed) {
  const auto z = kelk::apps::standard_normals(v.span(), seed, 0.02 / k);
  auto h = Kokkos::create_mirror_view(v);
  for (std::size_t i = 0; i < v.span(); ++i) {
    const std::size_t row = i / k, col = i % k;  // row of the D rows of one step, column in block
    h.data()[i] = z[i] + (int(row % D) % k == int(col) ? 0.95 : 0.0);
  }
  Kokkos::deep_copy(v, h);
}

void scan_costs(int D, int T) {
  const int B = 1;
  using Memory = Space::memory_space;
  kelk::SequenceView<double> b0("b0", B, T, D), b("b", B, T, D), a("a", B, T, D);
  fill_normal(b0, 3, 1.0);
  fill_near_identity(a, D, 1, 4);
  std::printf("  D = %3d:  diagonal %8.3g", D,
              scan_seconds(kelk::DiagonalAffineAlgebra<double, Memory>{a, b}, b0, 1.0) * 1e9);
  for (const int k : {2, 4, 8}) {
    Kokkos::View<double***, Kokkos::LayoutRight, Memory> A("A", B, T, D * k);
    fill_near_identity(A, D, k, 5);
    std::printf("   block %d %8.3g", k,
                scan_seconds(kelk::BlockAffineAlgebra<double, Memory>{A, b, k}, b0, double(k)) *
                    1e9);
  }
  Kokkos::View<double****, Kokkos::LayoutRight, Memory> A("A", B, T, D, D);
  fill_near_identity(A, D, D, 6);
  std::printf("   dense %8.3g  ns per step\n",
              scan_seconds(kelk::DenseAffineAlgebra<double, Memory>{A, b}, b0, double(D)) * 1e9);
}

}  // namespace

int main(int argc, char* argv[]) {
  kelk::ScopeGuard guard(argc, argv);
  std::vector<int> Ts;
  int cap = 2000;
  std::string argru = "input/argru/argru_weights.h5";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--cap") == 0 && i + 1 < argc)
      cap = std::atoi(argv[++i]);
    else if (std::strcmp(argv[i], "--argru") == 0 && i + 1 < argc)
      argru = argv[++i];
    else if (argv[i][0] != '-')
      Ts.push_back(int(std::atof(argv[i])));
  }
  if (Ts.empty()) Ts = {10000};
  for (const int T : Ts) {
    compare("pendulum chain (8 pendulums)", kelk::make_pendulum_chain<double>(8), T, cap, 0.5, 1.0);
    compare("GRU (recurrent norm 0.5)", kelk::make_random_gru<double>(16, 4, 0.5, 3), T, cap, 0.5,
            1.0);
    compare("Lorenz-96 (F = 0.25, dt = 0.4)", kelk::Lorenz96<double>(16, 0.25, 0.4), T, cap, 1.0,
            1.0);
#ifdef KELK_HAVE_HDF5
    compare("AR GRU (shipped weights)", kelk::load_argru<double>(argru), T, cap, 0.0, 1.0);
#endif
    // chaotic: every parallel method needs about T iterations; auto's choice only
    compare("Lorenz-96 (F = 8, dt = 0.01), chaotic", kelk::Lorenz96<double>(16, 8.0, 0.01), T, cap,
            3.0, 1.0, false);
  }
  std::printf("\naffine scan, cost per step (B = 1, T = 1e4, %d threads):\n",
              int(Space().concurrency()));
  for (const int D : {16, 64}) scan_costs(D, 10000);
  return 0;
}
