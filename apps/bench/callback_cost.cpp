// What a C or Fortran user pays for handing kelk a step map as host callbacks (kelk.h) instead of
// a C++ functor: the same Elman cell, s+ = tanh(W s + U u + c) written as plain loops, once as a
// functor solved with kelk::solve and once as C callbacks solved with kelk_solve, per step, for
// sequential, deer and block_jacobi at D = 4, 16, 64 (B = 1, Din = 4). Prints a table; each
// ratio compares two times of the same run.
//
//   OMP_NUM_THREADS=1 OMP_PROC_BIND=false build/apps/kelk-callback-cost [T]
#include <kelk/kelk.h>
#include <kelk/kelk.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

namespace {

constexpr int Din = 4;

/// The cell's arithmetic, shared by the functor and the callbacks: the same code in both.
struct Cell {
  int D;
  const double *W, *U, *c;
  KOKKOS_INLINE_FUNCTION void step(const double* s, const double* u, double* f) const {
    for (int i = 0; i < D; ++i) {
      double a = c[i];
      for (int j = 0; j < D; ++j) a += W[i * D + j] * s[j];
      for (int j = 0; j < Din; ++j) a += U[i * Din + j] * u[j];
      f[i] = std::tanh(a);
    }
  }
  KOKKOS_INLINE_FUNCTION void jacobian(const double* s, const double* u, double* f,
                                       double* jac) const {
    step(s, u, f);
    for (int i = 0; i < D; ++i)
      for (int j = 0; j < D; ++j) jac[i * D + j] = (1 - f[i] * f[i]) * W[i * D + j];
  }
  KOKKOS_INLINE_FUNCTION void diagonal(const double* s, const double* u, double* f,
                                       double* d) const {
    step(s, u, f);
    for (int i = 0; i < D; ++i) d[i] = (1 - f[i] * f[i]) * W[i * D + i];
  }
};

struct Functor {
  using value_type = double;
  Cell cell;
  int state_dim() const { return cell.D; }
  int input_dim() const { return Din; }
  int scratch_size() const { return 0; }
  KOKKOS_FUNCTION void step(const double* s, const double* u, double* f, double*) const {
    cell.step(s, u, f);
  }
  KOKKOS_FUNCTION void jacobian(const double* s, const double* u, double* f, double* jac,
                                double*) const {
    cell.jacobian(s, u, f, jac);
  }
  KOKKOS_FUNCTION void jacobian_diagonal(const double* s, const double* u, double* f, double* d,
                                         double*) const {
    cell.diagonal(s, u, f, d);
  }
};

extern "C" int c_step(const double* s, const double* u, double* f, void* context) {
  static_cast<const Cell*>(context)->step(s, u, f);
  return 0;
}
extern "C" int c_jacobian(const double* s, const double* u, double* f, double* jac, void* context) {
  static_cast<const Cell*>(context)->jacobian(s, u, f, jac);
  return 0;
}
extern "C" int c_diagonal(const double* s, const double* u, double* f, double* d, void* context) {
  static_cast<const Cell*>(context)->diagonal(s, u, f, d);
  return 0;
}

template <class F>
double best_of(int runs, F&& f) {
  double best = 1e300;
  for (int r = 0; r < runs; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace

int main(int argc, char* argv[]) {
  kelk::ScopeGuard guard(argc, argv);
  const int T = argc > 1 ? std::atoi(argv[1]) : 20000;
  std::printf("callback map (kelk.h) against the same cell as a C++ functor; B = 1, Din = %d, "
              "T = %d, %d thread(s); best of 3\n",
              Din, T, Kokkos::DefaultExecutionSpace().concurrency());
  std::printf("%-4s %-13s %14s %14s %8s %10s\n", "D", "method", "functor us/step",
              "callback us/step", "ratio", "max diff");
  for (const int D : {4, 16, 64}) {
    std::mt19937_64 rng(D);
    std::uniform_real_distribution<double> uni(-1, 1);
    std::vector<double> W(D * D), U(D * Din), c(D), s0(D), u(std::size_t(T) * Din);
    for (auto& x : W) x = 0.5 * uni(rng) / std::sqrt(double(D));
    for (auto* v : {&U, &c, &s0, &u})
      for (auto& x : *v) x = uni(rng);
    const Cell cell{D, W.data(), U.data(), c.data()};
    const Functor functor{cell};
    kelk_map* map = nullptr;
    const kelk_callbacks callbacks{c_step, c_jacobian, c_diagonal, nullptr,
                                   const_cast<Cell*>(&cell)};
    if (kelk_map_create_callbacks(&map, D, Din, &callbacks) != KELK_SUCCESS) {
      std::fprintf(stderr, "%s\n", kelk_last_error());
      return 1;
    }
    using Host = Kokkos::HostSpace;
    kelk::BatchView<const double, Host> s0v(s0.data(), 1, D);
    kelk::SequenceView<const double, Host> uv(u.data(), 1, T, Din);
    std::vector<double> a(std::size_t(T) * D), b(std::size_t(T) * D);
    kelk::SequenceView<double, Host> av(a.data(), 1, T, D);
    for (const auto m : {kelk::Method::sequential, kelk::Method::deer, kelk::Method::block_jacobi}) {
      kelk::SolveOptions o;
      o.method = m;
      kelk_options co;
      kelk_options_default(&co);
      co.method = m == kelk::Method::sequential ? KELK_METHOD_SEQUENTIAL
                  : m == kelk::Method::deer     ? KELK_METHOD_DEER
                                                : KELK_METHOD_BLOCK_JACOBI;
      const double tf = best_of(3, [&] {
        kelk::solve(Kokkos::DefaultHostExecutionSpace(), functor, s0v, uv, av, o);
      });
      const double tc = best_of(3, [&] {
        if (kelk_solve(map, 1, T, s0.data(), u.data(), b.data(), &co, nullptr) != KELK_SUCCESS)
          std::fprintf(stderr, "%s\n", kelk_last_error());
      });
      double diff = 0;
      for (std::size_t i = 0; i < a.size(); ++i) diff = std::max(diff, std::abs(a[i] - b[i]));
      std::printf("%-4d %-13s %14.3f %14.3f %8.2f %10.2g\n", D, kelk::to_string(m).c_str(),
                  1e6 * tf / T, 1e6 * tc / T, tc / tf, diff);
    }
    kelk_map_free(map);
  }
  kelk_finalize();
  return 0;
}
