#pragma once
// Learning-rate (and momentum, weight-decay) schedules: a value per step t = 0, 1, 2, ... (the
// number of optimizer steps already taken), evaluated in C++ once per step inside step().
//
// A schedule is a small tree: leaves are closed-form functions of t, `join` switches between
// children at boundaries, and `plateau` (ReduceLROnPlateau) holds state that report() advances.
// Every argument is checked at construction; the formulas are in cpp/src/schedules.cpp and in the
// Python docstrings (python/fastoptim/schedules.py).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace fastoptim {

class Schedule {
 public:
  /// Build a schedule of `kind` from its numeric arguments, integer lists (milestones, boundaries)
  /// and children (join). Throws std::invalid_argument naming the argument at fault.
  Schedule(std::string kind, std::vector<double> args, std::vector<std::int64_t> ints,
           std::vector<std::shared_ptr<Schedule>> children);

  double value(std::int64_t t) const;
  void values(const std::int64_t* t, double* out, std::size_t n) const;

  const std::string& kind() const { return kind_; }
  const std::vector<double>& args() const { return args_; }
  const std::vector<std::int64_t>& ints() const { return ints_; }
  const std::vector<std::shared_ptr<Schedule>>& children() const { return children_; }

  /// ReduceOnPlateau: feed a metric; returns the (possibly reduced) value.
  double report(double metric);
  /// Its counters (value, best, bad steps, cooldown, reports); empty for stateless schedules.
  std::vector<double> state() const;
  void set_state(const std::vector<double>& s);
  /// Throw std::invalid_argument unless set_state(s) would accept `s` (sizes and ranges).
  void check_state(const std::vector<double>& s) const;
  /// A copy that shares nothing with this one (children included).
  std::shared_ptr<Schedule> clone() const;

  /// How deep joins may nest: evaluation and destruction recurse once per level.
  static constexpr int kMaxDepth = 100;

  /// The kinds and how many numeric arguments each takes.
  static const std::vector<std::pair<std::string, std::size_t>>& kinds();

 private:
  std::string kind_;
  std::size_t id_ = 0;  // kind_'s index in kinds()
  int depth_ = 1;       // levels of join below and including this one
  std::vector<double> args_;
  std::vector<std::int64_t> ints_;
  std::vector<std::shared_ptr<Schedule>> children_;
  // plateau state
  double current_ = 0, best_ = 0, bad_ = 0, cooldown_left_ = 0, reports_ = 0;
};

}  // namespace fastoptim
