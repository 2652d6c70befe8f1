#pragma once
// The multi-tensor driver: one call runs a rule over every chunk of every tensor of a group, in
// parallel across chunks when the work is large enough to pay for waking the threads.
//
// A one-pass rule provides   update(step, p, g, state, n).
// A two-pass rule (its Step has `two_pass = true`, e.g. LAMB, LARS) provides
//   norms(step, p, g, state, n, Lanes& a, Lanes& b)   pass 1: per-chunk sums of squares,
//   trust(step, sum_a, sum_b) -> double               per tensor, from the tensor's sums,
//   update(step, trust, p, g, state, n)               pass 2.
// Work::phase may ask a two-pass rule for pass 1 or pass 2 alone (see Phase).
// A rule with global sums (its Step has `global_sums = K`, e.g. Prodigy) provides
//   accumulate(step, p, g, state, n, Lanes* sums)   pass 1: K per-chunk sums
//   update(step, p, g, state, n)                    pass 2, with the scalars the totals gave
// and the engine runs its passes apart (Phase::norms, then Phase::update), with the totals between.
// A per-row rule (its Step has `per_row = <mask of slots with one value per row>`, e.g.
// RowWiseAdagrad) provides
//   update_rows(step, p, g, state, rows, width)   `rows` rows of `width` elements; a per-row slot's
//                                                 pointer is at the first row's value
// (chunks never split a row, see TensorSet).
// A per-tensor rule (its Step has `per_tensor = true`, e.g. Adafactor) provides
//   update_tensor(step, p, g, state, t)   one whole tensor t (its shape in t), typed pointers;
// the driver hands whole tensors to the threads, so a tensor's result never depends on their number.
//
// State stored as bfloat16 or 8- or 4-bit codes (Tensor::state_type, float32 parameters, elementwise
// and two-pass rules) and 16-bit parameters reach a one-pass rule whose update takes the formats of
// slot.hpp (takes_formats) in those formats, converted in registers (visit_direct); other rules,
// and 8- and 4-bit state, see them as float32, a block at a time (visit_converted): the same loop serves
// every state type. A two-pass rule's Step says in which pass it writes its state
// (`static constexpr int state_pass = 1` or 2); the other pass only reads it.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <type_traits>
#include <vector>

#include "fastoptim/lanes.hpp"
#include "fastoptim/rule.hpp"
#include "fastoptim/slot.hpp"
#include "fastoptim/state_block.hpp"
#include "fastoptim/tensor.hpp"
#include "fastoptim/tier.hpp"

namespace fastoptim {

namespace FASTOPTIM_TIER {

/// Call f(p, g, state, n) with the chunk's typed pointers (float or double).
template <class T, class F>
inline void visit_as(const Tensor& t, const Chunk& ch, F& f) {
  T* state[kMaxState];
  for (std::size_t k = 0; k < kMaxState; ++k) state[k] = t.state[k] ? static_cast<T*>(t.state[k]) + ch.begin : nullptr;
  f(static_cast<T*>(t.param) + ch.begin, static_cast<const T*>(t.grad) + ch.begin, state, ch.end - ch.begin);
}

/// Call f(p, g, state, n) on chunk ch of a tensor whose parameter and state are T (not
/// Tensor::converted), kStreamPieceBytes of parameter at a time, asking first for the lines
/// kPrefetchBytes ahead in each of its arrays. For elementwise rules only (the pieces' loops are
/// independent). On DRAM-sized tensors one core's loop waits on memory: the hardware prefetchers,
/// which never cross a 4 KiB page, leave it short of requests in flight (Adam on 25.5M float32:
/// 1.13 -> 1.03 ns per element at 1 thread, 0.58 -> 0.52 at 2; in cache unchanged). The pieces
/// are small because a burst of a page's worth of prefetches fills the line-fill buffers and
/// stalls the loop (4 KiB pieces measured 1.5x slower in cache).
template <class T, class F>
inline void visit_streamed(const Tensor& t, const Chunk& ch, F& f) {
  constexpr std::size_t piece = kStreamPieceBytes / sizeof(T), ahead = kPrefetchBytes / sizeof(T), line = 64 / sizeof(T);
  T* const p = static_cast<T*>(t.param);
  const T* const g = static_cast<const T*>(t.grad);
  T* st[kMaxState];
  for (std::size_t b = ch.begin; b < ch.end; b += piece) {
    const std::size_t n = ch.end - b < piece ? ch.end - b : piece;
    if (b + ahead + piece <= ch.end)
      for (std::size_t k = b + ahead; k < b + ahead + piece; k += line) {
        __builtin_prefetch(g + k, 0, 3);
        __builtin_prefetch(p + k, 1, 3);
        for (std::size_t j = 0; j < kMaxState; ++j)
          if (t.state[j]) __builtin_prefetch(static_cast<T*>(t.state[j]) + k, 1, 3);
      }
    for (std::size_t j = 0; j < kMaxState; ++j) st[j] = t.state[j] ? static_cast<T*>(t.state[j]) + b : nullptr;
    f(p + b, g + b, st, n);
  }
}

inline constexpr std::size_t kAhead = 8;  ///< blocks prefetched ahead, see visit_converted
inline void prefetch_block(const void* base, std::size_t offset, std::size_t bytes) {
  for (std::size_t line = 0; line < bytes; line += 64) __builtin_prefetch(static_cast<const char*>(base) + offset + line);
}

/// Call f(p, g, state, n) on chunk ch of a tensor the rules see through float32 blocks
/// (Tensor::converted): a float32 parameter whose state is bfloat16 or 8-bit codes, or a 16-bit
/// parameter. One block of kQuantBlock at a time, whatever is not float32 (parameter, gradient,
/// state) is decoded to float32 buffers in L1 before f, and the parameter and, when `store`, the
/// state encoded back after (an 8-bit block against its new absmax).
template <class F>
inline void visit_converted(const Tensor& t, const Chunk& ch, bool store, F& f) {
  alignas(64) float buf[kMaxState][kQuantBlock];
  alignas(64) float pbuf[kQuantBlock], gbuf[kQuantBlock];
  const bool native = t.state_type == StateType::native, half = t.half(), bf16 = t.dtype == DType::bf16;
  const bool int8 = t.state_type == StateType::int8, int4 = t.state_type == StateType::int4;
  float* st[kMaxState] = {};
  const Codebook* book[kMaxState] = {};
  const Codebook4* book4[kMaxState] = {};
  for (std::size_t k = 0; k < kMaxState; ++k)
    if (t.state[k]) {
      st[k] = buf[k];
      const bool is_signed = !((t.unsigned_slots >> k) & 1u);
      if (int8) book[k] = &codebook(is_signed);
      if (int4) book4[k] = &codebook4(is_signed);
    }
  // Bytes of state per 2 elements.
  const std::size_t two = int4 ? 1 : int8 ? 2 : t.state_type == StateType::bf16 ? 4 : 8;
  auto bytes = [two](std::size_t elements) { return elements / 2 * two; };  // (elements even here)
  for (std::size_t b = ch.begin; b < ch.end; b += kQuantBlock) {
    const std::size_t n = ch.end - b < kQuantBlock ? ch.end - b : kQuantBlock;
    // The hardware prefetchers lose the small state streams among the block's phases: ask for
    // their lines kAhead blocks ahead (a few kB, still in L1 or L2 when their turn comes).
    // (Prefetching the parameter and gradient too measured no faster.)
    if (!native && ch.end - b > kAhead * kQuantBlock)
      for (std::size_t k = 0; k < kMaxState; ++k)
        if (st[k]) prefetch_block(t.state[k], bytes(b + kAhead * kQuantBlock), bytes(kQuantBlock));
    for (std::size_t k = 0; k < kMaxState; ++k) {
      if (!st[k]) continue;
      if (native) {
        st[k] = static_cast<float*>(t.state[k]) + b;
      } else if (book[k]) {
        decode_block(*book[k], static_cast<const std::uint8_t*>(t.state[k]) + b, t.absmax[k][b / kQuantBlock], buf[k], n);
      } else if (book4[k]) {
        for (std::size_t s = 0; s < n; s += kQuant4Block)
          decode_block4(*book4[k], static_cast<const std::uint8_t*>(t.state[k]) + bytes(b + s), t.absmax[k][(b + s) / kQuant4Block],
                        buf[k] + s, n - s < kQuant4Block ? n - s : kQuant4Block);
      } else {
        decode_bf16(static_cast<const std::uint16_t*>(t.state[k]) + b, buf[k], n);
      }
    }
    float* p = static_cast<float*>(t.param) + b;
    const float* g = static_cast<const float*>(t.grad) + b;
    if (half) {
      const std::uint16_t* p16 = static_cast<const std::uint16_t*>(t.param) + b;
      if (t.master_low)
        decode_master(p16, t.master_low + b, pbuf, n);
      else if (t.master_delta)
        decode_f16_master(p16, t.master_delta + b, pbuf, n);
      else
        decode_half(t.dtype, p16, pbuf, n);
      p = pbuf;
      if (!t.grad_f32) {
        decode_half(t.dtype, static_cast<const std::uint16_t*>(t.grad) + b, gbuf, n);
        g = gbuf;
      }
    }
    f(p, g, st, n);
    if (half) {
      std::uint16_t* p16 = static_cast<std::uint16_t*>(t.param) + b;
      if (t.master_low)
        encode_master(pbuf, p16, t.master_low + b, n);
      else if (t.master_delta)
        encode_f16_master(pbuf, p16, t.master_delta + b, n);
      else if (bf16)
        t.stochastic ? encode_stochastic(pbuf, p16, n, t.noise, b) : encode_bf16(pbuf, p16, n);
      else
        t.stochastic ? encode_f16_stochastic(pbuf, p16, n, t.noise, b) : encode_f16(pbuf, p16, n);
    }
    if (!store || native) continue;
    for (std::size_t k = 0; k < kMaxState; ++k) {
      if (!st[k]) continue;
      if (book[k]) {
        t.absmax[k][b / kQuantBlock] = encode_block(*book[k], buf[k], n, static_cast<std::uint8_t*>(t.state[k]) + b);
      } else if (book4[k]) {
        for (std::size_t s = 0; s < n; s += kQuant4Block)
          t.absmax[k][(b + s) / kQuant4Block] = encode_block4(*book4[k], buf[k] + s, n - s < kQuant4Block ? n - s : kQuant4Block,
                                                              static_cast<std::uint8_t*>(t.state[k]) + bytes(b + s));
      } else {
        encode_bf16(buf[k], static_cast<std::uint16_t*>(t.state[k]) + b, n);
      }
    }
  }
}

/// Whether a rule's update takes the 16-bit formats of slot.hpp as well as plain pointers.
template <class Step, class = void>
struct takes_formats : std::false_type {};
template <class Step>
struct takes_formats<Step, std::void_t<decltype(update(std::declval<const Step&>(), Bf16Master{}, Bf16<const std::uint16_t>{},
                                                       static_cast<const Bf16<std::uint16_t>*>(nullptr), std::size_t{}))>>
    : std::true_type {};

/// Call f(p, g, state, n) on chunk ch of a float32 or bfloat16 tensor with float32 or bfloat16
/// state, each array in its own format (slot.hpp); false (f not called) for 8- and 4-bit state and float16
/// parameters, which go through visit_converted.
template <class F>
inline bool visit_direct(const Tensor& t, const Chunk& ch, F& f) {
  const bool bf16_state = t.state_type == StateType::bf16;
  if (!(bf16_state || t.state_type == StateType::native) || !(t.dtype == DType::f32 || t.dtype == DType::bf16)) return false;
  const std::size_t b = ch.begin, n = ch.end - ch.begin;
  auto with_state = [&](auto p, auto g) {
    if (bf16_state) {
      Bf16<std::uint16_t> st[kMaxState];
      for (std::size_t k = 0; k < kMaxState; ++k) st[k] = {t.state[k] ? static_cast<std::uint16_t*>(t.state[k]) + b : nullptr};
      f(p, g, st, n);
    } else {
      float* st[kMaxState];
      for (std::size_t k = 0; k < kMaxState; ++k) st[k] = t.state[k] ? static_cast<float*>(t.state[k]) + b : nullptr;
      f(p, g, st, n);
    }
  };
  if (t.dtype == DType::f32) {
    with_state(static_cast<float*>(t.param) + b, static_cast<const float*>(t.grad) + b);
    return true;
  }
  auto with_grad = [&](auto p) {
    if (t.grad_f32)
      with_state(p, static_cast<const float*>(t.grad) + b);
    else
      with_state(p, Bf16<const std::uint16_t>{static_cast<const std::uint16_t*>(t.grad) + b});
  };
  std::uint16_t* p16 = static_cast<std::uint16_t*>(t.param) + b;
  if (t.master_low)
    with_grad(Bf16Master{p16, t.master_low + b});
  else if (t.stochastic)
    with_grad(Bf16Stochastic{p16, t.noise, b});
  else
    with_grad(Bf16<std::uint16_t>{p16});
  return true;
}

/// Call f(p, g, state, n) with chunk c's typed pointers (float or double). For the gradient
/// helpers (gradients.hpp), which never touch state and may be called once per part of a chunk: a
/// 16-bit tensor's gradient comes as float32 blocks (its parameter pointer then null).
template <class F>
inline void visit_chunk(const Work& w, std::size_t c, F&& f) {
  const Chunk& ch = w.chunks[c];
  const Tensor& t = w.tensors[ch.tensor];
  if (t.half()) {
    float* const none[kMaxState] = {};
    alignas(64) float gbuf[kQuantBlock];
    for (std::size_t b = ch.begin; b < ch.end; b += kQuantBlock) {
      const std::size_t n = ch.end - b < kQuantBlock ? ch.end - b : kQuantBlock;
      const float* g = static_cast<const float*>(t.grad) + b;
      if (!t.grad_f32) {
        decode_half(t.dtype, static_cast<const std::uint16_t*>(t.grad) + b, gbuf, n);
        g = gbuf;
      }
      f(static_cast<float*>(nullptr), g, none, n);
    }
  } else if (t.dtype == DType::f32) {
    visit_as<float>(t, ch, f);
  } else {
    visit_as<double>(t, ch, f);
  }
}

/// Call a rule's f(p, g, state, n) on chunk c: its state as float32 or float64 however stored;
/// `store`: whether f's changes to converted state are kept (see visit_converted). `elementwise`:
/// f's loop is independent per element, so it may run in pieces (see visit_streamed).
template <class F>
inline void visit_rule_chunk(const Work& w, std::size_t c, F&& f, bool store = true, bool elementwise = false) {
  const Chunk& ch = w.chunks[c];
  const Tensor& t = w.tensors[ch.tensor];
  if (t.converted())
    visit_converted(t, ch, store, f);
  else if (!elementwise)
    visit_chunk(w, c, f);
  else if (t.dtype == DType::f32)
    visit_streamed<float>(t, ch, f);
  else
    visit_streamed<double>(t, ch, f);
}

inline bool parallel(const Work& w) { return w.threads > 1 && w.total >= kParallelMinElems && w.n_chunks > 1; }

/// body(c) for every chunk c: serially for small work, else on a team of w.threads threads.
template <class F>
inline void for_each_chunk(const Work& w, F&& body) {
  const auto n = static_cast<std::ptrdiff_t>(w.n_chunks);
  if (!parallel(w)) {
    for (std::ptrdiff_t c = 0; c < n; ++c) body(static_cast<std::size_t>(c));
    return;
  }
  // Static schedule: a thread gets the same chunks every step, so cache-sized work stays warm.
#pragma omp parallel for schedule(static) num_threads(w.threads)
  for (std::ptrdiff_t c = 0; c < n; ++c) body(static_cast<std::size_t>(c));
}

/// Call f(p, g, state) with tensor t's typed pointers (float or double).
template <class F>
inline void visit_tensor(const Tensor& t, F&& f) {
  const Chunk whole{0, 0, t.size};
  auto call = [&](auto* p, auto* g, auto* const* st, std::size_t) { f(p, g, st); };
  if (t.dtype == DType::f32)
    visit_as<float>(t, whole, call);
  else
    visit_as<double>(t, whole, call);
}

/// Apply one step of the rule whose scalars are `s` to all of `w`.
template <class Step>
void run(const Step& s, const Work& w) {
  if constexpr (is_per_tensor<Step>::value) {
    const auto n = static_cast<std::ptrdiff_t>(w.n_tensors);
    auto body = [&](std::ptrdiff_t i) {
      const Tensor& t = w.tensors[i];
      visit_tensor(t, [&](auto* p, auto* g, auto* const* st) { update_tensor(s, p, g, st, t); });
    };
    if (!parallel(w) || n < 2) {
      for (std::ptrdiff_t i = 0; i < n; ++i) body(i);
      return;
    }
#pragma omp parallel for schedule(dynamic, 1) num_threads(w.threads)
    for (std::ptrdiff_t i = 0; i < n; ++i) body(i);
  } else if constexpr (row_slots<Step>::value != 0) {
    for_each_chunk(w, [&](std::size_t c) {
      const Chunk& ch = w.chunks[c];
      const Tensor& t = w.tensors[ch.tensor];
      const std::size_t width = t.row_width();
      auto typed = [&](auto* param, auto* grad) {
        using T = std::remove_const_t<std::remove_pointer_t<decltype(grad)>>;
        T* st[kMaxState];
        for (std::size_t k = 0; k < kMaxState; ++k)
          st[k] = t.state[k] ? static_cast<T*>(t.state[k]) + ((row_slots<Step>::value >> k) & 1u ? ch.begin / width : ch.begin)
                             : nullptr;
        update_rows(s, param + ch.begin, grad + ch.begin, st, (ch.end - ch.begin) / width, width);
      };
      if (t.dtype == DType::f32)
        typed(static_cast<float*>(t.param), static_cast<const float*>(t.grad));
      else
        typed(static_cast<double*>(t.param), static_cast<const double*>(t.grad));
    });
  } else if constexpr (global_sums<Step>::value != 0) {
    // Pass 1 as for the two-pass rules, K sums per tensor in chunk order; pass 2 elementwise.
    constexpr std::size_t K = global_sums<Step>::value;
    if (w.phase != Phase::update) {
      std::vector<double> sums(K * w.n_chunks);
      for_each_chunk(w, [&](std::size_t c) {
        Lanes out[K];
        visit_rule_chunk(
            w, c, [&](auto* p, auto* g, auto* const* st, std::size_t n) { accumulate(s, p, g, st, n, out); },
            Step::state_pass == 1);
        for (std::size_t k = 0; k < K; ++k) sums[K * c + k] = out[k].total();
      });
      if (w.sums) {
        std::fill(w.sums, w.sums + K * w.n_tensors, 0.0);
        for (std::size_t c = 0; c < w.n_chunks; ++c)
          for (std::size_t k = 0; k < K; ++k) w.sums[K * w.chunks[c].tensor + k] += sums[K * c + k];
      }
      if (w.phase == Phase::norms) return;
    }
    for_each_chunk(w, [&](std::size_t c) {
      visit_rule_chunk(
          w, c, [&](auto* p, auto* g, auto* const* st, std::size_t n) { update(s, p, g, st, n); }, Step::state_pass == 2,
          true);
    });
  } else if constexpr (!is_two_pass<Step>::value) {
    auto loop = [&](auto p, auto g, auto st, std::size_t n) { update(s, p, g, st, n); };
    for_each_chunk(w, [&](std::size_t c) {
      if constexpr (takes_formats<Step>::value) {
        const Chunk& ch = w.chunks[c];
        const Tensor& t = w.tensors[ch.tensor];
        if (t.converted() && visit_direct(t, ch, loop)) return;
      }
      visit_rule_chunk(w, c, loop, true, true);
    });
  } else {
    // Pass 1: sums of squares per chunk, added per tensor in chunk order, so the result does not
    // depend on the number of threads (nor, thanks to fixed lanes, on the SIMD tier).
    // (Sized by the constructor: resize() would instantiate a std:: symbol outside the tier's
    // namespace, which .ci/check_tier_symbols.sh refuses.)
    std::vector<double> own(w.sums ? 0 : 2 * w.n_tensors);
    double* tensor_sums = w.sums ? w.sums : own.data();
    if (w.phase != Phase::update) {
      std::vector<double> sums(2 * w.n_chunks);
      for_each_chunk(w, [&](std::size_t c) {
        Lanes a, b;
        visit_rule_chunk(
            w, c, [&](auto* p, auto* g, auto* const* st, std::size_t n) { norms(s, p, g, st, n, a, b); },
            Step::state_pass == 1);
        sums[2 * c] = a.total();
        sums[2 * c + 1] = b.total();
      });
      std::fill(tensor_sums, tensor_sums + 2 * w.n_tensors, 0.0);
      for (std::size_t c = 0; c < w.n_chunks; ++c) {
        tensor_sums[2 * w.chunks[c].tensor] += sums[2 * c];
        tensor_sums[2 * w.chunks[c].tensor + 1] += sums[2 * c + 1];
      }
      if (w.phase == Phase::norms) return;
    }
    std::vector<double> factor(w.n_tensors);
    for (std::size_t t = 0; t < w.n_tensors; ++t) factor[t] = trust(s, tensor_sums[2 * t], tensor_sums[2 * t + 1]);
    for_each_chunk(w, [&](std::size_t c) {
      const double f = factor[w.chunks[c].tensor];
      visit_rule_chunk(
          w, c, [&](auto* p, auto* g, auto* const* st, std::size_t n) { update(s, f, p, g, st, n); },
          Step::state_pass == 2, true);
    });
  }
}

}  // namespace FASTOPTIM_TIER
}  // namespace fastoptim
