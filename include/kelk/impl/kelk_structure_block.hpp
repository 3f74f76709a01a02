// JacobianStructure::block: A_t = the D / k diagonal k x k blocks of df/ds (ALGORITHMS.md
// section 4.1), with the block element algebras of kelk_block_diagonal.hpp. The structure
// interface is described in kelk_structure_diagonal.hpp.
#pragma once

#include <kelk/impl/kelk_kernels.hpp>
#include <kelk/kelk_block_diagonal.hpp>
#include <kelk/kelk_options.hpp>
#include <kelk/kelk_step_map.hpp>

namespace kelk::impl {

template <class ExecutionSpace, class StepMap>
struct BlockJacobian {
  using Scalar = typename StepMap::value_type;
  using memory_space = typename ExecutionSpace::memory_space;
  using Jacobians = Kokkos::View<Scalar***, Kokkos::LayoutRight, memory_space>;  ///< (B, T, D k)
  using Covariances = Jacobians;
  using Halo = BatchView<Scalar, memory_space>;  ///< (B, D k)
  using Affine = BlockAffineAlgebra<Scalar, memory_space>;
  using Filter = BlockKalmanFilterAlgebra<Scalar, memory_space>;
  using Smoother = BlockRtsSmootherAlgebra<Scalar, memory_space>;
  static constexpr bool available =
      provides_jacobian_blocks_v<StepMap> || provides_jacobian_v<StepMap>;

  Jacobians A;
  int k = 1;

  template <class Alloc>
  BlockJacobian(const Alloc& alloc, int B, int T, int D, const SolveOptions& options)
      : A(alloc("kelk::solve::jacobian_blocks"), B, T, D * options.block_size),
        k(options.block_size) {}

  double summary_cost() const { return double(k); }

  Scalar linearize(const ExecutionSpace& space, const Problem<ExecutionSpace, StepMap>& p,
                   const BulkWorkspace<ExecutionSpace, StepMap>&,
                   const SequenceView<Scalar, memory_space>& b) const {
    if constexpr (available)
      return linearize_blocks(space, p, A, b, k);
    else
      return (void)space, (void)p, (void)b, Scalar(0);
  }

  template <class Alloc>
  Covariances covariances(const Alloc& alloc, int B, int T, int D) const {
    return Covariances(alloc("kelk::solve::block_covariances"), B, T, D * k);
  }
  template <class Alloc>
  Halo halo(const Alloc& alloc, int B, int D) const {
    return Halo(alloc("kelk::solve::A_next"), B, D * k);
  }

  Affine affine(const SequenceView<Scalar, memory_space>& b) const { return {A, b, k}; }
  Filter filter(const SequenceView<Scalar, memory_space>& b,
                const SequenceView<const Scalar, memory_space>& y,
                const SequenceView<Scalar, memory_space>& mean, const Covariances& cov,
                Scalar gain) const {
    return {A, b, y, mean, cov, gain, k};
  }
  Smoother smoother(const SequenceView<Scalar, memory_space>& b,
                    const SequenceView<Scalar, memory_space>& mean, const Covariances& cov,
                    const Halo& A_next, const BatchView<Scalar, memory_space>& b_next) const {
    return {A, b, mean, cov, false, A_next, b_next, k};
  }
  BlockModel<Scalar, memory_space> model(const SequenceView<Scalar, memory_space>& b) const {
    return {A, b, k};
  }
};

}  // namespace kelk::impl
