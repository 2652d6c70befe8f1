#pragma once
// State stored as bfloat16 or as 8-bit codes, converted to float32 and back one block at a time:
// what the driver wraps around a rule's own loop for state_dtype="bfloat16" and "int8" (see
// StateType). A block (kQuantBlock elements) stays in L1 between its decoding, the rule's update
// and its encoding, so the state crosses memory once each way in its small form.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include "fastoptim/codec_vbmi.hpp"
#include "fastoptim/intrinsics.hpp"
#include "fastoptim/quantize.hpp"
#include "fastoptim/tensor.hpp"
#include "fastoptim/tier.hpp"

namespace fastoptim::FASTOPTIM_TIER {

inline std::uint32_t bits_of(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
inline float float_of(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

/// bfloat16 (the top half of a float32) to float32: exact.
inline float from_bf16(std::uint16_t h) { return float_of(std::uint32_t{h} << 16); }
inline void decode_bf16(const std::uint16_t* __restrict in, float* __restrict out, std::size_t n) {
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) out[i] = from_bf16(in[i]);
}

inline bool is_nan_bits(std::uint32_t u) { return (u & 0x7fffffffu) > 0x7f800000u; }

/// The float32 with bits `u` to bfloat16 by adding `offset` below the kept 16 bits and cutting
/// them (the rounding: 0x7fff plus the last kept bit to nearest even, 0x8000 to nearest away from
/// zero, random bits stochastically); a NaN stays a (quiet) NaN.
FASTOPTIM_ALWAYS_INLINE std::uint16_t bf16_cut(std::uint32_t u, std::uint32_t offset) {
  return static_cast<std::uint16_t>(is_nan_bits(u) ? (u >> 16) | 0x40u : (u + offset) >> 16);
}

/// float32 to bfloat16, rounded to nearest, ties to even (as ml_dtypes and torch round).
FASTOPTIM_ALWAYS_INLINE std::uint16_t to_bf16(float f) {
  const std::uint32_t u = bits_of(f);
  return bf16_cut(u, 0x7fffu + ((u >> 16) & 1u));
}
inline void encode_bf16(const float* __restrict in, std::uint16_t* __restrict out, std::size_t n) {
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) out[i] = to_bf16(in[i]);
}

/// A bfloat16 parameter and the low 16 bits of its float32 master to the master: exact. The
/// parameter is the master rounded to nearest, ties away from zero, so the master's bits are the
/// parameter's shifted up plus the low bits as a signed 16-bit number.
FASTOPTIM_ALWAYS_INLINE float master_of(std::uint16_t p, std::uint16_t low) {
  const std::uint32_t hi = std::uint32_t{p} << 16;
  const std::uint32_t u = hi + static_cast<std::uint32_t>(static_cast<std::int32_t>(static_cast<std::int16_t>(low)));
  // A parameter written behind the optimizer's back (pruned, masked, loaded) no longer rounds
  // from its master: the written value wins, its low bits restart at 0.
  return float_of(bf16_cut(u, 0x8000u) == p ? u : hi);
}
inline void decode_master(const std::uint16_t* __restrict p, const std::uint16_t* __restrict low, float* __restrict out,
                          std::size_t n) {
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) out[i] = master_of(p[i], low[i]);
}

/// A float32 master to its bfloat16 rounding (to nearest, ties away from zero) and the low bits
/// that restore it; a NaN becomes a quiet NaN with no low bits.
FASTOPTIM_ALWAYS_INLINE void split_master(float x, std::uint16_t& p, std::uint16_t& low) {
  const std::uint32_t u = bits_of(x);
  const std::uint16_t hi = bf16_cut(u, 0x8000u);
  p = hi;
  low = static_cast<std::uint16_t>(is_nan_bits(u) ? 0u : u - (std::uint32_t{hi} << 16));
}
inline void encode_master(const float* __restrict in, std::uint16_t* __restrict p, std::uint16_t* __restrict low,
                          std::size_t n) {
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) split_master(in[i], p[i], low[i]);
}

/// 16 random bits for element `index` of a parameter under `key` (one key per parameter and step):
/// a counter-based hash, so a run draws the same bits on every tier and thread count.
FASTOPTIM_ALWAYS_INLINE std::uint32_t noise_bits(std::uint32_t key, std::uint32_t index) {
  std::uint32_t x = index * 0x9e3779b9u ^ key;
  x ^= x >> 16;
  x *= 0x21f0aaadu;
  x ^= x >> 15;
  x *= 0x735a2d97u;
  x ^= x >> 15;
  return x & 0xffffu;
}

/// float32 to bfloat16 rounded stochastically: up with probability (the dropped bits) / 2^16, so the
/// rounding is unbiased. Element `index` of the parameter (elements [first, first + n) for the
/// block); a NaN stays a quiet NaN.
FASTOPTIM_ALWAYS_INLINE std::uint16_t to_bf16_stochastic(float x, std::uint32_t key, std::size_t index) {
  return bf16_cut(bits_of(x), noise_bits(key, static_cast<std::uint32_t>(index)));
}
inline void encode_stochastic(const float* __restrict in, std::uint16_t* __restrict out, std::size_t n, std::uint32_t key,
                              std::size_t first) {
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) out[i] = to_bf16_stochastic(in[i], key, first + i);
}

/// float16 to float32: exact (subnormals through one float subtraction, inf and NaN kept).
inline float f16_to_f32(std::uint16_t h) {
  const std::uint32_t mag = std::uint32_t{h & 0x7fffu} << 13, exp = mag & (0x7c00u << 13);
  std::uint32_t o = mag + ((127u - 15u) << 23);
  if (exp == (0x7c00u << 13)) o += (128u - 16u) << 23;  // inf, NaN
  const float sub = float_of(o + (1u << 23)) - float_of(113u << 23);  // zero, subnormal
  const std::uint32_t out = exp == 0 ? bits_of(sub) : o;
  return float_of(out | (std::uint32_t{h & 0x8000u} << 16));
}
inline void decode_f16(const std::uint16_t* __restrict in, float* __restrict out, std::size_t n) {
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) out[i] = f16_to_f32(in[i]);
}

/// float32 to float16, rounded to nearest, ties to even (as NumPy's astype); overflow to inf, NaN
/// to a quiet NaN.
inline std::uint16_t f32_to_f16(float f) {
  const std::uint32_t u = bits_of(f), sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
  // Subnormal results: adding 0.5 (2^-1) aligns the value's bits so the FPU rounds at 2^-24.
  const std::uint32_t sub = bits_of(float_of(a) + 0.5f) - bits_of(0.5f);
  const std::uint32_t normal = (a + ((15u - 127u) << 23) + 0xfffu + ((a >> 13) & 1u)) >> 13;
  const std::uint32_t big = a > 0x7f800000u ? 0x7e00u : 0x7c00u;
  const std::uint32_t out = a >= ((127u + 16u) << 23) ? big : a < (113u << 23) ? sub : normal;
  return static_cast<std::uint16_t>(out | sign);
}
inline void encode_f16(const float* __restrict in, std::uint16_t* __restrict out, std::size_t n) {
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) out[i] = f32_to_f16(in[i]);
}

/// 16-bit values of type `dtype` (bf16 or f16) to float32: exact.
inline void decode_half(DType dtype, const std::uint16_t* __restrict in, float* __restrict out, std::size_t n) {
  if (dtype == DType::bf16)
    decode_bf16(in, out, n);
  else
    decode_f16(in, out, n);
}

/// A float16 parameter and its master's difference from it to the master: exact.
inline void decode_f16_master(const std::uint16_t* __restrict p, const float* __restrict delta, float* __restrict out,
                              std::size_t n) {
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    const float x = f16_to_f32(p[i]);
    const float master = (bits_of(x) & 0x7fffffffu) == 0x7f800000u ? delta[i] : x + delta[i];
    out[i] = f32_to_f16(master) == p[i] ? master : x;  // written behind our back: the written value
  }
}

/// float32 masters to their float16 rounding (to nearest, ties to even) and the exact difference
/// (two floats within a factor of two subtract exactly); the master itself where the parameter
/// overflows to inf.
inline void encode_f16_master(const float* __restrict in, std::uint16_t* __restrict p, float* __restrict delta,
                              std::size_t n) {
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint16_t h = f32_to_f16(in[i]);
    const float x = f16_to_f32(h);
    p[i] = h;
    delta[i] = (bits_of(x) & 0x7fffffffu) == 0x7f800000u ? in[i] : in[i] - x;
  }
}

/// float32 to float16 rounded stochastically (unbiased; see encode_stochastic). In float16's
/// normal range, random bits are added below its last bit (13 of float32's) and the rest is cut,
/// which leaves a value float16 holds exactly. In its subnormal range the result counts quanta of
/// 2^-24 (which is its bit pattern, 1024 being the smallest normal): the value's quanta, plus one
/// with the probability of the remaining fraction (to 2^-31 for values under 2^-55).
inline void encode_f16_stochastic(const float* __restrict in, std::uint16_t* __restrict out, std::size_t n,
                                  std::uint32_t key, std::size_t first) {
  constexpr std::uint32_t mask = 0x1fffu;
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    const auto index = static_cast<std::uint32_t>(first + i);
    const std::uint32_t r = noise_bits(key, index) << 16 | noise_bits(key ^ 0x5bd1e995u, index);
    const std::uint32_t u = bits_of(in[i]), a = u & 0x7fffffffu, sign = u & 0x80000000u;
    const std::uint16_t normal = f32_to_f16(float_of(((a + (r & mask)) & ~mask) | sign));
    // |x| = m 2^(e - 150): its quanta of 2^-24 are m >> (126 - e), the rest the fraction.
    const std::uint32_t e = a >> 23, m = (a & 0x7fffffu) | (e ? 0x800000u : 0u);
    const std::uint32_t shift = 126u - (e ? e : 1u), s = shift < 31u ? shift : 31u, low = (1u << s) - 1u;
    const std::uint32_t quanta = (m >> s) + ((r & low) < (m & low) ? 1u : 0u);
    const auto sub = static_cast<std::uint16_t>(quanta | (sign >> 16));
    out[i] = a >= 0x7f800000u ? f32_to_f16(in[i]) : a >= (113u << 23) ? normal : sub;
  }
}

/// The Codebook bucket of the float with these bits (magnitudes outside [2^-24, 1] clamped). Signed:
/// SIMD gathers take signed 32-bit indices (an unsigned one makes the compiler widen it to 64 bits
/// and load element by element).
inline std::int32_t bucket_of(std::uint32_t bits) {
  std::uint32_t mag = bits & 0x7fffffffu;
  mag = mag < Codebook::kTiny ? Codebook::kTiny : (mag > Codebook::kOne ? Codebook::kOne : mag);
  return static_cast<std::int32_t>((bits >> 31) * Codebook::kPerSign + ((mag - Codebook::kTiny) >> (23 - Codebook::kBucketBits)));
}

/// codes[i] = the code nearest to x[i] * inv (its magnitude clamped to 1; a tie goes to the lower
/// code; see Codebook).
inline void encode_codes(const Codebook& c, const float* __restrict x, std::size_t n, float inv, std::uint8_t* __restrict codes) {
  std::size_t i = 0;
#if defined(__AVX512VBMI__)
  for (; i + 64 <= n; i += 64) vbmi::encode64(c, x + i, _mm512_set1_ps(inv), codes + i);
#endif
#pragma omp simd
  for (std::size_t k = i; k < n; ++k) {
    const std::uint32_t bits = bits_of(x[k] * inv);
    const std::uint32_t e = c.entry[bucket_of(bits)];
    const std::uint32_t key = (bits & 0xffffu) ^ (bits >> 31 ? 0xffffu : 0u);
    codes[k] = static_cast<std::uint8_t>((e & 0xffu) + (key > e >> 8 ? 1u : 0u));
  }
}

/// One block of 8-bit codes to float32: code value times the block's absmax. A negative absmax
/// marks a block that holds infinities (see encode_block): its end codes stand for them.
inline void decode_block(const Codebook& c, const std::uint8_t* __restrict codes, float absmax, float* __restrict out,
                         std::size_t n) {
  if (!(absmax < 0)) {
    std::size_t i = 0;
#if defined(__AVX512VBMI__)
    for (; i + 64 <= n; i += 64) vbmi::decode64(c, codes + i, _mm512_set1_ps(absmax), out + i);
#endif
#pragma omp simd
    for (std::size_t k = i; k < n; ++k) out[k] = c.map[codes[k]] * absmax;
    return;
  }
  for (std::size_t i = 0; i < n; ++i) out[i] = infinite_code(c, codes[i], -absmax);
}

/// The scale a block of x is encoded against: its largest magnitude. A block holding NaN gets NaN,
/// so that it decodes as NaN: quantized state carries a NaN as float32 state does (with
/// nonfinite="ignore"). A block holding an infinity (a second moment whose g^2 overflowed: float32
/// state keeps v = inf, and that element stops moving) keeps it too: its finite values are scaled
/// to stay inside the map's end codes (at most `inner`), which then stand for +-inf, and
/// `infinite` says so (the scale is stored negated).
inline float block_scale(const float* __restrict x, std::size_t n, float inner, bool& infinite) {
  float m = 0, z = 0;  // z = sum of x * 0: 0 for finite blocks, NaN when one holds NaN or inf, in any order
  std::size_t i = 0;
#if defined(__AVX512F__)
  // The same answer without the ordered float sum's horizontal tail: a mask of lanes that saw a
  // NaN or an infinity (an infinity's x * 0 is NaN too), and the largest magnitude.
  __m512 most = _mm512_setzero_ps();
  __mmask16 bad = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    bad |= _mm512_cmp_ps_mask(_mm512_mul_ps(v, _mm512_setzero_ps()), _mm512_setzero_ps(), _CMP_UNORD_Q);
    most = _mm512_max_ps(most, _mm512_abs_ps(v));
  }
  m = _mm512_reduce_max_ps(most);
  z = bad ? std::numeric_limits<float>::quiet_NaN() : 0.0f;
#endif
#pragma omp simd reduction(max : m) reduction(+ : z)
  for (std::size_t k = i; k < n; ++k) {
    const float a = std::fabs(x[k]);
    m = a > m ? a : m;
    z += x[k] * 0.0f;
  }
  infinite = false;
  if (z == z) return m;
  bool nan = false;  // the rare block with NaN or inf, element by element
  float finite = 0;
  for (std::size_t j = 0; j < n; ++j) {
    const float a = std::fabs(x[j]);
    if (a != a)
      nan = true;
    else if (a > std::numeric_limits<float>::max())
      infinite = true;
    else if (a > finite)
      finite = a;
  }
  infinite = infinite && !nan;
  return nan ? std::numeric_limits<float>::quiet_NaN() : finite > 0 ? finite / inner : std::numeric_limits<float>::min();
}

/// One block of float32 to 8-bit codes; returns the block's absmax (negated for a block with
/// infinities; see block_scale). Each element gets the code nearest to x / absmax (clamped to
/// [-1, 1], a tie to the lower code; see Codebook). Blocks of finite values are encoded as
/// bitsandbytes does.
inline float encode_block(const Codebook& c, const float* __restrict x, std::size_t n, std::uint8_t* __restrict codes) {
  bool infinite;
  const float m = block_scale(x, n, inner_code(c), infinite);
  encode_codes(c, x, n, m > 0 ? 1.0f / m : 0.0f, codes);
  return infinite ? -m : m;
}

/// The 4-bit code of v (already divided by its block's absmax): the number of midpoints below it.
inline std::uint32_t code4(const Codebook4& c, float v) {
  std::uint32_t k = 0;
  for (int j = 0; j < 15; ++j) k += c.mid[j] < v ? 1u : 0u;
  return k;
}

/// One block (at most kQuant4Block elements, starting at an even element) of 4-bit codes to float32;
/// `codes` points at the block's first byte.
inline void decode_block4(const Codebook4& c, const std::uint8_t* __restrict codes, float absmax, float* __restrict out,
                          std::size_t n) {
  if (absmax < 0) {
    for (std::size_t i = 0; i < n; ++i)
      out[i] = infinite_code(c, static_cast<std::uint8_t>((codes[i >> 1] >> ((i & 1u) * 4u)) & 15u), -absmax);
    return;
  }
  std::size_t i = 0;
#if defined(__AVX512F__)
  // The 16 codes' values sit in one register: a lookup is one permute. 32 elements per round: 16
  // bytes widened, their low and high nibbles looked up, interleaved back into element order.
  const __m512 table = _mm512_loadu_ps(c.map), scale = _mm512_set1_ps(absmax);
  const __m512i low_half = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i high_half = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  for (; i + 32 <= n; i += 32) {
    const __m512i bytes = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + i / 2)));
    const __m512 lo = _mm512_permutexvar_ps(_mm512_and_si512(bytes, _mm512_set1_epi32(15)), table);
    const __m512 hi = _mm512_permutexvar_ps(_mm512_srli_epi32(bytes, 4), table);
    _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_permutex2var_ps(lo, low_half, hi), scale));
    _mm512_storeu_ps(out + i + 16, _mm512_mul_ps(_mm512_permutex2var_ps(lo, high_half, hi), scale));
  }
#endif
#pragma omp simd
  for (std::size_t j = i / 2; j < n / 2; ++j) {
    const std::uint32_t byte = codes[j];
    out[2 * j] = c.map[byte & 15u] * absmax;
    out[2 * j + 1] = c.map[byte >> 4] * absmax;
  }
  if (n & 1u) out[n - 1] = c.map[codes[n / 2] & 15u] * absmax;
}

/// The 4-bit codes of x[i] * inv (code4), two per byte from `codes`' first byte (element 2j in
/// byte j's low nibble; an odd last element leaves its byte's high nibble 0).
inline void encode_codes4(const Codebook4& c, const float* __restrict x, std::size_t n, float inv, std::uint8_t* __restrict codes) {
  std::size_t j = 0;
#if defined(__AVX512F__)
  // code4 as a binary search over the 15 midpoints held in a register (pad: +inf, never below v):
  // four rounds of permute, compare and add, then 32 codes packed into 16 bytes.
  alignas(64) float mids[16];
  for (int k = 0; k < 15; ++k) mids[k] = c.mid[k];
  mids[15] = std::numeric_limits<float>::infinity();
  const __m512 table = _mm512_load_ps(mids), scale = _mm512_set1_ps(inv);
  // The unsigned map is k/16, k = 1..16, its midpoints (2k + 1)/32: the code is the number of
  // k = 0..14 below 16v - 1.5, ceil(16v - 1.5) clamped to [0, 15], exact in float32 (16v is exact,
  // and so is the difference from 1.5 where it matters). min(2, v) keeps NaN (code 0) and tames inf.
  const bool linear = c.map[0] == 1.0f / 16;
  auto code16 = [&](const float* from) {
    const __m512 v = _mm512_mul_ps(_mm512_loadu_ps(from), scale);
    if (linear) {
      const __m512 k = _mm512_fmsub_ps(_mm512_set1_ps(16.0f), _mm512_min_ps(_mm512_set1_ps(2.0f), v), _mm512_set1_ps(1.5f));
      const __m512i up = _mm512_cvt_roundps_epi32(k, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC);
      return _mm512_min_epi32(_mm512_max_epi32(up, _mm512_setzero_si512()), _mm512_set1_epi32(15));
    }
    __m512i pos = _mm512_setzero_si512();
    for (int step = 8; step >= 1; step /= 2) {
      const __m512i probe = _mm512_add_epi32(pos, _mm512_set1_epi32(step - 1));
      const __mmask16 below = _mm512_cmp_ps_mask(_mm512_permutexvar_ps(probe, table), v, _CMP_LT_OQ);
      pos = _mm512_mask_add_epi32(pos, below, pos, _mm512_set1_epi32(step));
    }
    return pos;
  };
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  for (; 2 * j + 32 <= n; j += 16) {
    const __m512i a = code16(x + 2 * j), b = code16(x + 2 * j + 16);
    const __m512i lo = _mm512_permutex2var_epi32(a, even, b), hi = _mm512_permutex2var_epi32(a, odd, b);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(codes + j), _mm512_cvtepi32_epi8(_mm512_or_si512(lo, _mm512_slli_epi32(hi, 4))));
  }
#endif
#pragma omp simd
  for (std::size_t k = j; k < n / 2; ++k)
    codes[k] = static_cast<std::uint8_t>(code4(c, x[2 * k] * inv) | code4(c, x[2 * k + 1] * inv) << 4);
  if (n & 1u) codes[n / 2] = static_cast<std::uint8_t>(code4(c, x[n - 1] * inv));
}

/// One block of float32 (starting at an even element) to 4-bit codes (see encode_codes4); returns
/// the block's absmax, as encode_block does.
inline float encode_block4(const Codebook4& c, const float* __restrict x, std::size_t n, std::uint8_t* __restrict codes) {
  bool infinite;
  const float m = block_scale(x, n, inner_code(c), infinite);
  encode_codes4(c, x, n, m > 0 ? 1.0f / m : 0.0f, codes);
  return infinite ? -m : m;
}

}  // namespace fastoptim::FASTOPTIM_TIER
