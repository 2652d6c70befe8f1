#pragma once
// Checks on the user's NumPy arrays. fastoptim never copies an array it updates: anything it cannot
// update in place (wrong dtype, strided, read-only, misaligned, aliased) is refused with an error
// that names the parameter, before any array is touched.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fastoptim/tensor.hpp"

namespace fastoptim::bind {

namespace py = pybind11;

/// Bytes [begin, end) an array spans, with the parameter it belongs to.
struct Span {
  std::uintptr_t begin, end;
  std::size_t owner;  ///< index into the caller's label list
};

/// A parameter that passed every check: raw pointer, element count and dtype.
struct Checked {
  void* data;
  std::size_t size;
  DType dtype;
  Span span;
  /// The array as a kernel's Tensor::param (no gradient or state yet).
  Tensor tensor() const {
    Tensor t;
    t.param = data;
    t.size = size;
    t.dtype = dtype;
    return t;
  }
};

/// Check a parameter: ndarray, native float32/float64, C-contiguous, aligned, writeable.
Checked check_param(py::handle obj, const std::string& label);

/// Check a gradient against its parameter: same dtype (or float32 for a bfloat16 one) and shape,
/// C-contiguous, aligned.
/// Aliasing is checked separately (see SpanIndex).
Checked check_grad(py::handle obj, const py::array& param, const std::string& label);

/// Whether `dt` is ml_dtypes' bfloat16 (NumPy's bfloat16 for JAX and TensorFlow).
bool is_bfloat16(const py::dtype& dt);
/// Whether `dt` is a 16-bit float: float16 or bfloat16.
bool is_half(const py::dtype& dt);
/// ml_dtypes.bfloat16 as a NumPy dtype (ml_dtypes is imported on first use).
py::dtype bfloat16();

/// What a gradient must be, recorded once per parameter: its dtype number (or alt_type_num: a
/// 16-bit parameter's gradient may be float32) and shape.
struct Expect {
  int type_num;
  std::vector<py::ssize_t> shape;
  std::size_t nbytes;
  int alt_type_num = -1;
};
Expect expect_of(const py::array& param);

/// The per-step check of a gradient, reading the array struct directly and creating no Python
/// object: an ndarray of exactly the expected dtype (native byte order) and shape, C-contiguous and
/// aligned. When it fails, check_grad() says why.
inline bool grad_fits(PyObject* obj, const Expect& e) {
  if (!py::detail::npy_api::get().PyArray_Check_(obj)) return false;
  const auto* a = py::detail::array_proxy(obj);
  const auto* d = py::detail::array_descriptor_proxy(a->descr);
  constexpr int need = py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_ | py::detail::npy_api::NPY_ARRAY_ALIGNED_;
  if ((d->type_num != e.type_num && d->type_num != e.alt_type_num) || d->byteorder == '>' || (a->flags & need) != need ||
      a->nd != static_cast<int>(e.shape.size()))
    return false;
  for (int k = 0; k < a->nd; ++k)
    if (a->dimensions[k] != e.shape[static_cast<std::size_t>(k)]) return false;
  return true;
}

/// Check that `a` has param's dtype (or `dtype`, when given; native byte order), the shape `shape`
/// (param's own unless given), and a layout the kernels can use (C-contiguous, aligned); raise
/// naming it as `label`.
void check_like(const py::array& a, const py::array& param, const std::string& label,
                const std::vector<py::ssize_t>* shape = nullptr, const py::dtype* dtype = nullptr);

/// Check a state array offered for parameter `param` (load_state_dict): as a gradient, but with
/// shape `dims` and dtype `dtype`; ValueError naming it as `what` if not.
void check_state(py::handle obj, const py::array& param, const std::vector<py::ssize_t>& dims, const py::dtype& dtype,
                 const std::string& what);
/// The shape of a state array of kind `kind` for a parameter of shape `shape`.
std::vector<py::ssize_t> slot_dims(const std::vector<py::ssize_t>& shape, SlotShape kind);

/// The memory of all parameters, sorted, to find overlaps in O(log n).
class SpanIndex {
 public:
  /// Add spans; returns the owners of a pair that overlap (each other or an earlier span), if any.
  bool add(const std::vector<Span>& spans, std::size_t* a, std::size_t* b);
  /// The owner of a parameter overlapping `s`, or false.
  bool overlaps(const Span& s, std::size_t* owner) const;

 private:
  std::vector<Span> spans_;  // sorted by begin, pairwise disjoint
};

std::string shape_str(const py::array& a);
std::string shape_str(const std::vector<py::ssize_t>& shape);

}  // namespace fastoptim::bind
