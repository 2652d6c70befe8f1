#include "arrays.hpp"

#include <algorithm>

namespace fastoptim::bind {

namespace {

constexpr int kNpyFloat = 11, kNpyDouble = 12, kNpyHalf = 23;  // NumPy's type numbers for float32, float64, float16
constexpr int kAligned = py::detail::npy_api::NPY_ARRAY_ALIGNED_;

std::string dtype_name(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

bool native(const py::dtype& dt) {
  const char bo = dt.byteorder();
  const char native_bo = py::detail::npy_format_descriptor<float>::dtype().byteorder();
  return bo == '=' || bo == '|' || bo == native_bo;
}

py::array as_array(py::handle obj, const std::string& label) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(label + " must be a numpy.ndarray, got " +
                         py::str(py::type::handle_of(obj).attr("__name__")).cast<std::string>());
  return py::reinterpret_borrow<py::array>(obj);
}

void check_layout(const py::array& a, const std::string& label) {
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(label +
                          " is not C-contiguous; a strided view (such as p[::2] or p.T) cannot be updated in "
                          "place: pass a contiguous array (np.ascontiguousarray makes a copy you then own)");
  if (!(a.flags() & kAligned)) throw py::value_error(label + " is not aligned to its element size");
}

Span span_of(const py::array& a, std::size_t owner) {
  const auto begin = reinterpret_cast<std::uintptr_t>(a.data());
  return {begin, begin + static_cast<std::uintptr_t>(a.nbytes()), owner};
}

}  // namespace

bool is_half(const py::dtype& dt) { return dt.num() == kNpyHalf || is_bfloat16(dt); }

bool is_bfloat16(const py::dtype& dt) {
  const int num = dt.num();
  if (num == kNpyFloat || num == kNpyDouble || num == kNpyHalf || dt.itemsize() != 2) return false;
  // A user dtype's number is its own within the process: no rich comparison (which walks the
  // dtype's fields, tens of microseconds a step) after the first.
  static const int bf16_num = bfloat16().num();
  return num == bf16_num;
}

py::dtype bfloat16() {
  // Released, never destroyed: a static py::object would be freed after the interpreter is gone.
  static const py::handle dt = py::dtype::from_args(py::module_::import("ml_dtypes").attr("bfloat16")).release();
  return py::reinterpret_borrow<py::dtype>(dt);
}

void check_like(const py::array& a, const py::array& param, const std::string& label, const std::vector<py::ssize_t>* shape,
                const py::dtype* dtype) {
  if (dtype ? !a.dtype().is(*dtype) && !a.dtype().equal(*dtype) : a.dtype().num() != param.dtype().num())
    throw py::type_error(label + " has dtype " + dtype_name(a) + ", but " +
                         (dtype ? "it must be " + py::str(*dtype).cast<std::string>() : "the parameter's dtype is " + dtype_name(param)));
  if (!native(a.dtype()))
    throw py::type_error(label + " has non-native byte order " + dtype_name(a));
  const std::vector<py::ssize_t> want = shape ? *shape : expect_of(param).shape;
  if (!std::equal(want.begin(), want.end(), a.shape(), a.shape() + a.ndim()) || want.size() != static_cast<std::size_t>(a.ndim()))
    throw py::value_error(label + " has shape " + shape_str(a) + ", but " +
                          (shape ? "it must be " + shape_str(want) + " for the parameter's " + shape_str(param)
                                 : "the parameter's shape is " + shape_str(param)));
  check_layout(a, label);
}

std::string shape_str(const std::vector<py::ssize_t>& shape) {
  std::string s = "(";
  for (std::size_t d = 0; d < shape.size(); ++d) s += std::to_string(shape[d]) + (shape.size() == 1 ? "," : d + 1 < shape.size() ? ", " : "");
  return s + ")";
}

std::string shape_str(const py::array& a) { return shape_str(expect_of(a).shape); }

std::vector<py::ssize_t> slot_dims(const std::vector<py::ssize_t>& shape, SlotShape kind) {
  std::vector<py::ssize_t> dims = shape;
  if (kind == SlotShape::rows && !dims.empty()) dims.back() = 1;
  if (kind == SlotShape::cols && dims.size() >= 2) dims[dims.size() - 2] = 1;
  if (kind == SlotShape::first && dims.size() > 1) dims.resize(1);
  return dims;
}

Expect expect_of(const py::array& param) {
  return {param.dtype().num(), std::vector<py::ssize_t>(param.shape(), param.shape() + param.ndim()),
          static_cast<std::size_t>(param.nbytes()), is_half(param.dtype()) ? kNpyFloat : -1};
}

Checked check_param(py::handle obj, const std::string& label) {
  py::array a = as_array(obj, label);
  const int num = a.dtype().num();
  const bool bf16 = is_bfloat16(a.dtype());
  if (!(num == kNpyFloat || num == kNpyDouble || num == kNpyHalf || bf16) || !native(a.dtype()))
    throw py::type_error(label + " has dtype " + dtype_name(a) +
                         "; fastoptim updates float32, float64, float16 and bfloat16 (ml_dtypes) arrays");
  check_layout(a, label);
  if (!a.writeable()) throw py::value_error(label + " is read-only; it must be writeable to be updated in place");
  const DType dtype = bf16 ? DType::bf16 : num == kNpyHalf ? DType::f16 : num == kNpyFloat ? DType::f32 : DType::f64;
  return {a.mutable_data(), static_cast<std::size_t>(a.size()), dtype, span_of(a, 0)};
}

Checked check_grad(py::handle obj, const py::array& param, const std::string& label) {
  py::array a = as_array(obj, label);
  if (is_half(param.dtype())) {  // a mixed-precision backward's float32 gradient will do too
    if (a.dtype().num() != param.dtype().num() && a.dtype().num() != kNpyFloat)
      throw py::type_error(label + " has dtype " + dtype_name(a) + "; a " + dtype_name(param) + " parameter's gradient is " +
                           dtype_name(param) + " or float32");
    const py::dtype want = a.dtype();
    check_like(a, param, label, nullptr, &want);
  } else {
    check_like(a, param, label);
  }
  const DType dtype = is_bfloat16(a.dtype()) ? DType::bf16 : a.dtype().num() == kNpyHalf ? DType::f16 : a.dtype().num() == kNpyFloat ? DType::f32 : DType::f64;
  return {const_cast<void*>(a.data()), static_cast<std::size_t>(a.size()), dtype, span_of(a, 0)};
}

void check_state(py::handle obj, const py::array& param, const std::vector<py::ssize_t>& dims, const py::dtype& dtype,
                 const std::string& what) {
  // A checkpoint that does not fit is a ValueError whatever the reason, as in load_state_dict.
  try {
    check_like(as_array(obj, what), param, what, dims == expect_of(param).shape ? nullptr : &dims, &dtype);
  } catch (const py::type_error& e) {
    throw py::value_error(e.what());
  }
}

bool SpanIndex::add(const std::vector<Span>& spans, std::size_t* a, std::size_t* b) {
  std::vector<Span> merged = spans_;
  for (const Span& s : spans)
    if (s.end > s.begin) merged.push_back(s);
  std::sort(merged.begin(), merged.end(), [](const Span& x, const Span& y) { return x.begin < y.begin; });
  for (std::size_t i = 1; i < merged.size(); ++i)
    if (merged[i].begin < merged[i - 1].end) {
      *a = std::min(merged[i - 1].owner, merged[i].owner);
      *b = std::max(merged[i - 1].owner, merged[i].owner);
      return true;
    }
  spans_ = std::move(merged);
  return false;
}

bool SpanIndex::overlaps(const Span& s, std::size_t* owner) const {
  if (s.end <= s.begin || spans_.empty()) return false;
  // First span starting at or after s.end cannot overlap; the one before it is the only candidate,
  // since the spans are disjoint and sorted.
  auto it = std::lower_bound(spans_.begin(), spans_.end(), s.end,
                             [](const Span& x, std::uintptr_t v) { return x.begin < v; });
  if (it == spans_.begin()) return false;
  --it;
  if (it->end > s.begin) {
    *owner = it->owner;
    return true;
  }
  return false;
}

}  // namespace fastoptim::bind
