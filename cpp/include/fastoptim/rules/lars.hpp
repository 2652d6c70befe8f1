#pragma once
// LARS, layer-wise adaptive rate scaling (You, Gitman & Ginsburg 2017): SGD with momentum whose step
// is rescaled per tensor by the ratio of the weights' norm to the gradient's.
//
//   trust = tc * ||p|| / (||g|| + wd * ||p|| + eps)  per tensor, or 1 when either norm is 0
//   d     = trust * (g + wd * p)                     (g negated first when maximize)
//   buf   = d on the first step, then momentum * buf + d
//   p     = p - lr * buf                             (p - lr * d without momentum)
//
// Two passes in one call: a read-only pass sums p^2 and g^2 per tensor, then the update. Bytes per
// parameter per step (fp32): 28 = 8 (read p, g) + 20 (read p, g, buf; write p, buf); 20 without momentum.
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "fastoptim/lanes.hpp"
#include "fastoptim/rule.hpp"
#include "fastoptim/tier.hpp"

// lars's settings: (type, name, torch's default), in the order Python passes them.
#define FASTOPTIM_LARS_SETTINGS(X) \
  X(double, lr, 0.1)                  \
  X(double, momentum, 0.9)            \
  X(double, weight_decay, 0.0)        \
  X(double, trust_coefficient, 1e-3)  \
  X(double, eps, 1e-8)                \
  X(bool, maximize, false)

namespace fastoptim {

struct Lars : RuleBase {
  static constexpr const char* name = "lars";
  static constexpr std::array<const char*, 1> state = {"momentum_buffer"};

  FASTOPTIM_SETTINGS(FASTOPTIM_LARS_SETTINGS)

  static void validate(const Hyper& h) {
    require_nonnegative("lr", h.lr);
    require_nonnegative("momentum", h.momentum);
    require_nonnegative("weight_decay", h.weight_decay);
    require(h.trust_coefficient > 0, "trust_coefficient", h.trust_coefficient, "must be > 0");
    require_nonnegative("eps", h.eps);
  }
  static unsigned state_mask(const Hyper& h) { return h.momentum != 0 ? 1u : 0u; }

  struct Step {
    static constexpr bool two_pass = true;
    static constexpr int state_pass = 2;  ///< the pass that updates the state
    double lr, momentum, weight_decay, trust_coefficient, eps, grad_scale;
    bool use_buffer, fresh_buffer;
  };
  static Step prepare(const Hyper& h, std::int64_t, unsigned fresh, double*) {
    return {h.lr,  h.momentum,          h.weight_decay, h.trust_coefficient, h.eps, h.maximize ? -1.0 : 1.0,
            h.momentum != 0, (fresh & 1u) != 0};
  }
  /// Arrays read and written per element, per pass.
  static Traffic traffic(const Hyper& h) {
    return {{{2, 0}, h.momentum != 0 ? Pass{3, 2} : Pass{2, 1}}, 2};
  }
};

FASTOPTIM_RULE(Lars)

namespace FASTOPTIM_TIER {

template <class T>
inline void norms(const Lars::Step& s, T* __restrict p, const T* __restrict g, T* const*, std::size_t n,
                  Lanes& p_sq, Lanes& g_sq) {
  const T scale = T(s.grad_scale);
  for_lanes(n, [&](std::size_t i, std::size_t lane) {
    const double pi = double(p[i]), gi = double(scale * g[i]);
    p_sq.v[lane] += pi * pi;
    g_sq.v[lane] += gi * gi;
  });
}

inline double trust(const Lars::Step& s, double p_sq, double g_sq) {
  const double pn = std::sqrt(p_sq), gn = std::sqrt(g_sq);
  return pn > 0 && gn > 0 ? s.trust_coefficient * pn / (gn + s.weight_decay * pn + s.eps) : 1.0;
}

template <class T>
inline void update(const Lars::Step& s, double trust_ratio, T* __restrict p, const T* __restrict g, T* const* st,
                   std::size_t n) {
  const T lr = T(s.lr), mu = T(s.momentum), wd = T(s.weight_decay), sign = T(s.grad_scale), tr = T(trust_ratio);
  if (!s.use_buffer) {
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) p[i] -= lr * (tr * (sign * g[i] + wd * p[i]));
    return;
  }
  T* __restrict buf = st[0];
  const bool fresh = s.fresh_buffer;
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    const T d = tr * (sign * g[i] + wd * p[i]);
    const T b = fresh ? d : mu * buf[i] + d;
    buf[i] = b;
    p[i] -= lr * b;
  }
}

}  // namespace FASTOPTIM_TIER
}  // namespace fastoptim
