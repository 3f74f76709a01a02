// One iteration's step of each iterative method (ALGORITHMS.md sections 2-8), as one small type
// per method, chosen once per solve by make_method_step: linearise f around the current iterate
// (returning that iterate's local residual), then solve the linearised problem, after which
// `next` holds the next iterate (before the safeguard):
//   JacobiStep                  A_t = 0: next_t = f(s_{t-1}, u_t), nothing to solve
//   AffineStep<Structure>       deer, quasi_deer: a scan of the affine recurrence
//   KalmanStep<Structure>       elk, quasi_elk: a Kalman filter scan (and a smoother scan)
// The Structure (DiagonalJacobian, BlockJacobian, DenseJacobian) says which part of the
// Jacobian is kept and which element algebras solve with it; a new structure is a new type.
#pragma once

#include <kelk/impl/kelk_kernels.hpp>
#include <kelk/impl/kelk_structure_block.hpp>
#include <kelk/impl/kelk_structure_dense.hpp>
#include <kelk/impl/kelk_structure_diagonal.hpp>
#include <kelk/kelk_kalman.hpp>
#include <kelk/kelk_options.hpp>
#include <kelk/kelk_scan.hpp>

#include <Kokkos_Core.hpp>

#include <memory>
#include <optional>
#include <string>
#include <utility>

namespace kelk::impl {

/// What the iteration (kelk_iteration.hpp) asks of a method's step.
template <class ExecutionSpace, class StepMap, class Topology>
class MethodStep {
 public:
  using Scalar = typename StepMap::value_type;
  using memory_space = typename ExecutionSpace::memory_space;
  using Sequence = SequenceView<Scalar, memory_space>;

  virtual ~MethodStep() = default;
  /// Linearises around p's states; returns their residual on this rank.
  virtual Scalar linearize(const Problem<ExecutionSpace, StepMap>& p, Topology& topology) = 0;
  /// Solves the linearised problem into `next`.
  virtual void solve(Topology& topology) = 0;
  /// elk, quasi_elk: the trust region of the next solve() (sigma2 auto).
  virtual void set_sigma2(double) {}
  /// elk, quasi_elk with sigma2 auto: {merit, model error} of the candidate's states under the
  /// last linearisation, on this rank (kelk_kernels.hpp's candidate_merit).
  virtual std::pair<double, double> candidate_merit(const Problem<ExecutionSpace, StepMap>&) const {
    return {0.0, 0.0};
  }

  Sequence next;
  const BulkWorkspace<ExecutionSpace, StepMap>& bulk() const { return bulk_; }

 protected:
  /// b_t of the linearisation, and `next`: b itself unless `separate_next` (the smoother or
  /// the trust region needs b_t after the solve).
  MethodStep(const ExecutionSpace& space, const Problem<ExecutionSpace, StepMap>& p,
             bool separate_next)
      : space_(space) {
    b_ = Sequence(alloc("kelk::solve::offsets"), p.B, p.T, p.D);
    next = separate_next ? Sequence(alloc("kelk::solve::means"), p.B, p.T, p.D) : b_;
    bulk_ = make_bulk_workspace(space, p.map, p.steps());
  }
  auto alloc(const std::string& label) const {
    return Kokkos::view_alloc(space_, Kokkos::WithoutInitializing, label);
  }
  /// A scan's time chunks: the option, or kelk::default_chunks for a composition this costly.
  int chunks(const Problem<ExecutionSpace, StepMap>& p, const SolveOptions& options,
             double summary_cost) const {
    return options.chunks > 0 ? options.chunks
                              : default_chunks(space_, p.B, p.T, summary_cost);
  }

  ExecutionSpace space_;
  BulkWorkspace<ExecutionSpace, StepMap> bulk_;
  Sequence b_;
};

/// jacobi: next_t = f(s_{t-1}, u_t).
template <class ExecutionSpace, class StepMap, class Topology>
class JacobiStep final : public MethodStep<ExecutionSpace, StepMap, Topology> {
  using Base = MethodStep<ExecutionSpace, StepMap, Topology>;

 public:
  JacobiStep(const ExecutionSpace& space, const Problem<ExecutionSpace, StepMap>& p)
      : Base(space, p, false) {}
  typename Base::Scalar linearize(const Problem<ExecutionSpace, StepMap>& p, Topology&) override {
    return linearize_jacobi(this->space_, p, this->bulk_, this->b_);
  }
  void solve(Topology&) override {}
};

/// deer (dense), quasi_deer (any structure): the linear recurrence s_t = A_t s_{t-1} + b_t by
/// one scan, written over b_t.
template <class ExecutionSpace, class StepMap, class Topology, class Structure>
class AffineStep final : public MethodStep<ExecutionSpace, StepMap, Topology> {
  using Base = MethodStep<ExecutionSpace, StepMap, Topology>;

 public:
  AffineStep(const ExecutionSpace& space, const Problem<ExecutionSpace, StepMap>& p,
             const SolveOptions& options)
      : Base(space, p, false),
        jacobian_([&](const std::string& label) { return this->alloc(label); }, p.B, p.T, p.D,
                  options),
        algebra_(jacobian_.affine(this->b_)),
        scan_(space, algebra_, this->chunks(p, options, jacobian_.summary_cost())) {}

  typename Base::Scalar linearize(const Problem<ExecutionSpace, StepMap>& p, Topology&) override {
    return jacobian_.linearize(this->space_, p, this->bulk_, this->b_);
  }
  void solve(Topology& topology) override { topology.forward_scan(scan_, algebra_); }

 private:
  Structure jacobian_;
  typename Structure::Affine algebra_;
  ChunkedScan<ExecutionSpace, typename Structure::Affine> scan_;
};

/// elk (dense), quasi_elk (any structure): one Levenberg-Marquardt step as a Kalman filter scan
/// of the linearised model, and with kalman_smoother a Rauch-Tung-Striebel smoother scan. With
/// sigma2 auto the linearisation survives solve(), so that a rejected step can be solved again
/// with another sigma^2 and the candidate's model merit be measured.
template <class ExecutionSpace, class StepMap, class Topology, class Structure>
class KalmanStep final : public MethodStep<ExecutionSpace, StepMap, Topology> {
  using Base = MethodStep<ExecutionSpace, StepMap, Topology>;
  using Scalar = typename Base::Scalar;
  using memory_space = typename Base::memory_space;

 public:
  KalmanStep(const ExecutionSpace& space, const Problem<ExecutionSpace, StepMap>& p,
             const SolveOptions& options, const Topology& topology)
      : Base(space, p, options.kalman_smoother || options.sigma2_auto),
        smoother_(options.kalman_smoother),
        jacobian_([&](const std::string& label) { return this->alloc(label); }, p.B, p.T, p.D,
                  options) {
    const auto alloc = [&](const std::string& label) { return this->alloc(label); };
    const int B = p.B, T = p.T, D = p.D;
    const Scalar gain =
        kalman_gain(Scalar(options.sigma2 ? *options.sigma2 : default_sigma2(options.method)));
    typename Structure::Covariances cov;
    if (smoother_) cov = jacobian_.covariances(alloc, B, T, D);
    // a smoother on a block that does not end the sequences needs the next block's first A, b
    if (smoother_ && !topology.last_time_block()) {
      b_next_ = BatchView<Scalar, memory_space>(alloc("kelk::solve::b_next"), B, D);
      A_next_ = jacobian_.halo(alloc, B, D);
    }
    const int chunks = this->chunks(p, options, jacobian_.summary_cost());
    filter_ = jacobian_.filter(this->b_, p.states, this->next, cov, gain);
    filter_scan_.emplace(space, filter_, chunks);
    if (smoother_) {
      smoother_algebra_ = jacobian_.smoother(this->b_, this->next, cov, A_next_, b_next_);
      smoother_scan_.emplace(space, smoother_algebra_, chunks);
    }
  }

  Scalar linearize(const Problem<ExecutionSpace, StepMap>& p, Topology& topology) override {
    const Scalar residual = jacobian_.linearize(this->space_, p, this->bulk_, this->b_);
    if (smoother_) {  // the next block's first step, for the smoother's last element
      topology.shift_from_next(this->space_, jacobian_.A, A_next_);
      topology.shift_from_next(this->space_, this->b_, b_next_);
    }
    return residual;
  }
  void solve(Topology& topology) override {
    topology.forward_scan(*filter_scan_, filter_);
    if (smoother_) topology.backward_scan(*smoother_scan_, smoother_algebra_);
  }
  void set_sigma2(double sigma2) override { filter_.k = kalman_gain(Scalar(sigma2)); }
  std::pair<double, double> candidate_merit(
      const Problem<ExecutionSpace, StepMap>& candidate) const override {
    return impl::candidate_merit(this->space_, candidate, this->bulk_,
                                 jacobian_.model(this->b_));
  }

 private:
  bool smoother_;
  Structure jacobian_;
  typename Structure::Halo A_next_;
  BatchView<Scalar, memory_space> b_next_;
  typename Structure::Filter filter_;
  typename Structure::Smoother smoother_algebra_;
  std::optional<ChunkedScan<ExecutionSpace, typename Structure::Filter>> filter_scan_;
  std::optional<ChunkedScan<ExecutionSpace, typename Structure::Smoother>> smoother_scan_;
};

/// The structure quasi_deer and quasi_elk linearise with (deer and elk: dense): f(tag), the tag
/// carrying the structure's type template.
template <template <class, class> class S>
struct StructureTag {
  template <class ExecutionSpace, class StepMap>
  using type = S<ExecutionSpace, StepMap>;
};
template <class F>
auto with_structure(const SolveOptions& options, F&& f) {
  const bool quasi = options.method == Method::quasi_deer || options.method == Method::quasi_elk;
  if (!quasi || options.jacobian_structure == JacobianStructure::dense)
    return f(StructureTag<DenseJacobian>{});
  if (options.jacobian_structure == JacobianStructure::block)
    return f(StructureTag<BlockJacobian>{});
  return f(StructureTag<DiagonalJacobian>{});
}

/// The step of options.method (an iterative one).
template <class ExecutionSpace, class StepMap, class Topology>
std::unique_ptr<MethodStep<ExecutionSpace, StepMap, Topology>> make_method_step(
    const ExecutionSpace& space, const Problem<ExecutionSpace, StepMap>& p,
    const SolveOptions& options, const Topology& topology) {
  using Step = std::unique_ptr<MethodStep<ExecutionSpace, StepMap, Topology>>;
  if (options.method == Method::jacobi)
    return std::make_unique<JacobiStep<ExecutionSpace, StepMap, Topology>>(space, p);
  const bool kalman = options.method == Method::elk || options.method == Method::quasi_elk;
  return with_structure(options, [&](auto tag) -> Step {
    using Structure = typename decltype(tag)::template type<ExecutionSpace, StepMap>;
    if (kalman)
      return std::make_unique<KalmanStep<ExecutionSpace, StepMap, Topology, Structure>>(
          space, p, options, topology);
    return std::make_unique<AffineStep<ExecutionSpace, StepMap, Topology, Structure>>(space, p,
                                                                                      options);
  });
}

}  // namespace kelk::impl
