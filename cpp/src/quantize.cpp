#include "fastoptim/quantize.hpp"

#include "fastoptim/dispatch.hpp"
// Not a tier unit: it takes the bit helpers from the kernels' header (namespace generic).
#include "fastoptim/state_block.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

namespace fastoptim {

namespace {

using generic::bits_of;
using generic::float_of;

/// n float32 points from 0.1 to 1, each computed from the nearer end with one fused multiply-add,
/// as torch.linspace does, so that the map matches bitsandbytes' to the bit.
std::vector<float> linspace(std::size_t n) {
  const float start = 0.1f, end = 1.0f, step = (end - start) / static_cast<float>(n - 1);
  std::vector<float> out(n);
  for (std::size_t i = 0; i < n; ++i)
    out[i] = i < n / 2 ? std::fma(step, static_cast<float>(i), start) : std::fma(-step, static_cast<float>(n - 1 - i), end);
  return out;
}

/// bitsandbytes' create_dynamic_map(is_signed, exponent_bits, bits), sorted (bits - 1 value bits:
/// one of them is the sign or, unsigned, one more fraction bit).
std::vector<float> build_dynamic_map(bool is_signed, int exponent_bits, int bits) {
  const int value_bits = bits - 1;
  std::vector<float> codes;
  for (int i = 0; i < exponent_bits; ++i) {
    // With i leading zeros fewer, one more bit is left for the fraction: twice the points.
    const std::size_t points = (std::size_t{1} << (i + value_bits - exponent_bits + (is_signed ? 0 : 1))) + 1;
    const std::vector<float> bounds = linspace(points);
    const auto scale = static_cast<float>(std::pow(10.0, i - (exponent_bits - 1)));
    for (std::size_t j = 0; j + 1 < points; ++j) {
      const float mean = (bounds[j] + bounds[j + 1]) / 2.0f;
      codes.push_back(scale * mean);
      if (is_signed) codes.push_back(-(scale * mean));
    }
  }
  codes.push_back(0.0f);
  codes.push_back(1.0f);
  std::sort(codes.begin(), codes.end());
  return codes;
}

std::array<float, 256> build_map(bool is_signed) {
  const std::vector<float> codes = build_dynamic_map(is_signed, 7, 8);
  std::array<float, 256> out{};
  std::copy(codes.begin(), codes.end(), out.begin());
  return out;
}

Codebook4 build_codebook4(bool is_signed) {
  Codebook4 c{};
  if (is_signed) {
    const std::vector<float> codes = build_dynamic_map(true, 3, 4);
    std::copy(codes.begin(), codes.end(), c.map);
  } else {
    for (int i = 0; i < 16; ++i) c.map[i] = static_cast<float>(i + 1) / 16.0f;  // exact
  }
  for (int i = 0; i < 15; ++i) c.mid[i] = (c.map[i] + c.map[i + 1]) / 2.0f;
  return c;
}

/// The gather-free encoder's first guess for a magnitude's bits a (at most 1.0f's), computed as
/// the vector code computes it (see Codebook::slope).
std::uint32_t rank_estimate(const Codebook& c, std::uint32_t a) {
  constexpr std::uint32_t kSmallest = Codebook::kFirstPiece << 24;
  a = a < kSmallest ? kSmallest : a;
  const std::uint32_t piece = (a >> 24) & 15u;
  const float u = std::fma(c.slope[piece], float_of(a), c.offset[piece]);
  return static_cast<std::uint32_t>(std::fmin(u, std::fma(0.2f, u, c.next[piece])));
}

/// The tables of the gather-free codec (see Codebook), for bitsandbytes' 8-bit dynamic map:
/// decade k (scale 10^(k-6)) holds 2^k codes (2^(k+1) unsigned), the means of an even split of
/// [0.1, 1] (so code i of the decade sits at 10^(k-6) (0.1 + 0.9 (i + 1/2) / count)).
void build_estimate(Codebook& c, bool is_signed, const float* mid) {
  c.zero = is_signed ? 127 : 0;
  c.last = 254 - c.zero;
  for (std::uint32_t i = 0; i < 256; ++i) {
    const std::uint32_t m = bits_of(c.map[i]), h = c.zero + i <= 254 ? bits_of(mid[c.zero + i]) : 0x7f800000u;
    for (int k = 0; k < 4; ++k) {
      c.map_plane[k][i] = static_cast<std::uint8_t>(m >> (8 * k));
      c.mid_plane[k][i] = static_cast<std::uint8_t>(h >> (8 * k));
    }
  }
  // Decade k's line, shifted by 0.025 so that the guess's margins (0.275 either way at the decade
  // joints and the map's ends) are even. Decade 7 continues the map past 1 (it meets 6's at 1).
  double slope[8], offset[8];
  for (int k = 0, first = 1; k < 8; ++k) {  // first: the decade's first code, counted from the zero code
    const int count = (is_signed ? 1 : 2) << k;
    slope[k] = count * std::pow(10.0, 6 - k) / 0.9;
    offset[k] = first - 0.5 - 0.1 * count / 0.9 + 0.025;
    first += count;
  }
  auto lowest = [&](double a) {  // the decade whose line is lowest at a
    int best = 0;
    for (int k = 1; k < 7; ++k)
      if (slope[k] * a + offset[k] < slope[best] * a + offset[best]) best = k;
    return best;
  };
  for (std::uint32_t p = 0; p < 16; ++p) {
    const double lo = p == 0 ? 0.0 : float_of((p + Codebook::kFirstPiece) << 24);
    const double hi = p == 15 ? 1.0 : float_of((p + 1 + Codebook::kFirstPiece) << 24);
    const int k = lowest(lo);
    if (lowest(hi) != k && lowest(hi) != k + 1) throw std::logic_error("dynamic map: a piece spans two decade boundaries");
    c.slope[p] = static_cast<float>(slope[k]), c.offset[p] = static_cast<float>(offset[k]);
    c.next[p] = static_cast<float>(offset[k + 1] - 0.2 * offset[k]);
  }
  // The estimate must be the count of midpoints below a, or one less, counted with < and with <=
  // (negative values count the midpoints at or below their magnitude). Both counts and the
  // estimate only grow with a within a piece, so checking them next to every midpoint and every
  // piece boundary checks every float.
  std::vector<std::uint32_t> at = {0, bits_of(1.0f)};
  for (std::uint32_t t = 0; t <= c.last; ++t) at.push_back(bits_of(mid[c.zero + t]));
  for (std::uint32_t p = 0; p < 16; ++p) at.push_back((p + Codebook::kFirstPiece) << 24);
  for (const std::uint32_t x : at)
    for (std::uint32_t a = x == 0 ? 0 : x - 1; a <= x + 1 && a <= bits_of(1.0f); ++a) {
      std::uint32_t below = 0, at_or_below = 0;
      for (std::uint32_t t = 0; t <= c.last; ++t) {
        below += mid[c.zero + t] < float_of(a) ? 1u : 0u;
        at_or_below += mid[c.zero + t] <= float_of(a) ? 1u : 0u;
      }
      const std::uint32_t r = rank_estimate(c, a);
      if (r > below || r + 1 < at_or_below || r > c.last) throw std::logic_error("dynamic map: the rank estimate is off by more than one");
    }
}

Codebook build_codebook(const std::array<float, 256>& map) {
  Codebook c{};
  std::copy(map.begin(), map.end(), c.map);
  float mid[255];  // mid[i] between map[i] and map[i + 1]
  for (std::size_t i = 0; i < 255; ++i) mid[i] = (map[i] + map[i + 1]) / 2.0f;
  auto below = [&](float v) {  // the number of midpoints below v
    return static_cast<std::uint32_t>(std::lower_bound(mid, mid + 255, v) - mid);
  };
  constexpr std::uint32_t shift = 23 - Codebook::kBucketBits;
  for (std::uint32_t m = 0; m < Codebook::kPerSign; ++m) {
    // The magnitudes of bucket m: [lo, hi] (bucket 0 starts at 0, the last one is 1 alone).
    const float lo = m == 0 ? 0.0f : float_of(Codebook::kTiny + (m << shift));
    const float hi = m + 1 == Codebook::kPerSign ? 1.0f : float_of(Codebook::kTiny + ((m + 1) << shift) - 1);
    for (std::uint32_t sign = 0; sign < 2; ++sign) {
      const float vmin = sign ? -hi : lo, vmax = sign ? -lo : hi;
      const std::uint32_t first = below(vmin), last = below(vmax);
      if (last > first + 1) throw std::logic_error("dynamic map: a bucket holds two midpoints; use more bucket bits");
      std::uint32_t key = Codebook::kNever;
      if (last == first + 1) {  // mid[first] is in the bucket: v > mid compares their low bits
        if (m == 0 || m + 1 == Codebook::kPerSign) throw std::logic_error("dynamic map: a midpoint in a clamped bucket");
        const std::uint32_t low = bits_of(mid[first]) & 0xffffu;
        key = sign ? 0xffffu - low : low;
      }
      c.entry[sign * Codebook::kPerSign + m] = first | key << 8;
    }
  }
  build_estimate(c, map[0] < 0, mid);
  return c;
}

}  // namespace

const Codebook& codebook(bool is_signed) {
  static const Codebook signed_book = build_codebook(dynamic_map(true)), unsigned_book = build_codebook(dynamic_map(false));
  return is_signed ? signed_book : unsigned_book;
}

const Codebook4& codebook4(bool is_signed) {
  static const Codebook4 signed_book = build_codebook4(true), unsigned_book = build_codebook4(false);
  return is_signed ? signed_book : unsigned_book;
}

const std::array<float, 256>& dynamic_map(bool is_signed) {
  static const std::array<float, 256> signed_map = build_map(true), unsigned_map = build_map(false);
  return is_signed ? signed_map : unsigned_map;
}

void quantize_blockwise(const float* x, std::size_t n, std::size_t block, bool is_signed, std::uint8_t* codes,
                        float* absmax) {
  const BlockCodecs& f = kernels().codecs;
  for (std::size_t b = 0, k = 0; b < n; b += block, ++k) absmax[k] = f.encode8(codebook(is_signed), x + b, std::min(block, n - b), codes + b);
}

void dequantize_blockwise(const std::uint8_t* codes, const float* absmax, std::size_t n, std::size_t block,
                          bool is_signed, float* x) {
  const BlockCodecs& f = kernels().codecs;
  for (std::size_t b = 0, k = 0; b < n; b += block, ++k) f.decode8(codebook(is_signed), codes + b, absmax[k], x + b, std::min(block, n - b));
}

void quantize_blockwise4(const float* x, std::size_t n, std::size_t block, bool is_signed, std::uint8_t* codes,
                         float* absmax) {
  const BlockCodecs& f = kernels().codecs;
  for (std::size_t b = 0, k = 0; b < n; b += block, ++k)
    absmax[k] = f.encode4(codebook4(is_signed), x + b, std::min(block, n - b), codes + b / 2);  // block is even
}

void dequantize_blockwise4(const std::uint8_t* codes, const float* absmax, std::size_t n, std::size_t block,
                           bool is_signed, float* x) {
  const BlockCodecs& f = kernels().codecs;
  for (std::size_t b = 0, k = 0; b < n; b += block, ++k)
    f.decode4(codebook4(is_signed), codes + b / 2, absmax[k], x + b, std::min(block, n - b));
}

}  // namespace fastoptim
