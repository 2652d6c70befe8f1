#pragma once
// Adan, adaptive Nesterov momentum (Xie et al. 2024), as the pytorch-optimizer package has it: a
// moment of the gradient, a moment of its difference from the previous gradient, and a second
// moment of the Nesterov-corrected gradient g + b2 (g - g_prev):
//
//   d     = g - g_prev                 (0 at the first step)
//   m     = m + (1 - b1) (g - m)
//   diff  = diff + (1 - b2) (d - diff)
//   u     = g + b2 d
//   n     = b3 n + (1 - b3) u^2
//   den   = sqrt(n) / sqrt(1 - b3^t) + eps
//   p     = p (1 - lr wd)                                     (weight_decouple)
//   p     = p - lr / (1 - b1^t) m / den - lr b2 / (1 - b2^t) diff / den
//   p     = p / (1 + lr wd)                                   (otherwise: the paper's proximal decay)
//
// The previous gradient is kept negated, as pytorch-optimizer keeps it. Bytes per parameter per
// step (fp32): 44 (read p, g, m, diff, n, prev; write p, m, diff, n, prev).
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "fastoptim/rule.hpp"
#include "fastoptim/tier.hpp"

// adan's settings: (type, name, pytorch-optimizer's default), in the order Python passes them.
#define FASTOPTIM_ADAN_SETTINGS(X)   \
  X(double, lr, 1e-3)                \
  X(double, beta1, 0.98)             \
  X(double, beta2, 0.92)             \
  X(double, beta3, 0.99)             \
  X(double, weight_decay, 0.0)       \
  X(bool, weight_decouple, false)    \
  X(double, eps, 1e-8)               \
  X(bool, maximize, false)

namespace fastoptim {

struct Adan : RuleBase {
  static constexpr const char* name = "adan";
  static constexpr std::array<const char*, 4> state = {"exp_avg", "exp_avg_diff", "exp_avg_sq", "previous_grad"};
  static constexpr unsigned unsigned_slots = 4u;

  FASTOPTIM_SETTINGS(FASTOPTIM_ADAN_SETTINGS)

  static void validate(const Hyper& h) {
    require_adam_like(h.lr, h.beta1, h.beta2, h.eps, h.weight_decay);
    require_unit_interval("beta3", h.beta3);
  }
  static unsigned state_mask(const Hyper&) { return 15u; }

  struct Step {
    double step_size, diff_step_size, sqrt_bc3, beta1, beta2, beta3, eps, param_scale, param_div, grad_scale;
    bool first;  ///< the previous gradient is not there yet: the difference is 0
  };
  static Step prepare(const Hyper& h, std::int64_t step, unsigned fresh, double*) {
    const double t = static_cast<double>(step);
    const bool decay = h.weight_decay != 0;
    return {h.lr / (1 - std::pow(h.beta1, t)),
            h.lr * h.beta2 / (1 - std::pow(h.beta2, t)),
            std::sqrt(1 - std::pow(h.beta3, t)),
            h.beta1,
            h.beta2,
            h.beta3,
            h.eps,
            decay && h.weight_decouple ? 1 - h.lr * h.weight_decay : 1.0,
            decay && !h.weight_decouple ? 1 + h.lr * h.weight_decay : 1.0,
            h.maximize ? -1.0 : 1.0,
            (fresh & 8u) != 0};
  }
  static Traffic traffic(const Hyper&) { return {{{6, 5}}, 1}; }
};

FASTOPTIM_RULE(Adan)

namespace FASTOPTIM_TIER {

template <bool First, class T>
inline void adan_loop(const Adan::Step& s, T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict diff,
                      T* __restrict n, T* __restrict prev, std::size_t count) {
  const T w1 = T(1 - s.beta1), w2 = T(1 - s.beta2), b2 = T(s.beta2), b3 = T(s.beta3), c3 = T(1 - s.beta3);
  const T step_size = T(s.step_size), diff_step = T(s.diff_step_size), sqrt_bc3 = T(s.sqrt_bc3), eps = T(s.eps);
  const T scale = T(s.param_scale), div = T(s.param_div), sign = T(s.grad_scale);
  const bool decoupled = s.param_scale != 1, proximal = s.param_div != 1;
#pragma omp simd
  for (std::size_t i = 0; i < count; ++i) {
    const T gi = sign * g[i];
    T d = First ? T(0) : prev[i] + gi;  // prev holds -g_prev
    const T mi = m[i] + w1 * (gi - m[i]);
    const T di = diff[i] + w2 * (d - diff[i]);
    d = d * b2 + gi;
    const T ni = n[i] * b3 + c3 * (d * d);
    m[i] = mi;
    diff[i] = di;
    n[i] = ni;
    const T den = std::sqrt(ni) / sqrt_bc3 + eps;
    T pi = p[i];
    if (decoupled) pi *= scale;
    pi = pi - step_size * (mi / den);
    pi = pi - diff_step * (di / den);
    if (proximal) pi /= div;
    p[i] = pi;
    prev[i] = -gi;
  }
}

template <class T>
inline void update(const Adan::Step& s, T* p, const T* g, T* const* st, std::size_t n) {
  if (s.first)
    adan_loop<true>(s, p, g, st[0], st[1], st[2], st[3], n);
  else
    adan_loop<false>(s, p, g, st[0], st[1], st[2], st[3], n);
}

}  // namespace FASTOPTIM_TIER
}  // namespace fastoptim
