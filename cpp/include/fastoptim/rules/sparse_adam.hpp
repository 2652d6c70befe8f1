#pragma once
// SparseAdam, torch.optim.SparseAdam: Adam with lazy moments. A row-sparse gradient moves only the
// moments and values of its rows; the other rows keep theirs, not decayed. With t the parameter's
// step count (every step that gives it a gradient) and g negated first when maximize:
//
//   m = m + (1 - b1) (g - m);   v = v + (1 - b2) (g^2 - v)        (torch's rounding)
//   p = p - lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
//
// A dense gradient is every row at once (then it is Adam, rounded as above).
// Bytes per parameter per step (fp32): 28 (read p, g, m, v; write p, m, v), over the given rows.
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "fastoptim/rule.hpp"
#include "fastoptim/tier.hpp"

// sparse_adam's settings: (type, name, torch's default), in the order Python passes them.
#define FASTOPTIM_SPARSE_ADAM_SETTINGS(X) \
  X(double, lr, 1e-3)                     \
  X(double, beta1, 0.9)                   \
  X(double, beta2, 0.999)                 \
  X(double, eps, 1e-8)                    \
  X(bool, maximize, false)

namespace fastoptim {

struct SparseAdam : RuleBase {
  static constexpr const char* name = "sparse_adam";
  static constexpr std::array<const char*, 2> state = {"exp_avg", "exp_avg_sq"};
  static constexpr unsigned unsigned_slots = 2u;

  FASTOPTIM_SETTINGS(FASTOPTIM_SPARSE_ADAM_SETTINGS)

  static void validate(const Hyper& h) {
    require(h.lr > 0, "lr", h.lr, "must be > 0");
    require(h.eps > 0, "eps", h.eps, "must be > 0");
    require_unit_interval("beta1", h.beta1);
    require_unit_interval("beta2", h.beta2);
  }
  static unsigned state_mask(const Hyper&) { return 3u; }
  static const char* row_sparse(const Hyper&) { return nullptr; }

  struct Step {
    double step_size, beta1, beta2, eps, grad_scale;
  };
  static Step prepare(const Hyper& h, std::int64_t step, unsigned, double*) {
    const double t = static_cast<double>(step);
    const double bc1 = 1 - std::pow(h.beta1, t), bc2 = 1 - std::pow(h.beta2, t);
    return {h.lr * std::sqrt(bc2) / bc1, h.beta1, h.beta2, h.eps, h.maximize ? -1.0 : 1.0};
  }
  static Traffic traffic(const Hyper&) { return {{{4, 3}}, 1}; }
};

FASTOPTIM_RULE(SparseAdam)

namespace FASTOPTIM_TIER {

template <class T>
inline void update(const SparseAdam::Step& s, T* __restrict p, const T* __restrict g, T* const* st, std::size_t n) {
  T* __restrict m = st[0];
  T* __restrict v = st[1];
  const T c1 = T(1 - s.beta1), c2 = T(1 - s.beta2), eps = T(s.eps), step = T(s.step_size), sign = T(s.grad_scale);
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    const T gi = sign * g[i];
    const T mi = (gi - m[i]) * c1 + m[i];
    const T vi = (gi * gi - v[i]) * c2 + v[i];
    m[i] = mi;
    v[i] = vi;
    p[i] += -step * (mi / (std::sqrt(vi) + eps));
  }
}

}  // namespace FASTOPTIM_TIER
}  // namespace fastoptim
