#pragma once
// The gather-free 8-bit codec, for CPUs with AVX-512 VBMI (the avx512vbmi tier): 64 codes at a
// time, with byte permutes where the other tiers gather one table entry per element.
// - Decode: a float32 table of 256 entries is 4 byte planes of 256 bytes; vpermi2b looks 64 byte
//   indices up in 128 bytes held in two registers, so each plane takes two lookups and a blend on
//   the index's top bit. In-lane unpacks put the 4 planes back together as 4 x 16 float32.
// - Encode: code(x) is the number of midpoints below x (Codebook). Codebook's lines give that
//   number or one less from a few multiply-adds and two 16-entry permutes; the midpoint at the
//   guess, looked up like the map, settles it. The codes are those of the bucket table, bit for bit
//   (tests/cpp/codec_check.cpp compares them on every float32).
#include <cstddef>
#include <cstdint>

#include "fastoptim/intrinsics.hpp"
#include "fastoptim/quantize.hpp"
#include "fastoptim/tier.hpp"

#if defined(__AVX512VBMI__)
namespace fastoptim::FASTOPTIM_TIER::vbmi {

/// Entry idx[i] of a 256-byte table for each of 64 byte indices. `narrow`: every index is below 128.
inline __m512i lookup(const std::uint8_t* table, __m512i idx, bool narrow) {
  const __m512i low = _mm512_permutex2var_epi8(_mm512_loadu_si512(table), idx, _mm512_loadu_si512(table + 64));
  if (narrow) return low;
  const __m512i high = _mm512_permutex2var_epi8(_mm512_loadu_si512(table + 128), idx, _mm512_loadu_si512(table + 192));
  return _mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), low, high);
}

/// The 32-bit entries (tables of 4 byte planes) at 64 indices: out[q] those of elements 16q..16q+15.
/// The unpacks work within 128-bit lanes, so `idx` comes transposed: its 4-byte group 4L + q holds
/// elements 16q + 4L..16q + 4L + 3 (lane L, group q).
inline void lookup32(const std::uint8_t (*plane)[256], __m512i idx, bool narrow, __m512i out[4]) {
  const __m512i b0 = lookup(plane[0], idx, narrow), b1 = lookup(plane[1], idx, narrow);
  const __m512i b2 = lookup(plane[2], idx, narrow), b3 = lookup(plane[3], idx, narrow);
  const __m512i lo01 = _mm512_unpacklo_epi8(b0, b1), hi01 = _mm512_unpackhi_epi8(b0, b1);
  const __m512i lo23 = _mm512_unpacklo_epi8(b2, b3), hi23 = _mm512_unpackhi_epi8(b2, b3);
  out[0] = _mm512_unpacklo_epi16(lo01, lo23);
  out[1] = _mm512_unpackhi_epi16(lo01, lo23);
  out[2] = _mm512_unpacklo_epi16(hi01, hi23);
  out[3] = _mm512_unpackhi_epi16(hi01, hi23);
}

/// The 4-byte groups' order that lookup32 takes (group 4L + q <-> group 4q + L; its own inverse).
inline __m512i transpose() { return _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15); }

/// out[i] = map[codes[i]] * scale for 64 codes.
inline void decode64(const Codebook& c, const std::uint8_t* codes, __m512 scale, float* out) {
  __m512i v[4];
  lookup32(c.map_plane, _mm512_permutexvar_epi32(transpose(), _mm512_loadu_si512(codes)), false, v);
  for (int q = 0; q < 4; ++q) _mm512_storeu_ps(out + 16 * q, _mm512_mul_ps(_mm512_castsi512_ps(v[q]), scale));
}

/// codes[i] = the code of x[i] * inv for 64 values: encode_codes' rule.
inline void encode64(const Codebook& c, const float* x, __m512 inv, std::uint8_t* codes) {
  const __m512i one = _mm512_set1_epi32(1), zero = _mm512_set1_epi32(static_cast<int>(c.zero));
  const __m512 slope = _mm512_loadu_ps(c.slope), offset = _mm512_loadu_ps(c.offset), next = _mm512_loadu_ps(c.next);
  __m512i a[4], guess[4];
  __mmask16 negative[4];
#pragma GCC unroll 4
  for (int q = 0; q < 4; ++q) {
    const __m512i bits = _mm512_castps_si512(_mm512_mul_ps(_mm512_loadu_ps(x + 16 * q), inv));
    negative[q] = _mm512_movepi32_mask(bits);
    // |x| clamped to [2^-31, 1] (NaN too: its bits are above 1's); the permutes read the piece
    // from the low 4 bits of bits >> 24.
    a[q] = _mm512_min_epu32(_mm512_max_epu32(_mm512_and_si512(bits, _mm512_set1_epi32(0x7fffffff)),
                                             _mm512_set1_epi32(Codebook::kFirstPiece << 24)),
                            _mm512_set1_epi32(0x3f800000));
    const __m512i piece = _mm512_srli_epi32(a[q], 24);
    const __m512 u = _mm512_fmadd_ps(_mm512_permutexvar_ps(piece, slope), _mm512_castsi512_ps(a[q]),
                                     _mm512_permutexvar_ps(piece, offset));
    const __m512 u_next = _mm512_fmadd_ps(_mm512_set1_ps(0.2f), u, _mm512_permutexvar_ps(piece, next));
    guess[q] = _mm512_cvttps_epi32(_mm512_min_ps(u, u_next));
  }
  // The in-lane packs leave the 64 guesses as bytes in exactly lookup32's transposed order.
  const __m512i idx = _mm512_packus_epi16(_mm512_packus_epi32(guess[0], guess[1]), _mm512_packus_epi32(guess[2], guess[3]));
  __m512i mid[4], code[4];
  lookup32(c.mid_plane, idx, c.last < 128, mid);
#pragma GCC unroll 4
  for (int q = 0; q < 4; ++q) {
    // Compared as integers (both positive floats). A negative x counts the midpoints at or below
    // |x| (the map is symmetric), so it compares against the next float up.
    const __m512i bound = _mm512_mask_add_epi32(a[q], negative[q], a[q], one);
    const __m512i r = _mm512_mask_add_epi32(guess[q], _mm512_cmplt_epi32_mask(mid[q], bound), guess[q], one);
    code[q] = _mm512_mask_sub_epi32(_mm512_add_epi32(zero, r), negative[q], zero, r);
  }
  // Saturating packs clamp a negative code to 0; they leave the bytes transposed, as above.
  const __m512i packed = _mm512_packus_epi16(_mm512_packus_epi32(code[0], code[1]), _mm512_packus_epi32(code[2], code[3]));
  _mm512_storeu_si512(codes, _mm512_permutexvar_epi32(transpose(), packed));
}

}  // namespace fastoptim::FASTOPTIM_TIER::vbmi
#endif
