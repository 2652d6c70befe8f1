#pragma once
// Arrays as a rule's loop reads and writes them, whatever their storage: load(a, i) gives element i
// as the loop's float type, store(a, i, x) puts x back in a's format. A plain pointer is itself; the
// 16-bit formats convert in registers, inside the loop (no block staged in L1, no second pass):
//   Bf16<U>          bfloat16 state, parameters rounded to nearest even, or gradients (U const);
//   Bf16Master       a bfloat16 parameter with its float32 master's low bits;
//   Bf16Stochastic   a bfloat16 parameter rounded stochastically.
// A rule whose update takes any of these (see takes_formats in driver.hpp) runs that way; the
// others see such tensors through float32 blocks (visit_converted). Each conversion is the block
// converters' own element function (state_block.hpp), so both ways give the same bits.
#include <cstddef>
#include <cstdint>

#include "fastoptim/state_block.hpp"
#include "fastoptim/tier.hpp"

namespace fastoptim::FASTOPTIM_TIER {

template <class T>
FASTOPTIM_ALWAYS_INLINE T load(const T* a, std::size_t i) {
  return a[i];
}
template <class T>
FASTOPTIM_ALWAYS_INLINE void store(T* a, std::size_t i, T x) {
  a[i] = x;
}

template <class U>
struct Bf16 {
  U* bits;
};
template <class U>
FASTOPTIM_ALWAYS_INLINE float load(Bf16<U> a, std::size_t i) {
  return from_bf16(a.bits[i]);
}
FASTOPTIM_ALWAYS_INLINE void store(Bf16<std::uint16_t> a, std::size_t i, float x) { a.bits[i] = to_bf16(x); }

struct Bf16Master {
  std::uint16_t* bits;
  std::uint16_t* low;
};
FASTOPTIM_ALWAYS_INLINE float load(Bf16Master a, std::size_t i) { return master_of(a.bits[i], a.low[i]); }
FASTOPTIM_ALWAYS_INLINE void store(Bf16Master a, std::size_t i, float x) { split_master(x, a.bits[i], a.low[i]); }

struct Bf16Stochastic {
  std::uint16_t* bits;
  std::uint32_t key;
  std::size_t first;  ///< the parameter's index of bits[0]: the noise is drawn per index
};
FASTOPTIM_ALWAYS_INLINE float load(Bf16Stochastic a, std::size_t i) { return from_bf16(a.bits[i]); }
FASTOPTIM_ALWAYS_INLINE void store(Bf16Stochastic a, std::size_t i, float x) { a.bits[i] = to_bf16_stochastic(x, a.key, a.first + i); }

/// The float type a loop computes in for parameters of type P.
template <class P>
using value_of = decltype(load(P{}, std::size_t{}));

}  // namespace fastoptim::FASTOPTIM_TIER
