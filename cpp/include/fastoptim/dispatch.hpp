#pragma once
// Run-time choice of the SIMD tier. Each tier's kernels are compiled separately (cpp/src/kernels.cpp)
// into a KernelTable; the active table is chosen once at import from the CPU, or by FASTOPTIM_SIMD.
#include <cstddef>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "fastoptim/quantize.hpp"
#include "fastoptim/roofline.hpp"
#include "fastoptim/rules.hpp"
#include "fastoptim/tensor.hpp"

namespace fastoptim {

template <class Rule>
using StepFn = void (*)(const typename Rule::Step&, const Work&);

template <class Rules>
struct StepFns;
template <class... Rules>
struct StepFns<std::tuple<Rules...>> {
  using type = std::tuple<StepFn<Rules>...>;
};

/// Everything compiled per tier: the rules and the roofline loop they are measured against.
using AllKernels = decltype(std::tuple_cat(std::declval<AllRules>(), std::declval<std::tuple<Roofline>>()));

/// One tier's block codecs (state_block.hpp): what fastoptim.quantize and the codec check run.
struct BlockCodecs {
  float (*encode8)(const Codebook&, const float*, std::size_t, std::uint8_t*);
  void (*decode8)(const Codebook&, const std::uint8_t*, float, float*, std::size_t);
  void (*codes8)(const Codebook&, const float*, std::size_t, float, std::uint8_t*);
  float (*encode4)(const Codebook4&, const float*, std::size_t, std::uint8_t*);
  void (*decode4)(const Codebook4&, const std::uint8_t*, float, float*, std::size_t);
  void (*codes4)(const Codebook4&, const float*, std::size_t, float, std::uint8_t*);
};

/// One tier's compiled kernels.
struct KernelTable {
  const char* tier;
  GradStats (*grad_stats)(const Work&, bool want_norm, double carry);
  double (*norm)(const Work&, double p);
  void (*scale)(const Work&, double c);
  void (*clamp)(const Work&, double c);
  void (*axpy)(const Work&, double a);
  typename StepFns<AllKernels>::type steps;
  BlockCodecs codecs;
};

template <class Rule>
StepFn<Rule> step_fn(const KernelTable& table) {
  return std::get<StepFn<Rule>>(table.steps);
}

/// Tiers compiled into this build, lowest first (e.g. baseline, avx2, avx512).
std::vector<std::string> compiled_tiers();
/// Compiled tiers this CPU (and OS) can run, lowest first.
std::vector<std::string> supported_tiers();
/// The -m flags a compiled tier was built with.
std::string tier_flags(const std::string& tier);

/// Make `tier` active. Throws std::invalid_argument for an unknown tier or one this CPU cannot run.
void select_tier(const std::string& tier);
/// Choose the tier at start-up: FASTOPTIM_SIMD if set (same errors as select_tier), else the best.
void select_tier_from_env();
/// The active table and its name.
const KernelTable& kernels();
std::string active_tier();

/// Whether this build has OpenMP (without it, steps run on one thread).
bool has_openmp();
/// Threads used by the driver. Starts at OpenMP's default (which honours OMP_NUM_THREADS); 1 without OpenMP.
int num_threads();
void set_num_threads(int n);

}  // namespace fastoptim
