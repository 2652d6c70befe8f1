#pragma once
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>

namespace fastoptim {

/// Throw std::invalid_argument (ValueError in Python) naming a hyper-parameter and the rule it breaks.
/// `value` is printed with enough digits to round-trip.
inline void require(bool ok, const char* name, double value, const char* rule) {
  if (ok) return;
  std::ostringstream msg;
  msg.precision(17);
  msg << "invalid " << name << "=" << value << ": " << rule;
  throw std::invalid_argument(msg.str());
}

/// torch's ranges, shared by the rules.
inline void require_nonnegative(const char* name, double v) { require(v >= 0.0, name, v, "must be >= 0"); }
inline void require_unit_interval(const char* name, double v) {
  require(v >= 0.0 && v < 1.0, name, v, "must be in [0, 1)");
}

}  // namespace fastoptim
