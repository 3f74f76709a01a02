// sigma2 = "auto": the adaptive trust regions of elk and quasi_elk (ALGORITHMS.md section 5.1).
// Host-side bookkeeping only; the sums they judge are reduced over all ranks first, so every
// rank takes the same decision.
#pragma once

#include <kelk/kelk_options.hpp>

#include <algorithm>
#include <cmath>
#include <deque>
#include <variant>

namespace kelk::impl {

/// What the rules of sigma2 auto share: sigma^2 within its bounds, the fidelity test of a
/// candidate and the shrinking on a rejection.
class TrustRegionBase {
 public:
  static constexpr double smallest = 1e-12;  ///< sigma^2 never shrinks below (k = 1 - 1e-12)
  static constexpr double largest = 1e16;    ///< nor grows above (DEER to round-off)

  double sigma2() const { return sigma2_; }
  /// The fidelity q of the last candidate judged.
  double fidelity() const { return q_; }
  /// sigma^2 is at its lower bound: a rejection there means the trust region cannot shrink.
  bool at_floor() const { return sigma2_ <= smallest; }

 protected:
  explicit TrustRegionBase(double sigma2) : sigma2_(std::clamp(sigma2, smallest, largest)) {}
  /// The fidelity test, from the current iterate's merit sum |r_t|^2, the candidate's model
  /// error sum |A_t m_{t-1} + b_t - f(m_{t-1})|^2 (both over all ranks) and whether the
  /// candidate is finite: accepted when finite with q <= reject_above (a NaN q rejects).
  /// An acceptance resets nu to 2; a rejection divides sigma^2 by nu, which doubles with every
  /// rejection in a row (2, 4, 8, ...).
  bool test(double merit, double model_error, bool finite, double reject_above) {
    q_ = std::sqrt(model_error / merit);
    const bool accept = finite && q_ <= reject_above;
    if (accept) {
      nu_ = 2;
    } else {
      sigma2_ /= nu_;
      nu_ *= 2;
    }
    return accept;
  }
  void clamp() { sigma2_ = std::clamp(sigma2_, smallest, largest); }

  double sigma2_;
  double nu_ = 2.0;
  double q_ = 0.0;
};

/// elk's trust-region rule under sigma2 auto. A candidate computed with sigma^2 is judged by the
/// fidelity of its linearised model,
///   q = |A_t m_{t-1} + b_t - f(m_{t-1}, u_t)|_2 / |s_t - f(s_{t-1}, u_t)|_2,
/// the model's error at the candidate m against the residual of the current iterate s (both
/// over all steps of all sequences). q > 1, or a non-finite candidate, rejects it: the model
/// is wrong by more than the residual it set out to remove. Then sigma^2 is divided by nu,
/// which doubles with every rejection in a row (2, 4, 8, ...). An accepted candidate doubles
/// sigma^2 when q <= 1/2, halves it when q > 0.9, and leaves it otherwise.
///
/// Why not the decrease of the merit sum |r_t|^2, Levenberg-Marquardt's usual test: the Kalman
/// filter's step (the published ELK step) is not a descent direction for it, for small sigma^2
/// neither, so a merit test rejects every step once sigma^2 has shrunk; and the exact
/// Levenberg-Marquardt step (with the smoother) stalls at merits of 1e-5 on the AR GRU, its
/// Jacobian being ill-conditioned over long sequences. Measured in docs/PERFORMANCE.md.
class TrustRegion : public TrustRegionBase {
 public:
  explicit TrustRegion(double sigma2) : TrustRegionBase(sigma2) {}

  /// Judges a candidate (the arguments of TrustRegionBase::test); sets the next sigma^2 and
  /// returns whether to accept it.
  bool judge(double merit, double model_error, bool finite) {
    const bool accept = test(merit, model_error, finite, 1.0);
    if (accept && q_ <= 0.5)
      sigma2_ *= 2;
    else if (accept && q_ > 0.9)
      sigma2_ /= 2;
    clamp();
    return accept;
  }
};

/// quasi_elk's trust-region rule under sigma2 auto. With Jacobian diagonals the model error is
/// of first order in the step (the dropped off-diagonal terms), so q near 1 is the normal state
/// of a good run (the AR GRU converges at sigma^2 = 100 with q ~ 0.99, up to 1.3), and q jumps
/// for a few iterations after every change of sigma^2; elk's thresholds pin sigma^2 an order of
/// magnitude too low there. So this rule
///   - rejects only q > 1.3 or a non-finite candidate (sigma^2 / nu, nu = 2, 4, 8, ... as elk's);
///   - grows sigma^2 gently, x 1.25 after 10 accepted steps in a row or at once when q <= 1/2;
///   - guards against the slow divergence q cannot see (Lorenz-96 at sigma^2 = 30 keeps q < 1
///     while its merit grows 100-fold): when the merit of the iterate exceeds 3 times its merit
///     20 accepted iterates earlier, sigma^2 is divided by 4;
///   - and once converging (a brake at a merit below 1e-6 of the first iterate's), caps sigma^2
///     at half the value that diverged: Lorenz-96 otherwise regrows sigma^2 into its unstable
///     range near the solution and cycles at residuals of 1e-9 without reaching atol 1e-10.
///     The AR GRU's brakes all come in its transient (merits above 1e-2 of the first), where a
///     cap would hold sigma^2 below the values it converges with.
/// Measured in docs/PERFORMANCE.md ("ELK without tuning").
class QuasiTrustRegion : public TrustRegionBase {
 public:
  static constexpr double reject_above = 1.3, grow_below = 0.5, growth = 1.25, brake_growth = 3,
                          brake = 4;
  static constexpr int run = 10, window = 20;
  static constexpr double converging = 1e-6, cap = 0.5;

  explicit QuasiTrustRegion(double sigma2) : TrustRegionBase(sigma2) {}

  /// As TrustRegion::judge.
  bool judge(double merit, double model_error, bool finite) {
    if (first_merit_ < 0) first_merit_ = merit;
    merits_.push_back(merit);  // the current iterate's
    if (int(merits_.size()) > window) merits_.pop_front();
    if (int(merits_.size()) == window && merit > brake_growth * merits_.front()) {
      if (merit < converging * first_merit_) ceiling_ = cap * sigma2_;
      sigma2_ /= brake;
      merits_.clear();
      accepted_ = 0;
    }
    const bool accept = test(merit, model_error, finite, reject_above);
    if (accept) {
      if (q_ <= grow_below || ++accepted_ >= run) {
        sigma2_ = std::min(sigma2_ * growth, ceiling_);
        accepted_ = 0;
      }
    } else {
      accepted_ = 0;
      if (!merits_.empty()) merits_.pop_back();  // the iterate stays: counted once
    }
    clamp();
    return accept;
  }

 private:
  int accepted_ = 0;            ///< accepted steps in a row since sigma^2 last changed
  std::deque<double> merits_;  ///< the last `window` iterates' merits
  double first_merit_ = -1;     ///< the first iterate's merit
  double ceiling_ = largest;    ///< the cap set by a brake while converging
};

/// sigma2 auto for a method: quasi_elk's rule or elk's, behind one interface.
class AdaptiveSigma2 {
 public:
  AdaptiveSigma2(Method method, double sigma2)
      : rule_(method == Method::quasi_elk ? Rule(QuasiTrustRegion(sigma2))
                                          : Rule(TrustRegion(sigma2))) {}
  double sigma2() const {
    return std::visit([](const auto& r) { return r.sigma2(); }, rule_);
  }
  bool at_floor() const {
    return std::visit([](const auto& r) { return r.at_floor(); }, rule_);
  }
  bool judge(double merit, double model_error, bool finite) {
    return std::visit([&](auto& r) { return r.judge(merit, model_error, finite); }, rule_);
  }

 private:
  using Rule = std::variant<TrustRegion, QuasiTrustRegion>;
  Rule rule_;
};

}  // namespace kelk::impl
