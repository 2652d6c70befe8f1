#pragma once
// The schedule kinds: one struct per kind, its named arguments declared once with
// FASTOPTIM_SCHEDULE_ARGS and its formula in at(t, step, schedule). Only cpp/src/schedules.cpp
// includes this; Schedule (fastoptim/schedules.hpp) holds one of them.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "fastoptim/format.hpp"
#include "fastoptim/schedules.hpp"

namespace fastoptim::kinds {

constexpr double kPi = 3.14159265358979323846;

[[noreturn]] inline void bad(const std::string& kind, const std::string& what) {
  throw std::invalid_argument(kind + ": " + what);
}

/// What an argument must be: finite >= 0, an integer >= 1 or >= 0, finite > 0, 0 or 1, or a code
/// (a string option, as its index) that the kind checks itself.
enum class Arg { value, count, count0, positive, flag, code };

inline void check(const char* kind, const char* name, double v, Arg arg) {
  const std::string what = std::string(name) + "=" + shortest(v);
  switch (arg) {
    case Arg::value:
      if (!std::isfinite(v) || v < 0) bad(kind, what + " must be a finite value >= 0");
      break;
    case Arg::count:
    case Arg::count0:
      if (!(v == std::floor(v)) || v < (arg == Arg::count0 ? 0 : 1) || v > 1e15)
        bad(kind, what + " must be an integer " + (arg == Arg::count0 ? ">= 0" : "> 0"));
      break;
    case Arg::positive:
      if (!std::isfinite(v) || v <= 0) bad(kind, what + " must be > 0");
      break;
    case Arg::flag:
      if (v != 0 && v != 1) bad(kind, what + " must be 0 or 1");
      break;
    case Arg::code:
      break;
  }
}

// Codes of the string options, as the Python functions pass them (an option's index).
constexpr double kLinearAnneal = 0, kCosAnneal = 1;  // anneal
constexpr double kTriangular = 0, kTriangular2 = 1, kExpRange = 2;  // cyclic's mode
constexpr double kDecayLinear = 0, kDecayCosine = 1, kDecaySqrt = 2;  // warmup_stable_decay's decay

/// Half a cosine from a (at frac 0) to b (at frac 1).
inline double cosine_between(double a, double b, double frac) { return b + (a - b) * (1 + std::cos(kPi * frac)) / 2; }

inline double clamp01(double x) { return x < 0 ? 0 : x > 1 ? 1 : x; }

/// torch OneCycleLR: piecewise anneal between `points` with phase ends `ends`; t past the end holds.
inline double one_cycle_value(double t, const std::vector<double>& ends, const std::vector<double>& points, bool cos) {
  double start = 0;
  for (std::size_t i = 0; i < ends.size(); ++i) {
    if (t <= ends[i] || i + 1 == ends.size()) {
      const double pct = clamp01((t - start) / (ends[i] - start));
      return cos ? cosine_between(points[i], points[i + 1], pct) : points[i] + (points[i + 1] - points[i]) * pct;
    }
    start = ends[i];
  }
  return points.back();
}

inline std::vector<double> one_cycle_ends(double total, double pct, bool three_phase) {
  return three_phase ? std::vector<double>{pct * total - 1, 2 * pct * total - 2, total - 1}
                     : std::vector<double>{pct * total - 1, total - 1};
}

inline void check_one_cycle(const char* kind, double total, double pct, double anneal, double three_phase) {
  if (!(pct > 0 && pct < 1)) bad(kind, "pct_start=" + shortest(pct) + " must be in (0, 1)");
  if (anneal != kLinearAnneal && anneal != kCosAnneal) bad(kind, "unknown anneal");
  double start = 0;
  for (double e : one_cycle_ends(total, pct, three_phase != 0)) {
    if (!(e > start)) bad(kind, "every phase needs at least one step: raise total_steps or change pct_start");
    start = e;
  }
}

inline void check_increasing(const char* kind, const std::vector<std::int64_t>& v, const char* what) {
  for (std::size_t i = 0; i < v.size(); ++i)
    if (v[i] < 0 || (i > 0 && v[i] <= v[i - 1])) bad(kind, std::string(what) + " must be non-negative and strictly increasing");
}

// A kind's arguments, declared once: LIST(X) calls X(name, Arg) for each, in the order Python
// documents them. FASTOPTIM_SCHEDULE_ARGS(LIST) makes the members (double name;), declared()
// (names and checks), set(name, v) and values() (names and values).
#define FASTOPTIM_SCHEDULE_MEMBER(name, arg) double name = 0;
#define FASTOPTIM_SCHEDULE_ENTRY(name, arg) {#name, Arg::arg},
#define FASTOPTIM_SCHEDULE_SET(name, arg) \
  if (key == #name) {                     \
    name = v;                             \
    return true;                          \
  }
#define FASTOPTIM_SCHEDULE_VALUE(name, arg) {#name, name},
#define FASTOPTIM_SCHEDULE_ARGS(LIST)                                                                           \
  LIST(FASTOPTIM_SCHEDULE_MEMBER)                                                                               \
  static std::vector<std::pair<const char*, Arg>> declared() { return {LIST(FASTOPTIM_SCHEDULE_ENTRY)}; }       \
  bool set(const std::string& key, double v) {                                                                  \
    (void)key, (void)v; /* join has no arguments */                                                             \
    LIST(FASTOPTIM_SCHEDULE_SET)                                                                                \
    return false;                                                                                               \
  }                                                                                                             \
  std::vector<std::pair<std::string, double>> values() const { return {LIST(FASTOPTIM_SCHEDULE_VALUE)}; }

/// What every kind has besides its arguments: no integer list, no children, no extra checks.
struct KindBase {
  static constexpr bool takes_ints = false, takes_children = false;
  void validate(const char*, const std::vector<std::int64_t>&) const {}
};

#define CONSTANT_ARGS(X) X(value, value)
struct Constant : KindBase {
  static constexpr const char* name = "constant";
  FASTOPTIM_SCHEDULE_ARGS(CONSTANT_ARGS)
  double at(double, std::int64_t, const Schedule&) const { return value; }
};

#define STEP_ARGS(X) X(init, value) X(step_size, count) X(gamma, positive)
struct Step : KindBase {
  static constexpr const char* name = "step";
  FASTOPTIM_SCHEDULE_ARGS(STEP_ARGS)
  double at(double t, std::int64_t, const Schedule&) const { return init * std::pow(gamma, std::floor(t / step_size)); }
};

#define MULTISTEP_ARGS(X) X(init, value) X(gamma, positive)
struct Multistep : KindBase {  // its integer list: the milestones
  static constexpr const char* name = "multistep";
  static constexpr bool takes_ints = true;
  FASTOPTIM_SCHEDULE_ARGS(MULTISTEP_ARGS)
  void validate(const char* kind, const std::vector<std::int64_t>& ints) const { check_increasing(kind, ints, "milestones"); }
  double at(double, std::int64_t step, const Schedule& s) const {
    const auto passed = std::upper_bound(s.ints().begin(), s.ints().end(), step) - s.ints().begin();
    return init * std::pow(gamma, static_cast<double>(passed));
  }
};

#define EXPONENTIAL_ARGS(X) X(init, value) X(gamma, positive)
struct Exponential : KindBase {
  static constexpr const char* name = "exponential";
  FASTOPTIM_SCHEDULE_ARGS(EXPONENTIAL_ARGS)
  double at(double t, std::int64_t, const Schedule&) const { return init * std::pow(gamma, t); }
};

#define INVERSE_TIME_ARGS(X) X(init, value) X(decay_rate, value) X(decay_steps, positive) X(staircase, flag)
struct InverseTime : KindBase {
  static constexpr const char* name = "inverse_time";
  FASTOPTIM_SCHEDULE_ARGS(INVERSE_TIME_ARGS)
  double at(double t, std::int64_t, const Schedule&) const {
    return init / (1 + decay_rate * (staircase != 0 ? std::floor(t / decay_steps) : t / decay_steps));
  }
};

#define INVERSE_SQRT_ARGS(X) X(init, value) X(timescale, positive)
struct InverseSqrt : KindBase {
  static constexpr const char* name = "inverse_sqrt";
  FASTOPTIM_SCHEDULE_ARGS(INVERSE_SQRT_ARGS)
  double at(double t, std::int64_t, const Schedule&) const { return init / std::sqrt(1 + t / timescale); }
};

#define POLYNOMIAL_ARGS(X) X(init, value) X(end, value) X(total_steps, count) X(power, value)
struct Polynomial : KindBase {
  static constexpr const char* name = "polynomial";
  FASTOPTIM_SCHEDULE_ARGS(POLYNOMIAL_ARGS)
  double at(double t, std::int64_t, const Schedule&) const {
    return (init - end) * std::pow(1 - std::min(t, total_steps) / total_steps, power) + end;
  }
};

#define LINEAR_ARGS(X) X(start, value) X(end, value) X(steps, count)
struct Linear : KindBase {
  static constexpr const char* name = "linear";
  FASTOPTIM_SCHEDULE_ARGS(LINEAR_ARGS)
  double at(double t, std::int64_t, const Schedule&) const { return start + (end - start) * std::min(t, steps) / steps; }
};

#define COSINE_ARGS(X) X(init, value) X(total_steps, count) X(min_value, value)
struct Cosine : KindBase {
  static constexpr const char* name = "cosine";
  FASTOPTIM_SCHEDULE_ARGS(COSINE_ARGS)
  double at(double t, std::int64_t, const Schedule&) const {
    return t >= total_steps ? min_value : cosine_between(init, min_value, t / total_steps);
  }
};

#define COSINE_RESTARTS_ARGS(X) X(init, value) X(period, count) X(period_mult, count) X(min_value, value)
struct CosineRestarts : KindBase {
  static constexpr const char* name = "cosine_restarts";
  FASTOPTIM_SCHEDULE_ARGS(COSINE_RESTARTS_ARGS)
  double at(double, std::int64_t step, const Schedule&) const {
    // The cycle is found in integers: a logarithm rounds down at exact restarts (t = 1210 for
    // period 10, mult 3 gave the end of a cycle instead of the start of the next).
    using Wide = unsigned __int128;
    const auto step_u = static_cast<Wide>(step), mult = static_cast<Wide>(period_mult);
    Wide begin = 0, length = static_cast<Wide>(period);
    if (mult == 1) {
      begin = step_u - step_u % length;
    } else {
      while (step_u >= begin + length) {
        begin += length;
        length *= mult;
      }
    }
    return cosine_between(init, min_value, static_cast<double>(step_u - begin) / static_cast<double>(length));
  }
};

#define ONE_CYCLE_ARGS(X)                                                                                   \
  X(max_value, value) X(total_steps, count) X(pct_start, code) X(div_factor, positive) X(final_div_factor, positive) \
  X(anneal, code) X(three_phase, flag)
struct OneCycle : KindBase {
  static constexpr const char* name = "one_cycle";
  FASTOPTIM_SCHEDULE_ARGS(ONE_CYCLE_ARGS)
  void validate(const char* kind, const std::vector<std::int64_t>&) const {
    check_one_cycle(kind, total_steps, pct_start, anneal, three_phase);
  }
  double at(double t, std::int64_t, const Schedule&) const {
    const double initial = max_value / div_factor, final_value = initial / final_div_factor;
    const bool three = three_phase != 0;
    const std::vector<double> points =
        three ? std::vector<double>{initial, max_value, initial, final_value} : std::vector<double>{initial, max_value, final_value};
    return one_cycle_value(t, one_cycle_ends(total_steps, pct_start, three), points, anneal == kCosAnneal);
  }
};

#define ONE_CYCLE_MOMENTUM_ARGS(X) \
  X(total_steps, count) X(base, value) X(max_value, value) X(pct_start, code) X(anneal, code) X(three_phase, flag)
struct OneCycleMomentum : KindBase {
  static constexpr const char* name = "one_cycle_momentum";
  FASTOPTIM_SCHEDULE_ARGS(ONE_CYCLE_MOMENTUM_ARGS)
  void validate(const char* kind, const std::vector<std::int64_t>&) const {
    check_one_cycle(kind, total_steps, pct_start, anneal, three_phase);
  }
  double at(double t, std::int64_t, const Schedule&) const {
    const bool three = three_phase != 0;
    const std::vector<double> points =
        three ? std::vector<double>{max_value, base, max_value, max_value} : std::vector<double>{max_value, base, max_value};
    return one_cycle_value(t, one_cycle_ends(total_steps, pct_start, three), points, anneal == kCosAnneal);
  }
};

#define CYCLIC_ARGS(X) \
  X(base, value) X(max_value, value) X(step_size_up, count) X(step_size_down, count) X(mode, code) X(gamma, positive)
struct Cyclic : KindBase {
  static constexpr const char* name = "cyclic";
  FASTOPTIM_SCHEDULE_ARGS(CYCLIC_ARGS)
  void validate(const char* kind, const std::vector<std::int64_t>&) const {
    if (mode != kTriangular && mode != kTriangular2 && mode != kExpRange) bad(kind, "unknown mode");
  }
  double at(double t, std::int64_t, const Schedule&) const {
    const double total = step_size_up + step_size_down, ratio = step_size_up / total;
    const double cycle = std::floor(1 + t / total), x = 1 + t / total - cycle;
    const double scale = x <= ratio ? x / ratio : (x - 1) / (ratio - 1);
    const double amp = mode == kTriangular ? 1 : mode == kTriangular2 ? 1 / std::pow(2.0, cycle - 1) : std::pow(gamma, t);
    return base + (max_value - base) * scale * amp;
  }
};

#define NOAM_ARGS(X) X(d_model, positive) X(warmup_steps, count) X(scale, value)
struct Noam : KindBase {
  static constexpr const char* name = "noam";
  FASTOPTIM_SCHEDULE_ARGS(NOAM_ARGS)
  double at(double t, std::int64_t, const Schedule&) const {
    return scale / std::sqrt(d_model) * std::min(1 / std::sqrt(t + 1), (t + 1) * std::pow(warmup_steps, -1.5));
  }
};

#define WARMUP_STABLE_DECAY_ARGS(X)                                                                      \
  X(peak, value) X(warmup_steps, count0) X(stable_steps, count0) X(decay_steps, count) X(min_value, value) \
  X(decay, code) X(init, value)
struct WarmupStableDecay : KindBase {
  static constexpr const char* name = "warmup_stable_decay";
  FASTOPTIM_SCHEDULE_ARGS(WARMUP_STABLE_DECAY_ARGS)
  void validate(const char* kind, const std::vector<std::int64_t>&) const {
    if (decay != kDecayLinear && decay != kDecayCosine && decay != kDecaySqrt) bad(kind, "unknown decay shape");
  }
  double at(double t, std::int64_t, const Schedule&) const {
    const double flat = warmup_steps + stable_steps, end = flat + decay_steps;
    if (t < warmup_steps) return init + (peak - init) * t / warmup_steps;
    if (t < flat) return peak;
    if (t >= end) return min_value;
    const double frac = (t - flat) / decay_steps;
    if (decay == kDecayLinear) return peak + (min_value - peak) * frac;
    if (decay == kDecayCosine) return cosine_between(peak, min_value, frac);
    return min_value + (peak - min_value) * (1 - std::sqrt(frac));
  }
};

#define WARMUP_COSINE_ARGS(X) X(peak, value) X(warmup_steps, count0) X(total_steps, count) X(init, value) X(min_value, value)
struct WarmupCosine : KindBase {
  static constexpr const char* name = "warmup_cosine";
  FASTOPTIM_SCHEDULE_ARGS(WARMUP_COSINE_ARGS)
  void validate(const char* kind, const std::vector<std::int64_t>&) const {
    if (total_steps <= warmup_steps) bad(kind, "total_steps must exceed warmup_steps");
  }
  double at(double t, std::int64_t, const Schedule&) const {
    if (t < warmup_steps) return init + (peak - init) * t / warmup_steps;
    return cosine_between(peak, min_value, std::min(t - warmup_steps, total_steps - warmup_steps) / (total_steps - warmup_steps));
  }
};

#define JOIN_ARGS(X)
struct Join : KindBase {  // its integer list: the boundaries; its children: the schedules
  static constexpr const char* name = "join";
  static constexpr bool takes_ints = true, takes_children = true;
  FASTOPTIM_SCHEDULE_ARGS(JOIN_ARGS)
  double at(double, std::int64_t step, const Schedule& s) const {
    const std::vector<std::int64_t>& b = s.ints();
    std::size_t i = 0;
    while (i < b.size() && step >= b[i]) ++i;
    return s.children()[i]->value(i == 0 ? step : step - b[i - 1]);
  }
};

// threshold_mode: 0 "abs", 1 "rel"; mode: 0 "max", 1 "min" (the Python options' indices).
#define PLATEAU_ARGS(X)                                                                                     \
  X(init, value) X(factor, code) X(patience, count0) X(threshold, value) X(threshold_mode, flag) X(cooldown, count0) \
  X(min_value, value) X(mode, flag)
struct Plateau : KindBase {  // its value and counters live in the Schedule, which report() advances
  static constexpr const char* name = "plateau";
  FASTOPTIM_SCHEDULE_ARGS(PLATEAU_ARGS)
  void validate(const char* kind, const std::vector<std::int64_t>&) const {
    if (!(factor >= 0 && factor < 1)) bad(kind, "factor=" + shortest(factor) + " must be in [0, 1)");
  }
  double at(double, std::int64_t, const Schedule& s) const { return s.current(); }
};

using Kinds = std::tuple<Constant, Step, Multistep, Exponential, InverseTime, InverseSqrt, Polynomial, Linear, Cosine,
                         CosineRestarts, OneCycle, OneCycleMomentum, Cyclic, Noam, WarmupStableDecay, WarmupCosine, Join,
                         Plateau>;

}  // namespace fastoptim::kinds
