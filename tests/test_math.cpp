// The gate functions of kelk_math.hpp against the exact value (long double std:: functions,
// rounded to the tested type), over the whole double and float ranges: 1e7 arguments per
// function and type, half of them random bit patterns (every exponent, NaN and Inf
// included), half uniform over the range where the function is not saturated; plus the edges.
#include <kelk/kelk_math.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace {

using LD = long double;
constexpr double documented_ulp = 4.0;
constexpr int samples = 10'000'000;
constexpr int chunk = 4096;

/// |got - exact| in units of the last place of the exact value rounded to T (the subnormal
/// spacing below the normal range); 0 when both are the same NaN or infinity class.
template <class T>
double ulp_error(T got, LD exact) {
  const T rounded = static_cast<T>(exact);
  if (std::isnan(rounded)) return std::isnan(got) ? 0.0 : HUGE_VAL;
  if (std::isinf(rounded)) return got == rounded ? 0.0 : HUGE_VAL;
  if (std::isnan(got) || std::isinf(got)) return HUGE_VAL;
  const T a = std::fabs(rounded);
  T ulp = std::nextafter(a, std::numeric_limits<T>::infinity()) - a;
  if (std::isinf(ulp)) ulp = a - std::nextafter(a, T(0));
  ulp = std::max(ulp, std::numeric_limits<T>::denorm_min());
  return double(std::fabs(LD(got) - exact) / LD(ulp));
}

template <class T>
T from_random_bits(std::mt19937_64& rng) {
  if constexpr (sizeof(T) == 8) {
    const std::uint64_t b = rng();
    double x;
    std::memcpy(&x, &b, sizeof x);
    return x;
  } else {
    const std::uint32_t b = std::uint32_t(rng());
    float x;
    std::memcpy(&x, &b, sizeof x);
    return x;
  }
}

struct Case {
  std::string name;
  double lo, hi;  ///< range of the uniform half of the arguments
};

/// Largest error of `f` (applied to arrays, so the vectorised code is what is measured) over
/// the samples; `where` gets the argument.
template <class T, class F, class R>
double max_error(const Case& c, F f, R exact, T& where) {
  std::mt19937_64 rng(20261201);
  std::uniform_real_distribution<double> uniform(c.lo, c.hi);
  std::vector<T> x(chunk), y(chunk);
  double worst = 0;
  for (int done = 0; done < samples; done += chunk) {
    for (int i = 0; i < chunk; ++i)
      x[i] = i % 2 ? from_random_bits<T>(rng) : static_cast<T>(uniform(rng));
    for (int i = 0; i < chunk; ++i) y[i] = f(x[i]);
    for (int i = 0; i < chunk; ++i) {
      const double e = ulp_error<T>(y[i], exact(LD(x[i])));
      if (e > worst) {
        worst = e;
        where = x[i];
      }
    }
  }
  return worst;
}

template <class T>
std::vector<T> edges() {
  using L = std::numeric_limits<T>;
  return {T(0),
          -T(0),
          L::denorm_min(),
          -L::denorm_min(),
          L::min() - L::denorm_min(),  // largest subnormal
          L::min(),
          -L::min(),
          L::epsilon(),
          T(1),
          T(-1),
          std::nextafter(T(-1), T(0)),
          std::nextafter(T(-1), T(-2)),
          L::max(),
          -L::max(),
          L::infinity(),
          -L::infinity(),
          L::quiet_NaN(),
          T(20),
          T(-20),
          T(40),
          T(-40)};
}

/// Arguments around the thresholds where exp overflows and where it leaves the subnormals.
template <class T>
std::vector<T> thresholds() {
  const T over = static_cast<T>(std::log(LD(std::numeric_limits<T>::max())));
  const T under = static_cast<T>(std::log(LD(std::numeric_limits<T>::denorm_min())));
  const T subnormal = static_cast<T>(std::log(LD(std::numeric_limits<T>::min())));
  std::vector<T> v;
  for (T t : {over, under, subnormal}) {
    T a = t, b = t;
    for (int k = 0; k < 8; ++k) {
      v.push_back(a);
      v.push_back(b);
      v.push_back(-a);
      a = std::nextafter(a, std::numeric_limits<T>::infinity());
      b = std::nextafter(b, -std::numeric_limits<T>::infinity());
    }
  }
  return v;
}

template <class T, class F, class R>
void check_function(const Case& c, F f, R exact) {
  T where = 0;
  const double worst = max_error<T>(c, f, exact, where);
  INFO(c.name << (sizeof(T) == 8 ? " (double)" : " (float)") << ": max " << worst
              << " ulp at x = " << double(where));
  CHECK(worst <= documented_ulp);
  std::vector<T> special = edges<T>();
  for (T t : thresholds<T>()) special.push_back(t);
  for (T x : special) {
    const T got = f(x);
    const LD want = exact(LD(x));
    INFO(c.name << "(" << double(x) << ") = " << double(got) << ", exact " << double(want));
    CHECK(ulp_error<T>(got, want) <= documented_ulp);
    // the sign of a zero result is the sign of the exact one (tanh(-0) = -0, ...)
    if (got == T(0) && T(want) == T(0)) CHECK(std::signbit(got) == std::signbit(T(want)));
  }
}

LD exact_sigmoid(LD x) { return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x)); }
LD exact_softplus(LD x) {
  if (std::isnan(x)) return x;
  return (x > 0 ? x : LD(0)) + std::log1p(std::exp(-std::fabs(x)));
}

template <class T>
void check_all() {
  namespace m = kelk::math;
  check_function<T>({"exp", -750, 750}, [](T x) { return m::exp(x); },
                    [](LD x) { return std::exp(x); });
  check_function<T>({"expm1", -50, 750}, [](T x) { return m::expm1(x); },
                    [](LD x) { return std::expm1(x); });
  check_function<T>({"tanh", -25, 25}, [](T x) { return m::tanh(x); },
                    [](LD x) { return std::tanh(x); });
  check_function<T>({"sigmoid", -750, 50}, [](T x) { return m::sigmoid(x); }, exact_sigmoid);
  check_function<T>({"log1p", -1, 10}, [](T x) { return m::log1p(x); },
                    [](LD x) { return std::log1p(x); });
  check_function<T>({"softplus", -750, 50}, [](T x) { return m::softplus(x); },
                    exact_softplus);
}

}  // namespace

TEST_CASE("gate functions: within 4 ulp of the exact value over the double range", "[math]") {
  check_all<double>();
}

TEST_CASE("gate functions: within 4 ulp of the exact value over the float range", "[math]") {
  check_all<float>();
}

TEST_CASE("gate functions: special values as std:: gives them", "[math]") {
  namespace m = kelk::math;
  constexpr double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK(m::exp(inf) == inf);
  CHECK(m::exp(-inf) == 0.0);
  CHECK(m::exp(710.0) == inf);
  CHECK(std::isfinite(m::exp(709.78)));
  CHECK(m::tanh(inf) == 1.0);
  CHECK(m::tanh(-inf) == -1.0);
  CHECK(m::sigmoid(inf) == 1.0);
  CHECK(m::sigmoid(-inf) == 0.0);
  CHECK(m::expm1(-inf) == -1.0);
  CHECK(m::log1p(-1.0) == -inf);
  CHECK(std::isnan(m::log1p(-2.0)));
  CHECK(m::log1p(inf) == inf);
  CHECK(m::softplus(inf) == inf);
  CHECK(m::softplus(-inf) == 0.0);
  for (double v : {m::exp(nan), m::expm1(nan), m::tanh(nan), m::sigmoid(nan), m::log1p(nan),
                   m::softplus(nan)})
    CHECK(std::isnan(v));
  CHECK(std::isnan(m::tanh(std::numeric_limits<float>::quiet_NaN())));
  CHECK(m::exp(-746.0f) == 0.0f);
}
