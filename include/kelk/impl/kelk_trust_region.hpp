// sigma2 = "auto": the adaptive trust region of elk and quasi_elk (ALGORITHMS.md section 5).
// Host-side bookkeeping only; the sums it judges are reduced over all ranks first, so every
// rank takes the same decision.
#pragma once

#include <algorithm>
#include <cmath>

namespace kelk::impl {

/// The trust-region rule of sigma2 auto. A candidate computed with sigma^2 is judged by the
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
class TrustRegion {
 public:
  static constexpr double smallest = 1e-12;  ///< sigma^2 never shrinks below (k = 1 - 1e-12)
  static constexpr double largest = 1e16;    ///< nor grows above (DEER to round-off)

  explicit TrustRegion(double sigma2) : sigma2_(std::clamp(sigma2, smallest, largest)) {}

  double sigma2() const { return sigma2_; }
  /// The fidelity q of the last candidate judged.
  double fidelity() const { return q_; }
  /// sigma^2 is at its lower bound: a rejection there means the trust region cannot shrink.
  bool at_floor() const { return sigma2_ <= smallest; }

  /// Judges a candidate from the current iterate's merit sum |r_t|^2 and the candidate's model
  /// error sum |A_t m_{t-1} + b_t - f(m_{t-1})|^2 (both over all ranks) and whether the
  /// candidate is finite; sets the next sigma^2 and returns whether to accept it.
  bool judge(double merit, double model_error, bool finite) {
    q_ = std::sqrt(model_error / merit);
    const bool accept = finite && q_ <= 1.0;  // false for a NaN q too
    if (accept) {
      if (q_ <= 0.5)
        sigma2_ *= 2;
      else if (q_ > 0.9)
        sigma2_ /= 2;
      nu_ = 2;
    } else {
      sigma2_ /= nu_;
      nu_ *= 2;
    }
    sigma2_ = std::clamp(sigma2_, smallest, largest);
    return accept;
  }

 private:
  double sigma2_;
  double nu_ = 2.0;
  double q_ = 0.0;
};

}  // namespace kelk::impl
