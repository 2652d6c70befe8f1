// Gradient clipping, clip_grad_norm and clip_grad_value, multi-tensor and in place, and grad_stats
// (see gradients.hpp).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <string>
#include <vector>

#include "arrays.hpp"
#include "fastoptim/dispatch.hpp"
#include "fastoptim/format.hpp"

namespace fastoptim::bind {

namespace {

/// The gradients as kernels see them (each array in Tensor::param, updated in place), checked like
/// parameters: float32/float64, C-contiguous, aligned, writeable, no two sharing memory.
struct GradList {
  TensorSet set;
  SpanIndex spans;  ///< their memory, owners indexing `set`

  explicit GradList(const py::list& grads) {
    std::vector<Span> each;
    for (std::size_t i = 0; i < grads.size(); ++i) {
      Checked c = check_param(grads[i], "grads[" + std::to_string(i) + "]");
      set.add(c.tensor());
      c.span.owner = i;
      each.push_back(c.span);
    }
    std::size_t a = 0, b = 0;
    if (spans.add(each, &a, &b))
      throw py::value_error("grads[" + std::to_string(a) + "] and grads[" + std::to_string(b) + "] share memory");
  }
  Work work() const { return set.work(num_threads()); }
};

double clip_grad_norm(const py::list& grads, double max_norm, double norm_type, bool error_if_nonfinite) {
  if (!(max_norm >= 0)) throw py::value_error("max_norm must be >= 0, got " + shortest(max_norm));
  if (!(norm_type > 0)) throw py::value_error("norm_type must be > 0 (or inf), got " + shortest(norm_type));
  const GradList g(grads);
  const KernelTable& k = kernels();
  const Work w = g.work();
  double total = 0;
  {
    py::gil_scoped_release release;
    total = k.norm(w, norm_type);
  }
  if (error_if_nonfinite && !std::isfinite(total))
    throw std::runtime_error("the total norm of order " + shortest(norm_type) +
                             " of the gradients is not finite, so it cannot be clipped; pass "
                             "error_if_nonfinite=False to clip anyway");
  const double coef = max_norm / (total + 1e-6);
  if (!(coef >= 1.0)) {  // torch's semantics: a NaN norm makes every gradient NaN
    py::gil_scoped_release release;
    k.scale(w, coef);
  }
  return total;
}

/// One read of the gradients: the index of the first array holding inf or NaN (-1: none) and the
/// sum of squares of all their elements, in float64.
py::tuple grad_stats(const py::list& grads) {
  GradList g(grads);
  for (Tensor& t : g.set.tensors) t.grad = t.param;  // grad_stats reads Tensor::grad
  const KernelTable& k = kernels();
  const Work w = g.work();
  GradStats st;
  {
    py::gil_scoped_release release;
    st = k.grad_stats(w, true, 0.0);
  }
  return py::make_tuple(st.first_bad, st.sum_squares);
}

void clip_grad_value(const py::list& grads, double clip_value) {
  if (!(clip_value >= 0)) throw py::value_error("clip_value must be >= 0, got " + shortest(clip_value));
  const GradList g(grads);
  const KernelTable& k = kernels();
  const Work w = g.work();
  py::gil_scoped_release release;
  k.clamp(w, clip_value);
}

/// params[i] += alpha * flat[offset_i : offset_i + size_i] (as the parameter's shape), one pass with
/// the GIL released: L-BFGS's step along its direction vector.
void add_flat(const py::list& params, const py::array& flat, double alpha) {
  const GradList p(params);
  Checked d = check_param(flat, "flat");
  if (flat.ndim() != 1) throw py::value_error("flat must be 1-D, got shape " + shape_str(flat));
  TensorSet set;
  std::size_t offset = 0;
  const std::size_t elem = d.dtype == DType::f32 ? 4 : 8;
  for (std::size_t i = 0; i < p.set.tensors.size(); ++i) {
    Tensor t = p.set.tensors[i];
    if (t.dtype != d.dtype)
      throw py::value_error("params[" + std::to_string(i) + "] and flat have different dtypes");
    t.grad = static_cast<const char*>(d.data) + offset * elem;
    offset += t.size;
    set.add(t);
  }
  if (offset != d.size)
    throw py::value_error("flat has " + std::to_string(d.size) + " elements, the params " + std::to_string(offset));
  std::size_t other = 0;
  if (p.spans.overlaps(d.span, &other))
    throw py::value_error("params[" + std::to_string(other) + "] shares memory with flat");
  const KernelTable& k = kernels();
  const Work w = set.work(num_threads());
  py::gil_scoped_release release;
  k.axpy(w, alpha);
}

}  // namespace

void register_gradients(py::module_& m) {
  m.def("clip_grad_norm", &clip_grad_norm, py::arg("grads"), py::arg("max_norm"), py::arg("norm_type"),
        py::arg("error_if_nonfinite"));
  m.def("grad_stats", &grad_stats, py::arg("grads"),
        "(index of the first array holding inf or NaN, or -1; the sum of squares of every element)");
  m.def("clip_grad_value", &clip_grad_value, py::arg("grads"), py::arg("clip_value"));
  m.def("add_flat", &add_flat, py::arg("params"), py::arg("flat"), py::arg("alpha"),
        "params[i] += alpha * flat[offset_i:offset_i + size_i], in place, in one pass.");
}

}  // namespace fastoptim::bind
