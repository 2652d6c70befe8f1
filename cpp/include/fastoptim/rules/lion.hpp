#pragma once
// Lion, "EvoLved Sign Momentum" (Chen et al. 2023): the step is the sign of an interpolated momentum,
// so every coordinate moves by exactly lr (plus decoupled weight decay).
//
//   c = b1 * m + (1 - b1) * g                 (g negated first when maximize)
//   p = p - lr * (sign(c) + wd * p)
//   m = b2 * m + (1 - b2) * g
//
// Bytes per parameter per step (fp32): 20 (read p, g, m; write p, m).
#include <array>
#include <cstddef>
#include <cstdint>

#include "fastoptim/rule.hpp"
#include "fastoptim/slot.hpp"
#include "fastoptim/tier.hpp"

// lion's settings: (type, name, torch's default), in the order Python passes them.
#define FASTOPTIM_LION_SETTINGS(X) \
  X(double, lr, 1e-4)           \
  X(double, beta1, 0.9)         \
  X(double, beta2, 0.99)        \
  X(double, weight_decay, 0.0)  \
  X(bool, maximize, false)

namespace fastoptim {

struct Lion : RuleBase {
  static constexpr const char* name = "lion";
  static constexpr std::array<const char*, 1> state = {"exp_avg"};

  FASTOPTIM_SETTINGS(FASTOPTIM_LION_SETTINGS)

  static void validate(const Hyper& h) {
    require_nonnegative("lr", h.lr);
    require_unit_interval("beta1", h.beta1);
    require_unit_interval("beta2", h.beta2);
    require_nonnegative("weight_decay", h.weight_decay);
  }
  static unsigned state_mask(const Hyper&) { return 1u; }

  struct Step {
    double lr, beta1, beta2, weight_decay, grad_scale;
  };
  static Step prepare(const Hyper& h, std::int64_t, unsigned, double*) {
    return {h.lr, h.beta1, h.beta2, h.weight_decay, h.maximize ? -1.0 : 1.0};
  }
  /// Arrays read and written per element, per pass.
  static Traffic traffic(const Hyper&) {
    return {{{3, 2}}, 1};
  }
};

FASTOPTIM_RULE(Lion)

namespace FASTOPTIM_TIER {

// P, G, S: the parameter's, gradient's and state's formats (slot.hpp), converted in registers.
template <class P, class G, class S>
inline void update(const Lion::Step& s, P p, G g, const S* st, std::size_t n) {
  using T = value_of<P>;
  const S m = st[0];
  const T lr = T(s.lr), b1 = T(s.beta1), c1 = T(1 - s.beta1), b2 = T(s.beta2), c2 = T(1 - s.beta2);
  const T wd = T(s.weight_decay), sign = T(s.grad_scale);
  const bool decay = s.weight_decay != 0;
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    const T gi = sign * load(g, i), mi = load(m, i), pi = load(p, i);
    const T c = b1 * mi + c1 * gi;
    T d = T(c > 0) - T(c < 0);
    if (decay) d += wd * pi;
    store(p, i, pi - lr * d);
    store(m, i, b2 * mi + c2 * gi);
  }
}

}  // namespace FASTOPTIM_TIER
}  // namespace fastoptim
