// _core.Engine: the parameters, state and step counters of one optimizer, and its step.
//
// One Engine serves one Python optimizer and all of its parameter groups. step() is a single call:
// it checks every gradient and hyper-parameter of every group, optionally checks finiteness, and only
// then updates, so an error leaves every parameter and every state array as it was.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "arrays.hpp"
#include "fastoptim/dispatch.hpp"
#include "fastoptim/format.hpp"
#include "fastoptim/rules.hpp"
#include "fastoptim/schedules.hpp"

namespace fastoptim::bind {

namespace {

enum class Nonfinite { raise, skip, ignore };

/// A hyper-parameter's value at step t: a number, a Schedule (evaluated in C++), or any Python
/// callable t -> float (the slow path).
double hyper_value(py::handle obj, std::int64_t t, const char* name) {
  if (PyFloat_CheckExact(obj.ptr())) return PyFloat_AS_DOUBLE(obj.ptr());
  if (py::isinstance<Schedule>(obj)) return obj.cast<const Schedule&>().value(t);
  py::object value = py::reinterpret_borrow<py::object>(obj);
  if (PyCallable_Check(obj.ptr())) value = value(t);
  const double v = PyFloat_AsDouble(value.ptr());
  if (v == -1.0 && PyErr_Occurred()) {
    PyErr_Clear();
    throw py::type_error(std::string(name) + " must be a number, a schedule or a callable t -> float, got " +
                         py::repr(value).cast<std::string>());
  }
  return v;
}

Nonfinite parse_nonfinite(const std::string& s) {
  if (s == "raise") return Nonfinite::raise;
  if (s == "skip") return Nonfinite::skip;
  if (s == "ignore") return Nonfinite::ignore;
  throw py::value_error("nonfinite must be 'raise', 'skip' or 'ignore', got '" + s + "'");
}

/// Marks an engine busy for the length of a call; a second thread calling at the same time gets an
/// error instead of a data race on the state.
class BusyGuard {
 public:
  explicit BusyGuard(std::atomic<bool>& flag) : flag_(flag) {
    if (flag_.exchange(true))
      throw std::runtime_error("this optimizer is already inside step() or a state change in another thread");
  }
  ~BusyGuard() { flag_.store(false); }
  BusyGuard(const BusyGuard&) = delete;
  BusyGuard& operator=(const BusyGuard&) = delete;

 private:
  std::atomic<bool>& flag_;
};

struct Group {
  std::vector<py::array> params;
  std::vector<Expect> expect;            // what each parameter's gradient must be
  std::vector<std::size_t> owners;       // index of each parameter in Engine::labels_
  TensorSet set;                         // param pointer, size, dtype; grad and state set per step
  std::vector<std::vector<py::array>> state;  // [slot][tensor]; an empty slot is not allocated
  unsigned fresh = 0;                    // slots allocated since the last completed step
  std::int64_t step = 0;                 // completed steps
  std::vector<double> scalars;           // the rule's per-group scalar state (e.g. NAdam's mu_product)
};

class EngineBase {
 public:
  virtual ~EngineBase() = default;

  void add_group(const py::list& params, const std::vector<std::string>& labels) {
    BusyGuard busy(busy_);
    if (params.size() == 0) throw py::value_error("a parameter group needs at least one parameter");
    if (labels.size() != params.size()) throw py::value_error("one label per parameter is required");
    Group g;
    std::vector<Span> spans;
    for (std::size_t i = 0; i < params.size(); ++i) {
      const std::size_t owner = labels_.size() + i;
      Checked c = check_param(params[i], labels[i]);
      g.params.push_back(py::reinterpret_borrow<py::array>(params[i]));
      g.expect.push_back(expect_of(g.params.back()));
      g.owners.push_back(owner);
      g.set.add(c.tensor());
      c.span.owner = owner;
      spans.push_back(c.span);
    }
    std::size_t a = 0, b = 0;
    SpanIndex index = spans_;
    if (index.add(spans, &a, &b)) {
      auto label = [&](std::size_t o) { return o < labels_.size() ? labels_[o] : labels[o - labels_.size()]; };
      throw py::value_error(a == b ? label(a) + " is listed twice"
                                   : label(a) + " and " + label(b) + " share memory; each parameter must own its data");
    }
    g.state.resize(n_state());
    g.scalars = initial_scalars();
    spans_ = std::move(index);
    labels_.insert(labels_.end(), labels.begin(), labels.end());
    groups_.push_back(std::move(g));
  }

  /// One optimizer step over all groups. Returns false when the step was skipped (nonfinite="skip").
  bool step(const py::list& grads, const py::list& hypers, const std::string& nonfinite,
            const py::object& max_grad_norm) {
    BusyGuard busy(busy_);
    const Nonfinite mode = parse_nonfinite(nonfinite);
    const bool clip = !max_grad_norm.is_none();
    const double max_norm = clip ? max_grad_norm.cast<double>() : 0.0;
    if (clip && !(max_norm > 0)) throw py::value_error("max_grad_norm must be > 0, got " + shortest(max_norm));
    const std::size_t ng = groups_.size();
    if (grads.size() != ng || hypers.size() != ng)
      throw py::value_error("expected gradients and hyper-parameters for " + std::to_string(ng) + " parameter groups");
    std::vector<py::object> keep;  // the gradients stay alive while the GIL is released
    keep.reserve(n_params());
    for (std::size_t gi = 0; gi < ng; ++gi) {
      Group& g = groups_[gi];
      parse_hyper(gi, hypers[gi]);
      py::sequence gs = py::reinterpret_borrow<py::sequence>(grads[gi]);
      const std::size_t n = gs.size();
      if (n != g.params.size())
        throw py::value_error("expected " + std::to_string(g.params.size()) + " gradients for param group " +
                              std::to_string(gi) + ", got " + std::to_string(n));
      const bool is_list = PyList_Check(gs.ptr());
      for (std::size_t i = 0; i < n; ++i) {
        py::object gobj = is_list ? py::reinterpret_borrow<py::object>(PyList_GET_ITEM(gs.ptr(), static_cast<Py_ssize_t>(i)))
                                  : py::object(gs[i]);
        if (!grad_fits(gobj.ptr(), g.expect[i]))
          check_grad(gobj, g.params[i], "gradient of " + labels_[g.owners[i]]);  // raises, saying why
        void* data = py::detail::array_proxy(gobj.ptr())->data;
        const auto begin = reinterpret_cast<std::uintptr_t>(data);
        std::size_t other = 0;
        if (spans_.overlaps({begin, begin + g.expect[i].nbytes, 0}, &other))
          throw py::value_error("gradient of " + labels_[g.owners[i]] +
                                (other == g.owners[i] ? " aliases the parameter itself"
                                                      : " shares memory with " + labels_[other]));
        g.set.tensors[i].grad = data;
        keep.push_back(std::move(gobj));
      }
    }
    for (std::size_t gi = 0; gi < ng; ++gi) {
      attach_state(gi);
      prepare(gi);
    }

    // One read of every gradient checks finiteness and, for max_grad_norm, sums squares over all
    // groups (torch clips over all parameters at once). The clip factor then scales the gradients
    // inside the rules' loops: the user's gradient arrays are only read.
    std::ptrdiff_t bad_group = -1, bad_tensor = -1;
    double sum_squares = 0;
    {
      const KernelTable& k = kernels();
      const int threads = num_threads();
      py::gil_scoped_release release;
      if (mode != Nonfinite::ignore || clip)
        for (std::size_t gi = 0; gi < ng; ++gi) {
          const GradStats st = k.grad_stats(work(groups_[gi], threads), clip);
          sum_squares += st.sum_squares;
          if (st.first_bad >= 0 && bad_tensor < 0 && mode != Nonfinite::ignore) {
            bad_tensor = st.first_bad;
            bad_group = static_cast<std::ptrdiff_t>(gi);
            if (!clip) break;
          }
        }
      last_grad_norm_ = clip ? std::sqrt(sum_squares) : std::numeric_limits<double>::quiet_NaN();
      if (bad_tensor < 0) {
        const double factor = clip ? std::min(1.0, max_norm / (last_grad_norm_ + 1e-6)) : 1.0;
        for (std::size_t gi = 0; gi < ng; ++gi) {
          if (factor != 1.0) scale_gradients(gi, factor);
          run(k, gi, work(groups_[gi], threads));
        }
      }
    }
    if (bad_tensor >= 0) {
      if (mode == Nonfinite::skip) return false;
      const Group& g = groups_[static_cast<std::size_t>(bad_group)];
      PyErr_SetString(PyExc_FloatingPointError,
                      ("gradient of " + labels_[g.owners[static_cast<std::size_t>(bad_tensor)]] +
                       " holds inf or NaN; nothing was updated (pass nonfinite='skip' to skip such steps)")
                          .c_str());
      throw py::error_already_set();
    }
    for (std::size_t gi = 0; gi < ng; ++gi) {
      commit(gi);
      ++groups_[gi].step;
      groups_[gi].fresh = 0;
    }
    return true;
  }

  /// Raise ValueError if `hyper` breaks the rule's ranges, naming the group.
  void validate(std::size_t group, const py::sequence& hyper) {
    parse_hyper(group, hyper);
  }

  py::object state(std::size_t group, std::size_t slot) {
    Group& g = group_at(group);
    slot_at(slot);
    if (g.state[slot].empty()) return py::none();
    py::list out;
    for (const py::array& a : g.state[slot]) out.append(a);
    return std::move(out);
  }

  /// Check that `arrays` could be loaded into (group, slot): one per parameter, same shape and dtype.
  void check_state_arrays(std::size_t group, std::size_t slot, const py::sequence& arrays) {
    Group& g = group_at(group);
    slot_at(slot);
    if (arrays.size() != g.params.size())
      throw py::value_error("state '" + slot_name(slot) + "' of param group " + std::to_string(group) + " has " +
                            std::to_string(arrays.size()) + " arrays for " + std::to_string(g.params.size()) +
                            " parameters");
    for (std::size_t i = 0; i < g.params.size(); ++i)
      check_state(arrays[i], g.params[i], "state '" + slot_name(slot) + "' of " + labels_[g.owners[i]]);
  }

  /// Replace (group, slot) by copies of `arrays`, or drop it when `arrays` is None.
  void set_state(std::size_t group, std::size_t slot, const py::object& arrays) {
    BusyGuard busy(busy_);
    Group& g = group_at(group);
    slot_at(slot);
    if (arrays.is_none()) {
      g.state[slot].clear();
      return;
    }
    py::sequence seq = py::reinterpret_borrow<py::sequence>(arrays);
    check_state_arrays(group, slot, seq);
    std::vector<py::array> copies;
    for (std::size_t i = 0; i < seq.size(); ++i)
      copies.push_back(py::array(py::module_::import("numpy").attr("array")(seq[i], py::arg("copy") = true)));
    g.state[slot] = std::move(copies);
    g.fresh &= ~(1u << slot);
  }

  py::dict scalars(std::size_t group) {
    Group& g = group_at(group);
    py::dict out;
    for (std::size_t k = 0; k < g.scalars.size(); ++k) out[py::str(scalar_name(k))] = g.scalars[k];
    return out;
  }
  void set_scalars(std::size_t group, const py::dict& values) {
    BusyGuard busy(busy_);
    Group& g = group_at(group);
    std::vector<double> next = g.scalars;
    for (std::size_t k = 0; k < next.size(); ++k)
      if (values.contains(scalar_name(k))) next[k] = values[py::str(scalar_name(k))].cast<double>();
    g.scalars = std::move(next);
  }

  std::int64_t get_step(std::size_t group) { return group_at(group).step; }
  void set_step(std::size_t group, std::int64_t step) {
    BusyGuard busy(busy_);
    if (step < 0) throw py::value_error("step must be >= 0");
    group_at(group).step = step;
  }
  std::size_t n_groups() const { return groups_.size(); }
  /// The global L2 norm of the gradients that the latest step measured for max_grad_norm (else NaN).
  double last_grad_norm() const { return last_grad_norm_; }
  /// Each group's lr as the latest step (or check) evaluated it.
  std::vector<double> last_lr() const {
    std::vector<double> out;
    for (const auto& v : values_) out.push_back(v.empty() ? 0.0 : v[0]);
    out.resize(groups_.size());
    return out;
  }
  std::size_t n_params() const { return labels_.size(); }

  virtual std::size_t n_state() const = 0;
  virtual std::string slot_name(std::size_t slot) const = 0;
  virtual std::size_t n_hyper() const = 0;
  virtual std::string scalar_name(std::size_t k) const = 0;
  /// The (reads, writes) of each pass of a step with the group's latest validated settings.
  virtual std::vector<std::pair<int, int>> traffic(std::size_t group) = 0;

 protected:
  virtual void parse_hyper(std::size_t group, const py::handle& hyper) = 0;
  virtual unsigned state_mask(std::size_t group) const = 0;
  virtual double slot_init(std::size_t group, std::size_t slot) const = 0;
  virtual std::vector<double> initial_scalars() const = 0;
  /// Compute the group's step scalars (and its next scalar state) before the GIL is released.
  virtual void prepare(std::size_t group) = 0;
  virtual void run(const KernelTable& k, std::size_t group, const Work& w) = 0;
  /// The step succeeded: keep the scalar state prepare() computed.
  virtual void commit(std::size_t group) = 0;
  /// Multiply the group's gradients by `factor` as the rule reads them (gradient clipping).
  virtual void scale_gradients(std::size_t group, double factor) = 0;

  static Work work(const Group& g, int threads) { return g.set.work(threads); }

  Group& group_at(std::size_t group) {
    if (group >= groups_.size()) throw py::index_error("no param group " + std::to_string(group));
    return groups_[group];
  }
  void slot_at(std::size_t slot) const {
    if (slot >= n_state()) throw py::index_error("no state slot " + std::to_string(slot));
  }

  /// Allocate the slots the step needs that are missing and point the tensors at the slots it uses.
  void attach_state(std::size_t group) {
    Group& g = groups_[group];
    const unsigned mask = state_mask(group);
    for (std::size_t k = 0; k < n_state(); ++k) {
      const bool used = (mask >> k) & 1u;
      if (used && g.state[k].empty()) {
        py::object full_like = py::module_::import("numpy").attr("full_like");
        const double init = slot_init(group, k);
        for (const py::array& p : g.params) g.state[k].push_back(py::array(full_like(p, init)));
        g.fresh |= 1u << k;
      }
      for (std::size_t i = 0; i < g.set.tensors.size(); ++i)
        g.set.tensors[i].state[k] = used ? g.state[k][i].mutable_data() : nullptr;
    }
  }

  std::vector<Group> groups_;
  std::vector<std::string> labels_;
  std::vector<std::vector<double>> values_;  // the hyper-parameters the latest parse evaluated, per group
  double last_grad_norm_ = std::numeric_limits<double>::quiet_NaN();
  SpanIndex spans_;
  std::atomic<bool> busy_{false};
};

template <class Rule>
class Engine final : public EngineBase {
 public:
  std::size_t n_state() const override { return Rule::state.size(); }
  std::string slot_name(std::size_t slot) const override { return Rule::state.at(slot); }
  std::size_t n_hyper() const override { return Rule::hyper_fields.size(); }
  std::string scalar_name(std::size_t k) const override { return Rule::scalars.at(k); }
  std::vector<std::pair<int, int>> traffic(std::size_t group) override {
    if (group >= hypers_.size()) throw py::index_error("no param group " + std::to_string(group));
    const Traffic t = Rule::traffic(hypers_[group]);
    std::vector<std::pair<int, int>> out;
    for (int i = 0; i < t.n_passes; ++i) out.emplace_back(t.passes[i].reads, t.passes[i].writes);
    return out;
  }

 protected:
  void parse_hyper(std::size_t group, const py::handle& obj) override {
    if (group >= hypers_.size()) hypers_.resize(group + 1);
    py::sequence seq = py::reinterpret_borrow<py::sequence>(obj);
    const std::size_t n = Rule::hyper_fields.size();
    if (seq.size() != n)
      throw py::value_error(std::string(Rule::name) + " takes " + std::to_string(n) + " hyper-parameters, got " +
                            std::to_string(seq.size()));
    std::array<double, Rule::hyper_fields.size()> v{};
    const std::int64_t t = groups_.size() > group ? groups_[group].step : 0;
    for (std::size_t i = 0; i < n; ++i) v[i] = hyper_value(seq[i], t, Rule::hyper_fields[i]);
    values_.resize(std::max(values_.size(), group + 1));
    values_[group].assign(v.begin(), v.end());
    typename Rule::Hyper h = Rule::hyper(v.data());
    try {
      Rule::validate(h);
    } catch (const std::invalid_argument& e) {
      throw py::value_error(std::string(e.what()) + " (param group " + std::to_string(group) + ")");
    }
    hypers_[group] = h;
  }

  unsigned state_mask(std::size_t group) const override { return Rule::state_mask(hypers_[group]); }
  double slot_init(std::size_t group, std::size_t slot) const override {
    return Rule::slot_init(hypers_[group], slot);
  }
  std::vector<double> initial_scalars() const override { return fastoptim::initial_scalars<Rule>(); }

  void prepare(std::size_t group) override {
    if (group >= steps_.size()) {
      steps_.resize(group + 1);
      next_scalars_.resize(group + 1);
    }
    const Group& g = groups_[group];
    next_scalars_[group] = g.scalars;
    steps_[group] = Rule::prepare(hypers_[group], g.step + 1, g.fresh, next_scalars_[group].data());
  }
  void run(const KernelTable& k, std::size_t group, const Work& w) override { step_fn<Rule>(k)(steps_[group], w); }
  void commit(std::size_t group) override { groups_[group].scalars = next_scalars_[group]; }
  void scale_gradients(std::size_t group, double factor) override { steps_[group].grad_scale *= factor; }

 private:
  std::vector<typename Rule::Hyper> hypers_;  // parsed by the latest step() or validate()
  std::vector<typename Rule::Step> steps_;    // prepared by the current step()
  std::vector<std::vector<double>> next_scalars_;
};

template <class Rule>
void register_rule(py::dict& rules) {
  py::dict info;
  info["state"] = std::vector<std::string>(Rule::state.begin(), Rule::state.end());
  info["hyper"] = std::vector<std::string>(Rule::hyper_fields.begin(), Rule::hyper_fields.end());
  info["scalars"] = std::vector<std::string>(Rule::scalars.begin(), Rule::scalars.end());
  info["scalar_init"] = initial_scalars<Rule>();
  rules[Rule::name] = info;
}

template <class... Rules>
std::unique_ptr<EngineBase> make_engine(const std::string& name, std::tuple<Rules...>*) {
  std::unique_ptr<EngineBase> e;
  ((name == Rules::name ? (void)(e = std::make_unique<Engine<Rules>>()) : (void)0), ...);
  if (!e) throw py::value_error("unknown update rule '" + name + "'");
  return e;
}

template <class... Rules>
void register_rules(py::dict& rules, std::tuple<Rules...>*) {
  (register_rule<Rules>(rules), ...);
}

}  // namespace

void register_optim(py::module_& m) {
  py::dict rules;
  register_rules(rules, static_cast<AllRules*>(nullptr));
  m.attr("rules") = rules;

  py::class_<EngineBase>(m, "Engine")
      .def(py::init([](const std::string& rule) { return make_engine(rule, static_cast<AllRules*>(nullptr)); }),
           py::arg("rule"))
      .def("add_group", &EngineBase::add_group, py::arg("params"), py::arg("labels"))
      .def("step", &EngineBase::step, py::arg("grads"), py::arg("hypers"), py::arg("nonfinite"),
           py::arg("max_grad_norm") = py::none())
      .def("last_grad_norm", &EngineBase::last_grad_norm)
      .def("validate", &EngineBase::validate, py::arg("group"), py::arg("hyper"))
      .def("state", &EngineBase::state, py::arg("group"), py::arg("slot"))
      .def("check_state", &EngineBase::check_state_arrays, py::arg("group"), py::arg("slot"), py::arg("arrays"))
      .def("set_state", &EngineBase::set_state, py::arg("group"), py::arg("slot"), py::arg("arrays"))
      .def("scalars", &EngineBase::scalars, py::arg("group"))
      .def("set_scalars", &EngineBase::set_scalars, py::arg("group"), py::arg("values"))
      .def("traffic", &EngineBase::traffic, py::arg("group"))
      .def("get_step", &EngineBase::get_step, py::arg("group"))
      .def("set_step", &EngineBase::set_step, py::arg("group"), py::arg("step"))
      .def("last_lr", &EngineBase::last_lr)
      .def_property_readonly("n_groups", &EngineBase::n_groups);
}

}  // namespace fastoptim::bind
