// A downstream user of an installed kelk: the README's own step map (s' = a tanh(s) + u),
// solved with deer and quasi_deer and compared with the sequential loop; when kelk was built
// with Sacado, also its templated twin with AD Jacobians (kelk_autodiff.hpp).
#include <kelk/kelk.hpp>
#if defined(KELK_HAVE_SACADO)
#include <kelk/kelk_autodiff.hpp>
#endif

#include <cmath>
#include <cstdio>

struct Damped {  // s' = a * tanh(s) + u, elementwise
  using value_type = double;
  int D;
  double a;
  int state_dim() const { return D; }
  int input_dim() const { return D; }
  int scratch_size() const { return 0; }
  KOKKOS_FUNCTION void step(const double* s, const double* u, double* f, double*) const {
    for (int i = 0; i < D; ++i) f[i] = a * tanh(s[i]) + u[i];
  }
  // optional, for deer: f and the row-major D x D Jacobian jac[i*D + j] = df_i/ds_j
  KOKKOS_FUNCTION void jacobian(const double* s, const double* u, double* f, double* jac,
                                double* scratch) const {
    step(s, u, f, scratch);
    for (int i = 0; i < D * D; ++i) jac[i] = 0;
    for (int i = 0; i < D; ++i) jac[i * D + i] = a * (1 - tanh(s[i]) * tanh(s[i]));
  }
  // optional, for quasi_deer: f and the diagonal of the Jacobian
  KOKKOS_FUNCTION void jacobian_diagonal(const double* s, const double* u, double* f, double* diag,
                                         double* scratch) const {
    step(s, u, f, scratch);
    for (int i = 0; i < D; ++i) diag[i] = a * (1 - tanh(s[i]) * tanh(s[i]));
  }
};

#if defined(KELK_HAVE_SACADO)
struct DampedTemplate {  // the same map, its Jacobians by AD
  using value_type = double;
  int D;
  double a;
  int state_dim() const { return D; }
  int input_dim() const { return D; }
  int scratch_size() const { return 0; }
  template <class T>
  KOKKOS_FUNCTION void step(const T* s, const T* u, T* f, T*) const {
    for (int i = 0; i < D; ++i) f[i] = a * kelk::ad::tanh(s[i]) + u[i];
  }
};
#endif

/// Solves with deer and quasi_deer; the number of results off the reference.
template <class Map>
int check(const char* name, const Map& map, const kelk::BatchView<double>& s0,
          const kelk::SequenceView<double>& u, const kelk::SequenceView<double>& reference,
          const kelk::SequenceView<double>& s) {
  int failures = 0;
  kelk::SolveOptions options;
  const int n = int(s.size());
  for (const auto method : {kelk::Method::deer, kelk::Method::quasi_deer}) {
    options.method = method;
    const kelk::SolveResult r = kelk::solve(map, s0, u, s, options);
    double deviation = 0;
    Kokkos::parallel_reduce(
        "consumer::deviation", Kokkos::RangePolicy<>(0, n),
        KOKKOS_LAMBDA(int i, double& m) { m = fmax(m, fabs(s.data()[i] - reference.data()[i])); },
        Kokkos::Max<double>(deviation));
    std::printf("kelk %s %-8s %-10s: %d iterations, converged %d, max|s - s_seq| = %.2e\n",
                kelk::version(), name, kelk::to_string(method).c_str(), r.iterations, r.converged,
                deviation);
    failures += r.converged && deviation <= 1e-6 ? 0 : 1;
  }
  return failures;
}

int main(int argc, char* argv[]) {
  kelk::ScopeGuard guard(argc, argv);
  const int B = 4, T = 10000, D = 16;
  kelk::BatchView<double> s0("s0", B, D);
  kelk::SequenceView<double> u("u", B, T, D), reference("reference", B, T, D), s("s", B, T, D);
  Kokkos::parallel_for(
      "consumer::inputs", Kokkos::RangePolicy<>(0, B * T * D),
      KOKKOS_LAMBDA(int i) { u.data()[i] = 0.5 * sin(0.37 * i); });
  Kokkos::deep_copy(s0, 0.3);

  kelk::SolveOptions options;
  options.method = kelk::Method::sequential;
  kelk::solve(Damped{D, 0.9}, s0, u, reference, options);
  int failures = check("Damped", Damped{D, 0.9}, s0, u, reference, s);
#if defined(KELK_HAVE_SACADO)
  failures += check("AutoDiff", kelk::AutoDiff<DampedTemplate>(DampedTemplate{D, 0.9}), s0, u,
                    reference, s);
#endif
  return failures;
}
