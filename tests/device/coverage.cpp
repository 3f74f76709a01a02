// One translation unit that instantiates, on Kokkos' default execution space (the GPU in a
// CUDA or HIP build), every public entry point of kelk for every kind of step map: solve
// (every method is chosen at run time, so one call compiles them all, with every element
// algebra: dense and diagonal affine scans, Kalman filters and smoothers, block Jacobi),
// solve_adjoint (sequential, scan and block-sweep adjoints), probe, and the distributed
// solver's solve and solve_adjoint, for the built-in maps in double and float and for a map
// written by a user (an LSTM cell, differentiated by kelk::AutoDiff when Sacado is there).
//
// It is compiled, never run (the object library kelk_device_coverage, built on request only):
// scripts/check_cuda.sh builds it with nvcc in CI, where compiling every test file for CUDA
// would not fit. What it checks is that the device code compiles with no host/device warning;
// the test suite checks that it is right.
#include <kelk/kelk.hpp>
#ifdef KELK_HAVE_SACADO
#include "examples/lstm.hpp"
#endif

#include <Kokkos_Core.hpp>

namespace {

template <class Map>
void every_entry_point(const Map& map) {
  using Scalar = typename Map::value_type;
  const int B = 2, T = 16, D = map.state_dim(), Din = map.input_dim();
  const kelk::BatchView<Scalar> s0("coverage::s0", B, D);
  const kelk::SequenceView<Scalar> inputs("coverage::inputs", B, T, Din);
  const kelk::SequenceView<Scalar> states("coverage::states", B, T, D);
  const kelk::SequenceView<Scalar> cotangents("coverage::cotangents", B, T, D);

  kelk::solve(map, s0, inputs, states, kelk::SolveOptions{});
  kelk::probe(map, s0, inputs);

  kelk::Gradients<Scalar> out{
      kelk::BatchView<Scalar>("coverage::ds0", B, D),
      kelk::SequenceView<Scalar>("coverage::du", B, T, Din),
      Kokkos::View<Scalar*>("coverage::dtheta", kelk::parameter_count(map)),
      kelk::SequenceView<Scalar>("coverage::lambda", B, T, D)};
  kelk::solve_adjoint(map, s0, inputs, states, cotangents, out, kelk::AdjointOptions{});

#ifdef KELK_HAVE_MPI
  kelk::DistributedSolver distributed(MPI_COMM_WORLD, B, T);
  distributed.solve(map, s0, inputs, states, kelk::SolveOptions{});
  distributed.solve_adjoint(map, s0, inputs, states, cotangents, out, kelk::AdjointOptions{});
#endif
}

// The maps are default-constructed: this code is compiled, not run.
template <class Scalar>
void every_map() {
  every_entry_point(kelk::Elman<Scalar>{});
  every_entry_point(kelk::Gru<Scalar>{});
  every_entry_point(kelk::Lorenz96<Scalar>{});
  every_entry_point(kelk::ArGru<Scalar>{});
#ifdef KELK_HAVE_SACADO
  every_entry_point(kelk::AutoDiff<kelk_examples::Lstm<Scalar>>(kelk_examples::Lstm<Scalar>{}));
#endif
}

}  // namespace

/// Never called: its body makes the compiler instantiate every path above.
void kelk_device_coverage() {
  every_map<double>();
  every_map<float>();
}
