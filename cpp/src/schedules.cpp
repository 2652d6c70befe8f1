#include "fastoptim/schedules.hpp"

#include "fastoptim/format.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace fastoptim {

namespace {

constexpr double kPi = 3.14159265358979323846;

[[noreturn]] void bad(const std::string& kind, const std::string& what) {
  throw std::invalid_argument(kind + ": " + what);
}

/// Half a cosine from a (at frac 0) to b (at frac 1).
double cosine_between(double a, double b, double frac) { return b + (a - b) * (1 + std::cos(kPi * frac)) / 2; }

double clamp01(double x) { return x < 0 ? 0 : x > 1 ? 1 : x; }

// The kinds, in the order of Schedule::kinds(); a schedule keeps its index so value() is one switch.
enum class Kind : std::size_t {
  constant, step, multistep, exponential, inverse_time, inverse_sqrt, polynomial, linear, cosine,
  cosine_restarts, one_cycle, one_cycle_momentum, cyclic, noam, warmup_stable_decay, warmup_cosine, join, plateau,
};

// Codes of the string options, as the Python functions pass them.
enum Anneal { kLinear = 0, kCos = 1 };
enum CyclicMode { kTriangular = 0, kTriangular2 = 1, kExpRange = 2 };
enum DecayShape { kDecayLinear = 0, kDecayCosine = 1, kDecaySqrt = 2 };

/// torch OneCycleLR: piecewise anneal between `points` with phase ends `ends`; t past the end holds.
double one_cycle_value(double t, const std::vector<double>& ends, const std::vector<double>& points, bool cos) {
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

std::vector<double> one_cycle_ends(double total, double pct, bool three_phase) {
  return three_phase ? std::vector<double>{pct * total - 1, 2 * pct * total - 2, total - 1}
                     : std::vector<double>{pct * total - 1, total - 1};
}

}  // namespace

const std::vector<std::pair<std::string, std::size_t>>& Schedule::kinds() {
  static const std::vector<std::pair<std::string, std::size_t>> all = {
      {"constant", 1},         {"step", 3},       {"multistep", 2},        {"exponential", 2},
      {"inverse_time", 4},     {"inverse_sqrt", 2}, {"polynomial", 4},    {"linear", 3},
      {"cosine", 3},           {"cosine_restarts", 4}, {"one_cycle", 7},  {"one_cycle_momentum", 6},
      {"cyclic", 6},           {"noam", 3},       {"warmup_stable_decay", 7}, {"warmup_cosine", 5},
      {"join", 0},             {"plateau", 8},
  };
  return all;
}

Schedule::Schedule(std::string kind, std::vector<double> args, std::vector<std::int64_t> ints,
                   std::vector<std::shared_ptr<Schedule>> children)
    : kind_(std::move(kind)), args_(std::move(args)), ints_(std::move(ints)), children_(std::move(children)) {
  const auto& ks = kinds();
  auto it = std::find_if(ks.begin(), ks.end(), [&](const auto& k) { return k.first == kind_; });
  if (it == ks.end()) bad(kind_, "unknown schedule");
  id_ = static_cast<std::size_t>(it - ks.begin());
  if (args_.size() != it->second)
    bad(kind_, "takes " + std::to_string(it->second) + " numeric arguments, got " + std::to_string(args_.size()));
  const std::string& k = kind_;
  const std::vector<double>& a = args_;
  auto value = [&](std::size_t i, const char* name) {
    if (!std::isfinite(a[i]) || a[i] < 0) bad(k, std::string(name) + "=" + shortest(a[i]) + " must be a finite value >= 0");
  };
  auto count = [&](std::size_t i, const char* name, bool zero_ok = false) {
    if (!(a[i] == std::floor(a[i])) || a[i] < (zero_ok ? 0 : 1) || a[i] > 1e15)
      bad(k, std::string(name) + "=" + shortest(a[i]) + " must be an integer " + (zero_ok ? ">= 0" : "> 0"));
  };
  auto positive = [&](std::size_t i, const char* name) {
    if (!std::isfinite(a[i]) || a[i] <= 0) bad(k, std::string(name) + "=" + shortest(a[i]) + " must be > 0");
  };
  if (k == "constant") {
    value(0, "value");
  } else if (k == "step") {
    value(0, "init"), count(1, "step_size"), positive(2, "gamma");
  } else if (k == "multistep") {
    value(0, "init"), positive(1, "gamma");
    for (std::size_t i = 0; i < ints_.size(); ++i)
      if (ints_[i] < 0 || (i > 0 && ints_[i] <= ints_[i - 1]))
        bad(k, "milestones must be non-negative and strictly increasing");
  } else if (k == "exponential") {
    value(0, "init"), positive(1, "gamma");
  } else if (k == "inverse_time") {
    value(0, "init"), value(1, "decay_rate"), positive(2, "decay_steps");
  } else if (k == "inverse_sqrt") {
    value(0, "init"), positive(1, "timescale");
  } else if (k == "polynomial") {
    value(0, "init"), value(1, "end"), count(2, "total_steps"), value(3, "power");
  } else if (k == "linear") {
    value(0, "start"), value(1, "end"), count(2, "steps");
  } else if (k == "cosine") {
    value(0, "init"), count(1, "total_steps"), value(2, "min_value");
  } else if (k == "cosine_restarts") {
    value(0, "init"), count(1, "period"), count(2, "period_mult"), value(3, "min_value");
  } else if (k == "one_cycle" || k == "one_cycle_momentum") {
    const bool lr = k == "one_cycle";
    const std::size_t total = lr ? 1 : 0, pct = lr ? 2 : 3;
    if (lr) value(0, "max_value"), positive(3, "div_factor"), positive(4, "final_div_factor");
    if (!lr) value(1, "base"), value(2, "max_value");
    count(total, "total_steps");
    if (!(a[pct] > 0 && a[pct] < 1)) bad(k, "pct_start=" + shortest(a[pct]) + " must be in (0, 1)");
    const std::vector<double> ends = one_cycle_ends(a[total], a[pct], a[pct + (lr ? 4 : 2)] != 0);
    double start = 0;
    for (double e : ends) {
      if (!(e > start)) bad(k, "every phase needs at least one step: raise total_steps or change pct_start");
      start = e;
    }
  } else if (k == "cyclic") {
    value(0, "base"), value(1, "max_value"), count(2, "step_size_up"), count(3, "step_size_down"), positive(5, "gamma");
    if (a[4] != kTriangular && a[4] != kTriangular2 && a[4] != kExpRange) bad(k, "unknown mode");
  } else if (k == "noam") {
    positive(0, "d_model"), count(1, "warmup_steps"), value(2, "scale");
  } else if (k == "warmup_stable_decay") {
    value(0, "peak"), count(1, "warmup_steps", true), count(2, "stable_steps", true), count(3, "decay_steps");
    value(4, "min_value"), value(6, "init");
    if (a[5] != kDecayLinear && a[5] != kDecayCosine && a[5] != kDecaySqrt) bad(k, "unknown decay shape");
  } else if (k == "warmup_cosine") {
    value(0, "peak"), count(1, "warmup_steps", true), count(2, "total_steps"), value(3, "init"), value(4, "min_value");
    if (a[2] <= a[1]) bad(k, "total_steps must exceed warmup_steps");
  } else if (k == "join") {
    if (children_.empty() || ints_.size() + 1 != children_.size())
      bad(k, "needs one boundary fewer than schedules (got " + std::to_string(children_.size()) + " schedules and " +
                 std::to_string(ints_.size()) + " boundaries)");
    for (std::size_t i = 0; i < ints_.size(); ++i)
      if (ints_[i] < 0 || (i > 0 && ints_[i] <= ints_[i - 1]))
        bad(k, "boundaries must be non-negative and strictly increasing");
    for (const auto& c : children_) {
      if (!c) bad(k, "a schedule is missing");
      depth_ = std::max(depth_, c->depth_ + 1);
    }
    if (depth_ > kMaxDepth)
      bad(k, "joins nest " + std::to_string(depth_) + " levels deep; at most " + std::to_string(kMaxDepth) +
                 " are allowed (join a flat list of schedules instead)");
  } else if (k == "plateau") {
    value(0, "init");
    if (!(a[1] >= 0 && a[1] < 1)) bad(k, "factor=" + shortest(a[1]) + " must be in [0, 1)");
    count(2, "patience", true), value(3, "threshold"), count(5, "cooldown", true), value(6, "min_value");
    current_ = a[0];
    best_ = a[7] != 0 ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
  }
  if (k != "join" && !children_.empty()) bad(k, "takes no child schedules");
  if (k != "join" && k != "multistep" && !ints_.empty()) bad(k, "takes no integer lists");
}

namespace {
/// A schedule keeps its kind as an index into kinds(), which has the order of Kind.
Kind kind_of(std::size_t id) { return static_cast<Kind>(id); }
}  // namespace

double Schedule::value(std::int64_t step) const {
  const std::vector<double>& a = args_;
  const double t = static_cast<double>(step);
  switch (kind_of(id_)) {
    case Kind::constant:
      return a[0];
    case Kind::step:
      return a[0] * std::pow(a[2], std::floor(t / a[1]));
    case Kind::multistep:
      return a[0] * std::pow(a[1], static_cast<double>(std::upper_bound(ints_.begin(), ints_.end(), step) - ints_.begin()));
    case Kind::exponential:
      return a[0] * std::pow(a[1], t);
    case Kind::inverse_time:
      return a[0] / (1 + a[1] * (a[3] != 0 ? std::floor(t / a[2]) : t / a[2]));
    case Kind::inverse_sqrt:
      return a[0] / std::sqrt(1 + t / a[1]);
    case Kind::polynomial:
      return (a[0] - a[1]) * std::pow(1 - std::min(t, a[2]) / a[2], a[3]) + a[1];
    case Kind::linear:
      return a[0] + (a[1] - a[0]) * std::min(t, a[2]) / a[2];
    case Kind::cosine:
      return t >= a[1] ? a[2] : cosine_between(a[0], a[2], t / a[1]);
    case Kind::cosine_restarts: {
      // The cycle is found in integers: a logarithm rounds down at exact restarts (t = 1210 for
      // period 10, mult 3 gave the end of a cycle instead of the start of the next).
      using Wide = unsigned __int128;
      const auto step_u = static_cast<Wide>(step), mult = static_cast<Wide>(a[2]);
      Wide start = 0, period = static_cast<Wide>(a[1]);
      if (mult == 1) {
        start = step_u - step_u % period;
      } else {
        while (step_u >= start + period) {
          start += period;
          period *= mult;
        }
      }
      return cosine_between(a[0], a[3], static_cast<double>(step_u - start) / static_cast<double>(period));
    }
    case Kind::one_cycle: {
      const double initial = a[0] / a[3], final_value = initial / a[4];
      const bool three = a[6] != 0;
      const std::vector<double> points =
          three ? std::vector<double>{initial, a[0], initial, final_value} : std::vector<double>{initial, a[0], final_value};
      return one_cycle_value(t, one_cycle_ends(a[1], a[2], three), points, a[5] != 0);
    }
    case Kind::one_cycle_momentum: {
      const bool three = a[5] != 0;
      const std::vector<double> points =
          three ? std::vector<double>{a[2], a[1], a[2], a[2]} : std::vector<double>{a[2], a[1], a[2]};
      return one_cycle_value(t, one_cycle_ends(a[0], a[3], three), points, a[4] != 0);
    }
    case Kind::cyclic: {
      const double up = a[2], total = a[2] + a[3], ratio = up / total;
      const double cycle = std::floor(1 + t / total), x = 1 + t / total - cycle;
      const double scale = x <= ratio ? x / ratio : (x - 1) / (ratio - 1);
      const double amp = a[4] == kTriangular ? 1 : a[4] == kTriangular2 ? 1 / std::pow(2.0, cycle - 1) : std::pow(a[5], t);
      return a[0] + (a[1] - a[0]) * scale * amp;
    }
    case Kind::noam:
      return a[2] / std::sqrt(a[0]) * std::min(1 / std::sqrt(t + 1), (t + 1) * std::pow(a[1], -1.5));
    case Kind::warmup_stable_decay: {
      const double warm = a[1], flat = a[1] + a[2], end = flat + a[3];
      if (t < warm) return a[6] + (a[0] - a[6]) * t / warm;
      if (t < flat) return a[0];
      if (t >= end) return a[4];
      const double frac = (t - flat) / a[3];
      if (a[5] == kDecayLinear) return a[0] + (a[4] - a[0]) * frac;
      if (a[5] == kDecayCosine) return cosine_between(a[0], a[4], frac);
      return a[4] + (a[0] - a[4]) * (1 - std::sqrt(frac));
    }
    case Kind::warmup_cosine:
      if (t < a[1]) return a[3] + (a[0] - a[3]) * t / a[1];
      return cosine_between(a[0], a[4], std::min(t - a[1], a[2] - a[1]) / (a[2] - a[1]));
    case Kind::join: {
      std::size_t i = 0;
      while (i < ints_.size() && step >= ints_[i]) ++i;
      return children_[i]->value(i == 0 ? step : step - ints_[i - 1]);
    }
    case Kind::plateau:
      return current_;
  }
  throw std::logic_error("schedule kind without a formula: " + kind_);
}

void Schedule::values(const std::int64_t* t, double* out, std::size_t n) const {
  for (std::size_t i = 0; i < n; ++i) out[i] = value(t[i]);
}

double Schedule::report(double metric) {
  if (kind_of(id_) != Kind::plateau) throw std::invalid_argument(kind_ + ": only ReduceOnPlateau takes report()");
  const std::vector<double>& a = args_;
  const bool minimize = a[7] != 0, relative = a[4] != 0;
  const double th = a[3];
  const bool better = minimize ? (relative ? metric < best_ * (1 - th) : metric < best_ - th)
                               : (relative ? metric > best_ * (1 + th) : metric > best_ + th);
  reports_ += 1;
  if (better) {
    best_ = metric;
    bad_ = 0;
  } else {
    bad_ += 1;
  }
  if (cooldown_left_ > 0) {
    cooldown_left_ -= 1;
    bad_ = 0;
  }
  if (bad_ > a[2]) {
    const double reduced = std::max(current_ * a[1], a[6]);
    if (current_ - reduced > 1e-8) current_ = reduced;  // torch's eps: ignore negligible changes
    cooldown_left_ = a[5];
    bad_ = 0;
  }
  return current_;
}

std::vector<double> Schedule::state() const {
  if (kind_of(id_) != Kind::plateau) return {};
  return {current_, best_, bad_, cooldown_left_, reports_};
}

void Schedule::check_state(const std::vector<double>& s) const {
  if (kind_of(id_) != Kind::plateau || s.size() != 5)
    throw std::invalid_argument(kind_ + ": a state of " + std::to_string(s.size()) + " values does not fit this schedule");
  auto count = [&](double v, const char* name) {
    if (!(v >= 0 && v == std::floor(v) && v <= 1e15))
      throw std::invalid_argument(kind_ + ": state " + name + "=" + shortest(v) + " must be an integer >= 0");
  };
  if (!std::isfinite(s[0]) || s[0] < 0) throw std::invalid_argument(kind_ + ": state value=" + shortest(s[0]) + " must be finite and >= 0");
  if (std::isnan(s[1])) throw std::invalid_argument(kind_ + ": state best=nan is not a metric");
  count(s[2], "bad_reports"), count(s[3], "cooldown_left"), count(s[4], "reports");
}

void Schedule::set_state(const std::vector<double>& s) {
  check_state(s);
  current_ = s[0], best_ = s[1], bad_ = s[2], cooldown_left_ = s[3], reports_ = s[4];
}

std::shared_ptr<Schedule> Schedule::clone() const {
  auto copy = std::make_shared<Schedule>(*this);
  for (auto& c : copy->children_) c = c->clone();
  return copy;
}

}  // namespace fastoptim
