#pragma once
// LAMB (You et al. 2019, "Large Batch Optimization for Deep Learning: Training BERT in 76 minutes"):
// Adam's direction, rescaled per tensor so that the step is proportional to the weights' norm.
//
//   m = b1 * m + (1 - b1) * g;   v = b2 * v + (1 - b2) * g^2          (g negated first when maximize)
//   r = (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps) + wd * p
//   trust = ||p|| / ||r||  per tensor, or 1 when either norm is 0
//   p = p - lr * trust * r
//
// Two passes in one call: pass 1 updates m and v and sums p^2 and r^2 per tensor; pass 2 recomputes r
// from the stored m, v (bit-identical to pass 1) and updates p. Bytes per parameter per step (fp32):
// 40 = 24 (read p, g, m, v; write m, v) + 16 (read p, m, v; write p). A read-only first pass would
// move 44: it would read p, g, m, v twice.
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "fastoptim/lanes.hpp"
#include "fastoptim/rule.hpp"
#include "fastoptim/tier.hpp"

// lamb's settings: (type, name, torch's default), in the order Python passes them.
#define FASTOPTIM_LAMB_SETTINGS(X) \
  X(double, lr, 1e-3)           \
  X(double, beta1, 0.9)         \
  X(double, beta2, 0.999)       \
  X(double, eps, 1e-6)          \
  X(double, weight_decay, 0.0)  \
  X(bool, maximize, false)

namespace fastoptim {

struct Lamb : RuleBase {
  static constexpr const char* name = "lamb";
  static constexpr std::array<const char*, 2> state = {"exp_avg", "exp_avg_sq"};
  static constexpr unsigned unsigned_slots = 2u;

  FASTOPTIM_SETTINGS(FASTOPTIM_LAMB_SETTINGS)

  static void validate(const Hyper& h) {
    require_adam_like(h.lr, h.beta1, h.beta2, h.eps, h.weight_decay);
  }
  static unsigned state_mask(const Hyper&) { return 3u; }

  struct Step {
    static constexpr bool two_pass = true;
    static constexpr int state_pass = 1;  ///< the pass that updates the state
    double lr, inv_bc1, inv_bc2, beta1, beta2, eps, weight_decay, grad_scale;
  };
  static Step prepare(const Hyper& h, std::int64_t step, unsigned, double*) {
    const double t = static_cast<double>(step);
    return {h.lr,
            1 / (1 - std::pow(h.beta1, t)),
            1 / (1 - std::pow(h.beta2, t)),
            h.beta1,
            h.beta2,
            h.eps,
            h.weight_decay,
            h.maximize ? -1.0 : 1.0};
  }
  /// Arrays read and written per element, per pass.
  static Traffic traffic(const Hyper&) {
    return {{{4, 2}, {3, 1}}, 2};
  }
};

FASTOPTIM_RULE(Lamb)

namespace FASTOPTIM_TIER {

/// The direction r, computed the same way in both passes.
template <class T>
struct LambDirection {
  T inv_bc1, inv_bc2, eps, wd;
  explicit LambDirection(const Lamb::Step& s)
      : inv_bc1(T(s.inv_bc1)), inv_bc2(T(s.inv_bc2)), eps(T(s.eps)), wd(T(s.weight_decay)) {}
  T operator()(T m, T v, T p) const { return (m * inv_bc1) / (std::sqrt(v * inv_bc2) + eps) + wd * p; }
};

template <class T>
inline void norms(const Lamb::Step& s, T* __restrict p, const T* __restrict g, T* const* st, std::size_t n,
                  Lanes& p_sq, Lanes& r_sq) {
  T* __restrict m = st[0];
  T* __restrict v = st[1];
  const LambDirection<T> r(s);
  const T b1 = T(s.beta1), c1 = T(1 - s.beta1), b2 = T(s.beta2), c2 = T(1 - s.beta2), sign = T(s.grad_scale);
  for_lanes(n, [&](std::size_t i, std::size_t lane) {
    const T gi = sign * g[i];
    const T mi = b1 * m[i] + c1 * gi;
    const T vi = b2 * v[i] + c2 * (gi * gi);
    m[i] = mi;
    v[i] = vi;
    const double pi = double(p[i]), ri = double(r(mi, vi, p[i]));
    p_sq.v[lane] += pi * pi;
    r_sq.v[lane] += ri * ri;
  });
}

inline double trust(const Lamb::Step&, double p_sq, double r_sq) {
  return p_sq > 0 && r_sq > 0 ? std::sqrt(p_sq) / std::sqrt(r_sq) : 1.0;
}

template <class T>
inline void update(const Lamb::Step& s, double trust_ratio, T* __restrict p, const T*, T* const* st, std::size_t n) {
  const T* __restrict m = st[0];
  const T* __restrict v = st[1];
  const LambDirection<T> r(s);
  const T step = T(s.lr * trust_ratio);
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) p[i] -= step * r(m[i], v[i], p[i]);
}

}  // namespace FASTOPTIM_TIER
}  // namespace fastoptim
