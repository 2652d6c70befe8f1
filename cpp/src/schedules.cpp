#include "fastoptim/schedules.hpp"

#include "fastoptim/format.hpp"
#include "schedule_kinds.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <tuple>

namespace fastoptim {

namespace {

using namespace kinds;

template <class K>
struct KindOf final : ScheduleKind {
  K k;
  const char* name() const override { return K::name; }
  double at(std::int64_t t, const Schedule& s) const override { return k.at(static_cast<double>(t), t, s); }
  std::vector<std::pair<std::string, double>> args() const override { return k.values(); }
};

/// Kind K built from named arguments, each checked; the integer lists and children are the caller's.
template <class K>
std::shared_ptr<const ScheduleKind> build(const std::vector<std::pair<std::string, double>>& args, const std::vector<std::int64_t>& ints,
                                          std::size_t n_children) {
  auto kind = std::make_shared<KindOf<K>>();
  const auto declared = K::declared();
  std::string names;
  for (const auto& d : declared) names += std::string(names.empty() ? "" : ", ") + d.first;
  std::vector<bool> given(declared.size(), false);
  for (const auto& [key, v] : args) {
    if (!kind->k.set(key, v)) bad(K::name, "takes no argument '" + key + "' (it takes: " + (names.empty() ? "none" : names) + ")");
    for (std::size_t i = 0; i < declared.size(); ++i)
      if (key == declared[i].first) given[i] = true;
  }
  for (std::size_t i = 0; i < declared.size(); ++i) {
    if (!given[i]) bad(K::name, std::string("missing argument '") + declared[i].first + "'");
    check(K::name, declared[i].first, kind->k.values()[i].second, declared[i].second);
  }
  if (!K::takes_ints && !ints.empty()) bad(K::name, "takes no integer lists");
  if (!K::takes_children && n_children) bad(K::name, "takes no child schedules");
  kind->k.validate(K::name, ints);
  return kind;
}

template <class... K>
std::shared_ptr<const ScheduleKind> build_kind(const std::string& name, const std::vector<std::pair<std::string, double>>& args,
                                               const std::vector<std::int64_t>& ints, std::size_t n_children, std::tuple<K...>*) {
  std::shared_ptr<const ScheduleKind> out;
  ((name == K::name ? (void)(out = build<K>(args, ints, n_children)) : (void)0), ...);
  if (!out) bad(name, "unknown schedule");
  return out;
}

template <class... K>
std::vector<std::pair<std::string, std::vector<std::string>>> kinds_of(std::tuple<K...>*) {
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  auto add = [&](const char* name, const std::vector<std::pair<const char*, Arg>>& declared) {
    std::vector<std::string> names;
    for (const auto& d : declared) names.emplace_back(d.first);
    out.emplace_back(name, names);
  };
  (add(K::name, K::declared()), ...);
  return out;
}

const Plateau* plateau_of(const ScheduleKind* k) {
  const auto* p = dynamic_cast<const KindOf<Plateau>*>(k);
  return p ? &p->k : nullptr;
}

}  // namespace

std::vector<std::pair<std::string, std::vector<std::string>>> Schedule::kinds() {
  return kinds_of(static_cast<Kinds*>(nullptr));
}

Schedule::Schedule(const std::string& kind, const std::vector<std::pair<std::string, double>>& args,
                   std::vector<std::int64_t> ints, std::vector<std::shared_ptr<Schedule>> children)
    : ints_(std::move(ints)), children_(std::move(children)) {
  kind_ = build_kind(kind, args, ints_, children_.size(), static_cast<Kinds*>(nullptr));
  if (kind == Join::name) {
    if (children_.empty() || ints_.size() + 1 != children_.size())
      bad(kind, "needs one boundary fewer than schedules (got " + std::to_string(children_.size()) + " schedules and " +
                    std::to_string(ints_.size()) + " boundaries)");
    check_increasing(Join::name, ints_, "boundaries");
    for (const auto& c : children_) {
      if (!c) bad(kind, "a schedule is missing");
      depth_ = std::max(depth_, c->depth_ + 1);
    }
    if (depth_ > kMaxDepth)
      bad(kind, "joins nest " + std::to_string(depth_) + " levels deep; at most " + std::to_string(kMaxDepth) +
                    " are allowed (join a flat list of schedules instead)");
  }
  if (const Plateau* p = plateau_of(kind_.get())) {
    current_ = p->init;
    best_ = p->mode != 0 ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
  }
}

void Schedule::values(const std::int64_t* t, double* out, std::size_t n) const {
  for (std::size_t i = 0; i < n; ++i) out[i] = value(t[i]);
}

double Schedule::report(double metric) {
  const Plateau* p = plateau_of(kind_.get());
  if (!p) throw std::invalid_argument(kind() + ": only ReduceOnPlateau takes report()");
  const bool minimize = p->mode != 0, relative = p->threshold_mode != 0;
  const double th = p->threshold;
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
  if (bad_ > p->patience) {
    const double reduced = std::max(current_ * p->factor, p->min_value);
    if (current_ - reduced > 1e-8) current_ = reduced;  // torch's eps: ignore negligible changes
    cooldown_left_ = p->cooldown;
    bad_ = 0;
  }
  return current_;
}

std::vector<double> Schedule::state() const {
  if (!plateau_of(kind_.get())) return {};
  return {current_, best_, bad_, cooldown_left_, reports_};
}

void Schedule::check_state(const std::vector<double>& s) const {
  if (!plateau_of(kind_.get()) || s.size() != 5)
    throw std::invalid_argument(kind() + ": a state of " + std::to_string(s.size()) + " values does not fit this schedule");
  auto count = [&](double v, const char* name) {
    if (!(v >= 0 && v == std::floor(v) && v <= 1e15))
      throw std::invalid_argument(kind() + ": state " + name + "=" + shortest(v) + " must be an integer >= 0");
  };
  if (!std::isfinite(s[0]) || s[0] < 0) throw std::invalid_argument(kind() + ": state value=" + shortest(s[0]) + " must be finite and >= 0");
  if (std::isnan(s[1])) throw std::invalid_argument(kind() + ": state best=nan is not a metric");
  count(s[2], "bad_reports"), count(s[3], "cooldown_left"), count(s[4], "reports");
}

void Schedule::set_state(const std::vector<double>& s) {
  check_state(s);
  current_ = s[0], best_ = s[1], bad_ = s[2], cooldown_left_ = s[3], reports_ = s[4];
}

std::shared_ptr<Schedule> Schedule::clone() const {
  auto copy = std::make_shared<Schedule>(*this);  // the kind's arguments are immutable: shared
  for (auto& c : copy->children_) c = c->clone();
  return copy;
}

}  // namespace fastoptim
