// JacobianStructure::diagonal: the linearisation of quasi_deer and quasi_elk as published,
// A_t = diag(df/ds), with the diagonal element algebras (ALGORITHMS.md sections 3, 5).
//
// A structure type (this one, DenseJacobian, BlockJacobian) owns the linearisation's A_t and
// says how to form it and which element algebras solve with it; AffineStep and KalmanStep
// (kelk_method_steps.hpp) are written once over any structure:
//   Jacobians A                          the A_t of one iteration
//   linearize(space, p, bulk, b)         A_t and b_t around p's states; the residual
//   affine(b), filter(...), smoother(...) the element algebras over A and b
//   covariances(alloc, B, T, D), halo(alloc, B, D)  the smoother's extra buffers
//   model(b)                             the linear model, for sigma2 auto's candidate merit
//   summary_cost()                       a composition's cost relative to a diagonal one
#pragma once

#include <kelk/impl/kelk_kernels.hpp>
#include <kelk/kelk_affine.hpp>
#include <kelk/kelk_kalman.hpp>
#include <kelk/kelk_options.hpp>
#include <kelk/kelk_step_map.hpp>

namespace kelk::impl {

template <class ExecutionSpace, class StepMap>
struct DiagonalJacobian {
  using Scalar = typename StepMap::value_type;
  using memory_space = typename ExecutionSpace::memory_space;
  using Jacobians = SequenceView<Scalar, memory_space>;  ///< (B, T, D)
  using Covariances = SequenceView<Scalar, memory_space>;
  using Halo = BatchView<Scalar, memory_space>;
  using Affine = DiagonalAffineAlgebra<Scalar, memory_space>;
  using Filter = ScalarKalmanFilterAlgebra<Scalar, memory_space>;
  using Smoother = ScalarRtsSmootherAlgebra<Scalar, memory_space>;
  static constexpr bool available = provides_jacobian_diagonal_v<StepMap>;

  Jacobians A;

  template <class Alloc>
  DiagonalJacobian(const Alloc& alloc, int B, int T, int D, const SolveOptions&)
      : A(alloc("kelk::solve::jacobian_diagonals"), B, T, D) {}

  double summary_cost() const { return 1.0; }

  Scalar linearize(const ExecutionSpace& space, const Problem<ExecutionSpace, StepMap>& p,
                   const BulkWorkspace<ExecutionSpace, StepMap>& bulk,
                   const SequenceView<Scalar, memory_space>& b) const {
    if constexpr (available)
      return linearize_diagonal(space, p, bulk, A, b);
    else
      return (void)space, (void)p, (void)bulk, (void)b, Scalar(0);
  }

  template <class Alloc>
  Covariances covariances(const Alloc& alloc, int B, int T, int D) const {
    return Covariances(alloc("kelk::solve::variances"), B, T, D);
  }
  template <class Alloc>
  Halo halo(const Alloc& alloc, int B, int D) const {
    return Halo(alloc("kelk::solve::a_next"), B, D);
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
  DiagonalModel<Scalar, memory_space> model(const SequenceView<Scalar, memory_space>& b) const {
    return {A, b};
  }
};

}  // namespace kelk::impl
