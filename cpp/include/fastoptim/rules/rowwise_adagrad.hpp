#pragma once
// Row-wise AdaGrad (FBGEMM's and TorchRec's rowwise_adagrad): AdaGrad with one accumulator per
// row of the first dimension instead of one per element, for embedding tables. For each row r
// (of `width` elements) that has a gradient, with g negated first when maximize:
//
//   g_r = g_r + wd * p_r
//   s_r = s_r + mean(g_r^2)                       (s starts at initial_accumulator_value)
//   p_r = p_r - lr / (1 + (t - 1) * lr_decay) * g_r / (sqrt(s_r) + eps)
//
// The state is 4 bytes per row (float32 tables) instead of 4 per element. With a row-sparse
// gradient only the given rows move (weight decay too, as FBGEMM's L2 mode). Bytes per parameter
// per step (fp32): 12 (read p, g; write p), plus the row's sum.
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "fastoptim/lanes.hpp"
#include "fastoptim/rule.hpp"
#include "fastoptim/rules/adagrad.hpp"
#include "fastoptim/tier.hpp"

// rowwise_adagrad's settings: (type, name, default), in the order Python passes them (torch's Adagrad's).
#define FASTOPTIM_ROWWISE_ADAGRAD_SETTINGS(X) \
  X(double, lr, 1e-2)                         \
  X(double, lr_decay, 0.0)                    \
  X(double, weight_decay, 0.0)                \
  X(double, initial_accumulator_value, 0.0)   \
  X(double, eps, 1e-10)                       \
  X(bool, maximize, false)

namespace fastoptim {

struct RowwiseAdagrad : RuleBase {
  static constexpr const char* name = "rowwise_adagrad";
  static constexpr std::array<const char*, 1> state = {"sum"};

  FASTOPTIM_SETTINGS(FASTOPTIM_ROWWISE_ADAGRAD_SETTINGS)

  static void validate(const Hyper& h) { Adagrad::validate(h); }
  static unsigned state_mask(const Hyper&) { return 1u; }
  static double slot_init(const Hyper& h, std::size_t) { return h.initial_accumulator_value; }
  static SlotShape slot_shape(std::size_t) { return SlotShape::first; }
  static const char* row_sparse(const Hyper&) { return nullptr; }

  struct Step {
    static constexpr unsigned per_row = 1u;  // slot 0 holds one value per row
    double clr, eps, weight_decay, grad_scale;
  };
  static Step prepare(const Hyper& h, std::int64_t step, unsigned, double*) {
    const double t = static_cast<double>(step);
    return {h.lr / (1 + (t - 1) * h.lr_decay), h.eps, h.weight_decay, h.maximize ? -1.0 : 1.0};
  }
  static Traffic traffic(const Hyper&) { return {{{2, 1}}, 1}; }
};

FASTOPTIM_RULE(RowwiseAdagrad)

namespace FASTOPTIM_TIER {

template <class T>
inline void update_rows(const RowwiseAdagrad::Step& s, T* __restrict p, const T* __restrict g, T* const* st,
                        std::size_t rows, std::size_t width) {
  T* __restrict sum = st[0];
  const T clr = T(s.clr), eps = T(s.eps), wd = T(s.weight_decay), sign = T(s.grad_scale);
  const bool decay = s.weight_decay != 0;
  for (std::size_t r = 0; r < rows; ++r) {
    T* __restrict pr = p + r * width;
    const T* __restrict gr = g + r * width;
    Lanes sq;
    for_lanes(width, [&](std::size_t i, std::size_t lane) {
      const T gi = decay ? sign * gr[i] + wd * pr[i] : sign * gr[i];
      sq.v[lane] += double(gi) * double(gi);
    });
    const T acc = sum[r] + T(sq.total() / double(width));
    sum[r] = acc;
    const T denom = std::sqrt(acc) + eps;
#pragma omp simd
    for (std::size_t i = 0; i < width; ++i) {
      const T gi = decay ? sign * gr[i] + wd * pr[i] : sign * gr[i];
      pr[i] -= clr * (gi / denom);
    }
  }
}

}  // namespace FASTOPTIM_TIER
}  // namespace fastoptim
