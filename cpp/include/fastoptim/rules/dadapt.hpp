#pragma once
// D-Adaptation (Defazio & Mishchenko 2023, "Learning-Rate-Free Learning by D-Adaptation"), as the
// dadaptation package 3.2: SGD, Adam and AdaGrad whose step size d is a lower bound on the distance
// to the solution, estimated from the sums below over all parameters (every group and process), so
// lr stays 1 (or a schedule's multiplier). d starts at d0 and never decreases; it grows by at most
// growth_rate per step. g is negated when maximize; with den = 0 (no gradient yet) nothing moves.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "fastoptim/dadapt.hpp"
#include "fastoptim/lanes.hpp"
#include "fastoptim/rule.hpp"
#include "fastoptim/tier.hpp"

// (type, name, dadaptation's default), in the order Python passes them; growth_rate 0 is infinity.
#define FASTOPTIM_DADAPT_ADAM_SETTINGS(X) \
  X(double, lr, 1.0)                       \
  X(double, beta1, 0.9)                    \
  X(double, beta2, 0.999)                  \
  X(double, eps, 1e-8)                     \
  X(double, weight_decay, 0.0)             \
  X(bool, decouple, false)                 \
  X(bool, use_bias_correction, false)      \
  X(double, d0, 1e-6)                      \
  X(double, growth_rate, 0.0)              \
  X(double, layer_scale, 1.0)              \
  X(bool, maximize, false)
#define FASTOPTIM_DADAPT_SGD_SETTINGS(X) \
  X(double, lr, 1.0)                      \
  X(double, momentum, 0.0)                \
  X(double, weight_decay, 0.0)            \
  X(double, d0, 1e-6)                     \
  X(double, growth_rate, 0.0)             \
  X(bool, maximize, false)
#define FASTOPTIM_DADAPT_ADAGRAD_SETTINGS(X) \
  X(double, lr, 1.0)                          \
  X(double, momentum, 0.0)                    \
  X(double, weight_decay, 0.0)                \
  X(double, eps, 1e-6)                        \
  X(double, d0, 1e-6)                         \
  X(double, growth_rate, 0.0)                 \
  X(bool, maximize, false)

namespace fastoptim {

// DAdaptAdam. With dlr = d * lr * bc (bc as Adam's with use_bias_correction, else 1), r = layer_scale:
//   pass 1:  num = sqrt(b2) num + (1 - sqrt(b2)) r dlr sum <g, s / (sqrt(v) + eps)>   (s, v before)
//            m = b1 m + r dlr (1 - b1) g;  v = b2 v + (1 - b2) g^2;  s = sqrt(b2) s + dlr (1 - sqrt(b2)) g
//   d = max(d, min(num / ((1 - sqrt(b2)) sum r |s|), d * growth_rate))
//   pass 2:  p = p - wd dlr p (decouple);  p = p - m / (sqrt(v) + eps)
// Bytes per parameter per step (fp32): 48 = 32 (read p, g, m, v, s; write m, v, s) + 16 (read p, m, v; write p).
struct DAdaptAdam : RuleBase {
  static constexpr const char* name = "dadapt_adam";
  static constexpr std::array<const char*, 3> state = {"exp_avg", "exp_avg_sq", "s"};
  static constexpr std::array<const char*, 2> scalars = {"d", "numerator_weighted"};
  static constexpr unsigned unsigned_slots = 2u;

  FASTOPTIM_SETTINGS(FASTOPTIM_DADAPT_ADAM_SETTINGS)

  static void validate(const Hyper& h) {
    DAdapt::validate_d(h.lr, h.d0, h.growth_rate);
    require_unit_interval("beta1", h.beta1);
    require_unit_interval("beta2", h.beta2);
    require(h.eps > 0, "eps", h.eps, "must be > 0");
    require_nonnegative("weight_decay", h.weight_decay);
    require_nonnegative("layer_scale", h.layer_scale);
  }
  static unsigned state_mask(const Hyper&) { return 7u; }

  struct Step {
    static constexpr std::size_t global_sums = 2;  ///< r dlr sum <g, s / (sqrt(v) + eps)>, sum r |s|
    static constexpr int state_pass = 1;
    double dlr, num_scale, l1_scale, m_coef, s_coef, beta1, beta2, sqrt_beta2, eps, coupled_decay, grad_scale;
    bool active;
    double param_scale;  ///< pass 2
    bool moves;
  };
  static Step prepare(const Hyper& h, std::int64_t step, unsigned, double* carried) {
    const double t = static_cast<double>(step);
    const double bc = h.use_bias_correction ? std::sqrt(1 - std::pow(h.beta2, t)) / (1 - std::pow(h.beta1, t)) : 1.0;
    const double dlr = DAdapt::start(carried[0], h.d0) * h.lr * bc, sb2 = std::sqrt(h.beta2);
    Step s{};
    s.dlr = dlr;
    s.num_scale = h.layer_scale * dlr;
    s.l1_scale = h.layer_scale;
    s.m_coef = h.layer_scale * dlr * (1 - h.beta1);
    s.s_coef = dlr * (1 - sb2);
    s.beta1 = h.beta1;
    s.beta2 = h.beta2;
    s.sqrt_beta2 = sb2;
    s.eps = h.eps;
    s.coupled_decay = h.decouple ? 0.0 : h.weight_decay;
    s.grad_scale = h.maximize ? -1.0 : 1.0;
    s.active = h.lr > 0;
    return s;
  }
  static void advance(const Hyper& h, const Step& s, const double* totals, double* carried) {
    if (totals[1] == 0) return;
    const double num = s.sqrt_beta2 * carried[1] + (1 - s.sqrt_beta2) * totals[0];
    double d = DAdapt::start(carried[0], h.d0);
    if (h.lr > 0) d = std::max(d, std::min(num / ((1 - s.sqrt_beta2) * totals[1]), DAdapt::grow(d, h.growth_rate)));
    carried[0] = d;
    carried[1] = num;
  }
  static void finish(const Hyper& h, Step& s, const double* totals, const double*, const double*) {
    s.moves = totals[1] != 0;
    s.param_scale = h.decouple ? 1 - h.weight_decay * s.dlr : 1.0;
  }
  static Traffic traffic(const Hyper&) { return {{{5, 3}, {3, 1}}, 2}; }
};

FASTOPTIM_RULE(DAdaptAdam)

// DAdaptSGD. With g0 = ||g|| at the first step and dlr = d * lr / g0:
//   num = num + dlr <g, s>;  s = s + dlr g;  d = max(d, min(2 num / ||s||, d * growth_rate))
//   p = (1 - c) p + c (x0 - s),  c = 1 - momentum                    (x0: the parameter at first)
// Pass 1 only reads (<g, s>, ||s||^2 and ||g||^2: ||s + dlr g||^2 from them, as dlr needs g0 first);
// pass 2 writes s and p. Bytes per parameter per step (fp32): 36 = 12 (read p, g, s) + 24 (read p,
// g, s, x0; write s, p). dadaptation also keeps z = x0 - s; it is computed here instead.
struct DAdaptSGD : RuleBase {
  static constexpr const char* name = "dadapt_sgd";
  static constexpr std::array<const char*, 2> state = {"s", "x0"};
  static constexpr std::array<const char*, 3> scalars = {"d", "numerator_weighted", "g0_norm"};
  static constexpr unsigned param_copies = 2u;  // x0 starts at the parameter

  FASTOPTIM_SETTINGS(FASTOPTIM_DADAPT_SGD_SETTINGS)

  static void validate(const Hyper& h) {
    DAdapt::validate_d(h.lr, h.d0, h.growth_rate);
    require_unit_interval("momentum", h.momentum);
    require_nonnegative("weight_decay", h.weight_decay);
  }
  static unsigned state_mask(const Hyper&) { return 3u; }

  struct Step {
    /// sum <g, s> (at the first step: sum g^2 without weight decay, for g0), sum s^2, sum g^2
    static constexpr std::size_t global_sums = 3;
    static constexpr int state_pass = 2;
    double lr, d, g0, weight_decay, grad_scale;
    bool active, first;
    double dlr, keep;  ///< pass 2
    bool moves;
  };
  static Step prepare(const Hyper& h, std::int64_t, unsigned, double* carried) {
    Step s{};
    s.lr = h.lr;
    s.d = DAdapt::start(carried[0], h.d0);
    s.g0 = carried[2];
    s.first = carried[2] == 0;
    s.weight_decay = h.weight_decay;
    s.grad_scale = h.maximize ? -1.0 : 1.0;
    s.active = h.lr > 0;
    s.keep = h.momentum;
    return s;
  }
  /// dlr and ||s_new||^2 from the totals and the scalars before.
  static void sums_after(const Step& s, const double* totals, const double* before, double* dlr, double* sk_sq,
                         double* dot) {
    const double g0 = before[2] == 0 ? std::sqrt(totals[0]) : before[2];
    *dot = before[2] == 0 ? 0.0 : totals[0];
    *dlr = s.d * s.lr / g0;
    *sk_sq = totals[1] + 2 * *dlr * *dot + *dlr * *dlr * totals[2];
  }
  static void advance(const Hyper& h, const Step& s, const double* totals, double* carried) {
    double dlr, sk_sq, dot;
    sums_after(s, totals, carried, &dlr, &sk_sq, &dot);
    if (!(sk_sq > 0)) return;
    const double num = carried[1] + dlr * dot;
    double d = DAdapt::start(carried[0], h.d0);
    if (h.lr > 0) d = std::max(d, std::min(2 * num / std::sqrt(sk_sq), DAdapt::grow(d, h.growth_rate)));
    carried[0] = d;
    carried[1] = num;
    carried[2] = carried[2] == 0 ? std::sqrt(totals[0]) : carried[2];
  }
  static void finish(const Hyper&, Step& s, const double* totals, const double* before, const double*) {
    double sk_sq, dot;
    sums_after(s, totals, before, &s.dlr, &sk_sq, &dot);
    s.moves = sk_sq > 0 && s.active;
  }
  static Traffic traffic(const Hyper& h) { return {{{h.weight_decay != 0 ? 3 : 2, 0}, {4, 2}}, 2}; }
};

FASTOPTIM_RULE(DAdaptSGD)

// DAdaptAdaGrad. With dlr = d * lr and a (alphak, from 1e-6) the running sum of g^2:
//   pass 1:  a = a + g^2;  s = s + dlr g;  the changes of sum s^2 / (sqrt(a) + eps) and of sum |s|
//            (kept as running totals), and sum g^2 / (sqrt(a) + eps) (times dlr^2 into gsq)
//   d = max(d, min((sksq - gsq) / skl1, d * growth_rate))
//   pass 2:  z = x0 - s / (sqrt(a) + eps);  p = (1 - c) p + c z,  c = 1 - momentum
// Bytes per parameter per step (fp32): 44 = 24 (read p, g, a, s; write a, s) + 20 (read p, a, s, x0; write p).
struct DAdaptAdaGrad : RuleBase {
  static constexpr const char* name = "dadapt_adagrad";
  static constexpr std::array<const char*, 3> state = {"alphak", "sk", "x0"};
  static constexpr std::array<const char*, 4> scalars = {"d", "gsq_weighted", "sksq_weighted", "skl1"};
  static constexpr unsigned unsigned_slots = 1u;
  static constexpr unsigned param_copies = 4u;  // x0 starts at the parameter
  template <class H>
  static double slot_init(const H&, std::size_t slot) {
    return slot == 0 ? 1e-6 : 0.0;
  }

  FASTOPTIM_SETTINGS(FASTOPTIM_DADAPT_ADAGRAD_SETTINGS)

  static void validate(const Hyper& h) {
    DAdapt::validate_d(h.lr, h.d0, h.growth_rate);
    require_unit_interval("momentum", h.momentum);
    require_nonnegative("weight_decay", h.weight_decay);
    require_nonnegative("eps", h.eps);
  }
  static unsigned state_mask(const Hyper&) { return 7u; }

  struct Step {
    /// the change of sum s^2 / (sqrt(a) + eps), the change of sum |s|, sum g^2 / (sqrt(a) + eps)
    static constexpr std::size_t global_sums = 3;
    static constexpr int state_pass = 1;
    double dlr, eps, weight_decay, grad_scale, momentum;
    bool active, moves;
  };
  static Step prepare(const Hyper& h, std::int64_t, unsigned, double* carried) {
    Step s{};
    s.dlr = DAdapt::start(carried[0], h.d0) * h.lr;
    s.eps = h.eps;
    s.weight_decay = h.weight_decay;
    s.grad_scale = h.maximize ? -1.0 : 1.0;
    s.momentum = h.momentum;
    s.active = h.lr > 0;
    return s;
  }
  static void advance(const Hyper& h, const Step& s, const double* totals, double* carried) {
    const double sksq = carried[2] + totals[0], skl1 = carried[3] + totals[1];
    if (skl1 == 0) return;
    const double gsq = carried[1] + s.dlr * s.dlr * totals[2];
    double d = DAdapt::start(carried[0], h.d0);
    if (h.lr > 0) d = std::max(d, std::min((sksq - gsq) / skl1, DAdapt::grow(d, h.growth_rate)));
    carried[0] = d;
    carried[1] = gsq;
    carried[2] = sksq;
    carried[3] = skl1;
  }
  static void finish(const Hyper&, Step& s, const double* totals, const double* before, const double*) {
    s.moves = before[3] + totals[1] != 0;
  }
  static Traffic traffic(const Hyper&) { return {{{4, 2}, {4, 1}}, 2}; }
};

FASTOPTIM_RULE(DAdaptAdaGrad)

namespace FASTOPTIM_TIER {

template <class T>
inline void accumulate(const DAdaptAdam::Step& s, T* __restrict p, const T* __restrict g, T* const* st, std::size_t n,
                       Lanes* sums) {
  if (!s.active) return;
  T* __restrict m = st[0];
  T* __restrict v = st[1];
  T* __restrict acc = st[2];
  const T b1 = T(s.beta1), b2 = T(s.beta2), sb2 = T(s.sqrt_beta2), eps = T(s.eps), mc = T(s.m_coef), sc = T(s.s_coef);
  const T c2 = T(1 - s.beta2), wd = T(s.coupled_decay), sign = T(s.grad_scale);
  const double scale[2] = {s.num_scale, s.l1_scale};
  for_lanes_sums<T, 2>(n, sums, scale, [&](std::size_t i, T& num, T& l1, T&) {
    const T gi = sign * g[i] + wd * p[i];
    num = gi * (acc[i] / (std::sqrt(v[i]) + eps));
    m[i] = b1 * m[i] + mc * gi;
    v[i] = b2 * v[i] + c2 * (gi * gi);
    const T si = sb2 * acc[i] + sc * gi;
    acc[i] = si;
    l1 = std::abs(si);
  });
}

template <class T>
inline void update(const DAdaptAdam::Step& s, T* __restrict p, const T*, T* const* st, std::size_t n) {
  if (!s.moves) return;
  const T* __restrict m = st[0];
  const T* __restrict v = st[1];
  const T eps = T(s.eps), keep = T(s.param_scale);
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) p[i] = keep * p[i] - m[i] / (std::sqrt(v[i]) + eps);
}

template <class T>
inline void accumulate(const DAdaptSGD::Step& s, T* __restrict p, const T* __restrict g, T* const* st, std::size_t n,
                       Lanes* sums) {
  if (!s.active) return;
  const T* __restrict acc = st[0];
  const T wd = T(s.weight_decay), sign = T(s.grad_scale);
  const bool first = s.first;
  const double scale[3] = {1.0, 1.0, 1.0};
  for_lanes_sums<T, 3>(n, sums, scale, [&](std::size_t i, T& dot, T& s_sq, T& g_sq) {
    const T raw = sign * g[i], gi = raw + wd * p[i];
    dot = first ? raw * raw : gi * acc[i];
    s_sq = acc[i] * acc[i];
    g_sq = gi * gi;
  });
}

template <class T>
inline void update(const DAdaptSGD::Step& s, T* __restrict p, const T* __restrict g, T* const* st, std::size_t n) {
  if (!s.moves) return;
  T* __restrict acc = st[0];
  const T* __restrict x0 = st[1];
  const T dlr = T(s.dlr), wd = T(s.weight_decay), sign = T(s.grad_scale), keep = T(s.keep), c = T(1 - s.keep);
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    const T si = acc[i] + dlr * (sign * g[i] + wd * p[i]);
    acc[i] = si;
    p[i] = keep * p[i] + c * (x0[i] - si);
  }
}

template <class T>
inline void accumulate(const DAdaptAdaGrad::Step& s, T* __restrict p, const T* __restrict g, T* const* st,
                       std::size_t n, Lanes* sums) {
  if (!s.active) return;
  T* __restrict a = st[0];
  T* __restrict acc = st[1];
  const T dlr = T(s.dlr), eps = T(s.eps), wd = T(s.weight_decay), sign = T(s.grad_scale);
  const double scale[3] = {1.0, 1.0, 1.0};
  for_lanes_sums<T, 3>(n, sums, scale, [&](std::size_t i, T& d_sksq, T& d_skl1, T& gsq) {
    const T gi = sign * g[i] + wd * p[i], s_old = acc[i];
    const T w_old = s_old * s_old / (std::sqrt(a[i]) + eps);
    const T ai = a[i] + gi * gi;
    a[i] = ai;
    const T root = std::sqrt(ai) + eps, si = s_old + dlr * gi;
    acc[i] = si;
    d_sksq = si * si / root - w_old;
    d_skl1 = std::abs(si) - std::abs(s_old);
    gsq = gi * gi / root;
  });
}

template <class T>
inline void update(const DAdaptAdaGrad::Step& s, T* __restrict p, const T*, T* const* st, std::size_t n) {
  if (!s.moves) return;
  const T* __restrict a = st[0];
  const T* __restrict acc = st[1];
  const T* __restrict x0 = st[2];
  const T eps = T(s.eps), keep = T(s.momentum), c = T(1 - s.momentum);
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) p[i] = keep * p[i] + c * (x0[i] - acc[i] / (std::sqrt(a[i]) + eps));
}

}  // namespace FASTOPTIM_TIER
}  // namespace fastoptim
