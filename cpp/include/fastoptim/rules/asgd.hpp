#pragma once
// ASGD, averaged stochastic gradient descent (Polyak & Juditsky 1992), with the step size of
// Bottou 2012; torch.optim.ASGD semantics. Each parameter keeps its step size eta and averaging
// weight mu (per-parameter scalars), and the running average ax of its iterates:
//
//   g    = g + wd * p
//   p    = p * (1 - lambd * eta) - eta * g
//   ax   = p                    if mu == 1,   else   ax + (p - ax) * mu
//   eta  = lr / (1 + lambd * lr * t)^alpha        (for the next step)
//   mu   = 1 / max(1, t - t0)                     (averaging starts after t0 steps)
//
// eta starts at the first step's lr, mu at 1. The average ax is the estimate to evaluate with.
// Bytes per parameter per step (fp32): 20 (read p, g, ax; write p, ax).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "fastoptim/rule.hpp"
#include "fastoptim/tier.hpp"

// asgd's settings: (type, name, torch's default), in the order Python passes them.
#define FASTOPTIM_ASGD_SETTINGS(X) \
  X(double, lr, 1e-2)              \
  X(double, lambd, 1e-4)           \
  X(double, alpha, 0.75)           \
  X(double, t0, 1e6)               \
  X(double, weight_decay, 0.0)     \
  X(bool, maximize, false)

namespace fastoptim {

struct Asgd : RuleBase {
  static constexpr const char* name = "asgd";
  static constexpr std::array<const char*, 1> state = {"ax"};
  static constexpr std::array<const char*, 2> scalars = {"eta", "mu"};
  /// eta's start is replaced by the first step's lr in prepare().
  static double scalar_init(std::size_t k) { return k == 0 ? 0.0 : 1.0; }

  FASTOPTIM_SETTINGS(FASTOPTIM_ASGD_SETTINGS)

  static void validate(const Hyper& h) {
    require_nonnegative("lr", h.lr);
    require_nonnegative("lambd", h.lambd);
    require_nonnegative("alpha", h.alpha);
    require_nonnegative("t0", h.t0);
    require_nonnegative("weight_decay", h.weight_decay);
  }
  static unsigned state_mask(const Hyper&) { return 1u; }

  struct Step {
    double eta, decay, mu, weight_decay, grad_scale;
  };
  /// Uses this step's eta and mu, then advances carried[0] (eta) and carried[1] (mu) to the next step's.
  static Step prepare(const Hyper& h, std::int64_t step, unsigned, double* carried) {
    const double t = static_cast<double>(step);
    const double eta = step == 1 ? h.lr : carried[0], mu = carried[1];
    carried[0] = h.lr / std::pow(1 + h.lambd * h.lr * t, h.alpha);
    carried[1] = 1 / std::max(1.0, t - h.t0);
    return {eta, 1 - h.lambd * eta, mu, h.weight_decay, h.maximize ? -1.0 : 1.0};
  }
  static Traffic traffic(const Hyper&) { return {{{3, 2}}, 1}; }
};

FASTOPTIM_RULE(Asgd)

namespace FASTOPTIM_TIER {

template <bool Average, class T>
inline void asgd_loop(const Asgd::Step& s, T* __restrict p, const T* __restrict g, T* __restrict ax, std::size_t n) {
  const T eta = T(s.eta), decay = T(s.decay), mu = T(s.mu), wd = T(s.weight_decay), sign = T(s.grad_scale);
  const bool coupled = s.weight_decay != 0;
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    T gi = sign * g[i];
    if (coupled) gi += wd * p[i];
    const T pi = p[i] * decay - eta * gi;
    p[i] = pi;
    if constexpr (Average)
      ax[i] = ax[i] + (pi - ax[i]) * mu;
    else
      ax[i] = pi;
  }
}

template <class T>
inline void update(const Asgd::Step& s, T* p, const T* g, T* const* st, std::size_t n) {
  if (s.mu != 1)
    asgd_loop<true>(s, p, g, st[0], n);
  else
    asgd_loop<false>(s, p, g, st[0], n);
}

}  // namespace FASTOPTIM_TIER
}  // namespace fastoptim
