#pragma once
// AdaGrad (Duchi, Hazan & Singer 2011), torch.optim.Adagrad, plus the lecture's averaged form.
//
//   g     = g + wd * p                          (g negated first when maximize)
//   s     = s + g^2                             (s starts at initial_accumulator_value)
//   sigma = sqrt(s)          or, with average,  sqrt(s / t)
//   p     = p - lr / (1 + (t - 1) * lr_decay) * g / (sigma + eps)
//
// With average=True, sigma is the root of the *mean* squared gradient: with a constant lr the step
// no longer shrinks like 1/sqrt(t), and the effective step grows without bound where gradients fade;
// with lr = eta / sqrt(t + 1) it is ordinary AdaGrad again.
//
// Bytes per parameter per step (fp32): 20 (read p, g, s; write p, s).
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "fastoptim/rule.hpp"
#include "fastoptim/tier.hpp"

// adagrad's settings: (type, name, torch's default), in the order Python passes them.
#define FASTOPTIM_ADAGRAD_SETTINGS(X) \
  X(double, lr, 1e-2)                        \
  X(double, lr_decay, 0.0)                   \
  X(double, weight_decay, 0.0)               \
  X(double, initial_accumulator_value, 0.0)  \
  X(double, eps, 1e-10)                      \
  X(bool, maximize, false)                   \
  X(bool, average, false)

namespace fastoptim {

struct Adagrad : RuleBase {
  static constexpr const char* name = "adagrad";
  static constexpr std::array<const char*, 1> state = {"sum"};
  static constexpr unsigned unsigned_slots = 1u;

  FASTOPTIM_SETTINGS(FASTOPTIM_ADAGRAD_SETTINGS)

  /// torch's checks, shared with RowwiseAdagrad (the same settings).
  template <class H>
  static void validate(const H& h) {
    require_nonnegative("lr", h.lr);
    require_nonnegative("lr_decay", h.lr_decay);
    require_nonnegative("weight_decay", h.weight_decay);
    require_nonnegative("initial_accumulator_value", h.initial_accumulator_value);
    require_nonnegative("eps", h.eps);
  }
  static unsigned state_mask(const Hyper&) { return 1u; }
  static double slot_init(const Hyper& h, std::size_t) { return h.initial_accumulator_value; }
  /// As torch: a row without gradient keeps its sum and its value, so only the given rows step;
  /// torch refuses weight decay with sparse gradients.
  static const char* row_sparse(const Hyper& h) {
    return h.weight_decay == 0 ? nullptr : "takes row-sparse gradients without weight_decay only, as torch";
  }

  struct Step {
    double clr, inv_count, eps, weight_decay, grad_scale;
  };
  static Step prepare(const Hyper& h, std::int64_t step, unsigned, double*) {
    const double t = static_cast<double>(step);
    return {h.lr / (1 + (t - 1) * h.lr_decay), h.average ? 1 / t : 1.0, h.eps, h.weight_decay,
            h.maximize ? -1.0 : 1.0};
  }
  /// Arrays read and written per element, per pass.
  static Traffic traffic(const Hyper&) {
    return {{{3, 2}}, 1};
  }
};

FASTOPTIM_RULE(Adagrad)

namespace FASTOPTIM_TIER {

template <class T>
inline void update(const Adagrad::Step& s, T* __restrict p, const T* __restrict g, T* const* st, std::size_t n) {
  T* __restrict sum = st[0];
  const T clr = T(s.clr), inv_count = T(s.inv_count), eps = T(s.eps), wd = T(s.weight_decay), sign = T(s.grad_scale);
  const bool decay = s.weight_decay != 0;
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    T gi = sign * g[i];
    if (decay) gi += wd * p[i];
    const T acc = sum[i] + gi * gi;
    sum[i] = acc;
    p[i] -= clr * (gi / (std::sqrt(acc * inv_count) + eps));
  }
}

}  // namespace FASTOPTIM_TIER
}  // namespace fastoptim
