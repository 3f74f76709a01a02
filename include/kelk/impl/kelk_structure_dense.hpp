// JacobianStructure::dense: A_t = df/ds, the linearisation of deer and elk (and of quasi_deer
// and quasi_elk asked for the dense structure), with the dense element algebras (ALGORITHMS.md
// sections 2, 5, 6). The structure interface is described in kelk_structure_diagonal.hpp.
#pragma once

#include <kelk/impl/kelk_kernels.hpp>
#include <kelk/kelk_affine.hpp>
#include <kelk/kelk_kalman.hpp>
#include <kelk/kelk_options.hpp>
#include <kelk/kelk_step_map.hpp>

namespace kelk::impl {

template <class ExecutionSpace, class StepMap>
struct DenseJacobian {
  using Scalar = typename StepMap::value_type;
  using memory_space = typename ExecutionSpace::memory_space;
  using Jacobians = Kokkos::View<Scalar****, Kokkos::LayoutRight, memory_space>;  ///< (B, T, D, D)
  using Covariances = Jacobians;
  using Halo = Kokkos::View<Scalar***, Kokkos::LayoutRight, memory_space>;  ///< (B, D, D)
  using Affine = DenseAffineAlgebra<Scalar, memory_space>;
  using Filter = DenseKalmanFilterAlgebra<Scalar, memory_space>;
  using Smoother = DenseRtsSmootherAlgebra<Scalar, memory_space>;
  static constexpr bool available = provides_jacobian_v<StepMap>;

  Jacobians A;

  template <class Alloc>
  DenseJacobian(const Alloc& alloc, int B, int T, int D, const SolveOptions&)
      : A(alloc("kelk::solve::jacobians"), B, T, D, D) {}

  double summary_cost() const { return double(A.extent(2)); }

  Scalar linearize(const ExecutionSpace& space, const Problem<ExecutionSpace, StepMap>& p,
                   const BulkWorkspace<ExecutionSpace, StepMap>& bulk,
                   const SequenceView<Scalar, memory_space>& b) const {
    if constexpr (available)
      return linearize_dense(space, p, bulk, A, b);
    else
      return (void)space, (void)p, (void)bulk, (void)b, Scalar(0);
  }

  template <class Alloc>
  Covariances covariances(const Alloc& alloc, int B, int T, int D) const {
    return Covariances(alloc("kelk::solve::covariances"), B, T, D, D);
  }
  template <class Alloc>
  Halo halo(const Alloc& alloc, int B, int D) const {
    return Halo(alloc("kelk::solve::A_next"), B, D, D);
  }

  Affine affine(const SequenceView<Scalar, memory_space>& b) const { return {A, b}; }
  Filter filter(const SequenceView<Scalar, memory_space>& b,
                const SequenceView<const Scalar, memory_space>& y,
                const SequenceView<Scalar, memory_space>& mean, const Covariances& cov,
                Scalar gain) const {
    return {A, b, y, mean, cov, gain};
  }
  Smoother smoother(const SequenceView<Scalar, memory_space>& b,
                    const SequenceView<Scalar, memory_space>& mean, const Covariances& cov,
                    const Halo& A_next, const BatchView<Scalar, memory_space>& b_next) const {
    return {A, b, mean, cov, false, A_next, b_next};
  }
  DenseModel<Scalar, memory_space> model(const SequenceView<Scalar, memory_space>& b) const {
    return {A, b};
  }
};

}  // namespace kelk::impl
