#pragma once
// Adafactor (Shazeer & Stern 2018), as torch.optim.Adafactor: the second moment of a matrix kept
// factored, as one statistic per row and one per column, so its state is O(rows + cols) instead of
// O(rows * cols).
//
// At step t, with g negated first when maximize and eps1 the dtype's machine epsilon when None:
//   w     = t^beta2_decay                         (1 at t = 1: the first statistics are the gradient's)
//   alpha = max(eps2, ||p|| / sqrt(n)) * min(lr, 1 / sqrt(t))     (from p before the decay)
//   p     = p * (1 - lr * weight_decay)
// a parameter of 2 or more dimensions (the last two are rows x cols; any before them are a batch):
//   row_var = lerp(row_var, mean over cols of g^2, w);   col_var = lerp(col_var, mean over rows of g^2, w)
//   v       = row_var col_var^T / max(mean(row_var), eps1)
// a vector or scalar:
//   variance = lerp(variance, g^2, w);   v = variance
// then, with lerp torch's and sums in double:
//   u = g / sqrt(max(v, eps1^2));   p = p - alpha / max(1, ||u|| / (sqrt(n) d)) * u
//
// Per whole tensor (the norms and the statistics need all of it): three reads of p and g for a
// matrix (the sums, ||u||, the update), two for a vector. Bytes per parameter per step (fp32, a
// matrix): 24 = 8 (read p, g) + 4 (read g) + 12 (read p, g; write p); the statistics are O(rows + cols).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "fastoptim/lanes.hpp"
#include "fastoptim/rule.hpp"
#include "fastoptim/tensor.hpp"
#include "fastoptim/tier.hpp"

// adafactor's settings: (type, name, torch's default), in the order Python passes them. eps is the
// pair (eps1, eps2); eps1 None (the dtype's machine epsilon) arrives as -1.
#define FASTOPTIM_ADAFACTOR_SETTINGS(X) \
  X(double, lr, 1e-2)                   \
  X(double, beta2_decay, -0.8)          \
  X(double, eps1, -1.0)                 \
  X(double, eps2, 1e-3)                 \
  X(double, d, 1.0)                     \
  X(double, weight_decay, 0.0)          \
  X(bool, maximize, false)

namespace fastoptim {

struct Adafactor : RuleBase {
  static constexpr const char* name = "adafactor";
  static constexpr std::array<const char*, 3> state = {"row_var", "col_var", "variance"};

  FASTOPTIM_SETTINGS(FASTOPTIM_ADAFACTOR_SETTINGS)

  static void validate(const Hyper& h) {
    require_nonnegative("lr", h.lr);
    require(h.beta2_decay <= 0, "beta2_decay", h.beta2_decay, "must be <= 0");
    require(h.eps1 >= 0 || h.eps1 == -1, "eps1", h.eps1, "must be >= 0 (or None: the dtype's machine epsilon)");
    require_nonnegative("eps2", h.eps2);
    require(h.d >= 1, "d", h.d, "must be >= 1");
    require_nonnegative("weight_decay", h.weight_decay);
  }
  static unsigned state_mask(const Hyper&) { return 7u; }
  static unsigned ndim_mask(int ndim) { return ndim >= 2 ? 3u : 4u; }
  static SlotShape slot_shape(std::size_t slot) {
    return slot == 0 ? SlotShape::rows : slot == 1 ? SlotShape::cols : SlotShape::param;
  }

  struct Step {
    static constexpr bool per_tensor = true;
    double lr, weight, rho, eps1, eps2, d, weight_decay, grad_scale;
  };
  static Step prepare(const Hyper& h, std::int64_t step, unsigned, double*) {
    const double t = static_cast<double>(step);
    return {h.lr,  std::pow(t, h.beta2_decay), std::min(h.lr, 1 / std::sqrt(t)), h.eps1, h.eps2, h.d, h.weight_decay,
            h.maximize ? -1.0 : 1.0};
  }
  /// Arrays read and written per element, per pass (a matrix).
  static Traffic traffic(const Hyper&) { return {{{2, 0}, {1, 0}, {2, 1}}, 3}; }
};

FASTOPTIM_RULE(Adafactor)

namespace FASTOPTIM_TIER {

/// torch's lerp: a + w (b - a) for w < 0.5, else b - (b - a)(1 - w) (exact at w = 1).
template <class T>
inline T lerp(T a, T b, T w) {
  return w < T(0.5) ? a + w * (b - a) : b - (b - a) * (T(1) - w);
}

/// Scratch doubles, zeroed (std::vector's members would be symbols outside the tier's namespace).
struct Scratch {
  double* v;
  explicit Scratch(std::size_t n) : v(new double[n]()) {}
  ~Scratch() { delete[] v; }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

/// Step's scalars in the tensor's type, and the final move p = p * keep - step * u.
template <class T>
struct AdafactorScalars {
  T sign, weight, eps1_sq, keep;
  double eps1;
  AdafactorScalars(const Adafactor::Step& s)
      : sign(T(s.grad_scale)), weight(T(s.weight)), keep(T(1 - s.lr * s.weight_decay)) {
    eps1 = s.eps1 < 0 ? double(std::numeric_limits<T>::epsilon()) : s.eps1;
    eps1_sq = T(eps1 * eps1);
  }
};

/// alpha / max(1, ||u|| / (sqrt(n) d)) from the sums of p^2 and u^2.
inline double adafactor_step_size(const Adafactor::Step& s, double p_sq, double u_sq, std::size_t n) {
  const double root_n = std::sqrt(double(n));
  const double alpha = std::max(s.eps2, std::sqrt(p_sq) / root_n) * s.rho;
  return alpha / std::max(1.0, std::sqrt(u_sq) / (root_n * s.d));
}

template <class T>
inline void update_tensor(const Adafactor::Step& s, T* __restrict p, const T* __restrict g, T* const* st,
                          const Tensor& t) {
  const AdafactorScalars<T> k(s);
  const std::size_t n = t.size;
  if (n == 0) return;
  Lanes p_sq, u_sq;
  if (!st[0]) {  // a vector or a scalar: the full second moment
    T* __restrict var = st[2];
    for_lanes(n, [&](std::size_t i, std::size_t lane) {
      const T gi = k.sign * g[i];
      const T vi = lerp(var[i], gi * gi, k.weight);
      var[i] = vi;
      const double ui = double(gi * (T(1) / std::sqrt(std::max(vi, k.eps1_sq))));
      p_sq.v[lane] += double(p[i]) * double(p[i]);
      u_sq.v[lane] += ui * ui;
    });
    const T step = T(adafactor_step_size(s, p_sq.total(), u_sq.total(), n));
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      const T gi = k.sign * g[i];
      p[i] = p[i] * k.keep - step * (gi * (T(1) / std::sqrt(std::max(var[i], k.eps1_sq))));
    }
    return;
  }
  const std::size_t rows = t.rows(), cols = t.cols(), batch = n / (rows * cols);
  T* __restrict row_var = st[0];  // batch x rows
  T* __restrict col_var = st[1];  // batch x cols
  Scratch col_sums(cols), row_scale(batch);
  for (std::size_t b = 0; b < batch; ++b) {  // the statistics and p's sum of squares
    std::fill(col_sums.v, col_sums.v + cols, 0.0);
    double row_total = 0;
    for (std::size_t r = 0; r < rows; ++r) {
      const T* gr = g + (b * rows + r) * cols;
      const T* pr = p + (b * rows + r) * cols;
      Lanes row_sq;
      for_lanes(cols, [&](std::size_t c, std::size_t lane) {
        const double gc = double(k.sign * gr[c]);
        row_sq.v[lane] += gc * gc;
        col_sums.v[c] += gc * gc;
        p_sq.v[lane] += double(pr[c]) * double(pr[c]);
      });
      T& rv = row_var[b * rows + r];
      rv = lerp(rv, T(row_sq.total() / double(cols)), k.weight);
      row_total += double(rv);
    }
    for (std::size_t c = 0; c < cols; ++c) {
      T& cv = col_var[b * cols + c];
      cv = lerp(cv, T(col_sums.v[c] / double(rows)), k.weight);
    }
    row_scale.v[b] = double(std::max(T(row_total / double(rows)), T(k.eps1)));
  }
  // u = g / sqrt(max(row_var col_var / mean(row_var), eps1^2)), once for ||u|| and once to apply it.
  auto for_each_u = [&](auto&& body) {
    for (std::size_t b = 0; b < batch; ++b) {
      const T mean = T(row_scale.v[b]);
      const T* cv = col_var + b * cols;
      for (std::size_t r = 0; r < rows; ++r) {
        const std::size_t at = (b * rows + r) * cols;
        const T rv = row_var[b * rows + r];
        body(at, [&, rv, mean](std::size_t c) {
          const T v = std::max((rv * cv[c]) / mean, k.eps1_sq);
          return (k.sign * g[at + c]) * (T(1) / std::sqrt(v));
        });
      }
    }
  };
  for_each_u([&](std::size_t, auto&& u) {
    for_lanes(cols, [&](std::size_t c, std::size_t lane) {
      const double uc = double(u(c));
      u_sq.v[lane] += uc * uc;
    });
  });
  const T step = T(adafactor_step_size(s, p_sq.total(), u_sq.total(), n));
  for_each_u([&](std::size_t at, auto&& u) {
    T* __restrict pr = p + at;
#pragma omp simd
    for (std::size_t c = 0; c < cols; ++c) pr[c] = pr[c] * k.keep - step * u(c);
  });
}

}  // namespace FASTOPTIM_TIER
}  // namespace fastoptim
