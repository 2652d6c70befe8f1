#include "fastoptim/dispatch.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

#include <atomic>
#include <cstdlib>
#include <stdexcept>

#if defined(__linux__) && defined(__aarch64__)
#include <sys/auxv.h>
inline constexpr unsigned long kHwcapSve = 1ul << 22;  // HWCAP_SVE in the kernel's asm/hwcap.h
#endif

namespace fastoptim {

// Each compiled tier defines its table in its own namespace (cpp/src/kernels.cpp).
#define FASTOPTIM_TIER_TABLE(tier) \
  namespace tier {                 \
  const KernelTable& kernel_table(); \
  }
#ifdef FASTOPTIM_HAVE_SCALAR
FASTOPTIM_TIER_TABLE(scalar)
#endif
#ifdef FASTOPTIM_HAVE_BASELINE
FASTOPTIM_TIER_TABLE(baseline)
#endif
#ifdef FASTOPTIM_HAVE_AVX2
FASTOPTIM_TIER_TABLE(avx2)
#endif
#ifdef FASTOPTIM_HAVE_AVX512
FASTOPTIM_TIER_TABLE(avx512)
#endif
#ifdef FASTOPTIM_HAVE_AVX512VBMI
FASTOPTIM_TIER_TABLE(avx512vbmi)
#endif
#ifdef FASTOPTIM_HAVE_NEON
FASTOPTIM_TIER_TABLE(neon)
#endif
#ifdef FASTOPTIM_HAVE_SVE
FASTOPTIM_TIER_TABLE(sve)
#endif

namespace {

#ifdef FASTOPTIM_HAVE_SVE
/// SVE, as the kernel tells (Linux); macOS's Apple silicon has NEON only.
bool cpu_has_sve() {
#if defined(__linux__) && defined(__aarch64__)
  return (getauxval(AT_HWCAP) & kHwcapSve) != 0;
#else
  return false;
#endif
}
#endif

#ifdef FASTOPTIM_HAVE_AVX2
// GCC names the x86-64 levels; clang (before 16) knows the features one by one (not F16C, which
// every CPU with AVX2 and FMA has). Both check that the OS saves the YMM and ZMM registers.
bool cpu_has_v3() {
#if defined(__clang__)
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi") &&
         __builtin_cpu_supports("bmi2");
#else
  return __builtin_cpu_supports("x86-64-v3") > 0;
#endif
}
#endif
#ifdef FASTOPTIM_HAVE_AVX512
bool cpu_has_v4() {
#if defined(__clang__)
  return cpu_has_v3() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
  return __builtin_cpu_supports("x86-64-v4") > 0;
#endif
}
#endif

struct TierEntry {
  const char* name;
  const KernelTable& (*table)();
  bool (*cpu_has)();
  const char* flags;
};

const std::vector<TierEntry>& tiers() {
  static const std::vector<TierEntry> all = {
#ifdef FASTOPTIM_HAVE_SCALAR
      {"scalar", &scalar::kernel_table, [] { return true; }, FASTOPTIM_FLAGS_SCALAR},  // tests/cpp only
#endif
#ifdef FASTOPTIM_HAVE_BASELINE
      {"baseline", &baseline::kernel_table, [] { return true; }, FASTOPTIM_FLAGS_BASELINE},
#endif
#ifdef FASTOPTIM_HAVE_AVX2
      // x86-64-v3: AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE, with OS support for the YMM state.
      {"avx2", &avx2::kernel_table, &cpu_has_v3,
       FASTOPTIM_FLAGS_AVX2},
#endif
#ifdef FASTOPTIM_HAVE_NEON
      {"neon", &neon::kernel_table, [] { return true; }, FASTOPTIM_FLAGS_NEON},  // part of Armv8-A
#endif
#ifdef FASTOPTIM_HAVE_SVE
      {"sve", &sve::kernel_table, &cpu_has_sve, FASTOPTIM_FLAGS_SVE},
#endif
#ifdef FASTOPTIM_HAVE_AVX512
      // x86-64-v4: AVX-512 F, BW, CD, DQ, VL, with OS support for the ZMM state.
      {"avx512", &avx512::kernel_table, &cpu_has_v4,
       FASTOPTIM_FLAGS_AVX512},
#endif
#ifdef FASTOPTIM_HAVE_AVX512VBMI
      {"avx512vbmi", &avx512vbmi::kernel_table, [] { return cpu_has_v4() && __builtin_cpu_supports("avx512vbmi") > 0; },
       FASTOPTIM_FLAGS_AVX512VBMI},
#endif
  };
  return all;
}

std::atomic<const KernelTable*> active{nullptr};

// FASTOPTIM_HIDE_TIERS="avx512,avx2" makes this process treat those tiers as missing from the CPU, so
// tests can exercise the fall-back and error paths on a machine that has everything.
bool hidden(const char* tier) {
  const char* env = std::getenv("FASTOPTIM_HIDE_TIERS");
  if (!env) return false;
  const std::string list = std::string(",") + env + ",";
  return list.find(std::string(",") + tier + ",") != std::string::npos;
}

bool runs_here(const TierEntry& t) { return t.cpu_has() && !hidden(t.name); }
std::atomic<int> threads{0};

const TierEntry* find(const std::string& name) {
  for (const auto& t : tiers())
    if (name == t.name) return &t;
  return nullptr;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

namespace {
/// The best tier this CPU runs; throws when FASTOPTIM_HIDE_TIERS hides them all.
std::string best_tier() {
  const std::vector<std::string> tiers = supported_tiers();
  if (tiers.empty()) {
    const char* env = std::getenv("FASTOPTIM_HIDE_TIERS");
    throw std::runtime_error(std::string("no SIMD tier can run: FASTOPTIM_HIDE_TIERS=") + (env ? env : "") +
                             " hides every compiled tier (" + join(compiled_tiers()) + ")");
  }
  return tiers.back();
}
}  // namespace

std::vector<std::string> compiled_tiers() {
  std::vector<std::string> out;
  for (const auto& t : tiers()) out.emplace_back(t.name);
  return out;
}

std::vector<std::string> supported_tiers() {
  std::vector<std::string> out;
  for (const auto& t : tiers())
    if (runs_here(t)) out.emplace_back(t.name);
  return out;
}

std::string tier_flags(const std::string& tier) {
  const TierEntry* t = find(tier);
  if (!t) throw std::invalid_argument("unknown SIMD tier '" + tier + "' (compiled: " + join(compiled_tiers()) + ")");
  return t->flags;
}

void select_tier(const std::string& tier) {
  const TierEntry* t = find(tier);
  if (!t) throw std::invalid_argument("unknown SIMD tier '" + tier + "' (compiled: " + join(compiled_tiers()) + ")");
  if (!runs_here(*t))
    throw std::invalid_argument("SIMD tier '" + tier + "' needs instructions this CPU lacks (supported here: " +
                                join(supported_tiers()) + ")");
  active.store(&t->table());
}

void select_tier_from_env() {
  const char* env = std::getenv("FASTOPTIM_SIMD");
  if (env && *env) {
    try {
      select_tier(env);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string("FASTOPTIM_SIMD=") + env + ": " + e.what());
    }
    return;
  }
  select_tier(best_tier());
}

const KernelTable& kernels() {
  const KernelTable* t = active.load();
  if (!t) {
    select_tier(best_tier());
    t = active.load();
  }
  return *t;
}

std::string active_tier() { return kernels().tier; }

bool has_openmp() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

int num_threads() {
#ifdef _OPENMP
  const int n = threads.load();
  return n > 0 ? n : omp_get_max_threads();
#else
  return 1;  // built without OpenMP: every step runs on the calling thread
#endif
}

void set_num_threads(int n) {
  if (n < 1) throw std::invalid_argument("num_threads must be >= 1, got " + std::to_string(n));
  threads.store(n);
}

}  // namespace fastoptim
