// Microbenchmarks: every rule's step on one float32 tensor of 4K, 1M and 64M elements, on every SIMD
// tier this CPU runs and on 1..N threads, each beside the roofline loop that moves the same bytes.
// Both report bytes_per_second, so rule / roofline is the share of memory bandwidth the rule reaches.
//
//   fastoptim_bench --benchmark_filter='adam/avx512/.*/1048576'
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fastoptim/dispatch.hpp"

namespace fo = fastoptim;

namespace {

/// Float32 arrays of n elements (p, g and every state slot), allocated once per size and reused, so
/// a benchmark times steps, not page faults.
struct Arrays {
  std::vector<std::unique_ptr<float[]>> data;
  explicit Arrays(std::size_t n) {
    for (int k = 0; k < fo::kRooflineArrays; ++k) {
      data.emplace_back(new float[n]);
      const float value = k == 1 ? 1e-3f : k == 0 ? 1.0f : 0.5f;  // p = 1, g = 1e-3, state = 0.5
      for (std::size_t i = 0; i < n; ++i) data.back()[i] = value;
    }
  }
};

Arrays& arrays(std::size_t n) {
  static std::map<std::size_t, std::unique_ptr<Arrays>> cache;
  auto& slot = cache[n];
  if (!slot) slot = std::make_unique<Arrays>(n);
  return *slot;
}

/// One float32 tensor of n elements over the cached arrays, using the state slots in `state_mask`.
fo::TensorSet tensor_set(std::size_t n, unsigned state_mask) {
  Arrays& a = arrays(n);
  fo::Tensor t;
  t.param = a.data[0].get();
  t.grad = a.data[1].get();
  for (std::size_t k = 0; k < fo::kMaxState; ++k) t.state[k] = (state_mask >> k) & 1u ? a.data[k + 2].get() : nullptr;
  t.size = n;
  t.dtype = fo::DType::f32;
  fo::TensorSet set;
  set.add(t);
  return set;
}

template <class Rule>
void bench_rule(benchmark::State& state, std::string tier, int threads, std::size_t n) {
  fo::select_tier(tier);
  const typename Rule::Hyper h = Rule::defaults();
  const fo::TensorSet set = tensor_set(n, Rule::state_mask(h));
  const fo::Work w = set.work(threads);
  const fo::StepFn<Rule> fn = fo::step_fn<Rule>(fo::kernels());
  std::vector<double> scalars = fo::initial_scalars<Rule>();
  std::int64_t step = 100;  // past any warm-up branch (RAdam's rectification starts at step 6)
  for (auto _ : state) fn(Rule::prepare(h, ++step, 0u, scalars.data()), w);
  const std::size_t bytes = Rule::traffic(h).bytes(sizeof(float));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes * n));
  state.counters["bytes_per_param"] = static_cast<double>(bytes);
}

template <class Rule>
void bench_roofline(benchmark::State& state, std::string tier, int threads, std::size_t n) {
  fo::select_tier(tier);
  const fo::Traffic t = Rule::traffic(Rule::defaults());
  const fo::TensorSet set = tensor_set(n, (1u << fo::kMaxState) - 1);  // every slot: a pass may read them all
  const fo::Work w = set.work(threads);
  const fo::StepFn<fo::Roofline> fn = fo::step_fn<fo::Roofline>(fo::kernels());
  for (auto _ : state)
    for (int p = 0; p < t.n_passes; ++p) fn(t.passes[p], w);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * t.bytes(sizeof(float)) * n));
  state.counters["bytes_per_param"] = static_cast<double>(t.bytes(sizeof(float)));
}

template <class Rule>
void register_rule() {
  const std::size_t sizes[] = {std::size_t{4} << 10, std::size_t{1} << 20, std::size_t{64} << 20};
  for (const std::string& tier : fo::supported_tiers())
    for (int threads = 1; threads <= fo::num_threads(); ++threads)
      for (std::size_t n : sizes) {
        const std::string suffix = "/" + tier + "/threads:" + std::to_string(threads) + "/" + std::to_string(n);
        benchmark::RegisterBenchmark((std::string(Rule::name) + suffix).c_str(), bench_rule<Rule>, tier, threads, n)
            ->UseRealTime();
        benchmark::RegisterBenchmark(("roofline[" + std::string(Rule::name) + "]" + suffix).c_str(),
                                     bench_roofline<Rule>, tier, threads, n)
            ->UseRealTime();
      }
}

template <class... Rules>
void register_all(std::tuple<Rules...>*) {
  (register_rule<Rules>(), ...);
}

}  // namespace

int main(int argc, char** argv) {
  register_all(static_cast<fo::AllRules*>(nullptr));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
