#pragma once
// SGD with momentum, dampening, Nesterov momentum and coupled weight decay (torch.optim.SGD).
//
//   d   = g + wd * p                        (g negated first when maximize)
//   buf = d                                 on the first step with momentum
//   buf = mu * buf + (1 - dampening) * d    afterwards
//   d   = d + mu * buf  (nesterov)  or  buf
//   p   = p - lr * d
//
// Bytes per parameter per step (fp32): 12 without momentum (read p, g; write p), 20 with it
// (read p, g, buf; write p, buf).
#include <array>
#include <cstddef>
#include <cstdint>

#include "fastoptim/rule.hpp"
#include "fastoptim/slot.hpp"
#include "fastoptim/tier.hpp"

// sgd's settings: (type, name, torch's default), in the order Python passes them.
#define FASTOPTIM_SGD_SETTINGS(X) \
  X(double, lr, 1e-3)           \
  X(double, momentum, 0.0)      \
  X(double, dampening, 0.0)     \
  X(double, weight_decay, 0.0)  \
  X(bool, nesterov, false)      \
  X(bool, maximize, false)

namespace fastoptim {

struct Sgd : RuleBase {
  static constexpr const char* name = "sgd";
  static constexpr std::array<const char*, 1> state = {"momentum_buffer"};

  FASTOPTIM_SETTINGS(FASTOPTIM_SGD_SETTINGS)

  static void validate(const Hyper& h) {
    require_nonnegative("lr", h.lr);
    require_nonnegative("momentum", h.momentum);
    require_nonnegative("dampening", h.dampening);
    require_nonnegative("weight_decay", h.weight_decay);
    require(!h.nesterov || (h.momentum > 0 && h.dampening == 0), "nesterov", 1.0,
            "Nesterov momentum requires a momentum > 0 and zero dampening");
  }

  /// Bit k set: the step uses state slot k.
  static unsigned state_mask(const Hyper& h) { return h.momentum != 0 ? 1u : 0u; }
  /// As torch: a row without gradient moves only by its momentum, so the given rows and those
  /// with momentum step; torch refuses weight decay with sparse gradients.
  static const char* row_sparse(const Hyper& h) {
    return h.weight_decay == 0 ? nullptr : "takes row-sparse gradients without weight_decay only, as torch";
  }
  static int moving_slot(const Hyper& h) { return h.momentum != 0 ? 0 : -1; }

  /// Scalars of one step, computed once in double. `fresh` has bit k set when slot k was just
  /// allocated: torch starts the momentum buffer at d, not at (1 - dampening) * d.
  struct Step {
    double lr, momentum, dampening, weight_decay, grad_scale;
    bool nesterov, use_buffer, fresh_buffer;
  };
  static Step prepare(const Hyper& h, std::int64_t /*step*/, unsigned fresh, double* /*scalars*/) {
    return {h.lr,         h.momentum, h.dampening, h.weight_decay, h.maximize ? -1.0 : 1.0,
            h.nesterov, h.momentum != 0, (fresh & 1u) != 0};
  }

  /// Arrays read and written per element, per pass.
  static Traffic traffic(const Hyper& h) {
    return h.momentum != 0 ? Traffic{{{3, 2}}, 1} : Traffic{{{2, 1}}, 1};
  }
};

FASTOPTIM_RULE(Sgd)

namespace FASTOPTIM_TIER {

// P, G, S: the parameter's, gradient's and state's formats (slot.hpp), converted in registers.
template <class P, class G, class S>
inline void update(const Sgd::Step& s, P p, G g, const S* st, std::size_t n) {
  using T = value_of<P>;
  const T lr = T(s.lr), wd = T(s.weight_decay), sign = T(s.grad_scale), mu = T(s.momentum);
  const T keep = T(1 - s.dampening);
  const bool decay = s.weight_decay != 0;
  if (!s.use_buffer) {
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      const T pi = load(p, i);
      T d = sign * load(g, i);
      if (decay) d += wd * pi;
      store(p, i, pi - lr * d);
    }
    return;
  }
  const S buf = st[0];
  const bool fresh = s.fresh_buffer, nesterov = s.nesterov;
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    const T pi = load(p, i);
    T d = sign * load(g, i);
    if (decay) d += wd * pi;
    const T b = fresh ? d : mu * load(buf, i) + keep * d;
    store(buf, i, b);
    store(p, i, pi - lr * (nesterov ? d + mu * b : b));
  }
}

}  // namespace FASTOPTIM_TIER
}  // namespace fastoptim
