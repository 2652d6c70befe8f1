#pragma once
// Sums of squares with a fixed number of lanes. Lane j adds elements j, j+8, j+16, ... in order and
// the lanes are combined in a fixed tree, so the rounding is the same for every vector width: a norm
// is bit-identical on every SIMD tier.
#include <cstddef>

#include "fastoptim/tier.hpp"

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

// Compiled with each tier's flags and too large to be always inlined: its copies must carry the
// tier's name (see tier.hpp).
namespace FASTOPTIM_TIER {

/// Up to three sums at once, for loops that also update arrays: body(i, c0, c1, c2) sets element
/// i's contributions (T&: the loop's own type, so float32 loops stay in float32 vectors). They are
/// added in T over 16 lanes within blocks of kSumBlock elements, each block's lanes then folded in a
/// fixed order into the 8 double lanes of sums[k], times scale[k]. The rounding depends on n and the
/// elements only, never on the SIMD tier; the partial sums are local (registers: `sums` might alias
/// the arrays for all the compiler knows, and that would keep the loop scalar).
inline constexpr std::size_t kSumLanes = 16, kSumBlock = 256;
template <class T, std::size_t K, class F>
inline void for_lanes_sums(std::size_t n, Lanes* sums, const double* scale, F&& body) {
  static_assert(K >= 1 && K <= 3, "one to three sums");
  constexpr std::size_t W = kSumLanes;
  double a[3][Lanes::width] = {};
  for (std::size_t b = 0; b < n; b += kSumBlock) {
    const std::size_t end = n - b < kSumBlock ? n : b + kSumBlock;
    T a0[W] = {}, a1[W] = {}, a2[W] = {};
    std::size_t i = b;
    for (; i + W <= end; i += W) {
#pragma omp simd
      for (std::size_t j = 0; j < W; ++j) {
        T c0 = 0, c1 = 0, c2 = 0;
        body(i + j, c0, c1, c2);
        a0[j] += c0;
        a1[j] += c1;
        a2[j] += c2;
      }
    }
    for (std::size_t j = 0; i + j < end; ++j) {
      T c0 = 0, c1 = 0, c2 = 0;
      body(i + j, c0, c1, c2);
      a0[j] += c0;
      a1[j] += c1;
      a2[j] += c2;
    }
    const T* block[3] = {a0, a1, a2};
    for (std::size_t k = 0; k < K; ++k)
      for (std::size_t j = 0; j < Lanes::width; ++j)
        a[k][j] += scale[k] * (double(block[k][j]) + double(block[k][j + Lanes::width]));
  }
  for (std::size_t k = 0; k < K; ++k)
    for (std::size_t j = 0; j < Lanes::width; ++j) sums[k].v[j] += a[k][j];
}

}  // namespace FASTOPTIM_TIER
}  // namespace fastoptim
