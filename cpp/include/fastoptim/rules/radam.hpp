#pragma once
// RAdam (Liu et al. 2020): Adam whose adaptive step is switched on, and rectified, only once the
// variance of the adaptive learning rate is tractable; torch.optim.RAdam.
//
//   g     = g + wd * p   or, decoupled,  p = p * (1 - lr * wd)      (g negated first when maximize)
//   m     = b1 * m + (1 - b1) * g;   v = b2 * v + (1 - b2) * g^2
//   rho_inf = 2 / (1 - b2) - 1;   rho_t = rho_inf - 2 t b2^t / (1 - b2^t)
//   rho_t > 5:  r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
//               p = p - lr r sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
//   otherwise:  p = p - lr / (1 - b1^t) * m                         (SGD with momentum)
//
// Bytes per parameter per step (fp32): 28 (read p, g, m, v; write p, m, v).
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "fastoptim/rule.hpp"
#include "fastoptim/tier.hpp"

// radam's settings: (type, name, torch's default), in the order Python passes them.
#define FASTOPTIM_RADAM_SETTINGS(X) \
  X(double, lr, 1e-3)                     \
  X(double, beta1, 0.9)                   \
  X(double, beta2, 0.999)                 \
  X(double, eps, 1e-8)                    \
  X(double, weight_decay, 0.0)            \
  X(bool, decoupled_weight_decay, false)  \
  X(bool, maximize, false)

namespace fastoptim {

struct Radam : RuleBase {
  static constexpr const char* name = "radam";
  static constexpr std::array<const char*, 2> state = {"exp_avg", "exp_avg_sq"};
  static constexpr unsigned unsigned_slots = 2u;

  FASTOPTIM_SETTINGS(FASTOPTIM_RADAM_SETTINGS)

  static void validate(const Hyper& h) {
    require_adam_like(h.lr, h.beta1, h.beta2, h.eps, h.weight_decay);
  }
  static unsigned state_mask(const Hyper&) { return 3u; }

  struct Step {
    double step_size, beta1, beta2, eps, coupled_decay, param_scale, grad_scale;
    bool rectified;
  };
  static Step prepare(const Hyper& h, std::int64_t step, unsigned, double*) {
    const double t = static_cast<double>(step);
    const double bc1 = 1 - std::pow(h.beta1, t), b2t = std::pow(h.beta2, t), bc2 = 1 - b2t;
    const double rho_inf = 2 / (1 - h.beta2) - 1;
    const double rho_t = rho_inf - 2 * t * b2t / bc2;
    const bool rectified = rho_t > 5;
    const double rect =
        rectified ? std::sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) : 0.0;
    return {rectified ? h.lr * rect * std::sqrt(bc2) / bc1 : h.lr / bc1,
            h.beta1,
            h.beta2,
            h.eps,
            h.decoupled_weight_decay ? 0.0 : h.weight_decay,
            h.decoupled_weight_decay ? 1 - h.lr * h.weight_decay : 1.0,
            h.maximize ? -1.0 : 1.0,
            rectified};
  }
  /// Arrays read and written per element, per pass.
  static Traffic traffic(const Hyper&) {
    return {{{4, 3}}, 1};
  }
};

FASTOPTIM_RULE(Radam)

namespace FASTOPTIM_TIER {

template <bool Rectified, class T>
inline void radam_loop(const Radam::Step& s, T* __restrict p, const T* __restrict g, T* __restrict m,
                       T* __restrict v, std::size_t n) {
  const T step_size = T(s.step_size), eps = T(s.eps);
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
    if constexpr (Rectified)
      p[i] = pi - step_size * (mi / (std::sqrt(vi) + eps));
    else
      p[i] = pi - step_size * mi;
  }
}

template <class T>
inline void update(const Radam::Step& s, T* p, const T* g, T* const* st, std::size_t n) {
  if (s.rectified)
    radam_loop<true>(s, p, g, st[0], st[1], n);
  else
    radam_loop<false>(s, p, g, st[0], st[1], n);
}

}  // namespace FASTOPTIM_TIER
}  // namespace fastoptim
