// Compiled once per SIMD tier (see CMakeLists.txt): FASTOPTIM_TIER names this copy's namespace and
// the tier's -march flags decide what the vectoriser may use. Only the kernels (update loops, driver)
// are instantiated here; the rules' tier-independent parts (validate, prepare) run in other units.
// The loops (rules.hpp, roofline.hpp) come before the driver that calls them by unqualified name.
#include "fastoptim/rules.hpp"
#include "fastoptim/roofline.hpp"
// clang-format off
#include "fastoptim/driver.hpp"
#include "fastoptim/gradients.hpp"
#include "fastoptim/dispatch.hpp"
// clang-format on

namespace fastoptim::FASTOPTIM_TIER {
namespace {

template <class Rule>
void step_rule(const typename Rule::Step& s, const Work& w) {
  run(s, w);
}

template <class... Kernels>
typename StepFns<AllKernels>::type make_steps(std::tuple<Kernels...>*) {
  return {&step_rule<Kernels>...};
}

#define FASTOPTIM_STR2(x) #x
#define FASTOPTIM_STR(x) FASTOPTIM_STR2(x)

}  // namespace

const KernelTable& kernel_table() {
  static const KernelTable table{
      FASTOPTIM_STR(FASTOPTIM_TIER), &grad_stats, &norm, &scale, &clamp, &axpy, make_steps(static_cast<AllKernels*>(nullptr)),
      {&encode_block, &decode_block, &encode_codes, &encode_block4, &decode_block4, &encode_codes4}};
  return table;
}

}  // namespace fastoptim::FASTOPTIM_TIER
