#pragma once
// The rule registry. A new rule is a header in rules/ plus one entry in AllRules: the kernel tables,
// the Python bindings and the benchmarks all iterate this list.
#include <tuple>

#include "fastoptim/rules/adam.hpp"
#include "fastoptim/rules/sgd.hpp"

namespace fastoptim {

using AllRules = std::tuple<Sgd, Adam>;

}  // namespace fastoptim
