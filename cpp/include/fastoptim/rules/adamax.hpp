#pragma once
// Adamax (Kingma & Ba 2015, section 7.1), torch.optim.Adamax: Adam with the infinity norm.
//
//   g = g + wd * p                             (g negated first when maximize)
//   m = b1 * m + (1 - b1) * g
//   u = max(b2 * u, |g| + eps)
//   p = p - lr / (1 - b1^t) * m / u
//
// Bytes per parameter per step (fp32): 28 (read p, g, m, u; write p, m, u).
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "fastoptim/rule.hpp"
#include "fastoptim/tier.hpp"

// adamax's settings: (type, name, torch's default), in the order Python passes them.
#define FASTOPTIM_ADAMAX_SETTINGS(X) \
  X(double, lr, 2e-3)           \
  X(double, beta1, 0.9)         \
  X(double, beta2, 0.999)       \
  X(double, eps, 1e-8)          \
  X(double, weight_decay, 0.0)  \
  X(bool, maximize, false)

namespace fastoptim {

struct Adamax : RuleBase {
  static constexpr const char* name = "adamax";
  static constexpr std::array<const char*, 2> state = {"exp_avg", "exp_inf"};
  static constexpr unsigned unsigned_slots = 2u;

  FASTOPTIM_SETTINGS(FASTOPTIM_ADAMAX_SETTINGS)

  static void validate(const Hyper& h) {
    require_adam_like(h.lr, h.beta1, h.beta2, h.eps, h.weight_decay);
  }
  static unsigned state_mask(const Hyper&) { return 3u; }

  struct Step {
    double clr, beta1, beta2, eps, weight_decay, grad_scale;
  };
  static Step prepare(const Hyper& h, std::int64_t step, unsigned, double*) {
    return {h.lr / (1 - std::pow(h.beta1, static_cast<double>(step))), h.beta1, h.beta2, h.eps, h.weight_decay,
            h.maximize ? -1.0 : 1.0};
  }
  /// Arrays read and written per element, per pass.
  static Traffic traffic(const Hyper&) {
    return {{{4, 3}}, 1};
  }
};

FASTOPTIM_RULE(Adamax)

namespace FASTOPTIM_TIER {

template <class T>
inline void update(const Adamax::Step& s, T* __restrict p, const T* __restrict g, T* const* st, std::size_t n) {
  T* __restrict m = st[0];
  T* __restrict u = st[1];
  const T clr = T(s.clr), b1 = T(s.beta1), c1 = T(1 - s.beta1), b2 = T(s.beta2), eps = T(s.eps);
  const T wd = T(s.weight_decay), sign = T(s.grad_scale);
  const bool decay = s.weight_decay != 0;
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    T gi = sign * g[i];
    if (decay) gi += wd * p[i];
    const T mi = b1 * m[i] + c1 * gi;
    const T decayed = b2 * u[i], mag = std::fabs(gi) + eps;
    const T ui = decayed > mag ? decayed : mag;
    m[i] = mi;
    u[i] = ui;
    p[i] -= clr * (mi / ui);
  }
}

}  // namespace FASTOPTIM_TIER
}  // namespace fastoptim
