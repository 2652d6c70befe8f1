#include "fastoptim/quantize.hpp"

// Not a tier unit: the block codec below is compiled here for the baseline (namespace generic).
#include "fastoptim/state_block.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <vector>

namespace fastoptim {

namespace {

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

float from_bits(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
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
    const float lo = m == 0 ? 0.0f : from_bits(Codebook::kTiny + (m << shift));
    const float hi = m + 1 == Codebook::kPerSign ? 1.0f : from_bits(Codebook::kTiny + ((m + 1) << shift) - 1);
    for (std::uint32_t sign = 0; sign < 2; ++sign) {
      const float vmin = sign ? -hi : lo, vmax = sign ? -lo : hi;
      const std::uint32_t first = below(vmin), last = below(vmax);
      if (last > first + 1) throw std::logic_error("dynamic map: a bucket holds two midpoints; use more bucket bits");
      std::uint32_t key = Codebook::kNever;
      if (last == first + 1) {  // mid[first] is in the bucket: v > mid compares their low bits
        if (m == 0 || m + 1 == Codebook::kPerSign) throw std::logic_error("dynamic map: a midpoint in a clamped bucket");
        std::uint32_t low;
        std::memcpy(&low, &mid[first], sizeof low);
        low &= 0xffffu;
        key = sign ? 0xffffu - low : low;
      }
      c.entry[sign * Codebook::kPerSign + m] = first | key << 8;
    }
  }
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
  const Codebook& c = codebook(is_signed);
  for (std::size_t b = 0, k = 0; b < n; b += block, ++k) {
    const std::size_t end = std::min(n, b + block);
    absmax[k] = generic::encode_block(c, x + b, end - b, codes + b);
  }
}

void dequantize_blockwise(const std::uint8_t* codes, const float* absmax, std::size_t n, std::size_t block,
                          bool is_signed, float* x) {
  const Codebook& c = codebook(is_signed);
  for (std::size_t i = 0; i < n; ++i) {
    const float a = absmax[i / block];
    x[i] = a < 0 ? infinite_code(c, codes[i], -a) : c.map[codes[i]] * a;
  }
}

void quantize_blockwise4(const float* x, std::size_t n, std::size_t block, bool is_signed, std::uint8_t* codes,
                         float* absmax) {
  const Codebook4& c = codebook4(is_signed);
  for (std::size_t b = 0, k = 0; b < n; b += block, ++k) {
    const std::size_t end = std::min(n, b + block);
    absmax[k] = generic::encode_block4(c, x + b, end - b, codes + b / 2);  // block is even
  }
}

void dequantize_blockwise4(const std::uint8_t* codes, const float* absmax, std::size_t n, std::size_t block,
                           bool is_signed, float* x) {
  const Codebook4& c = codebook4(is_signed);
  for (std::size_t i = 0; i < n; ++i) {
    const float a = absmax[i / block];
    const auto code = static_cast<std::uint8_t>((codes[i / 2] >> (4 * (i & 1))) & 15u);
    x[i] = a < 0 ? infinite_code(c, code, -a) : c.map[code] * a;
  }
}

}  // namespace fastoptim
