#pragma once
// Sums of squares with a fixed number of lanes. Lane j adds elements j, j+8, j+16, ... in order and
// the lanes are combined in a fixed tree, so the rounding is the same for every vector width: a norm
// is bit-identical on every SIMD tier.
#include <cstddef>

namespace fastoptim {

struct Lanes {
  static constexpr std::size_t width = 8;
  double v[width] = {};
  double total() const { return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7])); }
};

/// body(i, lane) for i in [0, n), with lane = i % Lanes::width; full blocks are vectorised.
template <class F>
inline void for_lanes(std::size_t n, F&& body) {
  std::size_t i = 0;
  for (; i + Lanes::width <= n; i += Lanes::width) {
#pragma omp simd
    for (std::size_t j = 0; j < Lanes::width; ++j) body(i + j, j);
  }
  for (std::size_t j = 0; i + j < n; ++j) body(i + j, j);
}

}  // namespace fastoptim
