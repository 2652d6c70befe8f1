#pragma once
// AdEMAMix (Pagliardini et al. 2024), as the pytorch-optimizer package has it: Adam plus a second,
// slow gradient average whose weight alpha and rate beta3 can warm up over t_alpha_beta3 steps.
//
//   g     = g + wd p                  (coupled decay)   or   p = p (1 - wd lr)   (weight_decouple;
//                                                                                  wd alone with fixed_decay)
//   m     = m + (1 - b1) (g - m)
//   v     = b2 v + (1 - b2) g^2
//   s     = s + (1 - b3_t) (g - s)
//   p     = p - lr (m / (1 - b1^t) + alpha_t s) / (sqrt(v) / sqrt(1 - b2^t) + eps)
//
// With T = t_alpha_beta3 > 0: alpha_t = min(t alpha / T, alpha) and
// b3_t = min(exp(ln b1 ln b3 / ((1 - t/T) ln b3 + (t/T) ln b1)), b3); with T = 0 (None in Python)
// alpha_t = alpha and b3_t = b3. Bytes per parameter per step (fp32): 36 (read p, g, m, v, s; write
// p, m, v, s).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "fastoptim/rule.hpp"
#include "fastoptim/tier.hpp"

// ademamix's settings: (type, name, pytorch-optimizer's default), in the order Python passes them.
#define FASTOPTIM_ADEMAMIX_SETTINGS(X) \
  X(double, lr, 1e-3)                  \
  X(double, beta1, 0.9)                \
  X(double, beta2, 0.999)              \
  X(double, beta3, 0.9999)             \
  X(double, weight_decay, 0.0)         \
  X(bool, weight_decouple, false)      \
  X(bool, fixed_decay, false)          \
  X(double, alpha, 5.0)                \
  X(double, t_alpha_beta3, 0.0)        \
  X(double, eps, 1e-8)                 \
  X(bool, maximize, false)

namespace fastoptim {

struct Ademamix : RuleBase {
  static constexpr const char* name = "ademamix";
  static constexpr std::array<const char*, 3> state = {"exp_avg", "exp_avg_sq", "exp_avg_slow"};
  static constexpr unsigned unsigned_slots = 2u;

  FASTOPTIM_SETTINGS(FASTOPTIM_ADEMAMIX_SETTINGS)

  static void validate(const Hyper& h) {
    require_adam_like(h.lr, h.beta1, h.beta2, h.eps, h.weight_decay);
    require_unit_interval("beta3", h.beta3);
    require_nonnegative("alpha", h.alpha);
    require_nonnegative("t_alpha_beta3", h.t_alpha_beta3);
  }
  static unsigned state_mask(const Hyper&) { return 7u; }

  struct Step {
    double lr, bc1, sqrt_bc2, alpha, beta1, beta2, beta3, eps, coupled_decay, param_scale, grad_scale;
  };
  static Step prepare(const Hyper& h, std::int64_t step, unsigned, double*) {
    const double t = static_cast<double>(step), T = h.t_alpha_beta3;
    double alpha = h.alpha, beta3 = h.beta3;
    if (T > 0) {
      alpha = std::min(t * h.alpha / T, h.alpha);
      const double l1 = std::log(h.beta1), l3 = std::log(h.beta3);
      beta3 = std::min(std::exp(l1 * l3 / ((1 - t / T) * l3 + (t / T) * l1)), h.beta3);
    }
    const bool decay = h.weight_decay != 0;
    return {h.lr,
            1 - std::pow(h.beta1, t),
            std::sqrt(1 - std::pow(h.beta2, t)),
            alpha,
            h.beta1,
            h.beta2,
            beta3,
            h.eps,
            decay && !h.weight_decouple ? h.weight_decay : 0.0,
            decay && h.weight_decouple ? 1 - h.weight_decay * (h.fixed_decay ? 1.0 : h.lr) : 1.0,
            h.maximize ? -1.0 : 1.0};
  }
  static Traffic traffic(const Hyper&) { return {{{5, 4}}, 1}; }
};

FASTOPTIM_RULE(Ademamix)

namespace FASTOPTIM_TIER {

template <class T>
inline void update(const Ademamix::Step& s, T* __restrict p, const T* __restrict g, T* const* st, std::size_t n) {
  T* __restrict m = st[0];
  T* __restrict v = st[1];
  T* __restrict slow = st[2];
  const T lr = T(s.lr), bc1 = T(s.bc1), sqrt_bc2 = T(s.sqrt_bc2), alpha = T(s.alpha), eps = T(s.eps);
  const T w1 = T(1 - s.beta1), b2 = T(s.beta2), c2 = T(1 - s.beta2), w3 = T(1 - s.beta3);
  const T wd = T(s.coupled_decay), scale = T(s.param_scale), sign = T(s.grad_scale);
  const bool coupled = s.coupled_decay != 0, decoupled = s.param_scale != 1;
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    T pi = p[i];
    T gi = sign * g[i];
    if (coupled) gi += wd * pi;
    if (decoupled) pi *= scale;
    const T mi = m[i] + w1 * (gi - m[i]);
    const T vi = v[i] * b2 + c2 * (gi * gi);
    const T si = slow[i] + w3 * (gi - slow[i]);
    m[i] = mi;
    v[i] = vi;
    slow[i] = si;
    const T den = std::sqrt(vi) / sqrt_bc2 + eps;
    p[i] = pi - lr * ((mi / bc1 + alpha * si) / den);
  }
}

}  // namespace FASTOPTIM_TIER
}  // namespace fastoptim
