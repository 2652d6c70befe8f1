#pragma once
// Whole-gradient kernels: the finiteness check (with the global norm for max_grad_norm), norms and
// in-place scaling for clip_grad_norm, clamping for clip_grad_value, and L-BFGS's axpy. They run through the same
// chunks and threads as the rules; every sum uses fixed lanes and adds chunks in order, so a norm
// does not depend on the SIMD tier or the number of threads.
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include "fastoptim/driver.hpp"
#include "fastoptim/lanes.hpp"
#include "fastoptim/tensor.hpp"
#include "fastoptim/tier.hpp"

namespace fastoptim {

namespace FASTOPTIM_TIER {

template <class T>
inline bool chunk_finite(const T* __restrict g, std::size_t n) {
  // x * 0 is 0 for finite x and NaN for inf or NaN, so the sum is NaN iff any element is not finite.
  T acc = 0;
#pragma omp simd reduction(+ : acc)
  for (std::size_t i = 0; i < n; ++i) acc += g[i] * T(0);
  return acc == acc;
}

/// Reads every gradient (Tensor::grad) once.
/// `carry`: the sum of squares of earlier calls, which this call's chunk sums are added to in chunk
/// order, so that a norm over several Works (an optimizer's groups) adds exactly as norm() over one
/// Work holding all their chunks.
inline GradStats grad_stats(const Work& w, bool want_norm, double carry) {
  std::vector<unsigned char> bad(w.n_chunks, 0);
  std::vector<double> sums(want_norm ? w.n_chunks : 0);
  for_each_chunk(w, [&](std::size_t c) {
    // (A bfloat16 tensor's chunk comes in several parts: their results add up.)
    visit_chunk(w, c, [&](auto*, auto* g, auto* const*, std::size_t n) {
      if (!want_norm) {  // in pieces, asking for the lines ahead (see visit_streamed)
        using T = std::remove_const_t<std::remove_pointer_t<decltype(g)>>;
        constexpr std::size_t piece = kStreamPieceBytes / sizeof(T), ahead = kPrefetchBytes / sizeof(T);
        for (std::size_t b = 0; b < n; b += piece) {
          if (b + ahead + piece <= n)
            for (std::size_t k = b + ahead; k < b + ahead + piece; k += 64 / sizeof(T)) __builtin_prefetch(g + k, 0, 3);
          bad[c] |= !chunk_finite(g + b, n - b < piece ? n - b : piece);
        }
        return;
      }
      Lanes sq, nan;
      for_lanes(n, [&](std::size_t i, std::size_t lane) {
        const double x = double(g[i]);
        sq.v[lane] += x * x;
        nan.v[lane] += x * 0.0;
      });
      sums[c] += sq.total();
      bad[c] |= nan.total() != nan.total();
    });
  });
  GradStats out;
  out.sum_squares = carry;
  for (std::size_t c = 0; c < w.n_chunks; ++c) {
    if (bad[c] && out.first_bad < 0) out.first_bad = static_cast<std::ptrdiff_t>(w.chunks[c].tensor);
    if (want_norm) out.sum_squares += sums[c];
  }
  return out;
}

/// The larger of a and b, or NaN if either is NaN (a NaN gradient makes an inf-norm NaN, as in torch).
inline double nan_max(double a, double b) { return (a != a || a > b) ? a : b; }

/// The p-norm of all of Tensor::param taken as one vector (p = inf for the largest magnitude).
inline double norm(const Work& w, double p) {
  const bool inf = std::isinf(p);
  std::vector<double> parts(w.n_chunks);
  for_each_chunk(w, [&](std::size_t c) {
    visit_chunk(w, c, [&](auto* x, auto*, auto* const*, std::size_t n) {
      Lanes acc;
      for_lanes(n, [&](std::size_t i, std::size_t lane) {
        const double a = std::fabs(double(x[i]));
        if (inf)
          acc.v[lane] = nan_max(acc.v[lane], a);
        else
          acc.v[lane] += p == 1 ? a : p == 2 ? a * a : std::pow(a, p);
      });
      double m = acc.v[0];
      for (double v : acc.v) m = nan_max(m, v);
      parts[c] = inf ? m : acc.total();
    });
  });
  double total = 0;
  for (double v : parts) total = inf ? nan_max(total, v) : total + v;
  return inf ? total : p == 1 ? total : p == 2 ? std::sqrt(total) : std::pow(total, 1 / p);
}

/// x = x * c for every element of Tensor::param.
inline void scale(const Work& w, double c) {
  for_each_chunk(w, [&](std::size_t ch) {
    visit_chunk(w, ch, [&](auto* x, auto*, auto* const*, std::size_t n) {
      using T = std::remove_reference_t<decltype(*x)>;
      const T k = T(c);
#pragma omp simd
      for (std::size_t i = 0; i < n; ++i) x[i] *= k;
    });
  });
}

/// x = x + a * y for every element, x in Tensor::param and y in Tensor::grad (L-BFGS's moves along
/// its flat direction vector, whose pieces are the grads).
inline void axpy(const Work& w, double a) {
  for_each_chunk(w, [&](std::size_t ch) {
    visit_chunk(w, ch, [&](auto* x, auto* y, auto* const*, std::size_t n) {
      using T = std::remove_reference_t<decltype(*x)>;
      const T k = T(a);
#pragma omp simd
      for (std::size_t i = 0; i < n; ++i) x[i] = x[i] + k * y[i];
    });
  });
}

/// x = min(max(x, -c), c) for every element of Tensor::param (NaN stays NaN).
inline void clamp(const Work& w, double c) {
  for_each_chunk(w, [&](std::size_t ch) {
    visit_chunk(w, ch, [&](auto* x, auto*, auto* const*, std::size_t n) {
      using T = std::remove_reference_t<decltype(*x)>;
      const T hi = T(c), lo = T(-c);
#pragma omp simd
      for (std::size_t i = 0; i < n; ++i) x[i] = x[i] > hi ? hi : x[i] < lo ? lo : x[i];
    });
  });
}

}  // namespace FASTOPTIM_TIER
}  // namespace fastoptim
