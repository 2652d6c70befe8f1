#pragma once
// AdaDelta (Zeiler 2012), torch.optim.Adadelta: the step's units come from a running average of
// past squared updates, so lr = 1 is a natural default.
//
//   g     = g + wd * p                                    (g negated first when maximize)
//   s     = rho * s + (1 - rho) * g^2
//   delta = sqrt(u + eps) / sqrt(s + eps) * g
//   u     = rho * u + (1 - rho) * delta^2
//   p     = p - lr * delta
//
// Bytes per parameter per step (fp32): 28 (read p, g, s, u; write p, s, u).
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "fastoptim/rule.hpp"
#include "fastoptim/tier.hpp"

// adadelta's settings: (type, name, torch's default), in the order Python passes them.
#define FASTOPTIM_ADADELTA_SETTINGS(X) \
  X(double, lr, 1.0)            \
  X(double, rho, 0.9)           \
  X(double, eps, 1e-6)          \
  X(double, weight_decay, 0.0)  \
  X(bool, maximize, false)

namespace fastoptim {

struct Adadelta : RuleBase {
  static constexpr const char* name = "adadelta";
  static constexpr std::array<const char*, 2> state = {"square_avg", "acc_delta"};
  static constexpr unsigned unsigned_slots = 3u;

  FASTOPTIM_SETTINGS(FASTOPTIM_ADADELTA_SETTINGS)

  static void validate(const Hyper& h) {
    require_nonnegative("lr", h.lr);
    require(h.rho >= 0 && h.rho <= 1, "rho", h.rho, "must be in [0, 1]");
    require_nonnegative("eps", h.eps);
    require_nonnegative("weight_decay", h.weight_decay);
  }
  static unsigned state_mask(const Hyper&) { return 3u; }

  struct Step {
    double lr, rho, eps, weight_decay, grad_scale;
  };
  static Step prepare(const Hyper& h, std::int64_t, unsigned, double*) {
    return {h.lr, h.rho, h.eps, h.weight_decay, h.maximize ? -1.0 : 1.0};
  }
  /// Arrays read and written per element, per pass.
  static Traffic traffic(const Hyper&) {
    return {{{4, 3}}, 1};
  }
};

FASTOPTIM_RULE(Adadelta)

namespace FASTOPTIM_TIER {

template <class T>
inline void update(const Adadelta::Step& s, T* __restrict p, const T* __restrict g, T* const* st, std::size_t n) {
  T* __restrict sq = st[0];
  T* __restrict acc = st[1];
  const T lr = T(s.lr), rho = T(s.rho), keep = T(1 - s.rho), eps = T(s.eps), wd = T(s.weight_decay);
  const T sign = T(s.grad_scale);
  const bool decay = s.weight_decay != 0;
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    T gi = sign * g[i];
    if (decay) gi += wd * p[i];
    const T si = rho * sq[i] + keep * (gi * gi);
    sq[i] = si;
    const T delta = std::sqrt(acc[i] + eps) / std::sqrt(si + eps) * gi;
    acc[i] = rho * acc[i] + keep * (delta * delta);
    p[i] -= lr * delta;
  }
}

}  // namespace FASTOPTIM_TIER
}  // namespace fastoptim
