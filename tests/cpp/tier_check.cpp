// The tier check: every rule, on every parameter and state type it takes, stepped on every SIMD tier
// this CPU runs (the `scalar` tier, built unvectorised for this check, first), from the same
// pseudo-random data. Each (rule, config) must hash to the same bytes on every tier: parameters,
// state, block maxima and master bits, bit for bit. Exits 1 on any difference.
//
// It also prints, one per line, what must not depend on the architecture (CI compares an x86 run's
// output with an aarch64 one's under qemu): every rule's hash, the schedules' values and the 8-bit
// codec's codes.
//
//   fastoptim_tier_check > out.txt
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fastoptim/dispatch.hpp"
#include "fastoptim/quantize.hpp"
#include "fastoptim/schedules.hpp"
#include "fastoptim/state_block.hpp"

namespace fo = fastoptim;

namespace {

constexpr std::ptrdiff_t kRows = 301, kCols = 331;  // several 32K chunks, a tail, and rows
constexpr std::size_t kN = static_cast<std::size_t>(kRows * kCols);
constexpr int kSteps = 6;

/// A small counter-based generator: the same numbers on every machine.
float uniform(std::uint64_t i, std::uint64_t stream) {
  std::uint64_t x = i * 0x9e3779b97f4a7c15ull + stream * 0xbf58476d1ce4e5b9ull + 1;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  x ^= x >> 31;
  return static_cast<float>(x >> 40) / static_cast<float>(1ull << 24) * 2.0f - 1.0f;  // [-1, 1)
}

struct Hash {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
  void add(const void* data, std::size_t bytes) {
    const auto* b = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < bytes; ++i) h = (h ^ b[i]) * 0x100000001b3ull;
  }
};

/// A parameter's type and its state's (as state_dtype and the 16-bit options set them).
struct Config {
  const char* name;
  fo::DType dtype;
  fo::StateType state;
  bool converted;  ///< only for rules whose state may be converted (elementwise, not a copy of p)
  bool master, grad_f32, stochastic;
};

const Config kConfigs[] = {
    {"f32", fo::DType::f32, fo::StateType::native, false, false, false, false},
    {"f64", fo::DType::f64, fo::StateType::native, false, false, false, false},
    {"f32-bf16state", fo::DType::f32, fo::StateType::bf16, true, false, false, false},
    {"f32-int8state", fo::DType::f32, fo::StateType::int8, true, false, false, false},
    {"f32-int4state", fo::DType::f32, fo::StateType::int4, true, false, false, false},
    {"bf16-master-bf16state", fo::DType::bf16, fo::StateType::bf16, true, true, false, false},
    {"bf16-stochastic-bf16state", fo::DType::bf16, fo::StateType::bf16, true, false, false, true},
    {"bf16-master", fo::DType::bf16, fo::StateType::native, true, true, false, false},
    {"f16-master-f32grad", fo::DType::f16, fo::StateType::native, true, true, true, false},
    {"bf16-stochastic", fo::DType::bf16, fo::StateType::native, true, false, false, true},
};

std::size_t elem_size(fo::DType d) { return d == fo::DType::f64 ? 8 : d == fo::DType::f32 ? 4 : 2; }

/// Settings that make more of a rule run than its defaults (momentum, weight decay, ...), where
/// the rule has them and accepts them together.
template <class Rule>
typename Rule::Hyper settings() {
  static const std::map<std::string, double> richer = {
      {"momentum", 0.9}, {"weight_decay", 0.01}, {"nesterov", 1}, {"amsgrad", 1}, {"centered", 1}, {"lr", 0.01}};
  std::vector<double> v(Rule::hyper_defaults.begin(), Rule::hyper_defaults.end());
  for (std::size_t i = 0; i < v.size(); ++i) {
    auto found = richer.find(Rule::hyper_fields[i]);
    if (found != richer.end()) v[i] = found->second;
  }
  typename Rule::Hyper h = Rule::hyper(v.data());
  try {
    Rule::validate(h);
  } catch (const std::exception&) {
    return Rule::defaults();
  }
  return h;
}

/// One run of `Rule` with `cfg` on the active tier; returns the hash of everything it wrote.
template <class Rule>
std::uint64_t run(const Config& cfg) {
  using Step = typename Rule::Step;
  const typename Rule::Hyper h = settings<Rule>();
  const unsigned mask = Rule::state_mask(h) & Rule::ndim_mask(2);
  const std::ptrdiff_t shape[2] = {kRows, kCols};
  std::vector<unsigned char> param(kN * elem_size(cfg.dtype)), grad(kN * (cfg.grad_f32 ? 4 : elem_size(cfg.dtype)));
  std::vector<std::vector<unsigned char>> state(fo::kMaxState);
  std::vector<std::vector<float>> absmax(fo::kMaxState);
  std::vector<std::uint16_t> master_low(cfg.master && cfg.dtype == fo::DType::bf16 ? kN : 0);
  std::vector<float> master_delta(cfg.master && cfg.dtype == fo::DType::f16 ? kN : 0);
  std::vector<float> values(kN);

  // Write float32 `values` into an array of type d (16-bit ones rounded to nearest).
  auto store = [](const std::vector<float>& from, void* to, fo::DType d) {
    if (d == fo::DType::f32) std::memcpy(to, from.data(), from.size() * 4);
    if (d == fo::DType::f64)
      for (std::size_t i = 0; i < from.size(); ++i) static_cast<double*>(to)[i] = from[i];
    if (d == fo::DType::bf16) fo::generic::encode_bf16(from.data(), static_cast<std::uint16_t*>(to), from.size());
    if (d == fo::DType::f16) fo::generic::encode_f16(from.data(), static_cast<std::uint16_t*>(to), from.size());
  };
  for (std::size_t i = 0; i < kN; ++i) values[i] = uniform(i, 1);
  store(values, param.data(), cfg.dtype);

  fo::Tensor t;
  t.param = param.data();
  t.grad = grad.data();
  t.size = kN;
  t.dtype = cfg.dtype;
  t.ndim = 2;
  t.shape = shape;
  t.state_type = cfg.state;
  t.unsigned_slots = Rule::unsigned_slots;
  t.grad_f32 = cfg.grad_f32;
  t.stochastic = cfg.stochastic;
  t.master_low = master_low.empty() ? nullptr : master_low.data();
  t.master_delta = master_delta.empty() ? nullptr : master_delta.data();
  const fo::DType state_dtype = cfg.dtype == fo::DType::f64 ? fo::DType::f64 : fo::DType::f32;
  for (std::size_t k = 0; k < fo::kMaxState; ++k) {
    if (!((mask >> k) & 1u)) continue;
    // Every slot starts as the rule starts it (a copy of the parameter, or its initial value).
    std::vector<float> init(kN, static_cast<float>(Rule::slot_init(h, k)));
    if ((Rule::param_copies >> k) & 1u) init = values;
    if (cfg.state == fo::StateType::int8) {
      state[k].resize(kN);
      absmax[k].resize((kN + fo::kQuantBlock - 1) / fo::kQuantBlock);
      fo::quantize_blockwise(init.data(), kN, fo::kQuantBlock, !((Rule::unsigned_slots >> k) & 1u), state[k].data(), absmax[k].data());
      t.absmax[k] = absmax[k].data();
    } else if (cfg.state == fo::StateType::int4) {
      state[k].resize((kN + 1) / 2);
      absmax[k].resize((kN + fo::kQuant4Block - 1) / fo::kQuant4Block);
      fo::quantize_blockwise4(init.data(), kN, fo::kQuant4Block, !((Rule::unsigned_slots >> k) & 1u), state[k].data(), absmax[k].data());
      t.absmax[k] = absmax[k].data();
    } else if (cfg.state == fo::StateType::bf16) {
      state[k].resize(kN * 2);
      fo::generic::encode_bf16(init.data(), reinterpret_cast<std::uint16_t*>(state[k].data()), kN);
    } else {
      state[k].resize(kN * elem_size(state_dtype));
      store(init, state[k].data(), state_dtype);
    }
    t.state[k] = state[k].data();
  }
  fo::TensorSet set;
  set.add(t);
  const fo::Work w = set.work(2);
  std::vector<double> scalars = fo::initial_scalars<Rule>();
  for (int s = 1; s <= kSteps; ++s) {
    for (std::size_t i = 0; i < kN; ++i) values[i] = 0.1f * uniform(i, static_cast<std::uint64_t>(s) + 100);
    store(values, grad.data(), cfg.grad_f32 ? fo::DType::f32 : cfg.dtype);
    set.tensors[0].noise = static_cast<std::uint32_t>(s * 2654435761u);
    Step step = Rule::prepare(h, s, s == 1 ? mask : 0u, scalars.data());
    if constexpr (fo::global_sums<Step>::value != 0) {  // as the engine runs them: sums, totals, d, update
      constexpr std::size_t K = fo::global_sums<Step>::value;
      std::vector<double> sums(K * w.n_tensors);
      fo::Work split = w;
      split.phase = fo::Phase::norms;
      split.sums = sums.data();
      fo::step_fn<Rule>(fo::kernels())(step, split);
      double totals[fo::kMaxGlobalSums] = {};
      for (std::size_t i = 0; i < sums.size(); ++i) totals[i % K] += sums[i];
      const std::vector<double> before = scalars;
      Rule::advance(h, step, totals, scalars.data());
      Rule::finish(h, step, totals, before.data(), scalars.data());
      split.phase = fo::Phase::update;
      fo::step_fn<Rule>(fo::kernels())(step, split);
    } else {
      fo::step_fn<Rule>(fo::kernels())(step, w);
    }
  }
  Hash hash;
  hash.add(param.data(), param.size());
  for (std::size_t k = 0; k < fo::kMaxState; ++k) {
    hash.add(state[k].data(), state[k].size());
    hash.add(absmax[k].data(), absmax[k].size() * 4);
  }
  hash.add(master_low.data(), master_low.size() * 2);
  hash.add(master_delta.data(), master_delta.size() * 4);
  hash.add(scalars.data(), scalars.size() * 8);
  return hash.h;
}

template <class Rule>
bool takes(const Config& cfg) {
  using Step = typename Rule::Step;
  const bool convertible = !fo::is_per_tensor<Step>::value && fo::row_slots<Step>::value == 0 && Rule::param_copies == 0;
  return !cfg.converted || convertible;
}

template <class Rule>
int check_rule(const std::vector<std::string>& tiers) {
  int failures = 0;
  for (const Config& cfg : kConfigs) {
    if (!takes<Rule>(cfg)) continue;
    std::vector<std::uint64_t> hashes;
    for (const std::string& tier : tiers) {
      fo::select_tier(tier);
      hashes.push_back(run<Rule>(cfg));
    }
    std::printf("rule %s %s %016" PRIx64 "\n", Rule::name, cfg.name, hashes[0]);
    for (std::size_t i = 1; i < tiers.size(); ++i)
      if (hashes[i] != hashes[0]) {
        std::fprintf(stderr, "MISMATCH %s %s: tier %s gives %016" PRIx64 ", %s %016" PRIx64 "\n", Rule::name, cfg.name,
                     tiers[i].c_str(), hashes[i], tiers[0].c_str(), hashes[0]);
        ++failures;
      }
  }
  return failures;
}

template <class... Rules>
int check_all(const std::vector<std::string>& tiers, std::tuple<Rules...>*) {
  return (check_rule<Rules>(tiers) + ...);
}

/// Every schedule kind with plausible arguments, at steps 0..199: printed with all 17 digits.
void print_schedules() {
  static const std::map<std::string, double> args = {
      {"value", 0.1},    {"init", 1.0},          {"gamma", 0.5},     {"step_size", 10},   {"decay_rate", 0.5},
      {"decay_steps", 10}, {"timescale", 10},    {"end", 0.01},      {"total_steps", 150}, {"power", 2},
      {"start", 0.0},     {"steps", 50},         {"min_value", 0.001}, {"period", 20},    {"period_mult", 2},
      {"max_value", 1.0}, {"pct_start", 0.3},    {"div_factor", 25},  {"final_div_factor", 1e4},
      {"base", 0.1},      {"step_size_up", 10},  {"d_model", 64},    {"warmup_steps", 10}, {"scale", 1.0},
      {"peak", 1.0},      {"decay_steps_frac", 0.2}, {"factor", 0.1}, {"patience", 2},   {"threshold", 1e-4}};
  for (const auto& [kind, names] : fo::Schedule::kinds()) {
    if (kind == "join" || kind == "plateau") continue;  // built from others, and driven by reports
    std::vector<std::pair<std::string, double>> given;
    for (const std::string& name : names) {
      auto found = args.find(name);
      given.emplace_back(name, found != args.end() ? found->second : 1.0);
    }
    try {
      const fo::Schedule s(kind, given, kind == "multistep" ? std::vector<std::int64_t>{10, 30} : std::vector<std::int64_t>{}, {});
      std::printf("schedule %s", kind.c_str());
      for (std::int64_t t = 0; t < 200; t += 7) std::printf(" %.17g", s.value(t));
      std::printf("\n");
    } catch (const std::exception& e) {
      std::printf("schedule %s refused: %s\n", kind.c_str(), e.what());
    }
  }
}

/// The 8- and 4-bit codecs on values spread over many decades: a hash of codes and block maxima per map.
void print_codec() {
  for (bool is_signed : {true, false}) {
    std::vector<float> x(1 << 16);
    for (std::size_t i = 0; i < x.size(); ++i) {
      const float u = uniform(i, 7), e = uniform(i, 8);
      x[i] = (is_signed ? u : (u < 0 ? -u : u)) * std::pow(10.0f, 6.0f * e);
    }
    std::vector<std::uint8_t> codes(x.size());
    std::vector<float> absmax(x.size() / fo::kQuantBlock);
    fo::quantize_blockwise(x.data(), x.size(), fo::kQuantBlock, is_signed, codes.data(), absmax.data());
    Hash hash;
    hash.add(codes.data(), codes.size());
    hash.add(absmax.data(), absmax.size() * 4);
    std::printf("codec %s %016" PRIx64 "\n", is_signed ? "signed" : "unsigned", hash.h);
    std::vector<std::uint8_t> codes4((x.size() + 1) / 2);
    std::vector<float> absmax4(x.size() / fo::kQuant4Block);
    fo::quantize_blockwise4(x.data(), x.size(), fo::kQuant4Block, is_signed, codes4.data(), absmax4.data());
    Hash hash4;
    hash4.add(codes4.data(), codes4.size());
    hash4.add(absmax4.data(), absmax4.size() * 4);
    std::printf("codec4 %s %016" PRIx64 "\n", is_signed ? "signed" : "unsigned", hash4.h);
  }
}

}  // namespace

int main() {
  const std::vector<std::string> tiers = fo::supported_tiers();
  std::string list;
  for (const auto& t : tiers) list += " " + t;
  std::fprintf(stderr, "tiers:%s\n", list.c_str());
  const int failures = check_all(tiers, static_cast<fo::AllRules*>(nullptr));
  print_schedules();
  print_codec();
  std::fprintf(stderr, failures ? "%d rule/config results differ between tiers\n" : "every rule and config: the same bits on every tier\n", failures);
  return failures ? 1 : 0;
}
