// Standard-normal numbers from a 64-bit Mersenne Twister and Box-Muller: a seed gives the same
// numbers with every standard library (std::normal_distribution's algorithm is unspecified).
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace kelk::apps {

inline std::vector<double> standard_normals(std::size_t n, std::uint64_t seed, double scale = 1.0) {
  std::mt19937_64 rng(seed);
  const double two_pi = 6.283185307179586476925286766559;
  auto uniform = [&] { return (double(rng() >> 11) + 0.5) * 0x1.0p-53; };  // in (0, 1)
  std::vector<double> z(n);
  for (std::size_t i = 0; i < n; i += 2) {
    const double r = std::sqrt(-2.0 * std::log(uniform())), a = two_pi * uniform();
    z[i] = scale * r * std::cos(a);
    if (i + 1 < n) z[i + 1] = scale * r * std::sin(a);
  }
  return z;
}

}  // namespace kelk::apps
