#include "engine.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <unordered_map>

#include "fastoptim/format.hpp"

static_assert(std::is_same_v<pybind11::ssize_t, std::ptrdiff_t>, "Tensor::shape points at an Expect::shape");
static_assert(std::is_nothrow_move_constructible_v<fastoptim::bind::Param>,
              "moving a Param keeps its shape's buffer, at which its tensors point");

namespace fastoptim::bind {

namespace {

Nonfinite parse_nonfinite(const std::string& s) {
  if (s == "raise") return Nonfinite::raise;
  if (s == "skip") return Nonfinite::skip;
  if (s == "ignore") return Nonfinite::ignore;
  throw py::value_error("nonfinite must be 'raise', 'skip' or 'ignore', got '" + s + "'");
}

double parse_max_grad_norm(const py::object& obj) {
  if (obj.is_none()) return 0.0;
  const double v = PyFloat_AsDouble(obj.ptr());
  if ((v == -1.0 && PyErr_Occurred()) || PyBool_Check(obj.ptr())) {
    PyErr_Clear();
    throw py::type_error("max_grad_norm must be a number > 0 or None, got " + py::repr(obj).cast<std::string>());
  }
  if (!(v > 0) || std::isinf(v)) throw py::value_error("max_grad_norm must be > 0 and finite, got " + shortest(v));
  return v;
}

/// Whether a registered parameter is still what it was: the same data, dtype and shape, still
/// writeable, C-contiguous and aligned. A few loads per parameter per step.
bool unchanged(const Param& p) {
  const auto* a = py::detail::array_proxy(p.array.ptr());
  constexpr int need = py::detail::npy_api::NPY_ARRAY_WRITEABLE_ | py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_ |
                       py::detail::npy_api::NPY_ARRAY_ALIGNED_;
  if (a->data != p.data || (a->flags & need) != need || a->nd != static_cast<int>(p.expect.shape.size())) return false;
  for (int k = 0; k < a->nd; ++k)
    if (a->dimensions[k] != p.expect.shape[static_cast<std::size_t>(k)]) return false;
  if (a->descr == p.descr.ptr()) return true;  // the dtype object it was registered with: nothing to look up
  const auto* d = py::detail::array_descriptor_proxy(a->descr);
  return d->type_num == p.expect.type_num && d->byteorder != '>';
}

py::value_error changed_error(const Param& p) {
  const auto* a = py::detail::array_proxy(p.array.ptr());
  const py::array& now = p.array;
  std::string what;
  if (now.dtype().num() != p.expect.type_num)
    what = "its dtype is now " + py::str(now.dtype()).cast<std::string>();
  else if (!std::equal(p.expect.shape.begin(), p.expect.shape.end(), now.shape(), now.shape() + now.ndim()) ||
           static_cast<std::size_t>(now.ndim()) != p.expect.shape.size())
    what = "its shape is now " + shape_str(now);
  else if (a->data != p.data)
    what = "its data moved (was it resized?)";
  else if (!now.writeable())
    what = "it is now read-only";
  else
    what = "it is no longer C-contiguous and aligned";
  return py::value_error(p.label + " changed after it was given to the optimizer: " + what +
                         "; nothing was updated. The optimizer keeps state shaped like each parameter: "
                         "put a new array in param_groups instead of changing this one");
}

/// A 64-bit mixer (splitmix64's finaliser): stochastic rounding's per-step keys.
std::uint64_t mix(std::uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

void* data_of(const py::object& a) { return py::detail::array_proxy(a.ptr())->data; }

double hyper_value(py::handle obj, std::int64_t t, const char* name, bool* scheduled) {
  *scheduled = false;
  if (PyFloat_CheckExact(obj.ptr())) return PyFloat_AS_DOUBLE(obj.ptr());
  if (py::isinstance<Schedule>(obj)) {
    *scheduled = true;
    return obj.cast<const Schedule&>().value(t);
  }
  py::object value = py::reinterpret_borrow<py::object>(obj);
  if (PyCallable_Check(obj.ptr())) {
    *scheduled = true;
    value = value(t);
  }
  if (py::isinstance<py::array>(value) && py::reinterpret_borrow<py::array>(value).ndim() > 0)
    throw py::value_error(std::string(name) + " must be one number, got an array of shape " +
                          shape_str(py::reinterpret_borrow<py::array>(value)));
  const double v = PyFloat_AsDouble(value.ptr());
  if (v == -1.0 && PyErr_Occurred()) {
    PyErr_Clear();
    throw py::type_error(std::string(name) + " must be a number, a schedule or a callable t -> float, got " +
                         py::repr(value).cast<std::string>());
  }
  return v;
}

void check_finite(double v, const char* name, bool scheduled, std::int64_t t, std::size_t group, bool in_step) {
  if (std::isfinite(v)) return;
  const std::string where = " (param group " + std::to_string(group) + ")";
  if (scheduled && in_step) {
    PyErr_SetString(PyExc_FloatingPointError, (std::string(name) + " is " + shortest(v) + " at step " + std::to_string(t) +
                                               where + "; nothing was updated")
                                                  .c_str());
    throw py::error_already_set();
  }
  throw py::value_error(std::string(name) + " must be finite, got " + shortest(v) + (scheduled ? " at step " + std::to_string(t) : "") + where);
}

void EngineBase::set_groups(const py::list& lists, const py::list& labels, const py::object& keys) {
  BusyGuard busy(busy_, Busy::Mode::state);
  if (labels.size() != lists.size() || (!keys.is_none() && py::len(keys) != lists.size()))
    throw py::value_error("one label list (and key list) per parameter group is required");
  std::unordered_map<PyObject*, std::size_t> old;  // key -> record
  for (std::size_t i = 0; i < params_.size(); ++i) old.emplace(params_[i].key.ptr(), i);
  std::vector<Param> params;
  std::vector<Group> groups(lists.size());
  std::vector<Span> spans;
  std::unordered_map<PyObject*, std::size_t> seen;  // key -> its first position
  for (std::size_t gi = 0; gi < lists.size(); ++gi) {
    py::sequence arrays = py::reinterpret_borrow<py::sequence>(lists[gi]);
    py::sequence names = py::reinterpret_borrow<py::sequence>(labels[gi]);
    py::object group_keys = keys.is_none() ? py::object(arrays) : py::object(keys[py::int_(gi)]);
    if (names.size() != arrays.size() || py::len(group_keys) != arrays.size())
      throw py::value_error("one label (and key) per parameter is required");
    for (std::size_t i = 0; i < arrays.size(); ++i) {
      const std::string label = names[i].cast<std::string>();
      Checked c = check_param(arrays[i], label);
      py::object key = group_keys[py::int_(i)];
      const auto first = seen.emplace(key.ptr(), params.size());
      if (!first.second) throw py::value_error(params[first.first->second].label + " is listed twice (again as " + label + ")");
      Param rec;
      const auto found = old.find(key.ptr());
      if (found != old.end()) {
        rec = params_[found->second];
        if (rec.array.ptr() != arrays[i].ptr()) {  // the same parameter in new memory (torch's p.data = ...)
          py::array now = py::reinterpret_borrow<py::array>(arrays[i]);
          const Expect e = expect_of(now);
          if (e.type_num != rec.expect.type_num || e.shape != rec.expect.shape)
            throw py::value_error(label + " now has shape " + shape_str(now) + " and dtype " +
                                  py::str(now.dtype()).cast<std::string>() + "; its state has those it had before");
          rec.array = now;
          rec.data = c.data;
          rec.descr = py::reinterpret_borrow<py::object>(py::detail::array_proxy(arrays[i].ptr())->descr);
        } else if (!unchanged(rec)) {
          throw changed_error(rec);
        }
      } else {
        rec.array = py::reinterpret_borrow<py::array>(arrays[i]);
        rec.key = key;
        if ((c.dtype == DType::bf16 || c.dtype == DType::f16) && master_weights_) {
          // The master as a correction to the parameter (bfloat16: its low bits; float16: the float32
          // difference): zero, so it is the parameter itself, as the parameter is now.
          static const py::handle zeros = py::object(py::module_::import("numpy").attr("zeros")).release();
          rec.master = zeros(rec.array.attr("shape"), c.dtype == DType::bf16 ? py::dtype::of<std::uint16_t>() : py::dtype::of<float>());
        }
        rec.expect = expect_of(rec.array);
        rec.data = c.data;
        rec.descr = py::reinterpret_borrow<py::object>(py::detail::array_proxy(arrays[i].ptr())->descr);
        rec.state.resize(n_state());
        rec.absmax.resize(n_state());
        rec.scalars = global_sums() ? shared_scalars() : initial_scalars();
      }
      rec.label = label;
      c.span.owner = params.size();
      spans.push_back(c.span);
      groups[gi].members.push_back(params.size());
      // The tensor points at the record's shape (which moves with the record: see the assert
      // below); the shape decides its chunks, which never split a row.
      Tensor t = c.tensor();
      t.state_type = rec.state_type = state_type_for(c, label);
      t.unsigned_slots = unsigned_slots();
      if (rec.master && c.dtype == DType::bf16) t.master_low = static_cast<std::uint16_t*>(data_of(rec.master));
      if (rec.master && c.dtype == DType::f16) t.master_delta = static_cast<float*>(data_of(rec.master));
      t.stochastic = t.half() && stochastic_;
      t.ndim = static_cast<int>(rec.expect.shape.size());
      t.shape = rec.expect.shape.data();
      groups[gi].set.add(t);
      params.push_back(std::move(rec));
    }
  }
  SpanIndex index;
  std::size_t a = 0, b = 0;
  if (index.add(spans, &a, &b))
    throw py::value_error(params[a].label + " and " + params[b].label + " share memory; each parameter must own its data");
  params_ = std::move(params);
  groups_ = std::move(groups);
  spans_ = std::move(index);
}

py::list EngineBase::arrays() const {
  py::list out;
  for (const Group& g : groups_) {
    py::list arrays;
    for (std::size_t m : g.members) arrays.append(params_[m].array);
    out.append(arrays);
  }
  return out;
}

bool EngineBase::matches(const py::list& lists) const {
  if (lists.size() != groups_.size()) return false;
  for (std::size_t gi = 0; gi < groups_.size(); ++gi) {
    PyObject* list = PyList_GET_ITEM(lists.ptr(), static_cast<Py_ssize_t>(gi));
    const std::vector<std::size_t>& members = groups_[gi].members;
    if (!PyList_Check(list) || static_cast<std::size_t>(PyList_GET_SIZE(list)) != members.size()) return false;
    for (std::size_t i = 0; i < members.size(); ++i)
      if (PyList_GET_ITEM(list, static_cast<Py_ssize_t>(i)) != params_[members[i]].array.ptr()) return false;
  }
  return true;
}

std::int64_t EngineBase::group_step(std::size_t group) const {
  if (group >= groups_.size() || groups_[group].members.empty()) return 0;
  if (groups_[group].ready) return params_[groups_[group].members[0]].step;
  std::int64_t t = 0;
  for (std::size_t m : groups_[group].members) t = std::max(t, params_[m].step);
  return t;
}

std::vector<double> EngineBase::last_lr() const {
  std::vector<double> out;
  for (const auto& v : values_) out.push_back(v.empty() ? 0.0 : v[lr_field()]);
  out.resize(groups_.size());
  return out;
}

EngineBase::Outcome EngineBase::step(const py::list& lists, const py::list& grads, const py::list& hypers,
                                     const std::string& nonfinite, const py::object& max_grad_norm,
                                     const py::object& reduce_sums) {
  BusyGuard busy(busy_, Busy::Mode::step);
  if (!matches(lists)) return Outcome::params_changed;
  const Nonfinite mode = parse_nonfinite(nonfinite);
  const double max_norm = parse_max_grad_norm(max_grad_norm);
  const bool clip = max_norm > 0;
  const std::size_t ng = groups_.size();
  if (grads.size() != ng || hypers.size() != ng)
    throw py::value_error("expected gradients and settings for " + std::to_string(ng) + " parameter groups, got " +
                          std::to_string(grads.size()) + " and " + std::to_string(hypers.size()));
  std::vector<py::object> keep;  // the gradients stay alive while the GIL is released
  keep.reserve(params_.size());
  for (std::size_t gi = 0; gi < ng; ++gi) {
    Group& g = groups_[gi];
    g.partial = false;
    parse_hyper(gi, hypers[gi], group_step(gi), true);
    py::sequence gs = py::reinterpret_borrow<py::sequence>(grads[gi]);
    const std::size_t n = gs.size();
    if (n != g.members.size())
      throw py::value_error("expected " + std::to_string(g.members.size()) + " gradients for param group " +
                            std::to_string(gi) + ", got " + std::to_string(n));
    const bool is_list = PyList_Check(gs.ptr());
    g.sparse.clear();
    g.sparse_of.assign(n, -1);
    for (std::size_t i = 0; i < n; ++i) {
      const Param& p = params_[g.members[i]];
      if (!unchanged(p)) throw changed_error(p);
      py::object gobj = is_list ? py::reinterpret_borrow<py::object>(PyList_GET_ITEM(gs.ptr(), static_cast<Py_ssize_t>(i)))
                                : py::object(gs[i]);
      if (gobj.is_none()) {  // no gradient: the parameter sits this step out, as in torch
        g.set.tensors[i].grad = nullptr;
        g.partial = true;
        continue;
      }
      const void* data = nullptr;
      std::size_t nbytes = p.expect.nbytes;
      if (!grad_fits(gobj.ptr(), p.expect)) {
        if (!py::isinstance<RowSparse>(gobj)) check_grad(gobj, p.array, "gradient of " + p.label);  // raises, saying why
        if (const char* why = row_sparse(gi))
          throw py::value_error("gradient of " + p.label + " is row-sparse; this rule " + why);
        if (g.set.tensors[i].converted())
          throw py::value_error("gradient of " + p.label + " is row-sparse; row-sparse gradients need float32 or float64 "
                                "parameters with state of their dtype");
        RowGrad rg = check_row_grad(gobj.cast<const RowSparse&>(), p.array, p.label);
        std::vector<std::int64_t> moving;  // rows the rule keeps moving without a gradient
        const int slot = moving_slot(gi);
        if (slot >= 0 && p.state[static_cast<std::size_t>(slot)])
          moving = p.moving_known ? p.moving
                                  : nonzero_rows(py::reinterpret_borrow<py::array>(p.state[static_cast<std::size_t>(slot)]), rg.width);
        add_moving_rows(rg, moving, static_cast<std::size_t>(p.array.itemsize()));
        data = rg.values;
        nbytes = rg.rows.size() * rg.width * static_cast<std::size_t>(p.array.itemsize());
        g.set.tensors[i].grad = nullptr;
        g.partial = true;
        g.sparse_of[i] = static_cast<std::ptrdiff_t>(g.sparse.size());
        g.sparse.push_back(std::move(rg));
      } else {
        data = data_of(gobj);
        Tensor& t = g.set.tensors[i];
        t.grad = data;
        if (t.half()) {  // its gradient: 16-bit, or float32 (twice the bytes)
          t.grad_f32 = py::detail::array_descriptor_proxy(py::detail::array_proxy(gobj.ptr())->descr)->type_num ==
                       p.expect.alt_type_num;
          if (t.grad_f32) nbytes *= 2;
          // Stochastic rounding draws new noise each step: a key from the seed, the parameter, its step.
          if (t.stochastic)
            t.noise = static_cast<std::uint32_t>(mix(seed_ ^ mix(g.members[i] + 1) ^ mix(static_cast<std::uint64_t>(p.step) << 32)));
        }
      }
      const auto begin = reinterpret_cast<std::uintptr_t>(data);
      std::size_t other = 0;
      if (spans_.overlaps({begin, begin + nbytes, 0}, &other))
        throw py::value_error("gradient of " + p.label +
                              (other == g.members[i] ? " aliases the parameter itself"
                                                     : " shares memory with " + params_[other].label));
      keep.push_back(std::move(gobj));
    }
  }
  if (global_sums()) check_shared_lr();
  std::vector<Pending> pending;  // new state, kept only if the step completes
  plan(pending);

  // One read of every gradient checks finiteness and, for max_grad_norm, sums squares over all
  // groups (torch clips over all parameters at once). The clip factor then scales the gradients
  // inside the rules' loops: the user's gradient arrays are only read.
  std::ptrdiff_t bad_group = -1, bad_tensor = -1;
  const bool split = global_sums() > 0 || (two_pass() && !reduce_sums.is_none());
  {
    const KernelTable& k = kernels();
    const int threads = num_threads();
    py::gil_scoped_release release;
    double sum_squares = 0;
    if (mode != Nonfinite::ignore || clip)
      for (std::size_t gi = 0; gi < ng; ++gi) {
        const Group& g = groups_[gi];
        const GradStats st = k.grad_stats((g.partial ? g.active : g.set).work(threads), clip, sum_squares);
        sum_squares = st.sum_squares;
        if (st.first_bad >= 0 && bad_tensor < 0 && mode != Nonfinite::ignore) {
          bad_tensor = st.first_bad;
          bad_group = static_cast<std::ptrdiff_t>(gi);
          if (!clip) break;
        }
      }
    last_grad_norm_ = clip ? std::sqrt(sum_squares) : std::numeric_limits<double>::quiet_NaN();
    if (bad_tensor < 0) {
      const double factor = clip ? std::min(1.0, max_norm / (last_grad_norm_ + 1e-6)) : 1.0;
      for (std::size_t r = 0; r < runs_.size(); ++r) {
        if (factor != 1.0) scale_gradients(r, factor);
        if (!split) run(k, r, work_of(r, threads));
      }
      if (split) run_split(k, threads, reduce_sums);
    }
  }
  if (bad_tensor >= 0) {
    if (mode == Nonfinite::skip) return Outcome::skipped;
    const Group& g = groups_[static_cast<std::size_t>(bad_group)];
    std::size_t bad = static_cast<std::size_t>(bad_tensor);  // an index into g.active when the group is partial
    for (std::size_t i = 0, seen = 0; g.partial && i < g.members.size(); ++i)
      if ((g.set.tensors[i].grad || g.sparse_of[i] >= 0) && seen++ == static_cast<std::size_t>(bad_tensor)) bad = i;
    PyErr_SetString(PyExc_FloatingPointError,
                    ("gradient of " + params_[g.members[bad]].label +
                     " holds inf or NaN; nothing was updated (pass nonfinite='skip' to skip such steps)")
                        .c_str());
    throw py::error_already_set();
  }
  for (Pending& a : pending) {
    params_[a.param].state[a.slot] = std::move(a.array);
    params_[a.param].absmax[a.slot] = std::move(a.absmax);
  }
  const bool has_scalars = n_scalars() > 0;
  for (const Run& rr : runs_) {
    const Group& g = groups_[rr.group];
    auto commit = [&](std::size_t i) {
      Param& p = params_[g.members[i]];
      p.step = rr.step + 1;
      if (has_scalars) p.scalars = rr.scalars;
      const std::ptrdiff_t sparse = g.sparse_of.empty() ? -1 : g.sparse_of[i];
      p.moving_known = sparse >= 0 && moving_slot(rr.group) >= 0;  // a dense step may move any row
      if (p.moving_known) p.moving = std::move(groups_[rr.group].sparse[static_cast<std::size_t>(sparse)].moves);
    };
    if (rr.members.empty()) {
      for (std::size_t i = 0; i < g.members.size(); ++i) commit(i);
      groups_[rr.group].ready = true;
      groups_[rr.group].ready_mask = rr.mask;
    } else {
      for (std::size_t i : rr.members) commit(i);
    }
  }
  if (global_sums() && !runs_.empty())  // one estimate for all: parameters that sat this step out too
    for (Param& p : params_)
      if (p.step > 0) p.scalars = runs_[0].scalars;
  return Outcome::stepped;
}

}  // namespace fastoptim::bind
