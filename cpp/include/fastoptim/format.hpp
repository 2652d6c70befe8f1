#pragma once
#include <charconv>
#include <string>

namespace fastoptim {

/// The shortest text that reads back as exactly `v` (0.1, not 0.10000000000000001), for messages.
inline std::string shortest(double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

}  // namespace fastoptim
