// The codec check: on every SIMD tier this CPU runs, every float32 bit pattern is encoded with
// both 8-bit maps and both 4-bit maps (scale 1), and each code must be the number of midpoints
// below the value (the maps' rule: the nearest code, a tie to the lower one; 8-bit magnitudes
// clamped to 1, NaN counting as +-1 by its sign). The reference walks the patterns in order of
// value beside the sorted midpoints, so it shares nothing with the encoders. Every code is also
// decoded back to its map value. Exits 1 on any difference.
//
//   fastoptim_codec_check [tier ...]     (default: every tier this CPU runs)
#include <algorithm>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "fastoptim/dispatch.hpp"
#include "fastoptim/quantize.hpp"

namespace fo = fastoptim;

namespace {

constexpr std::uint64_t kChunk = 1u << 16;

float float_of(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

/// The codes of x[0, n) from a tier's encoder: 8-bit, or 4-bit unpacked to one per byte.
void encode(const fo::BlockCodecs& f, int bits, bool is_signed, const float* x, std::uint8_t* codes, std::uint8_t* packed) {
  if (bits == 8) {
    f.codes8(fo::codebook(is_signed), x, kChunk, 1.0f, codes);
    return;
  }
  f.codes4(fo::codebook4(is_signed), x, kChunk, 1.0f, packed);
  for (std::uint64_t i = 0; i < kChunk; ++i) codes[i] = static_cast<std::uint8_t>((packed[i / 2] >> (4 * (i & 1))) & 15u);
}

/// The number of mismatches over every float32 pattern for one map, on each of `tiers`.
std::vector<std::uint64_t> check_map(const std::vector<fo::BlockCodecs>& tiers, const std::vector<std::string>& names, int bits,
                                     bool is_signed) {
  std::vector<float> mid;
  if (bits == 8) {
    const auto& map = fo::dynamic_map(is_signed);
    for (std::size_t i = 0; i + 1 < map.size(); ++i) mid.push_back((map[i] + map[i + 1]) / 2.0f);
  } else {
    const fo::Codebook4& c = fo::codebook4(is_signed);
    mid.assign(c.mid, c.mid + 15);
  }
  std::vector<std::uint64_t> bad(tiers.size());
#pragma omp parallel
  {
    std::vector<float> x(kChunk);
    std::vector<std::uint8_t> rule(kChunk), codes(kChunk), packed(kChunk / 2);
#pragma omp for schedule(dynamic)
    for (std::int64_t chunk = 0; chunk < static_cast<std::int64_t>((1ull << 32) / kChunk); ++chunk) {
      const std::uint64_t start = static_cast<std::uint64_t>(chunk) * kChunk;
      for (std::uint64_t i = 0; i < kChunk; ++i) x[i] = float_of(static_cast<std::uint32_t>(start + i));
      // A chunk holds one sign, so its values run monotonically: walk the midpoints beside them.
      const bool negative = start >> 31;
      auto value = [&](std::uint64_t i) {  // what the encoder ranks: 8-bit clamps, NaN at +-1
        const float v = x[i];
        if (bits == 4) return v;
        if (v != v || v > 1.0f || v < -1.0f) return negative ? -1.0f : 1.0f;
        return v;
      };
      std::size_t k = 0;  // midpoints below value(i)
      if (bits == 4 && x[0] != x[0]) {
        k = 0;  // NaN compares below nothing
      } else {
        k = static_cast<std::size_t>(std::lower_bound(mid.begin(), mid.end(), value(0)) - mid.begin());
      }
      for (std::uint64_t i = 0; i < kChunk; ++i) {
        const float v = value(i);
        if (v != v) {
          k = 0;
        } else {
          while (!negative && k < mid.size() && mid[k] < v) ++k;
          while (negative && k > 0 && !(mid[k - 1] < v)) --k;
        }
        rule[i] = static_cast<std::uint8_t>(k);
      }
      for (std::size_t t = 0; t < tiers.size(); ++t) {
        encode(tiers[t], bits, is_signed, x.data(), codes.data(), packed.data());
        for (std::uint64_t i = 0; i < kChunk; ++i) {
          if (codes[i] == rule[i]) continue;
          std::uint64_t seen;
#pragma omp atomic capture
          seen = bad[t]++;
          if (seen < 5)
            std::printf("  %s, %d-bit %s map: x = %a (bits %08" PRIx64 ") gives code %u, the rule %u\n", names[t].c_str(), bits,
                        is_signed ? "signed" : "unsigned", static_cast<double>(x[i]), start + i, codes[i], rule[i]);
        }
      }
    }
  }
  return bad;
}

/// Every code decodes to its map value times the scale.
std::uint64_t check_decode(const fo::BlockCodecs& f) {
  std::uint64_t bad = 0;
  std::vector<std::uint8_t> codes(256), packed(128);
  std::vector<float> out(256);
  for (std::size_t i = 0; i < 256; ++i) codes[i] = static_cast<std::uint8_t>(i * 167 + 13);  // every code, shuffled
  for (std::size_t i = 0; i < 128; ++i) packed[i] = static_cast<std::uint8_t>(i * 167 + 13);
  for (const bool is_signed : {false, true}) {
    f.decode8(fo::codebook(is_signed), codes.data(), 0.75f, out.data(), 256);
    for (std::size_t i = 0; i < 256; ++i) bad += out[i] != fo::dynamic_map(is_signed)[codes[i]] * 0.75f;
    f.decode4(fo::codebook4(is_signed), packed.data(), 0.75f, out.data(), 256);
    for (std::size_t i = 0; i < 256; ++i)
      bad += out[i] != fo::codebook4(is_signed).map[(packed[i / 2] >> (4 * (i & 1))) & 15u] * 0.75f;
  }
  return bad;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> names(argv + 1, argv + argc);
  if (names.empty()) names = fo::supported_tiers();
  std::vector<fo::BlockCodecs> tiers;
  std::vector<std::uint64_t> bad;
  for (const std::string& tier : names) {
    fo::select_tier(tier);
    tiers.push_back(fo::kernels().codecs);
    bad.push_back(check_decode(tiers.back()));
  }
  for (const int bits : {8, 4})
    for (const bool is_signed : {false, true}) {
      const std::vector<std::uint64_t> b = check_map(tiers, names, bits, is_signed);
      for (std::size_t t = 0; t < b.size(); ++t) bad[t] += b[t];
    }
  int status = 0;
  for (std::size_t t = 0; t < names.size(); ++t) {
    std::printf("%s: %s\n", names[t].c_str(), bad[t] ? "codes differ from the rule" : "every float32 coded by the rule, every code decoded");
    if (bad[t]) status = 1;
  }
  return status;
}
