// Options and results of kelk::solve: which method, tolerances, safeguards, what is reported.
#pragma once

#include <kelk/kelk_config.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace kelk {

/// How the trajectory is computed (ALGORITHMS.md sections 1-3).
enum class Method {
  sequential,  ///< the plain loop s_t = f(s_{t-1}, u_t): the reference, parallel over the batch
  jacobi,      ///< fixed-point (Picard) iteration, A_t = 0
  deer,        ///< Newton: dense Jacobians, affine scan of D x D elements
  quasi_deer,  ///< Newton with the Jacobian diagonal: D independent scalar scans
  elk,         ///< Levenberg-Marquardt (trust-region Newton) as Kalman filtering, dense
  quasi_elk,   ///< ELK with the Jacobian diagonal: scalar Kalman filters
  /// time blocks evaluated sequentially, relaxed at their boundaries; a block whose start
  /// moved is recomputed until it merges with its stored states (ALGORITHMS.md section 11)
  block_jacobi,
};

/// Which part of the Jacobian quasi_deer and quasi_elk keep in their linearisation
/// (ALGORITHMS.md section 4.1). deer and elk always keep all of it.
enum class JacobianStructure {
  diagonal,  ///< diag(df/ds): D scalar recurrences (as published)
  /// the D / k diagonal k x k blocks, block j over state entries [j k, (j + 1) k): D / k small
  /// dense recurrences; k = SolveOptions::block_size
  block,
  dense,  ///< all of df/ds: the linearisation of deer and elk
};

/// Where the iteration starts (ALGORITHMS.md section 7).
enum class InitialGuess {
  zeros,      ///< s_t = 0 (the published default)
  repeat_s0,  ///< s_t = s_0 for every t
  provided,   ///< the contents of the `states` View on entry (a warm start)
};

/// What happens to non-finite or huge iterates (ALGORITHMS.md section 7).
enum class NonFinitePolicy {
  clip_and_zero,   ///< NaN -> 0, then clip to [-clip_value, clip_value] (as published)
  reset_to_guess,  ///< non-finite entries go back to the initial guess
  none,            ///< leave them; the solve stops with StopReason::non_finite
};

/// Why the iteration stopped.
enum class StopReason {
  converged,       ///< max |s^(i+1) - s^(i)| - rtol |s^(i+1)| <= atol, or the final
                   ///< residual max |s_t - f(s_{t-1}, u_t)| <= atol
  max_iterations,  ///< max_iter iterations without meeting the tolerance
  non_finite,      ///< NaN/Inf in an iterate under NonFinitePolicy::none
  stalled,         ///< the update vanished while the safeguard was still clipping or resetting
                   ///< entries: a fixed point of the safeguard, not a solution
};

/// What SolveOptions::on_iteration sees after each iteration.
struct IterationProgress {
  int iteration = 0;        ///< 1, 2, ...
  double max_update = 0.0;  ///< max |s^(i) - s^(i-1)| of this iteration
  /// max_t |s_t - f(s_{t-1}, u_t)| of the iterate this iteration linearised around, s^(i-1)
  double start_residual = 0.0;
  /// elk, quasi_elk: the sigma^2 of this iteration's step, and whether it became the iterate
  /// (only sigma2_auto rejects; the iterate then stays, max_update 0)
  double sigma2 = 0.0;
  bool accepted = true;
  /// This iteration's iterate met the stopping rule (its update within atol and rtol, and not
  /// a safeguard's fixed point). jacobi and the DEER and ELK families with a fixed sigma2 know
  /// it here; sigma2 auto and block_jacobi learn it at the next check, and report false.
  bool converged = false;
};

struct SolveOptions {
  Method method = Method::deer;
  /// Absolute tolerance on the update; unset: 1e-7 for double, 1e-4 for float. It bounds the
  /// last update max |s^(i) - s^(i-1)|, not the error against the sequential evaluation (a
  /// jacobi run with atol = 1e-7 ended 2.7e-7 away): SolveResult::final_residual r is the
  /// estimate to look at; on a map contracting with Lipschitz constant L < 1 (max norm) the
  /// states are within r / (1 - L) of the sequential evaluation (README "Options").
  std::optional<double> atol;
  /// Relative tolerance on the update (0: unused, as published).
  double rtol = 0.0;
  /// Iteration cap; unset: default_max_iter(method, T). T suffices for jacobi, deer and
  /// quasi_deer in exact arithmetic; the damped steps of elk and quasi_elk have no such bound.
  /// block_jacobi: unset means the number of blocks along a sequence (all ranks together),
  /// which it never exceeds.
  std::optional<int> max_iter;
  /// Run exactly max_iter iterations (sweeps), even past convergence or at an exact fixed
  /// point; the tolerances then only decide what is reported. (A non-finite iterate under
  /// NonFinitePolicy::none still stops the solve.)
  bool fixed_iterations = false;
  InitialGuess initial_guess = InitialGuess::zeros;
  NonFinitePolicy non_finite = NonFinitePolicy::clip_and_zero;
  /// Clipping bound of NonFinitePolicy::clip_and_zero.
  double clip_value = 1e8;
  /// Keep a copy of the iterate with the smallest residual and return it when the solve does
  /// not converge (one extra B*T*D buffer).
  bool keep_best = true;
  /// Record max update and max residual of every iteration in SolveResult::history.
  bool record_history = false;
  /// Time chunks per sequence in the parallel scans; 0 chooses from the execution space's
  /// concurrency and the scan's cost (see kelk::default_chunks).
  int chunks = 0;
  /// block_jacobi: time blocks per sequence (per rank's time range when distributed), at most
  /// the steps there; 0 chooses from the execution space's concurrency (see
  /// ALGORITHMS.md section 11: concurrency / gcd(B, concurrency), blocks of at least 64 steps).
  int blocks = 0;
  /// quasi_deer, quasi_elk: which part of the Jacobian the linearisation keeps (ALGORITHMS.md
  /// section 4.1). The diagonal drops every coupling between state entries: on a second-order
  /// system (each position with its velocity) it can need thousands of iterations where blocks
  /// that hold each coupled group need tens. Ignored by the other methods.
  JacobianStructure jacobian_structure = JacobianStructure::diagonal;
  /// jacobian_structure block: the block size k, which must divide D (k = 1 is the diagonal,
  /// k = D the dense Jacobian). A map puts the entries it couples strongly next to each other
  /// in its state (e.g. [angle_0, velocity_0, angle_1, velocity_1, ...]).
  int block_size = 0;
  /// elk, quasi_elk: sigma^2 = 1/lambda of the trust region (ALGORITHMS.md section 5); larger
  /// means bolder steps (infinity is DEER). Unset: the published values for the
  /// autoregressive GRU, 1e6 for elk and 1e2 for quasi_elk. The other methods have no trust
  /// region and ignore a valid value (silently: the library prints nothing), but an invalid
  /// one (<= 0, NaN, Inf) is refused for every method (std::invalid_argument).
  std::optional<double> sigma2;
  /// elk, quasi_elk: adapt sigma^2 every iteration (sigma2 = "auto"; ALGORITHMS.md section 5.1):
  /// elk: a candidate becomes the iterate only if it is finite and its linearised model's
  /// error there is at most the current iterate's residual (both as sums of squares over all
  /// steps); otherwise it is rejected, the iterate kept and sigma^2 shrunk. sigma^2 grows while
  /// the model's error stays below half the residual. quasi_elk (whose diagonal model errs to
  /// first order): rejected above 1.3 times the residual, sigma^2 grown gently after runs of
  /// accepted steps, cut when the merit grows 3-fold over 20 iterates and, once converging,
  /// capped at half the value so cut. `sigma2` (or the default) is where it starts;
  /// the solve stops when the iterate's residual max |s_t - f(s_{t-1}, u_t)| is at most atol.
  /// false: sigma^2 fixed, as published. Ignored by the methods other than elk and quasi_elk.
  bool sigma2_auto = false;
  /// elk, quasi_elk: false takes the Kalman filter means as the next iterate (as published);
  /// true adds the Rauch-Tung-Striebel smoother, which gives the exact Levenberg-Marquardt step.
  bool kalman_smoother = false;
  /// Called on the host after every iteration; meanwhile the `states` View holds iterate i.
  /// For progress reports and convergence studies; it must not modify the states.
  std::function<void(const IterationProgress&)> on_iteration;
};

/// Default iteration cap: T for jacobi, deer and quasi_deer; max(T, 100) for elk and quasi_elk.
int default_max_iter(Method m, int T);

/// Published sigma^2 defaults of elk (1e6) and quasi_elk (1e2).
double default_sigma2(Method m);

/// One iteration of the history: the update that produced iterate i and that iterate's residual
/// max_t |s_t - f(s_{t-1}, u_t)|. For block_jacobi the update is the largest change of a block
/// start (0 on iteration 1), and the sweep's work is recorded too.
struct IterationRecord {
  int iteration = 0;
  double max_update = 0.0;
  double max_residual = 0.0;
  std::int64_t steps_recomputed = 0;       ///< block_jacobi: steps evaluated (all ranks: work)
  std::int64_t longest_recomputation = 0;  ///< block_jacobi: most steps of one block (span)
  /// elk, quasi_elk: the sigma^2 of this iteration's step and whether the step was accepted
  /// (only sigma2_auto rejects: a rejected step leaves the iterate as it was, update 0)
  double sigma2 = 0.0;
  bool accepted = true;
};

struct SolveResult {
  Method method = Method::deer;
  int iterations = 0;  ///< iterations performed (1 for sequential; sweeps for block_jacobi)
  bool converged = false;
  StopReason reason = StopReason::max_iterations;
  double final_update = 0.0;    ///< max |s^(i) - s^(i-1)| of the last iteration
  double final_residual = 0.0;  ///< max |s_t - f(s_{t-1}, u_t)| of the returned states
  /// Which iterate the returned states are: `iterations` unless keep_best returned an earlier
  /// one with a smaller residual (0 is the initial guess).
  int returned_iteration = 0;
  std::vector<IterationRecord> history;  ///< filled when SolveOptions::record_history
};

/// Published default absolute tolerance for the scalar type.
template <class Scalar>
constexpr double default_atol() {
  static_assert(std::is_floating_point<Scalar>::value, "kelk: Scalar must be float or double");
  return std::is_same<Scalar, float>::value ? 1e-4 : 1e-7;
}

std::string to_string(Method m);
std::string to_string(InitialGuess g);
std::string to_string(NonFinitePolicy p);
std::string to_string(StopReason r);
std::string to_string(JacobianStructure s);
/// Parse a name as printed by to_string; throws std::invalid_argument listing the valid names.
Method parse_method(const std::string& name);
InitialGuess parse_initial_guess(const std::string& name);
NonFinitePolicy parse_non_finite_policy(const std::string& name);
JacobianStructure parse_jacobian_structure(const std::string& name);
/// All methods, in the order the demo prints them.
const std::vector<Method>& all_methods();

/// The library version, "major.minor.patch".
const char* version();

}  // namespace kelk
