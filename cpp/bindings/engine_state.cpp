// Engine state in and out: snapshot() for state_dict(), load() for load_state_dict(), each checked
// whole before anything changes.
#include <cmath>
#include <cstring>

#include "engine.hpp"

namespace fastoptim::bind {

py::list EngineBase::snapshot(bool copy) {
  BusyGuard busy(busy_, Busy::Mode::state);
  py::list out;
  for (const Group& g : groups_) {
    py::list entries;
    for (std::size_t m : g.members) {
      const Param& p = params_[m];
      py::dict scalars, slots;
      for (std::size_t k = 0; k < p.scalars.size(); ++k) scalars[py::str(scalar_name(k))] = p.scalars[k];
      for (std::size_t k = 0; k < p.state.size(); ++k)
        if (p.state[k]) slots[py::str(slot_name(k))] = copy ? p.state[k].attr("copy")() : p.state[k];
      if (p.step == 0 && slots.empty())
        entries.append(py::none());
      else
        entries.append(py::make_tuple(p.step, scalars, slots));
    }
    out.append(entries);
  }
  return out;
}

namespace {

std::int64_t parse_step(py::handle obj, const std::string& where) {
  if (PyBool_Check(obj.ptr()) || !PyIndex_Check(obj.ptr()))
    throw py::value_error(where + ": 'step' must be an integer, got " + py::repr(obj).cast<std::string>());
  int overflow = 0;
  py::object index = py::reinterpret_steal<py::object>(PyNumber_Index(obj.ptr()));
  const long long v = PyLong_AsLongLongAndOverflow(index.ptr(), &overflow);
  constexpr long long kMaxStep = 1LL << 53;  // exact as a double, far from overflow
  if (overflow || v < 0 || v > kMaxStep)
    throw py::value_error(where + ": 'step' must be in [0, 2**53], got " + py::repr(obj).cast<std::string>());
  return v;
}

}  // namespace

void EngineBase::load(const py::list& entries) {
  BusyGuard busy(busy_, Busy::Mode::state);
  if (entries.size() != groups_.size())
    throw py::value_error("state for " + std::to_string(entries.size()) + " param groups, this optimizer has " +
                          std::to_string(groups_.size()));
  struct Loaded {
    std::size_t param;
    std::int64_t step;
    std::vector<double> scalars;
    std::vector<py::object> slots;  // the arrays offered, later their copies
  };
  std::vector<Loaded> plan;
  for (std::size_t gi = 0; gi < groups_.size(); ++gi) {
    py::sequence group = py::reinterpret_borrow<py::sequence>(entries[gi]);
    const Group& g = groups_[gi];
    if (group.size() != g.members.size())
      throw py::value_error("param group " + std::to_string(gi) + ": state for " + std::to_string(group.size()) +
                            " parameters, the group has " + std::to_string(g.members.size()));
    for (std::size_t i = 0; i < g.members.size(); ++i) {
      const Param& p = params_[g.members[i]];
      Loaded l{g.members[i], 0, initial_scalars(), std::vector<py::object>(n_state())};
      py::object entry = group[i];
      if (!entry.is_none()) {
        const std::string where = "state of " + p.label;
        py::tuple t = py::reinterpret_borrow<py::tuple>(entry);
        l.step = parse_step(t[0], where);
        py::dict scalars = t[1].cast<py::dict>(), slots = t[2].cast<py::dict>();
        for (std::size_t k = 0; k < n_scalars(); ++k) {
          py::str name(scalar_name(k));
          if (!scalars.contains(name)) {
            if (l.step == 0) continue;
            throw py::value_error(where + ": '" + scalar_name(k) + "' is missing (step " + std::to_string(l.step) +
                                  " needs it)");
          }
          const double v = PyFloat_AsDouble(py::object(scalars[name]).ptr());
          if ((v == -1.0 && PyErr_Occurred()) || !std::isfinite(v)) {
            PyErr_Clear();
            throw py::value_error(where + ": '" + scalar_name(k) + "' must be a finite number, got " +
                                  py::repr(scalars[name]).cast<std::string>());
          }
          l.scalars[k] = v;
        }
        for (std::size_t k = 0; k < n_state(); ++k) {
          py::str name(slot_name(k));
          if (!slots.contains(name)) continue;
          if (!((ndim_mask(static_cast<int>(p.expect.shape.size())) >> k) & 1u))
            throw py::value_error(where + ": a " + std::to_string(p.expect.shape.size()) + "-d parameter keeps no '" +
                                  slot_name(k) + "'");
          l.slots[k] = slots[name];
          check_state(l.slots[k], p.array, slot_shape(k), "state '" + slot_name(k) + "' of " + p.label);
        }
      }
      plan.push_back(std::move(l));
    }
  }
  // Copies, then the swap: an allocation failure leaves the state as it was.
  for (Loaded& l : plan)
    for (std::size_t k = 0; k < l.slots.size(); ++k)
      if (py::object& a = l.slots[k]) {
        py::object copy = alloc_state(params_[l.param].array, slot_shape(k), 0.0);
        std::memcpy(data_of(copy), py::detail::array_proxy(a.ptr())->data, py::array(copy).nbytes());
        a = std::move(copy);
      }
  for (Group& g : groups_) g.ready = false;
  for (Loaded& l : plan) {
    Param& p = params_[l.param];
    p.step = l.step;
    p.scalars = std::move(l.scalars);
    p.state = std::move(l.slots);
    p.moving_known = false;
  }
}

}  // namespace fastoptim::bind
