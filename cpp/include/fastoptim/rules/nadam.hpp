#pragma once
// NAdam (Dozat 2016): Adam with Nesterov momentum and a momentum warm-up schedule; torch.optim.NAdam.
//
//   mu_t  = b1 * (1 - 0.5 * 0.96^(t * psi)),  mu_{t+1} likewise     (psi = momentum_decay)
//   P_t   = P_{t-1} * mu_t                                          (P = mu_product, per group, P_0 = 1)
//   g     = g + wd * p   or, decoupled,  p = p * (1 - lr * wd)      (g negated first when maximize)
//   m     = b1 * m + (1 - b1) * g;   v = b2 * v + (1 - b2) * g^2
//   den   = sqrt(v / (1 - b2^t)) + eps
//   p     = p - lr (1 - mu_t) / (1 - P_t) * g / den - lr mu_{t+1} / (1 - P_t mu_{t+1}) * m / den
//
// Bytes per parameter per step (fp32): 28 (read p, g, m, v; write p, m, v).
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "fastoptim/rule.hpp"
#include "fastoptim/tier.hpp"

// nadam's settings: (type, name, torch's default), in the order Python passes them.
#define FASTOPTIM_NADAM_SETTINGS(X) \
  X(double, lr, 2e-3)                     \
  X(double, beta1, 0.9)                   \
  X(double, beta2, 0.999)                 \
  X(double, eps, 1e-8)                    \
  X(double, weight_decay, 0.0)            \
  X(double, momentum_decay, 4e-3)         \
  X(bool, decoupled_weight_decay, false)  \
  X(bool, maximize, false)

namespace fastoptim {

struct Nadam : RuleBase {
  static constexpr const char* name = "nadam";
  static constexpr std::array<const char*, 2> state = {"exp_avg", "exp_avg_sq"};
  static constexpr unsigned unsigned_slots = 2u;
  static constexpr std::array<const char*, 1> scalars = {"mu_product"};
  static double scalar_init(std::size_t) { return 1.0; }

  FASTOPTIM_SETTINGS(FASTOPTIM_NADAM_SETTINGS)

  static void validate(const Hyper& h) {
    require_adam_like(h.lr, h.beta1, h.beta2, h.eps, h.weight_decay);
    require_nonnegative("momentum_decay", h.momentum_decay);
  }
  static unsigned state_mask(const Hyper&) { return 3u; }

  struct Step {
    double grad_coef, avg_coef, inv_bc2, beta1, beta2, eps, coupled_decay, param_scale, grad_scale;
  };
  /// Advances carried[0] (its scalar state mu_product), the running product of mu_t.
  static Step prepare(const Hyper& h, std::int64_t step, unsigned, double* carried) {
    const double t = static_cast<double>(step);
    const double mu = h.beta1 * (1 - 0.5 * std::pow(0.96, t * h.momentum_decay));
    const double mu_next = h.beta1 * (1 - 0.5 * std::pow(0.96, (t + 1) * h.momentum_decay));
    const double product = carried[0] * mu;
    carried[0] = product;
    return {h.lr * (1 - mu) / (1 - product),
            h.lr * mu_next / (1 - product * mu_next),
            1 / (1 - std::pow(h.beta2, t)),
            h.beta1,
            h.beta2,
            h.eps,
            h.decoupled_weight_decay ? 0.0 : h.weight_decay,
            h.decoupled_weight_decay ? 1 - h.lr * h.weight_decay : 1.0,
            h.maximize ? -1.0 : 1.0};
  }
  /// Arrays read and written per element, per pass.
  static Traffic traffic(const Hyper&) {
    return {{{4, 3}}, 1};
  }
};

FASTOPTIM_RULE(Nadam)

namespace FASTOPTIM_TIER {

template <class T>
inline void update(const Nadam::Step& s, T* __restrict p, const T* __restrict g, T* const* st, std::size_t n) {
  T* __restrict m = st[0];
  T* __restrict v = st[1];
  const T gc = T(s.grad_coef), ac = T(s.avg_coef), inv_bc2 = T(s.inv_bc2), eps = T(s.eps);
  const T b1 = T(s.beta1), c1 = T(1 - s.beta1), b2 = T(s.beta2), c2 = T(1 - s.beta2);
  const T wd = T(s.coupled_decay), scale = T(s.param_scale), sign = T(s.grad_scale);
  const bool coupled = s.coupled_decay != 0, decoupled = s.param_scale != 1;
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    T pi = p[i];
    T gi = sign * g[i];
    if (coupled) gi += wd * pi;
    if (decoupled) pi *= scale;
    const T mi = b1 * m[i] + c1 * gi;
    const T vi = b2 * v[i] + c2 * (gi * gi);
    m[i] = mi;
    v[i] = vi;
    const T den = std::sqrt(vi * inv_bc2) + eps;
    p[i] = (pi - gc * (gi / den)) - ac * (mi / den);
  }
}

}  // namespace FASTOPTIM_TIER
}  // namespace fastoptim
