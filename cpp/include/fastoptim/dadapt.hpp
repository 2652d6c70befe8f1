#pragma once
// What the learning-rate-free rules (Prodigy, D-Adaptation) share: their estimate d of the distance
// to the solution, one number for all parameters, kept among the rule's scalars.
#include <cmath>
#include <limits>

#include "fastoptim/rule.hpp"

namespace fastoptim {

/// What the D-Adaptation family shares: d starts at d0 (a scalar of 0 means "not started"), grows
/// by at most growth_rate per step (0: without bound), and the checks on those settings.
struct DAdapt {
  static double start(double d, double d0) { return d > 0 ? d : d0; }
  static double grow(double d, double growth_rate) {
    return growth_rate > 0 ? d * growth_rate : std::numeric_limits<double>::infinity();
  }
  static void validate_d(double lr, double d0, double growth_rate) {
    require_nonnegative("lr", lr);
    require(d0 > 0, "d0", d0, "must be > 0");
    require(growth_rate >= 0, "growth_rate", growth_rate, "must be > 0 (inf: no bound)");
  }
};

}  // namespace fastoptim
