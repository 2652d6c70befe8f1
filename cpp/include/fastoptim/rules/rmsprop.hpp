#pragma once
// RMSProp (Tieleman & Hinton 2012, lecture 6.5), centered form (Graves 2013); torch.optim.RMSprop.
//
//   g   = g + wd * p                              (g negated first when maximize)
//   s   = alpha * s + (1 - alpha) * g^2
//   a   = alpha * a + (1 - alpha) * g             (centered)
//   den = sqrt(s - a^2) + eps  (centered)   or   sqrt(s) + eps
//   buf = momentum * buf + g / den;  p = p - lr * buf      (momentum > 0; buf starts at 0)
//   p   = p - lr * g / den                                 (otherwise)
//
// Bytes per parameter per step (fp32): 20 (read p, g, s; write p, s), +8 with momentum, +8 centered.
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "fastoptim/rule.hpp"
#include "fastoptim/tier.hpp"

// rmsprop's settings: (type, name, torch's default), in the order Python passes them.
#define FASTOPTIM_RMSPROP_SETTINGS(X) \
  X(double, lr, 1e-2)           \
  X(double, alpha, 0.99)        \
  X(double, eps, 1e-8)          \
  X(double, weight_decay, 0.0)  \
  X(double, momentum, 0.0)      \
  X(bool, centered, false)      \
  X(bool, maximize, false)

namespace fastoptim {

struct Rmsprop : RuleBase {
  static constexpr const char* name = "rmsprop";
  static constexpr std::array<const char*, 3> state = {"square_avg", "momentum_buffer", "grad_avg"};
  static constexpr unsigned unsigned_slots = 1u;

  FASTOPTIM_SETTINGS(FASTOPTIM_RMSPROP_SETTINGS)

  static void validate(const Hyper& h) {
    require_nonnegative("lr", h.lr);
    require_nonnegative("alpha", h.alpha);
    require_nonnegative("eps", h.eps);
    require_nonnegative("weight_decay", h.weight_decay);
    require_nonnegative("momentum", h.momentum);
  }
  static unsigned state_mask(const Hyper& h) { return 1u | (h.momentum > 0 ? 2u : 0u) | (h.centered ? 4u : 0u); }

  struct Step {
    double lr, alpha, eps, weight_decay, momentum, grad_scale;
    bool use_momentum, centered;
  };
  static Step prepare(const Hyper& h, std::int64_t, unsigned, double*) {
    return {h.lr, h.alpha, h.eps, h.weight_decay, h.momentum, h.maximize ? -1.0 : 1.0, h.momentum > 0, h.centered};
  }
  /// Arrays read and written per element, per pass.
  static Traffic traffic(const Hyper& h) {
    const int extra = (h.momentum > 0 ? 1 : 0) + (h.centered ? 1 : 0);
    return {{{3 + extra, 2 + extra}}, 1};
  }
};

FASTOPTIM_RULE(Rmsprop)

namespace FASTOPTIM_TIER {

template <bool Momentum, bool Centered, class T>
inline void rmsprop_loop(const Rmsprop::Step& s, T* __restrict p, const T* __restrict g, T* __restrict sq,
                         T* __restrict buf, T* __restrict ga, std::size_t n) {
  const T lr = T(s.lr), alpha = T(s.alpha), keep = T(1 - s.alpha), eps = T(s.eps), wd = T(s.weight_decay);
  const T mu = T(s.momentum), sign = T(s.grad_scale);
  const bool decay = s.weight_decay != 0;
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    T gi = sign * g[i];
    if (decay) gi += wd * p[i];
    const T si = alpha * sq[i] + keep * (gi * gi);
    sq[i] = si;
    T den;
    if constexpr (Centered) {
      const T ai = alpha * ga[i] + keep * gi;
      ga[i] = ai;
      den = std::sqrt(si - ai * ai) + eps;
    } else {
      den = std::sqrt(si) + eps;
    }
    if constexpr (Momentum) {
      const T b = mu * buf[i] + gi / den;
      buf[i] = b;
      p[i] -= lr * b;
    } else {
      p[i] -= lr * (gi / den);
    }
  }
}

template <class T>
inline void update(const Rmsprop::Step& s, T* p, const T* g, T* const* st, std::size_t n) {
  if (s.use_momentum)
    s.centered ? rmsprop_loop<true, true>(s, p, g, st[0], st[1], st[2], n)
               : rmsprop_loop<true, false>(s, p, g, st[0], st[1], st[2], n);
  else
    s.centered ? rmsprop_loop<false, true>(s, p, g, st[0], st[1], st[2], n)
               : rmsprop_loop<false, false>(s, p, g, st[0], st[1], st[2], n);
}

}  // namespace FASTOPTIM_TIER
}  // namespace fastoptim
