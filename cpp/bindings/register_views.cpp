// _core.TensorViews: NumPy views of tensors that live outside NumPy (torch's), cached per tensor, so
// that a step of fastoptim.torch costs about 0.1 us per parameter on top of the engine's own work.
//
// It does not link torch: a tensor is any object with a `grad` attribute, read with the callables
// given (`data_ptr`, `is_contiguous`) and viewed by `make_view`, which checks device,
// layout, dtype and contiguity and raises, naming the tensor, when it cannot view it (or, for a
// row-sparse gradient, gives a fastoptim.RowSparse of its indices and values). A view is
// reused while the tensor is the same object at the same data pointer, and made anew otherwise
// (`p.data = ...`, a new gradient after zero_grad(set_to_none=True)).
//
// A gradient's cached view does not keep the gradient alive: after zero_grad(set_to_none=True) its
// memory is freed as with torch's own optimizers. The view is used only while a weak reference
// shows the very same gradient object alive (it is then p.grad, so its memory is too).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <unordered_map>

namespace py = pybind11;

namespace fastoptim::bind {

namespace {

class TensorViews {
 public:
  TensorViews(py::object make_view, py::object data_ptr, py::object is_contiguous)
      : make_view_(std::move(make_view)), data_ptr_(std::move(data_ptr)), is_contiguous_(std::move(is_contiguous)) {}

  /// (views of every parameter, per group; views of their gradients, None where there is none;
  /// the parameters that have a gradient).
  py::tuple gather(const py::list& groups) {
    Exclusive once(this);
    py::list lists(groups.size()), grads(groups.size()), stepped;
    std::size_t index = 0;
    for (std::size_t gi = 0; gi < groups.size(); ++gi) {
      py::list params = checked_list(groups[gi]);
      const auto n = static_cast<std::size_t>(PyList_GET_SIZE(params.ptr()));
      py::list views(n), gviews(n);
      for (std::size_t i = 0; i < n; ++i, ++index) {
        PyObject* p = PyList_GET_ITEM(params.ptr(), static_cast<Py_ssize_t>(i));
        Entry& e = param_entry(p, index);
        set_item(views, i, e.view.ptr());
        py::object g = py::reinterpret_steal<py::object>(PyObject_GetAttr(p, grad_name_.ptr()));
        if (!g) throw py::error_already_set();
        if (g.is_none()) {
          e.grad_ref = py::object();  // forget it: the next gradient is a new tensor
          e.grad_view = py::object();
          set_item(gviews, i, Py_None);
          continue;
        }
        set_item(gviews, i, grad_view(e, g, index).ptr());
        if (PyList_Append(stepped.ptr(), p) != 0) throw py::error_already_set();
      }
      set_item(lists, gi, views.ptr());
      set_item(grads, gi, gviews.ptr());
    }
    return py::make_tuple(lists, grads, stepped);
  }

  /// Views of every parameter, per group (no gradients read).
  py::list params(const py::list& groups) {
    Exclusive once(this);
    py::list lists(groups.size());
    std::size_t index = 0;
    for (std::size_t gi = 0; gi < groups.size(); ++gi) {
      py::list params = checked_list(groups[gi]);
      const auto n = static_cast<std::size_t>(PyList_GET_SIZE(params.ptr()));
      py::list views(n);
      for (std::size_t i = 0; i < n; ++i, ++index)
        set_item(views, i, param_entry(PyList_GET_ITEM(params.ptr(), static_cast<Py_ssize_t>(i)), index).view.ptr());
      set_item(lists, gi, views.ptr());
    }
    return lists;
  }

  /// Forget the tensors that are in none of `groups`.
  void retain(const py::list& groups) {
    Exclusive once(this);
    std::unordered_map<PyObject*, Entry> kept;
    for (py::handle group : groups)
      for (py::handle p : group) {
        auto found = entries_.find(p.ptr());
        if (found != entries_.end()) kept.emplace(found->first, std::move(found->second));
      }
    entries_ = std::move(kept);
  }

 private:
  /// make_view runs Python, during which another thread may run: two calls at once would change
  /// the cache under each other, so the second is refused (the engine refuses two steps at once anyway).
  struct Exclusive {
    explicit Exclusive(TensorViews* v) : views(v) {
      if (views->in_use_) throw std::runtime_error("an optimizer's step was called from two threads at once");
      views->in_use_ = true;
    }
    ~Exclusive() { views->in_use_ = false; }
    Exclusive(const Exclusive&) = delete;
    Exclusive& operator=(const Exclusive&) = delete;
    TensorViews* views;
  };

  struct Entry {
    py::object tensor;     ///< the parameter (held: param_groups holds it too)
    std::uintptr_t data = 0;
    py::object view;       ///< its view (which holds it)
    py::object grad_ref;   ///< a weak reference to the gradient the view below shows
    std::uintptr_t grad_data = 0;
    py::object grad_view;  ///< a view of that gradient's memory that does not hold it
    py::object dtype;      ///< the parameter's dtype and shape (torch objects), which a gradient's must match
    py::object shape;
  };

  static py::list checked_list(py::handle obj) {
    if (PyList_Check(obj.ptr())) return py::reinterpret_borrow<py::list>(obj);
    return py::list(py::reinterpret_borrow<py::object>(obj));  // a tuple or other iterable put into param_groups by hand
  }

  static void set_item(py::list& list, std::size_t i, PyObject* item) {
    Py_INCREF(item);
    PyList_SET_ITEM(list.ptr(), static_cast<Py_ssize_t>(i), item);
  }

  std::uintptr_t pointer_of(PyObject* t) const {
    PyObject* self = t;
    py::object r = py::reinterpret_steal<py::object>(PyObject_Vectorcall(data_ptr_.ptr(), &self, 1, nullptr));
    if (!r) throw py::error_already_set();
    const auto v = static_cast<std::uintptr_t>(PyLong_AsUnsignedLongLong(r.ptr()));
    if (PyErr_Occurred()) throw py::error_already_set();
    return v;
  }

  Entry& param_entry(PyObject* p, std::size_t index) {
    auto found = entries_.find(p);
    if (found != entries_.end() && found->second.data == pointer_of(p)) return found->second;
    // New, or its memory was replaced: a checked view first (make_view raises, naming it), then its pointer.
    py::object view = make_view_(py::handle(p), "parameter", index);
    Entry& e = entries_[p];
    e.tensor = py::reinterpret_borrow<py::object>(p);
    e.data = pointer_of(p);
    e.view = std::move(view);
    e.dtype = e.tensor.attr(dtype_name_);
    e.shape = e.tensor.attr(shape_name_);
    e.grad_ref = py::object();  // its gradient is checked against it anew
    return e;
  }

  py::object grad_view(Entry& e, const py::object& g, std::size_t index) {
    if (e.grad_ref && PyWeakref_GetObject(e.grad_ref.ptr()) == g.ptr() && e.grad_data == pointer_of(g.ptr())) return e.grad_view;
    // A new gradient (as after every zero_grad(set_to_none=True)). torch gives a gradient its
    // parameter's shape, dtype and device (its setter and autograd enforce it); a contiguous one is
    // viewed here with the parameter's dtype and shape, any other is checked by make_view, which
    // raises, saying why, if it cannot be viewed (sparse, strided).
    const auto* pa = py::detail::array_proxy(e.view.ptr());
    PyObject* descr = pa->descr;
    int nd = pa->nd;
    Py_intptr_t* dims = pa->dimensions;
    Py_intptr_t* strides = pa->strides;
    py::object held;
    if (!dense(g) || !same_meta(e, g)) {
      // Not a contiguous CPU tensor of its parameter's dtype and shape (its storage may have been
      // replaced: p.grad.data = t, p.grad.set_(t)): make_view checks and views it with its own
      // dtype and shape, which must then fit the parameter.
      held = make_view_(g, "gradient of parameter", index);
      if (!py::isinstance<py::array>(held)) {  // a row-sparse gradient (RowSparse): not cached
        e.grad_ref = py::object();
        e.grad_view = py::object();
        return held;
      }
      check_fits(held, e.view, index);
      const auto* ga = py::detail::array_proxy(held.ptr());
      descr = ga->descr, nd = ga->nd, dims = ga->dimensions, strides = ga->strides;
    }
    // A view that does not hold the tensor.
    const std::uintptr_t data = pointer_of(g.ptr());
    auto& api = py::detail::npy_api::get();
    Py_INCREF(descr);  // PyArray_NewFromDescr steals it
    py::object view = py::reinterpret_steal<py::object>(api.PyArray_NewFromDescr_(
        api.PyArray_Type_, descr, nd, dims, strides, reinterpret_cast<void*>(data), py::detail::npy_api::NPY_ARRAY_WRITEABLE_, nullptr));
    if (!view) throw py::error_already_set();
    e.grad_ref = py::reinterpret_steal<py::object>(PyWeakref_NewRef(g.ptr(), nullptr));
    if (!e.grad_ref) throw py::error_already_set();
    e.grad_data = data;
    e.grad_view = std::move(view);
    return e.grad_view;
  }

  /// Whether a gradient tensor has its parameter's dtype and shape and lives on the CPU (a few
  /// attribute reads; torch's own `p.grad = t` and autograd guarantee it, a storage swap does not).
  bool same_meta(const Entry& e, const py::object& g) const {
    py::object dtype = py::reinterpret_steal<py::object>(PyObject_GetAttr(g.ptr(), dtype_name_.ptr()));
    py::object shape = py::reinterpret_steal<py::object>(PyObject_GetAttr(g.ptr(), shape_name_.ptr()));
    py::object cpu = py::reinterpret_steal<py::object>(PyObject_GetAttr(g.ptr(), is_cpu_name_.ptr()));
    if (!dtype || !shape || !cpu) {
      PyErr_Clear();
      return false;
    }
    const int equal = PyObject_RichCompareBool(shape.ptr(), e.shape.ptr(), Py_EQ);
    if (equal < 0) PyErr_Clear();
    return dtype.ptr() == e.dtype.ptr() && equal == 1 && cpu.ptr() == Py_True;
  }

  /// A gradient's view must have its parameter's shape and dtype, or float32 for a 16-bit
  /// parameter; a ValueError naming the parameter otherwise.
  static void check_fits(const py::object& grad, const py::object& param, std::size_t index) {
    const py::array g = py::reinterpret_borrow<py::array>(grad), p = py::reinterpret_borrow<py::array>(param);
    const bool same_shape = g.ndim() == p.ndim() && std::equal(g.shape(), g.shape() + g.ndim(), p.shape());
    const bool same_dtype = g.dtype().is(p.dtype()) || g.dtype().equal(p.dtype()) ||
                            (p.itemsize() == 2 && g.dtype().equal(py::dtype::of<float>()));
    if (same_shape && same_dtype) return;
    auto shape_of = [](const py::array& a) {
      std::string out = "(";
      for (py::ssize_t k = 0; k < a.ndim(); ++k) out += std::to_string(a.shape(k)) + (a.ndim() == 1 || k + 1 < a.ndim() ? "," : "");
      return out + ")";
    };
    throw py::value_error("gradient of parameter " + std::to_string(index) + " is " + py::str(g.dtype()).cast<std::string>() +
                          " " + shape_of(g) + "; the parameter is " + py::str(p.dtype()).cast<std::string>() + " " +
                          shape_of(p) + ": a gradient has its parameter's shape and dtype (or float32, for a 16-bit "
                          "parameter). Was its storage replaced (p.grad.data = ..., p.grad.set_(...))? Nothing was updated");
  }

  /// Whether a tensor is contiguous (false too when it cannot say, as a sparse tensor).
  bool dense(const py::object& t) const {
    PyObject* self = t.ptr();
    PyObject* r = PyObject_Vectorcall(is_contiguous_.ptr(), &self, 1, nullptr);
    if (!r) {
      PyErr_Clear();  // make_view says what is wrong with it
      return false;
    }
    const bool yes = r == Py_True;
    Py_DECREF(r);
    return yes;
  }

  py::object make_view_, data_ptr_, is_contiguous_;
  py::str grad_name_{"grad"}, dtype_name_{"dtype"}, shape_name_{"shape"}, is_cpu_name_{"is_cpu"};
  bool in_use_ = false;
  std::unordered_map<PyObject*, Entry> entries_;  // keyed by the parameter, which `tensor` holds
};

}  // namespace

void register_views(py::module_& m) {
  py::class_<TensorViews>(m, "TensorViews",
                          "Cached NumPy views of foreign tensors (torch's) and of their gradients; see fastoptim.torch.")
      .def(py::init<py::object, py::object, py::object>(), py::arg("make_view"), py::arg("data_ptr"), py::arg("is_contiguous"))
      .def("gather", &TensorViews::gather, py::arg("groups"),
           "(views per group, gradient views per group with None for no gradient, the parameters with a gradient)")
      .def("params", &TensorViews::params, py::arg("groups"), "Views of the parameters, per group.")
      .def("retain", &TensorViews::retain, py::arg("groups"), "Forget the tensors in none of the groups.");
}

}  // namespace fastoptim::bind
