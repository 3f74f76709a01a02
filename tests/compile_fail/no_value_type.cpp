// Must not compile: a step map without `using value_type`. Expected: kelk's one message naming
// the fix (tests/CMakeLists.txt matches it), not a deduction failure.
#include <kelk/kelk_solve.hpp>

struct NoValueType {
  int state_dim() const { return 1; }
  int input_dim() const { return 1; }
  int scratch_size() const { return 0; }
  KOKKOS_FUNCTION void step(const double* s, const double* u, double* f, double*) const {
    f[0] = 0.5 * s[0] + u[0];
  }
};

void call(const kelk::BatchView<double>& s0, const kelk::SequenceView<double>& u,
          const kelk::SequenceView<double>& s) {
  kelk::solve(NoValueType{}, s0, u, s);
}
