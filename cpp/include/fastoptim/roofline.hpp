#pragma once
// The roofline: a loop that moves the same bytes as a rule's pass and does no arithmetic to speak of.
// A rule's time over the roofline's, on the same tensors, threads and tier, is the share of memory
// bandwidth it reaches. It runs through the same driver (chunks, threads) as the rules.
//
// Pass{reads: R, writes: W} reads the first R of (p, g, s0, .., s3) and writes the first W of
// (p, s0, .., s3) in place: each written array takes the next array's value, and the last written
// one takes the maximum of the remaining reads, so every read is used and values stay bounded.
#include <cstddef>

#include "fastoptim/lanes.hpp"
#include "fastoptim/rule.hpp"
#include "fastoptim/tensor.hpp"
#include "fastoptim/tier.hpp"

namespace fastoptim {

struct Roofline {
  using Step = Pass;
};

/// The most arrays a pass reads: p, g and every state slot.
inline constexpr int kRooflineArrays = 2 + static_cast<int>(kMaxState);

namespace FASTOPTIM_TIER {

/// Index in (p, g, s0, .., s3) of the k-th written array: p, then the state slots.
constexpr int target(int k) { return k == 0 ? 0 : k + 1; }

template <int R, int W, class T>
inline void stream(T* const* a, std::size_t n) {
  static_assert(R >= 1 && R <= kRooflineArrays && W >= 0 && W < R);
  // Written array k < W-1 takes the value of the array after it; the last one takes the maximum of
  // the reads no other write used. Every read is used, no store writes an array's own value back.
  bool used[R] = {};
  for (int k = 0; k + 1 < W; ++k) used[(target(k) + 1) % R] = true;
  auto rest = [&](std::size_t i) {
    T m = T(-1);
    for (int j = 0; j < R; ++j)
      if (!used[j]) m = m > a[j][i] ? m : a[j][i];
    return m;
  };
  if constexpr (W == 0) {
    // A read-only pass keeps 8 independent maxima, as the norm passes keep 8 sums.
    Lanes sink;
    for_lanes(n, [&](std::size_t i, std::size_t lane) {
      const double m = double(rest(i));
      sink.v[lane] = sink.v[lane] > m ? sink.v[lane] : m;
    });
    if (sink.total() != sink.total()) a[0][0] = T(0);  // keeps the pass from being optimised away
  } else {
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      T x[R];
      for (int j = 0; j < R; ++j) x[j] = a[j][i];
      const T last = rest(i);
      for (int k = 0; k + 1 < W; ++k) a[target(k)][i] = x[(target(k) + 1) % R];
      a[target(W - 1)][i] = last;
    }
  }
}

template <class T>
inline void update(const Pass& s, T* p, const T* g, T* const* st, std::size_t n) {
  static_assert(kRooflineArrays == 6, "one pointer per array below");
  T* const a[kRooflineArrays] = {p, const_cast<T*>(g), st[0], st[1], st[2], st[3]};
  switch (s.reads * 8 + s.writes) {
#define FASTOPTIM_STREAM(R, W) \
  case R * 8 + W:              \
    return stream<R, W>(a, n);
    // Every pass a rule can declare: 1 to 6 reads, fewer writes.
    FASTOPTIM_STREAM(1, 0)
    FASTOPTIM_STREAM(2, 0) FASTOPTIM_STREAM(2, 1)
    FASTOPTIM_STREAM(3, 0) FASTOPTIM_STREAM(3, 1) FASTOPTIM_STREAM(3, 2)
    FASTOPTIM_STREAM(4, 0) FASTOPTIM_STREAM(4, 1) FASTOPTIM_STREAM(4, 2) FASTOPTIM_STREAM(4, 3)
    FASTOPTIM_STREAM(5, 0) FASTOPTIM_STREAM(5, 1) FASTOPTIM_STREAM(5, 2) FASTOPTIM_STREAM(5, 3) FASTOPTIM_STREAM(5, 4)
    FASTOPTIM_STREAM(6, 0) FASTOPTIM_STREAM(6, 1) FASTOPTIM_STREAM(6, 2) FASTOPTIM_STREAM(6, 3) FASTOPTIM_STREAM(6, 4)
    FASTOPTIM_STREAM(6, 5)
#undef FASTOPTIM_STREAM
    default:
      return;
  }
}

}  // namespace FASTOPTIM_TIER
}  // namespace fastoptim
