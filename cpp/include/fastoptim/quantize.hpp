#pragma once
// Blockwise dynamic 8-bit quantization (Dettmers et al. 2022, "8-bit Optimizers via Block-wise
// Quantization"): an array is cut into blocks; each block keeps its absolute maximum in float32 and
// each element the uint8 index of the code nearest to element / absmax. The codes are the dynamic
// map: a sign (signed map), a run of zeros that acts as the exponent (0.1^k), an indicator bit and
// a linear fraction, so that small magnitudes keep relative precision. These are the building
// blocks of int8 optimizer state.
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace fastoptim {

/// A dynamic map with what finding a value's nearest code takes in a few instructions, so that
/// 8-bit state is quantized inside an optimizer step. The code of v in [-1, 1] is the number of
/// midpoints between neighbouring codes below v (a tie goes to the lower code). A bucket of
/// values, given by v's sign, exponent and top kBucketBits mantissa bits, holds at most one
/// midpoint (checked when the table is built). Its entry holds the code of the bucket's lowest
/// value (low 8 bits) and, above them, the midpoint's remaining 16 mantissa bits as a key that v's
/// own key (its low 16 bits, inverted for negative v) must exceed to take the next code (2^16:
/// no midpoint). One table read per value.
struct Codebook {
  static constexpr int kBucketBits = 7;
  static constexpr std::uint32_t kTiny = 103u << 23;   ///< |v| <= 2^-24 (far below the smallest code) share bucket 0
  static constexpr std::uint32_t kOne = 127u << 23;    ///< 1.0f
  static constexpr std::uint32_t kPerSign = ((kOne - kTiny) >> (23 - kBucketBits)) + 1;
  static constexpr std::uint32_t kNever = 1u << 16;    ///< a key no value exceeds
  float map[256];
  /// By bucket (sign * kPerSign + (magnitude bits - kTiny) >> (23 - kBucketBits)): first code | key << 8.
  std::uint32_t entry[2 * kPerSign];

  // The gather-free codec (AVX-512 VBMI, see codec_vbmi.hpp) looks 64 values up at once in tables
  // of bytes: a float32 table is split into its 4 byte planes (plane k: bits k*8..k*8+7).
  std::uint8_t map_plane[4][256];
  /// The midpoints above the zero code: mid_plane holds mid[zero + t] for t <= last (then +inf).
  std::uint8_t mid_plane[4][256];
  std::uint32_t zero;  ///< the code of 0
  std::uint32_t last;  ///< the number of midpoints above the zero code, less one
  /// Within a decade the map's codes are evenly spaced, so a line u(a) = slope a + offset maps a
  /// magnitude to its code's position counted from the zero code (code zero + j at u = j + 0.025).
  /// The lines' minimum is concave and follows the map across decades; a piece of two binades
  /// (magnitude bits >> 24, less kFirstPiece) spans at most one decade boundary, so two lines give
  /// it: the decade's, and the next one's, whose slope is a fifth: u' = u / 5 + next[piece].
  /// trunc(min(u, u')) is the number of midpoints below a, or one less (checked on every boundary
  /// when the codebook is built); one compare against that midpoint settles it.
  float slope[16], offset[16], next[16];
  static constexpr std::uint32_t kFirstPiece = 48;  ///< magnitudes from 2^-31 (smaller ones count as 2^-31)
};

/// The codebook of dynamic_map(is_signed).
const Codebook& codebook(bool is_signed);

/// A 4-bit map (Li et al. 2023, "Memory Efficient Optimizers with 4-bit States"): for signed
/// slots (first moments) the 4-bit dynamic map, bitsandbytes' create_dynamic_map(True, 3, 4); for
/// unsigned ones (second moments, accumulators) the linear map 1/16, 2/16, ..., 1 with no zero
/// code: a zero code would turn a small second moment into 0 and its update into lr * m / eps.
/// The code of v is the number of midpoints below v, as for 8 bits: 15 compares, no table.
struct Codebook4 {
  float map[16];
  float mid[15];  ///< mid[i] = fl32((map[i] + map[i + 1]) / 2)
};
const Codebook4& codebook4(bool is_signed);

/// The largest magnitude a block with infinities scales its finite values to: inside both end
/// codes of the map (the signed 8-bit map's lowest code is -0.993, its highest 1), which stand for
/// +-inf. `Book`: Codebook or Codebook4.
template <class Book>
inline float inner_code(const Book& c) {
  constexpr std::size_t last = sizeof(c.map) / sizeof(c.map[0]) - 1;
  return c.map[0] < 0 ? std::fmin(c.map[last - 1], -c.map[1]) : c.map[last - 1];
}
/// A code's value in a block whose absmax is stored negated (scale = -absmax): the end codes are +-inf.
template <class Book>
inline float infinite_code(const Book& c, std::uint8_t code, float scale) {
  constexpr std::size_t last = sizeof(c.map) / sizeof(c.map[0]) - 1;
  if (code == last) return std::numeric_limits<float>::infinity();
  if (code == 0 && c.map[0] < 0) return -std::numeric_limits<float>::infinity();
  return c.map[code] * scale;
}

/// The 256 codes, sorted: the signed map (first moments) or the unsigned map (second moments,
/// accumulators), built as bitsandbytes' create_dynamic_map(signed) builds them.
const std::array<float, 256>& dynamic_map(bool is_signed);

/// Codes and block maxima of x[0, n): absmax[b] = max |x| over block b (blocks of `block`
/// elements, the last one shorter), codes[i] = the code nearest x[i] / absmax (clamped to [-1, 1];
/// a tie goes to the lower code; a block of zeros gives absmax 0 and the code of 0).
void quantize_blockwise(const float* x, std::size_t n, std::size_t block, bool is_signed, std::uint8_t* codes,
                        float* absmax);
/// x[i] = map[codes[i]] * absmax[i / block] (for a negative absmax, see infinite_code).
void dequantize_blockwise(const std::uint8_t* codes, const float* absmax, std::size_t n, std::size_t block,
                          bool is_signed, float* x);
/// The same with 4-bit codes (codebook4), two per byte: codes holds (n + 1) / 2 bytes.
void quantize_blockwise4(const float* x, std::size_t n, std::size_t block, bool is_signed, std::uint8_t* codes,
                         float* absmax);
void dequantize_blockwise4(const std::uint8_t* codes, const float* absmax, std::size_t n, std::size_t block,
                           bool is_signed, float* x);

}  // namespace fastoptim
