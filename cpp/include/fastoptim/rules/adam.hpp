#pragma once
// Adam (Kingma & Ba 2015), with AMSGrad (Reddi et al. 2018) and decoupled weight decay, AdamW
// (Loshchilov & Hutter 2019). torch.optim.Adam/AdamW semantics: eps is added after the bias-corrected
// square root.
//
//   g     = g + wd * p            (coupled decay, Adam)      or   p = p * (1 - lr * wd)   (AdamW)
//   m     = b1 * m + (1 - b1) * g
//   v     = b2 * v + (1 - b2) * g^2
//   vmax  = max(vmax, v); v = vmax                                             (amsgrad)
//   p     = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
//
// Bytes per parameter per step (fp32): 28 (read p, g, m, v; write p, m, v); 36 with amsgrad.
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "fastoptim/rule.hpp"
#include "fastoptim/slot.hpp"
#include "fastoptim/tier.hpp"

// adam's settings: (type, name, torch's default), in the order Python passes them.
#define FASTOPTIM_ADAM_SETTINGS(X) \
  X(double, lr, 1e-3)                     \
  X(double, beta1, 0.9)                   \
  X(double, beta2, 0.999)                 \
  X(double, eps, 1e-8)                    \
  X(double, weight_decay, 0.0)            \
  X(bool, amsgrad, false)                 \
  X(bool, maximize, false)                \
  X(bool, decoupled_weight_decay, false)

namespace fastoptim {

struct Adam : RuleBase {
  static constexpr const char* name = "adam";
  static constexpr std::array<const char*, 3> state = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  static constexpr unsigned unsigned_slots = 6u;

  FASTOPTIM_SETTINGS(FASTOPTIM_ADAM_SETTINGS)

  static void validate(const Hyper& h) {
    require_adam_like(h.lr, h.beta1, h.beta2, h.eps, h.weight_decay);
  }

  static unsigned state_mask(const Hyper& h) { return h.amsgrad ? 7u : 3u; }

  struct Step {
    double step_size;     ///< lr / (1 - b1^t)
    double inv_sqrt_bc2;  ///< 1 / sqrt(1 - b2^t)
    double beta1, beta2, eps, grad_scale;
    double coupled_decay;  ///< wd for Adam, 0 for AdamW
    double param_scale;    ///< 1 - lr * wd for AdamW, 1 for Adam
    bool amsgrad;
  };
  static Step prepare(const Hyper& h, std::int64_t step, unsigned /*fresh*/, double* /*scalars*/) {
    const double t = static_cast<double>(step);
    const double bc1 = 1 - std::pow(h.beta1, t), bc2 = 1 - std::pow(h.beta2, t);
    return {h.lr / bc1,
            1 / std::sqrt(bc2),
            h.beta1,
            h.beta2,
            h.eps,
            h.maximize ? -1.0 : 1.0,
            h.decoupled_weight_decay ? 0.0 : h.weight_decay,
            h.decoupled_weight_decay ? 1 - h.lr * h.weight_decay : 1.0,
            h.amsgrad};
  }

  /// Arrays read and written per element, per pass.
  static Traffic traffic(const Hyper& h) {
    return h.amsgrad ? Traffic{{{5, 4}}, 1} : Traffic{{{4, 3}}, 1};
  }
};

FASTOPTIM_RULE(Adam)

namespace FASTOPTIM_TIER {

// AMSGrad is a template flag, not a branch in the loop: without it vmax is never touched (update
// passes v in its place, the slot being absent), and the vectoriser must never be tempted to load
// through it. P, G and S: the parameter's, gradient's and state's formats (slot.hpp), converted in
// registers.
template <bool Amsgrad, class P, class G, class S>
inline void adam_loop(const Adam::Step& s, P p, G g, S m, S v, S vmax, std::size_t n) {
  using T = value_of<P>;
  const T step_size = T(s.step_size), inv_sqrt_bc2 = T(s.inv_sqrt_bc2), eps = T(s.eps);
  const T b1 = T(s.beta1), b2 = T(s.beta2), c1 = T(1 - s.beta1), c2 = T(1 - s.beta2);
  const T sign = T(s.grad_scale), wd = T(s.coupled_decay), scale = T(s.param_scale);
  const bool coupled = s.coupled_decay != 0, decoupled = s.param_scale != 1;
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    T pi = load(p, i);
    T gi = sign * load(g, i);
    if (coupled) gi += wd * pi;
    const T mi = b1 * load(m, i) + c1 * gi;
    T vi = b2 * load(v, i) + c2 * (gi * gi);
    store(m, i, mi);
    store(v, i, vi);
    if constexpr (Amsgrad) {
      const T most = load(vmax, i);
      vi = most > vi ? most : vi;
      store(vmax, i, vi);
    }
    if (decoupled) pi *= scale;
    store(p, i, pi - step_size * mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps));
  }
}

template <class P, class G, class S>
inline void update(const Adam::Step& s, P p, G g, const S* st, std::size_t n) {
  if (s.amsgrad)
    adam_loop<true>(s, p, g, st[0], st[1], st[2], n);
  else
    adam_loop<false>(s, p, g, st[0], st[1], st[1], n);
}

}  // namespace FASTOPTIM_TIER
}  // namespace fastoptim
