#pragma once
// Learning-rate (and momentum, weight-decay) schedules: a value per step t = 0, 1, 2, ... (the
// number of optimizer steps already taken), evaluated in C++ once per step inside step().
//
// A schedule is a small tree: leaves are closed-form functions of t, `join` switches between
// children at boundaries, and `plateau` (ReduceLROnPlateau) holds state that report() advances.
// Each kind is a struct in cpp/src/schedules.cpp that declares its named arguments once (as a
// rule declares its settings); every argument is checked at construction. The formulas are there
// and in the Python docstrings (python/fastoptim/schedules.py).
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace fastoptim {

class Schedule;

/// One kind's arguments and formula (see cpp/src/schedules.cpp); immutable once built.
struct ScheduleKind {
  virtual ~ScheduleKind() = default;
  virtual const char* name() const = 0;
  /// The value at step t (the schedule gives the integer lists, children and plateau state).
  virtual double at(std::int64_t t, const Schedule& s) const = 0;
  /// The arguments, by name, in their declared order.
  virtual std::vector<std::pair<std::string, double>> args() const = 0;
};

class Schedule {
 public:
  /// Build a schedule of `kind` from its named arguments (every one the kind declares, no other),
  /// integer lists (milestones, boundaries) and children (join). Throws std::invalid_argument
  /// naming the argument at fault.
  Schedule(const std::string& kind, const std::vector<std::pair<std::string, double>>& args,
           std::vector<std::int64_t> ints, std::vector<std::shared_ptr<Schedule>> children);

  double value(std::int64_t t) const { return kind_->at(t, *this); }
  void values(const std::int64_t* t, double* out, std::size_t n) const;

  std::string kind() const { return kind_->name(); }
  std::vector<std::pair<std::string, double>> args() const { return kind_->args(); }
  const std::vector<std::int64_t>& ints() const { return ints_; }
  const std::vector<std::shared_ptr<Schedule>>& children() const { return children_; }

  /// ReduceOnPlateau: feed a metric; returns the (possibly reduced) value.
  double report(double metric);
  /// Its counters (value, best, bad steps, cooldown, reports); empty for stateless schedules.
  std::vector<double> state() const;
  void set_state(const std::vector<double>& s);
  /// Throw std::invalid_argument unless set_state(s) would accept `s` (sizes and ranges).
  void check_state(const std::vector<double>& s) const;
  /// A copy that shares nothing mutable with this one (children included).
  std::shared_ptr<Schedule> clone() const;
  /// ReduceOnPlateau's current value.
  double current() const { return current_; }

  /// How deep joins may nest: evaluation and destruction recurse once per level.
  static constexpr int kMaxDepth = 100;

  /// The kinds and the names of their arguments, in order.
  static std::vector<std::pair<std::string, std::vector<std::string>>> kinds();

 private:
  std::shared_ptr<const ScheduleKind> kind_;
  int depth_ = 1;  // levels of join below and including this one
  std::vector<std::int64_t> ints_;
  std::vector<std::shared_ptr<Schedule>> children_;
  // plateau state
  double current_ = 0, best_ = 0, bad_ = 0, cooldown_left_ = 0, reports_ = 0;
};

}  // namespace fastoptim
