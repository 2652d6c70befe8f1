#pragma once
// The rule registry. A new rule is a header in rules/ plus one entry in AllRules: the kernel tables,
// the Python bindings and the benchmarks all iterate this list.
#include <tuple>

#include "fastoptim/rules/adadelta.hpp"
#include "fastoptim/rules/adafactor.hpp"
#include "fastoptim/rules/adagrad.hpp"
#include "fastoptim/rules/adam.hpp"
#include "fastoptim/rules/adamax.hpp"
#include "fastoptim/rules/adan.hpp"
#include "fastoptim/rules/ademamix.hpp"
#include "fastoptim/rules/asgd.hpp"
#include "fastoptim/rules/lamb.hpp"
#include "fastoptim/rules/lars.hpp"
#include "fastoptim/rules/lion.hpp"
#include "fastoptim/rules/nadam.hpp"
#include "fastoptim/rules/radam.hpp"
#include "fastoptim/rules/rmsprop.hpp"
#include "fastoptim/rules/rowwise_adagrad.hpp"
#include "fastoptim/rules/rprop.hpp"
#include "fastoptim/rules/schedulefree.hpp"
#include "fastoptim/rules/sgd.hpp"
#include "fastoptim/rules/sparse_adam.hpp"

namespace fastoptim {

using AllRules = std::tuple<Sgd, Adam, Adagrad, Rmsprop, Adadelta, Adamax, Nadam, Radam, Lion, Lamb, Lars, Rprop, Asgd, Adan, Ademamix,
                            ScheduleFreeSgd, ScheduleFreeAdamw, Adafactor, SparseAdam,
                            RowwiseAdagrad>;

}  // namespace fastoptim
