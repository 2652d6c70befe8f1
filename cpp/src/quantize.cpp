#include "fastoptim/quantize.hpp"

#include <algorithm>
#include <cmath>
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

std::array<float, 256> build_map(bool is_signed) {
  constexpr int kExponentBits = 7, kValueBits = 7;  // 8 bits, one of them the sign
  std::vector<float> codes;
  for (int i = 0; i < kExponentBits; ++i) {
    // With i leading zeros fewer, one more bit is left for the fraction: twice the points.
    const std::size_t points = (std::size_t{1} << (i + kValueBits - kExponentBits + (is_signed ? 0 : 1))) + 1;
    const std::vector<float> bounds = linspace(points);
    const auto scale = static_cast<float>(std::pow(10.0, i - (kExponentBits - 1)));
    for (std::size_t j = 0; j + 1 < points; ++j) {
      const float mean = (bounds[j] + bounds[j + 1]) / 2.0f;
      codes.push_back(scale * mean);
      if (is_signed) codes.push_back(-(scale * mean));
    }
  }
  codes.push_back(0.0f);
  codes.push_back(1.0f);
  std::sort(codes.begin(), codes.end());
  std::array<float, 256> out{};
  std::copy(codes.begin(), codes.end(), out.begin());
  return out;
}

/// The midpoints between neighbouring codes: a value's code is the number of midpoints below it.
std::array<float, 255> midpoints(const std::array<float, 256>& map) {
  std::array<float, 255> out{};
  for (std::size_t i = 0; i < 255; ++i) out[i] = (map[i] + map[i + 1]) / 2.0f;
  return out;
}

}  // namespace

const std::array<float, 256>& dynamic_map(bool is_signed) {
  static const std::array<float, 256> signed_map = build_map(true), unsigned_map = build_map(false);
  return is_signed ? signed_map : unsigned_map;
}

void quantize_blockwise(const float* x, std::size_t n, std::size_t block, const std::array<float, 256>& map,
                        std::uint8_t* codes, float* absmax) {
  const std::array<float, 255> mid = midpoints(map);
  for (std::size_t b = 0, k = 0; b < n; b += block, ++k) {
    const std::size_t end = std::min(n, b + block);
    float m = 0;
    for (std::size_t i = b; i < end; ++i) m = std::max(m, std::fabs(x[i]));
    absmax[k] = m;
    const float inv = m > 0 ? 1.0f / m : 0.0f;
    for (std::size_t i = b; i < end; ++i) {
      const float v = std::clamp(x[i] * inv, -1.0f, 1.0f);
      codes[i] = static_cast<std::uint8_t>(std::lower_bound(mid.begin(), mid.end(), v) - mid.begin());
    }
  }
}

void dequantize_blockwise(const std::uint8_t* codes, const float* absmax, std::size_t n, std::size_t block,
                          const std::array<float, 256>& map, float* x) {
  for (std::size_t i = 0; i < n; ++i) x[i] = map[codes[i]] * absmax[i / block];
}

}  // namespace fastoptim
