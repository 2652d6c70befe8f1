#pragma once
// The multi-tensor driver: one call runs a rule over every chunk of every tensor of a group, in
// parallel across chunks when the work is large enough to pay for waking the threads.
#include <cmath>
#include <cstddef>

#include "fastoptim/tensor.hpp"
#include "fastoptim/tier.hpp"

namespace fastoptim {

namespace FASTOPTIM_TIER {

template <class T>
inline T* offset(void* ptr, std::size_t begin) {
  return ptr ? static_cast<T*>(ptr) + begin : nullptr;
}

template <class T, class Step>
inline void run_chunk_as(const Step& s, const Tensor& t, std::size_t b, std::size_t e) {
  T* state[kMaxState];
  for (std::size_t k = 0; k < kMaxState; ++k) state[k] = offset<T>(t.state[k], b);
  update(s, static_cast<T*>(t.param) + b, static_cast<const T*>(t.grad) + b, state, e - b);
}

template <class Step>
inline void run_chunk(const Step& s, const Work& w, std::size_t c) {
  const Chunk& ch = w.chunks[c];
  const Tensor& t = w.tensors[ch.tensor];
  if (t.dtype == DType::f32)
    run_chunk_as<float>(s, t, ch.begin, ch.end);
  else
    run_chunk_as<double>(s, t, ch.begin, ch.end);
}

/// Apply one step of the rule whose scalars are `s` to all of `w`.
template <class Step>
void run(const Step& s, const Work& w) {
  const auto n = static_cast<std::ptrdiff_t>(w.n_chunks);
  if (w.threads <= 1 || w.total < kParallelMinElems || n < 2) {
    for (std::ptrdiff_t c = 0; c < n; ++c) run_chunk(s, w, static_cast<std::size_t>(c));
    return;
  }
  // Static schedule: a thread gets the same chunks every step, so cache-sized work stays warm.
#pragma omp parallel for schedule(static) num_threads(w.threads)
  for (std::ptrdiff_t c = 0; c < n; ++c) run_chunk(s, w, static_cast<std::size_t>(c));
}

template <class T>
inline bool chunk_finite(const T* __restrict g, std::size_t n) {
  // x * 0 is 0 for finite x and NaN for inf or NaN, so the sum is NaN iff any element is not finite.
  T acc = 0;
#pragma omp simd reduction(+ : acc)
  for (std::size_t i = 0; i < n; ++i) acc += g[i] * T(0);
  return acc == acc;
}

/// Index of the first tensor whose gradient holds an inf or NaN, or -1 when all are finite.
/// Reads every gradient once.
inline std::ptrdiff_t first_nonfinite(const Work& w) {
  const auto n = static_cast<std::ptrdiff_t>(w.n_chunks);
  auto finite = [&w](std::ptrdiff_t c) {
    const Chunk& ch = w.chunks[c];
    const Tensor& t = w.tensors[ch.tensor];
    return t.dtype == DType::f32
               ? chunk_finite(static_cast<const float*>(t.grad) + ch.begin, ch.end - ch.begin)
               : chunk_finite(static_cast<const double*>(t.grad) + ch.begin, ch.end - ch.begin);
  };
  std::ptrdiff_t first = n;  // first bad chunk; n means none
  if (w.threads <= 1 || w.total < kParallelMinElems || n < 2) {
    for (std::ptrdiff_t c = 0; c < n && first == n; ++c)
      if (!finite(c)) first = c;
  } else {
#pragma omp parallel for schedule(static) num_threads(w.threads) reduction(min : first)
    for (std::ptrdiff_t c = 0; c < n; ++c)
      if (!finite(c) && c < first) first = c;
  }
  return first == n ? -1 : static_cast<std::ptrdiff_t>(w.chunks[first].tensor);
}

}  // namespace FASTOPTIM_TIER
}  // namespace fastoptim
