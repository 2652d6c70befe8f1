#pragma once
// Prodigy (Mishchenko & Defazio 2024, "Prodigy: An Expeditiously Adaptive Parameter-Free Learner"),
// as prodigyopt.Prodigy 1.1: Adam whose step size d is estimated from how far the parameters have
// come, so lr stays 1 (or a schedule's multiplier).
//
// With d the estimate (d0 at first), dlr = d * lr * bc (bc = sqrt(1 - b2^t) / (1 - b1^t) with
// use_bias_correction, else 1), g negated when maximize and g += wd * p unless decouple:
//   pass 1:  num  = b3 * num + (d / d0) * dlr * sum <g, p0 - p>          over all parameters
//            m    = b1 * m + d (1 - b1) g,   v = b2 * v + d^2 (1 - b2) g^2
//            s    = b3 * s + (d / d0) * (safeguard_warmup ? d : dlr) * g,   den = sum |s|
//   d_hat = d_coef * num / den;  d = max(d, d_hat) while d is d0;  d_max = max(d_max, d_hat);
//   d = min(d_max, d * growth_rate)
//   pass 2:  p = p - wd * dlr * p (decouple);  p = p - dlr * m / (sqrt(v) + d eps)
//            (without momentum, b1 = 0:  p = p - dlr * d * g / (sqrt(v) + d eps))
// p0 is the parameter at its first step. d, d_max and num are one number for all parameters
// (global sums over every group and process); with den = 0 (all gradients zero so far) nothing moves.
// Bytes per parameter per step (fp32): 52 = 36 (read p, g, m, v, s, p0; write m, v, s) + 16 (read
// p, m, v; write p); 44 without momentum (b1 = 0: no m; pass 2 reads g instead).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "fastoptim/dadapt.hpp"
#include "fastoptim/lanes.hpp"
#include "fastoptim/rule.hpp"
#include "fastoptim/tier.hpp"

// prodigy's settings: (type, name, prodigyopt's default), in the order Python passes them.
// beta3 < 0 stands for None (sqrt(beta2)), growth_rate 0 for infinity.
#define FASTOPTIM_PRODIGY_SETTINGS(X) \
  X(double, lr, 1.0)                   \
  X(double, beta1, 0.9)                \
  X(double, beta2, 0.999)              \
  X(double, beta3, -1.0)               \
  X(double, eps, 1e-8)                 \
  X(double, weight_decay, 0.0)         \
  X(bool, decouple, true)              \
  X(bool, use_bias_correction, false)  \
  X(bool, safeguard_warmup, false)     \
  X(double, d0, 1e-6)                  \
  X(double, d_coef, 1.0)               \
  X(double, growth_rate, 0.0)          \
  X(bool, maximize, false)

namespace fastoptim {

struct Prodigy : RuleBase {
  static constexpr const char* name = "prodigy";
  static constexpr std::array<const char*, 4> state = {"exp_avg", "exp_avg_sq", "s", "p0"};
  static constexpr std::array<const char*, 3> scalars = {"d", "d_max", "d_numerator"};
  static constexpr unsigned unsigned_slots = 2u;
  static constexpr unsigned param_copies = 8u;  // p0 starts at the parameter

  FASTOPTIM_SETTINGS(FASTOPTIM_PRODIGY_SETTINGS)

  static void validate(const Hyper& h) {
    DAdapt::validate_d(h.lr, h.d0, h.growth_rate);
    require_unit_interval("beta1", h.beta1);
    require_unit_interval("beta2", h.beta2);
    require(h.beta3 < 0 || h.beta3 < 1, "beta3", h.beta3, "must be in [0, 1) or None");
    require(h.eps > 0, "eps", h.eps, "must be > 0");
    require_nonnegative("weight_decay", h.weight_decay);
    require(h.d_coef > 0, "d_coef", h.d_coef, "must be > 0");
  }
  static unsigned state_mask(const Hyper& h) { return h.beta1 > 0 ? 15u : 14u; }

  struct Step {
    static constexpr std::size_t global_sums = 2;  ///< sum <g, p0 - p> * (d/d0) * dlr, sum |s|
    static constexpr int state_pass = 1;
    // pass 1
    double num_scale, m_coef, v_coef, s_coef, beta1, beta2, beta3, coupled_decay, grad_scale;
    bool active;  ///< lr > 0: a group with lr 0 is frozen (no sums, no state change)
    // pass 2 (finish)
    double dlr, eps_term, param_scale, grad_coef;
    bool moves;
  };
  static double beta3_of(const Hyper& h) { return h.beta3 < 0 ? std::sqrt(h.beta2) : h.beta3; }
  static Step prepare(const Hyper& h, std::int64_t step, unsigned, double* carried) {
    const double t = static_cast<double>(step);
    const double d = DAdapt::start(carried[0], h.d0);
    const double bc = h.use_bias_correction ? std::sqrt(1 - std::pow(h.beta2, t)) / (1 - std::pow(h.beta1, t)) : 1.0;
    const double dlr = d * h.lr * bc;
    Step s{};
    s.num_scale = d / h.d0 * dlr;
    s.m_coef = d * (1 - h.beta1);
    s.v_coef = d * d * (1 - h.beta2);
    s.s_coef = d / h.d0 * (h.safeguard_warmup ? d : dlr);
    s.beta1 = h.beta1;
    s.beta2 = h.beta2;
    s.beta3 = beta3_of(h);
    s.coupled_decay = h.decouple ? 0.0 : h.weight_decay;
    s.grad_scale = h.maximize ? -1.0 : 1.0;
    s.active = h.lr > 0;
    s.dlr = dlr;
    return s;
  }
  /// The new d, d_max and numerator from the totals (nothing changes while sum |s| is 0).
  static void advance(const Hyper& h, const Step& s, const double* totals, double* carried) {
    if (totals[1] == 0) return;
    double d = DAdapt::start(carried[0], h.d0), d_max = DAdapt::start(carried[1], h.d0);
    const double num = s.beta3 * carried[2] + totals[0];
    if (h.lr > 0) {
      const double d_hat = h.d_coef * num / totals[1];
      if (d == h.d0) d = std::max(d, d_hat);
      d_max = std::max(d_max, d_hat);
      d = std::min(d_max, DAdapt::grow(d, h.growth_rate));
    }
    carried[0] = d;
    carried[1] = d_max;
    carried[2] = num;
  }
  static void finish(const Hyper& h, Step& s, const double* totals, const double*, const double* after) {
    const double d = DAdapt::start(after[0], h.d0);
    s.moves = totals[1] != 0 && s.active;
    s.eps_term = d * h.eps;
    s.param_scale = h.decouple ? 1 - h.weight_decay * s.dlr : 1.0;
    s.grad_coef = s.dlr * d;
  }
  /// Arrays read and written per element, per pass.
  static Traffic traffic(const Hyper& h) {
    return h.beta1 > 0 ? Traffic{{{6, 3}, {3, 1}}, 2} : Traffic{{{5, 2}, {3, 1}}, 2};
  }
};

FASTOPTIM_RULE(Prodigy)

namespace FASTOPTIM_TIER {

template <class T>
inline void accumulate(const Prodigy::Step& s, T* __restrict p, const T* __restrict g, T* const* st, std::size_t n,
                       Lanes* sums) {
  if (!s.active) return;
  T* __restrict m = st[0];
  T* __restrict v = st[1];
  T* __restrict acc = st[2];
  const T* __restrict p0 = st[3];
  const T b1 = T(s.beta1), b2 = T(s.beta2), b3 = T(s.beta3), mc = T(s.m_coef), vc = T(s.v_coef), sc = T(s.s_coef);
  const T wd = T(s.coupled_decay), sign = T(s.grad_scale);
  const double scale[2] = {s.num_scale, 1.0};
  auto moments = [&](std::size_t i, T gi, T& num, T& l1) {
    num = gi * (p0[i] - p[i]);
    v[i] = b2 * v[i] + vc * (gi * gi);
    const T si = b3 * acc[i] + sc * gi;
    acc[i] = si;
    l1 = std::abs(si);
  };
  if (m)
    for_lanes_sums<T, 2>(n, sums, scale, [&](std::size_t i, T& num, T& l1, T&) {
      const T gi = sign * g[i] + wd * p[i];
      m[i] = b1 * m[i] + mc * gi;
      moments(i, gi, num, l1);
    });
  else
    for_lanes_sums<T, 2>(n, sums, scale, [&](std::size_t i, T& num, T& l1, T&) {
      moments(i, sign * g[i] + wd * p[i], num, l1);
    });
}

template <class T>
inline void update(const Prodigy::Step& s, T* __restrict p, const T* __restrict g, T* const* st, std::size_t n) {
  if (!s.moves) return;
  const T* __restrict m = st[0];
  const T* __restrict v = st[1];
  const T dlr = T(s.dlr), eps = T(s.eps_term), keep = T(s.param_scale), wd = T(s.coupled_decay), sign = T(s.grad_scale);
  if (m) {
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) p[i] = keep * p[i] - dlr * (m[i] / (std::sqrt(v[i]) + eps));
  } else {
    const T gc = T(s.grad_coef);
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) p[i] = keep * p[i] - gc * ((sign * g[i] + wd * p[i]) / (std::sqrt(v[i]) + eps));
  }
}

}  // namespace FASTOPTIM_TIER
}  // namespace fastoptim
