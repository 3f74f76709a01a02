// Must not compile: a `jacobian` without the scratch argument, which kelk would otherwise
// ignore silently (deer then fails at run time with "needs jacobian()").
#include <kelk/kelk_solve.hpp>

struct JacobianWithoutScratch {
  using value_type = double;
  int state_dim() const { return 1; }
  int input_dim() const { return 1; }
  int scratch_size() const { return 0; }
  KOKKOS_FUNCTION void step(const double* s, const double* u, double* f, double*) const {
    f[0] = 0.5 * s[0] + u[0];
  }
  KOKKOS_FUNCTION void jacobian(const double* s, const double* u, double* f, double* jac) const {
    step(s, u, f, nullptr);
    jac[0] = 0.5;
  }
};

void call(const kelk::BatchView<double>& s0, const kelk::SequenceView<double>& u,
          const kelk::SequenceView<double>& s) {
  kelk::solve(JacobianWithoutScratch{}, s0, u, s);
}
