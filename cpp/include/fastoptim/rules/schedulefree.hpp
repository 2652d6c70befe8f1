#pragma once
// Schedule-Free SGD and AdamW (Defazio et al. 2024), as the schedulefree package has them. The
// parameter holds y, the point gradients are taken at; state z is the base sequence (it starts as a
// copy of the parameter) and x, the evaluation point, is recovered from y and z by the Python
// class's eval(). With the weight c_t of step t in the running average,
//
//   lr_t   = lr * min(1, t / warmup_steps)
//   w_t    = t^r * max_{s <= t}(lr_s)^weight_lr_power,      c_t = w_t / sum_{s <= t} w_s
//   d      = g / (sqrt(v / (1 - b2^t)) + eps), v = b2 v + (1 - b2) g^2    (AdamW; SGD: d = g)
//   d      = d + wd * y
//   y      = lerp(y, z, c_t) + lr_t (b1 (1 - c_t) - 1) d
//   z      = z - lr_t d
//
// (b1 is SGD's momentum.) lerp is torch's: a + w (b - a) for w < 0.5, else b - (b - a)(1 - w).
// Bytes per parameter per step (fp32): 20 for SGD (read y, g, z; write y, z), 28 for AdamW.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "fastoptim/rule.hpp"
#include "fastoptim/tier.hpp"

// The settings: (type, name, the schedulefree package's default), in the order Python passes them.
#define FASTOPTIM_SCHEDULEFREE_ADAMW_SETTINGS(X) \
  X(double, lr, 0.0025)                          \
  X(double, beta1, 0.9)                          \
  X(double, beta2, 0.999)                        \
  X(double, eps, 1e-8)                           \
  X(double, weight_decay, 0.0)                   \
  X(double, warmup_steps, 0.0)                   \
  X(double, r, 0.0)                              \
  X(double, weight_lr_power, 2.0)

#define FASTOPTIM_SCHEDULEFREE_SGD_SETTINGS(X) \
  X(double, lr, 1.0)                           \
  X(double, momentum, 0.9)                     \
  X(double, weight_decay, 0.0)                 \
  X(double, warmup_steps, 0.0)                 \
  X(double, r, 0.0)                            \
  X(double, weight_lr_power, 2.0)

namespace fastoptim {

/// What one step of either Schedule-Free rule uses: the lerp weight c_t, y's and z's step sizes.
struct ScheduleFreeStep {
  double ckp1, y_coef, lr, weight_decay, grad_scale;
  double bc2, beta2, eps;  ///< AdamW only: 1 - b2^t, b2, eps
};

/// The averaging weight of step t; advances scalars[0] (the weights' sum) and scalars[1] (the
/// largest lr so far, -1 before the first step). Returns {lr_t, c_t}.
inline std::array<double, 2> schedulefree_weight(double lr, double warmup, double r, double power, std::int64_t step,
                                                 double* scalars) {
  const double t = static_cast<double>(step);
  const double lr_t = lr * (t - 1 < warmup ? t / warmup : 1.0);
  scalars[1] = std::max(lr_t, scalars[1]);
  const double weight = std::pow(t, r) * std::pow(scalars[1], power);
  scalars[0] += weight;
  return {lr_t, scalars[0] != 0 ? weight / scalars[0] : 0.0};
}

struct ScheduleFreeBase : RuleBase {
  static constexpr std::array<const char*, 2> scalars = {"weight_sum", "lr_max"};
  static double scalar_init(std::size_t k) { return k == 0 ? 0.0 : -1.0; }
  static constexpr unsigned param_copies = 1u;  // z starts at the parameter
  static void validate_common(double lr, double momentum, double weight_decay, double warmup, double r, double power) {
    require_nonnegative("lr", lr);
    require(momentum > 0 && momentum < 1, "momentum", momentum, "must be in (0, 1)");
    require_nonnegative("weight_decay", weight_decay);
    require(warmup >= 0 && warmup == std::floor(warmup), "warmup_steps", warmup, "must be a whole number >= 0");
    require_nonnegative("r", r);
    require_nonnegative("weight_lr_power", power);
  }
};

struct ScheduleFreeSgd : ScheduleFreeBase {
  static constexpr const char* name = "schedulefree_sgd";
  static constexpr std::array<const char*, 1> state = {"z"};
  struct Step : ScheduleFreeStep {};  // a type of its own: the kernel tables are keyed by Step

  FASTOPTIM_SETTINGS(FASTOPTIM_SCHEDULEFREE_SGD_SETTINGS)

  static void validate(const Hyper& h) {
    validate_common(h.lr, h.momentum, h.weight_decay, h.warmup_steps, h.r, h.weight_lr_power);
  }
  static unsigned state_mask(const Hyper&) { return 1u; }
  static Step prepare(const Hyper& h, std::int64_t step, unsigned, double* carried) {
    const auto [lr, c] = schedulefree_weight(h.lr, h.warmup_steps, h.r, h.weight_lr_power, step, carried);
    return {{c, lr * (h.momentum * (1 - c) - 1), lr, h.weight_decay, 1.0, 0.0, 0.0, 0.0}};
  }
  static Traffic traffic(const Hyper&) { return {{{3, 2}}, 1}; }
};

struct ScheduleFreeAdamw : ScheduleFreeBase {
  static constexpr const char* name = "schedulefree_adamw";
  static constexpr std::array<const char*, 2> state = {"z", "exp_avg_sq"};
  struct Step : ScheduleFreeStep {};

  FASTOPTIM_SETTINGS(FASTOPTIM_SCHEDULEFREE_ADAMW_SETTINGS)

  static void validate(const Hyper& h) {
    validate_common(h.lr, h.beta1, h.weight_decay, h.warmup_steps, h.r, h.weight_lr_power);
    require_unit_interval("beta2", h.beta2);
    require_nonnegative("eps", h.eps);
  }
  static unsigned state_mask(const Hyper&) { return 3u; }
  static Step prepare(const Hyper& h, std::int64_t step, unsigned, double* carried) {
    const auto [lr, c] = schedulefree_weight(h.lr, h.warmup_steps, h.r, h.weight_lr_power, step, carried);
    const double bc2 = 1 - std::pow(h.beta2, static_cast<double>(step));
    return {{c, lr * (h.beta1 * (1 - c) - 1), lr, h.weight_decay, 1.0, bc2, h.beta2, h.eps}};
  }
  static Traffic traffic(const Hyper&) { return {{{4, 3}}, 1}; }
};

FASTOPTIM_RULE(ScheduleFreeSgd)
FASTOPTIM_RULE(ScheduleFreeAdamw)

namespace FASTOPTIM_TIER {

/// y, z after one step with the normalised gradient d (torch's lerp, then the two adds).
template <class T>
inline void schedulefree_move(T& y, T& z, T d, T c, T y_coef, T lr) {
  y = c < T(0.5) ? y + c * (z - y) : z - (z - y) * (T(1) - c);
  y = y + y_coef * d;
  z = z - lr * d;
}

template <class T>
inline void update(const ScheduleFreeStep& s, T* __restrict y, const T* __restrict g, T* const* st, std::size_t n) {
  T* __restrict z = st[0];
  T* __restrict v = st[1];  // null for SGD
  const T c = T(s.ckp1), y_coef = T(s.y_coef), lr = T(s.lr), wd = T(s.weight_decay), scale = T(s.grad_scale);
  const bool decay = s.weight_decay != 0;
  if (!v) {
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      T d = scale * g[i];
      if (decay) d += wd * y[i];
      T yi = y[i], zi = z[i];
      schedulefree_move(yi, zi, d, c, y_coef, lr);
      y[i] = yi;
      z[i] = zi;
    }
    return;
  }
  const T b2 = T(s.beta2), c2 = T(1 - s.beta2), bc2 = T(s.bc2), eps = T(s.eps);
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    const T gi = scale * g[i];
    const T vi = v[i] * b2 + c2 * (gi * gi);
    v[i] = vi;
    T d = gi / (std::sqrt(vi / bc2) + eps);
    if (decay) d += wd * y[i];
    T yi = y[i], zi = z[i];
    schedulefree_move(yi, zi, d, c, y_coef, lr);
    y[i] = yi;
    z[i] = zi;
  }
}

}  // namespace FASTOPTIM_TIER
}  // namespace fastoptim
