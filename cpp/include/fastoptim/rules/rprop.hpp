#pragma once
// Rprop, resilient backpropagation (Riedmiller & Braun 1993): each element keeps its own step size,
// grown by eta+ while its gradient keeps its sign and cut by eta- when the sign flips; only the
// gradient's sign moves the parameter. torch.optim.Rprop semantics:
//
//   s      = sign(g * prev)
//   size   = clamp(size * (eta+ if s > 0, eta- if s < 0, 1 if s == 0), size_min, size_max)
//   g      = 0 where s < 0                 (after a sign flip, wait one step)
//   p      = p - sign(g) * size
//   prev   = g
//
// The step sizes start at lr. Bytes per parameter per step (fp32): 28 (read p, g, prev, size; write
// p, prev, size).
#include <array>
#include <cstddef>
#include <cstdint>

#include "fastoptim/rule.hpp"
#include "fastoptim/tier.hpp"

// rprop's settings: (type, name, torch's default), in the order Python passes them.
#define FASTOPTIM_RPROP_SETTINGS(X) \
  X(double, lr, 1e-2)               \
  X(double, etaminus, 0.5)          \
  X(double, etaplus, 1.2)           \
  X(double, step_size_min, 1e-6)    \
  X(double, step_size_max, 50.0)    \
  X(bool, maximize, false)

namespace fastoptim {

struct Rprop : RuleBase {
  static constexpr const char* name = "rprop";
  static constexpr std::array<const char*, 2> state = {"prev", "step_size"};
  static constexpr unsigned unsigned_slots = 2u;

  FASTOPTIM_SETTINGS(FASTOPTIM_RPROP_SETTINGS)

  static void validate(const Hyper& h) {
    require_nonnegative("lr", h.lr);
    require(h.etaminus > 0 && h.etaminus < 1, "etaminus", h.etaminus, "etas[0] must be in (0, 1)");
    require(h.etaplus > 1, "etaplus", h.etaplus, "etas[1] must be > 1");
    require_nonnegative("step_size_min", h.step_size_min);
    require(h.step_size_max >= h.step_size_min, "step_size_max", h.step_size_max, "step_sizes[1] must be >= step_sizes[0]");
  }
  static unsigned state_mask(const Hyper&) { return 3u; }
  /// The step sizes start at the learning rate of the first step.
  static double slot_init(const Hyper& h, std::size_t slot) { return slot == 1 ? h.lr : 0.0; }

  struct Step {
    double etaminus, etaplus, size_min, size_max, grad_scale;
  };
  static Step prepare(const Hyper& h, std::int64_t, unsigned, double*) {
    return {h.etaminus, h.etaplus, h.step_size_min, h.step_size_max, h.maximize ? -1.0 : 1.0};
  }
  static Traffic traffic(const Hyper&) { return {{{4, 3}}, 1}; }
};

FASTOPTIM_RULE(Rprop)

namespace FASTOPTIM_TIER {

template <class T>
inline void update(const Rprop::Step& s, T* __restrict p, const T* __restrict g, T* const* st, std::size_t n) {
  T* __restrict prev = st[0];
  T* __restrict size = st[1];
  const T minus = T(s.etaminus), plus = T(s.etaplus), lo = T(s.size_min), hi = T(s.size_max), sign = T(s.grad_scale);
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    T gi = sign * g[i];
    const T d = gi * prev[i];
    const T factor = d > 0 ? plus : d < 0 ? minus : T(1);
    T si = size[i] * factor;
    si = si < lo ? lo : si > hi ? hi : si;
    if (d < 0) gi = T(0);
    const T dir = gi > 0 ? T(1) : gi < 0 ? T(-1) : T(0);
    p[i] = p[i] - dir * si;
    prev[i] = gi;
    size[i] = si;
  }
}

}  // namespace FASTOPTIM_TIER
}  // namespace fastoptim
