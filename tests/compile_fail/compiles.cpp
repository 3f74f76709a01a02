// The positive control of the compile-fail tests: what must compile does. A map without
// jacobian is legal (deer refuses it at run time; jacobi, block_jacobi, sequential serve it),
// and time windows cut with Kokkos::subview (LayoutStride) are accepted by solve and probe.
#include <kelk/kelk.hpp>

struct NoJacobian {
  using value_type = double;
  int state_dim() const { return 1; }
  int input_dim() const { return 1; }
  int scratch_size() const { return 0; }
  KOKKOS_FUNCTION void step(const double* s, const double* u, double* f, double*) const {
    f[0] = 0.5 * s[0] + u[0];
  }
};
static_assert(kelk::check_step_map<NoJacobian>() && !kelk::provides_jacobian_v<NoJacobian>);
static_assert(kelk::is_step_map_v<kelk::Elman<float>> && kelk::is_step_map_v<kelk::Gru<double>>);

kelk::SolveResult call(const kelk::Elman<double>& map, const kelk::BatchView<double>& s0,
                       const kelk::SequenceView<double>& u, const kelk::SequenceView<double>& s) {
  const auto window = std::make_pair(10, 20);
  const auto inputs = Kokkos::subview(u, Kokkos::ALL, window, Kokkos::ALL);
  const auto states = Kokkos::subview(s, Kokkos::ALL, window, Kokkos::ALL);
  kelk::probe(map, s0, inputs);
  return kelk::solve(Kokkos::DefaultExecutionSpace(), map, s0, inputs, states);
}
