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
      for (std::size_t k = 0; k < p.state.size(); ++k) {
        if (p.state[k]) slots[py::str(slot_name(k))] = copy ? p.state[k].attr("copy")() : p.state[k];
        if (p.absmax[k]) slots[py::str(slot_name(k) + ".absmax")] = copy ? p.absmax[k].attr("copy")() : p.absmax[k];
      }
      if (p.master && p.step > 0) slots[py::str(master_name(p))] = copy ? p.master.attr("copy")() : p.master;
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

/// The number of blocks of a parameter's quantized state.
std::size_t blocks(const Expect& e, StateType type) {
  std::size_t n = 1;
  for (py::ssize_t d : e.shape) n *= static_cast<std::size_t>(d);
  return (n + quant_block(type) - 1) / quant_block(type);
}

/// Why a state array must have the dtype it must: said when the state is not the parameter's.
std::string state_note(const Param& p) {
  switch (p.state_type) {
    case StateType::bf16: return " (state_dtype='bfloat16')";
    case StateType::int8: return " (state_dtype='int8': uint8 codes)";
    case StateType::int4: return " (state_dtype='int4': uint8 bytes of two 4-bit codes)";
    default: return "";
  }
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
    std::vector<py::object> slots;   // the arrays offered, later their copies
    std::vector<py::object> absmax;  // the same, for 8-bit slots' block maxima
    py::object master;               // a bfloat16 parameter's master low bits (None: zeros)
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
      Loaded l{g.members[i], 0, initial_scalars(), std::vector<py::object>(n_state()), std::vector<py::object>(n_state()), {}};
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
        const unsigned used = state_mask(gi) & ndim_mask(static_cast<int>(p.expect.shape.size()));
        for (std::size_t k = 0; k < n_state(); ++k) {
          py::str name(slot_name(k));
          if (!slots.contains(name)) {
            // Past step 0 every slot the step uses exists: a missing one would restart at zero
            // while the step count (and bias corrections) continue.
            if (l.step > 0 && ((used >> k) & 1u))
              throw py::value_error(where + ": '" + slot_name(k) + "' is missing (step " + std::to_string(l.step) +
                                    " needs it)");
            continue;
          }
          if (!((ndim_mask(static_cast<int>(p.expect.shape.size())) >> k) & 1u))
            throw py::value_error(where + ": a " + std::to_string(p.expect.shape.size()) + "-d parameter keeps no '" +
                                  slot_name(k) + "'");
          l.slots[k] = slots[name];
          const std::string what = "state '" + slot_name(k) + "' of " + p.label;
          const std::vector<py::ssize_t> dims = code_dims(slot_dims(p.expect.shape, slot_shape(k)), p.state_type);
          check_state(l.slots[k], p.array, dims, state_dtype_of(p.array, p.state_type), what + state_note(p));
          if (quantized(p.state_type)) {
            py::str absmax_name(slot_name(k) + ".absmax");
            if (!slots.contains(absmax_name))
              throw py::value_error(where + ": '" + slot_name(k) + ".absmax' is missing (quantized '" + slot_name(k) +
                                    "' needs its block maxima)");
            l.absmax[k] = slots[absmax_name];
            check_state(l.absmax[k], p.array, {static_cast<py::ssize_t>(blocks(p.expect, p.state_type))}, py::dtype::of<float>(),
                        "state '" + slot_name(k) + ".absmax' of " + p.label);
          }
        }
        if (!quantized(p.state_type))  // e.g. a parameter under kMin8bitSize elements
          for (std::size_t k = 0; k < n_state(); ++k)
            if (slots.contains(py::str(slot_name(k) + ".absmax")))
              throw py::value_error(where + ": '" + slot_name(k) + ".absmax' is for quantized state, and " + p.label +
                                    " keeps its state unquantized (8- and 4-bit state is for parameters of " +
                                    std::to_string(kMin8bitSize) + " elements or more)");
        for (const char* name : {kMasterLowBits, kMasterDelta})
          if (slots.contains(name) && !(p.master && name == master_name(p)))
            throw py::value_error(where + ": '" + name + "' is for " + (name == kMasterLowBits ? "bfloat16" : "float16") +
                                  " parameters with master_weights=True");
        if (p.master) {
          const char* name = master_name(p);
          if (slots.contains(name)) {
            l.master = slots[name];
            check_state(l.master, p.array, p.expect.shape, py::array(p.master).dtype(), "state '" + std::string(name) + "' of " + p.label);
          } else if (l.step > 0) {
            throw py::value_error(where + ": '" + name + "' is missing (the master weights of a 16-bit parameter at step " +
                                  std::to_string(l.step) + ")");
          }
        }
      }
      plan.push_back(std::move(l));
    }
  }
  // Copies, then the swap: an allocation failure leaves the state as it was.
  auto copy_into = [](const py::object& to, py::object& from) {
    std::memcpy(data_of(to), py::detail::array_proxy(from.ptr())->data, static_cast<std::size_t>(py::array(to).nbytes()));
    from = to;
  };
  for (Loaded& l : plan)
    for (std::size_t k = 0; k < l.slots.size(); ++k)
      if (l.slots[k]) {
        const Param& p = params_[l.param];
        py::object absmax;
        copy_into(alloc_state(p.array, slot_shape(k), 0.0, p.state_type, true, &absmax), l.slots[k]);
        if (absmax) copy_into(absmax, l.absmax[k]);
      }
  for (Group& g : groups_) g.ready = false;
  for (Loaded& l : plan) {
    Param& p = params_[l.param];
    p.step = l.step;
    p.scalars = std::move(l.scalars);
    p.state = std::move(l.slots);
    p.absmax = std::move(l.absmax);
    if (p.master) {  // in place: the tensors point at it
      void* to = data_of(p.master);
      const auto nbytes = static_cast<std::size_t>(py::array(p.master).nbytes());
      if (l.master)
        std::memcpy(to, py::detail::array_proxy(l.master.ptr())->data, nbytes);
      else
        std::memset(to, 0, nbytes);
    }
    p.moving_known = false;
  }
}

}  // namespace fastoptim::bind
