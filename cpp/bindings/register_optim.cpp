// _core.Engine for each rule of AllRules, and _core.rules: each rule's state, settings (names and
// defaults) and scalars.
// The rule-independent engine (parameters, state, the step) is in engine.hpp.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "engine.hpp"
#include "fastoptim/rules.hpp"

namespace fastoptim::bind {

namespace {

/// The position of `name` among a rule's setting names (their count if absent).
template <std::size_t N>
constexpr std::size_t field_index(const std::array<const char*, N>& fields, std::string_view name) {
  for (std::size_t i = 0; i < N; ++i)
    if (std::string_view(fields[i]) == name) return i;
  return N;
}

template <class Rule>
class Engine final : public EngineBase {
 public:
  std::size_t n_state() const override { return Rule::state.size(); }
  std::string slot_name(std::size_t slot) const override { return Rule::state.at(slot); }
  std::string scalar_name(std::size_t k) const override { return Rule::scalars.at(k); }
  std::size_t n_scalars() const override { return Rule::scalars.size(); }
  bool two_pass() const override { return is_two_pass<typename Rule::Step>::value; }
  std::size_t global_sums() const override { return fastoptim::global_sums<typename Rule::Step>::value; }
  std::size_t lr_field() const override { return kLr; }
  std::vector<std::pair<int, int>> traffic(std::size_t group) override {
    if (group >= hypers_.size()) throw py::index_error("no param group " + std::to_string(group));
    const Traffic t = Rule::traffic(hypers_[group]);
    std::vector<std::pair<int, int>> out;
    for (int i = 0; i < t.n_passes; ++i) out.emplace_back(t.passes[i].reads, t.passes[i].writes);
    return out;
  }

 protected:
  void parse_hyper(std::size_t group, const py::handle& obj, std::int64_t t, bool in_step) override {
    py::sequence seq = py::reinterpret_borrow<py::sequence>(obj);
    constexpr std::size_t n = Rule::hyper_fields.size();
    if (seq.size() != n)
      throw py::value_error(std::string(Rule::name) + " takes " + std::to_string(n) + " hyper-parameters, got " +
                            std::to_string(seq.size()));
    std::array<double, n> v{};
    for (std::size_t i = 0; i < n; ++i) {
      bool scheduled = false;
      v[i] = hyper_value(seq[i], t, Rule::hyper_fields[i], &scheduled);
      check_finite(v[i], Rule::hyper_fields[i], scheduled, t, group, in_step);
    }
    typename Rule::Hyper h = Rule::hyper(v.data());
    try {
      Rule::validate(h);
    } catch (const std::invalid_argument& e) {
      throw py::value_error(std::string(e.what()) + " (param group " + std::to_string(group) + ")");
    }
    if (group >= hypers_.size()) hypers_.resize(group + 1);
    if (group >= values_.size()) values_.resize(group + 1);
    values_[group].assign(v.begin(), v.end());
    hypers_[group] = h;
  }

  unsigned state_mask(std::size_t group) const override { return Rule::state_mask(hypers_[group]); }
  double slot_init(std::size_t group, std::size_t slot) const override {
    return Rule::slot_init(hypers_[group], slot);
  }
  unsigned param_copies() const override { return Rule::param_copies; }
  SlotShape slot_shape(std::size_t slot) const override { return Rule::slot_shape(slot); }
  unsigned unsigned_slots() const override { return Rule::unsigned_slots; }
  const char* converted_state_refusal() const override {
    using Step = typename Rule::Step;
    if (is_per_tensor<Step>::value) return "it works on whole tensors (its state is not shaped like the parameters)";
    if (row_slots<Step>::value != 0) return "it keeps one value per row";
    if (Rule::param_copies != 0) return "its state holds a copy of the parameters, which needs their precision";
    return nullptr;
  }
  unsigned ndim_mask(int ndim) const override { return Rule::ndim_mask(ndim); }
  const char* row_sparse(std::size_t group) const override { return Rule::row_sparse(hypers_[group]); }
  int moving_slot(std::size_t group) const override { return Rule::moving_slot(hypers_[group]); }
  std::vector<double> initial_scalars() const override { return fastoptim::initial_scalars<Rule>(); }

  void prepare(std::size_t r) override {
    steps_.resize(runs_.size());
    Run& run = runs_[r];
    steps_[r] = Rule::prepare(hypers_[run.group], run.step + 1, run.fresh, run.scalars.data());
  }
  void finish(const double* totals) override {
    if constexpr (fastoptim::global_sums<typename Rule::Step>::value != 0) {
      const std::vector<double> before = runs_[0].scalars;
      std::vector<double> after = before;
      Rule::advance(hypers_[runs_[0].group], steps_[0], totals, after.data());
      for (std::size_t r = 0; r < runs_.size(); ++r) {
        Rule::finish(hypers_[runs_[r].group], steps_[r], totals, before.data(), after.data());
        runs_[r].scalars = after;
      }
    }
  }
  void run(const KernelTable& k, std::size_t r, const Work& w) override { step_fn<Rule>(k)(steps_[r], w); }
  void scale_gradients(std::size_t r, double factor) override { steps_[r].grad_scale *= factor; }

 private:
  static constexpr std::size_t kLr = field_index(Rule::hyper_fields, "lr");
  static_assert(kLr < Rule::hyper_fields.size(), "every rule has a setting named lr");
  std::vector<typename Rule::Hyper> hypers_;  // parsed by the latest step() or validate()
  std::vector<typename Rule::Step> steps_;    // one per run of the current step()
};

template <class Rule>
void register_rule(py::dict& rules) {
  py::dict info;
  info["state"] = std::vector<std::string>(Rule::state.begin(), Rule::state.end());
  info["hyper"] = std::vector<std::string>(Rule::hyper_fields.begin(), Rule::hyper_fields.end());
  info["defaults"] = std::vector<double>(Rule::hyper_defaults.begin(), Rule::hyper_defaults.end());
  info["scalars"] = std::vector<std::string>(Rule::scalars.begin(), Rule::scalars.end());
  info["scalar_init"] = initial_scalars<Rule>();
  info["per_tensor"] = is_per_tensor<typename Rule::Step>::value;
  info["global_sums"] = fastoptim::global_sums<typename Rule::Step>::value;
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

/// `with engine.hold():` keeps other threads' steps and state changes out of a block.
struct Hold {
  EngineBase* engine;
};

}  // namespace

void register_optim(py::module_& m) {
  py::dict rules;
  register_rules(rules, static_cast<AllRules*>(nullptr));
  m.attr("rules") = rules;
  m.def("_fail_allocation", &fail_allocation, py::arg("n"),
        "Tests only: make the n-th state allocation from now raise MemoryError (0: never).");

  py::class_<Hold>(m, "_Hold")
      .def("__enter__", [](Hold& h) { h.engine->busy().enter(Busy::Mode::state); })
      .def("__exit__", [](Hold& h, const py::args&) { h.engine->busy().leave(); });

  py::class_<EngineBase>(m, "Engine")
      .def(py::init([](const std::string& rule, const py::object& state_dtype, bool master_weights,
                       const std::string& rounding, std::uint64_t seed) {
             std::unique_ptr<EngineBase> e = make_engine(rule, static_cast<AllRules*>(nullptr));
             if (!state_dtype.is_none()) e->set_state_dtype(state_dtype.cast<std::string>());
             if (rounding != "nearest" && rounding != "stochastic")
               throw py::value_error("rounding must be 'nearest' or 'stochastic', got '" + rounding + "'");
             e->set_rounding(master_weights, rounding == "stochastic", seed);
             return e;
           }),
           py::arg("rule"), py::arg("state_dtype") = py::none(), py::arg("master_weights") = true,
           py::arg("rounding") = "nearest", py::arg("seed") = 0)
      .def_property_readonly("state_dtype", &EngineBase::state_dtype)
      .def("set_groups", &EngineBase::set_groups, py::arg("params"), py::arg("labels"), py::arg("keys") = py::none())
      .def("matches", &EngineBase::matches, py::arg("params"))
      .def("arrays", &EngineBase::arrays, "The registered arrays, group by group.")
      .def(
          "step",
          [](EngineBase& e, const py::list& params, const py::list& grads, const py::list& hypers,
             const std::string& nonfinite, const py::object& max_grad_norm, const py::object& reduce_sums) {
            return static_cast<int>(e.step(params, grads, hypers, nonfinite, max_grad_norm, reduce_sums));
          },
          py::arg("params"), py::arg("grads"), py::arg("hypers"), py::arg("nonfinite"),
          py::arg("max_grad_norm") = py::none(), py::arg("reduce_sums") = py::none(),
          "0: skipped (nonfinite='skip'), 1: stepped, 2: params are not the registered arrays (nothing done)")
      .def("validate", &EngineBase::validate, py::arg("group"), py::arg("hyper"))
      .def("snapshot", &EngineBase::snapshot, py::arg("copy") = true)
      .def("load", &EngineBase::load, py::arg("entries"))
      .def("hold", [](EngineBase& e) { return Hold{&e}; }, py::keep_alive<0, 1>())
      .def("traffic", &EngineBase::traffic, py::arg("group"))
      .def("group_step", &EngineBase::group_step, py::arg("group"))
      .def("last_grad_norm", &EngineBase::last_grad_norm)
      .def("last_lr", &EngineBase::last_lr)
      .def_property_readonly("n_groups", &EngineBase::n_groups);
}

}  // namespace fastoptim::bind
