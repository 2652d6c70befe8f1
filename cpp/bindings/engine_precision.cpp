// An engine's precision choices: the state dtype (and which parameters it applies to), rounding
// and master weights, and the allocation of state arrays of each state type.
#include <algorithm>
#include <atomic>
#include <new>

#include "engine.hpp"
#include "fastoptim/quantize.hpp"

namespace fastoptim::bind {

namespace {

std::atomic<long> fail_countdown{0};  // see fail_allocation()

constexpr const char* kStateDtypes[] = {"", "float32", "float64", "bfloat16", "int8", "int4"};  // by StateDtype

}  // namespace

py::dtype state_dtype_of(const py::array& param, StateType type) {
  if (quantized(type)) return py::dtype::of<std::uint8_t>();
  if (type == StateType::bf16) return bfloat16();
  return is_half(param.dtype()) ? py::dtype::of<float>() : param.dtype();
}

py::object alloc_state(const py::array& param, SlotShape kind, double init, StateType type, bool is_signed,
                       py::object* absmax) {
  long left = fail_countdown.load();
  while (left > 0 && !fail_countdown.compare_exchange_weak(left, left - 1)) {
  }
  if (left == 1) throw std::bad_alloc();  // pybind11 raises MemoryError
  static const py::handle full = py::object(py::module_::import("numpy").attr("full")).release();
  const std::vector<py::ssize_t> dims = slot_dims(expect_of(param).shape, kind);
  py::tuple shape(dims.size());
  std::size_t size = 1;
  for (std::size_t d = 0; d < dims.size(); ++d) {
    shape[d] = dims[d];
    size *= static_cast<std::size_t>(dims[d]);
  }
  if (!quantized(type)) return full(shape, type == StateType::bf16 ? py::float_(static_cast<float>(init)) : py::float_(init), state_dtype_of(param, type));
  // Every block holds init alone: each gets the code and absmax of a one-element block.
  const float x = static_cast<float>(init);
  std::uint8_t code = 0;
  float m = 0;
  const std::size_t block = quant_block(type);
  if (type == StateType::int8) {
    quantize_blockwise(&x, 1, block, is_signed, &code, &m);
  } else {
    quantize_blockwise4(&x, 1, block, is_signed, &code, &m);
    code = static_cast<std::uint8_t>(code | code << 4);  // two per byte
  }
  *absmax = full(py::make_tuple((size + block - 1) / block), m, py::dtype::of<float>());
  return full(type == StateType::int8 ? shape : py::make_tuple((size + 1) / 2), code, py::dtype::of<std::uint8_t>());
}

std::vector<py::ssize_t> code_dims(const std::vector<py::ssize_t>& shape, StateType type) {
  if (type != StateType::int4) return shape;
  py::ssize_t n = 1;
  for (py::ssize_t d : shape) n *= d;
  return {(n + 1) / 2};
}

void fail_allocation(long n) { fail_countdown.store(n < 0 ? 0 : n); }

void EngineBase::set_state_dtype(const std::string& name) {
  if (!params_.empty()) throw py::value_error("state_dtype is set before any parameter is registered");
  const auto* end = std::end(kStateDtypes);
  const auto* found = std::find(std::begin(kStateDtypes), end, name);
  if (found == end)
    throw py::value_error("state_dtype must be None, 'float32', 'float64', 'bfloat16', 'int8' or 'int4', got '" + name + "'");
  const auto dtype = static_cast<StateDtype>(found - std::begin(kStateDtypes));
  if (dtype == StateDtype::bf16 || dtype == StateDtype::int8 || dtype == StateDtype::int4)
    if (const char* why = converted_state_refusal())
      throw py::value_error("state_dtype='" + name + "' is not available for this rule: " + why);
  state_dtype_ = dtype;
}

std::string EngineBase::state_dtype() const { return kStateDtypes[static_cast<int>(state_dtype_)]; }

void EngineBase::set_rounding(bool master_weights, bool stochastic, std::uint64_t seed) {
  if (!params_.empty()) throw py::value_error("master_weights, rounding and seed are set before any parameter is registered");
  if (master_weights && stochastic)
    throw py::value_error("rounding='stochastic' rounds the parameters themselves; it needs master_weights=False");
  master_weights_ = master_weights;
  stochastic_ = stochastic;
  seed_ = seed;
}

StateType EngineBase::state_type_for(const Checked& c, const std::string& label) const {
  const bool f64 = c.dtype == DType::f64;
  const bool half = c.dtype == DType::bf16 || c.dtype == DType::f16;
  if (half) {
    const std::string kind = c.dtype == DType::bf16 ? "bfloat16" : "float16";
    if (const char* why = converted_state_refusal())
      throw py::value_error(label + " is " + kind + "; this rule cannot take 16-bit parameters: " + why);
    if (state_dtype_ == StateDtype::f64)
      throw py::value_error(label + " is " + kind + "; state_dtype='float64' is for float64 parameters");
  }
  if (state_dtype_ == StateDtype::same || state_dtype_ == (f64 ? StateDtype::f64 : StateDtype::f32))
    return StateType::native;  // (float32 state for a 16-bit parameter)
  if (f64 || state_dtype_ == StateDtype::f64)
    throw py::value_error(label + " is " + (f64 ? "float64" : "float32") + "; state_dtype='" + state_dtype() +
                          "' is for " + (f64 ? "float32 and 16-bit parameters (float64 ones keep float64 state)" : "float64 parameters"));
  if (state_dtype_ == StateDtype::bf16) return StateType::bf16;
  if (c.size < kMin8bitSize) return StateType::native;
  return state_dtype_ == StateDtype::int4 ? StateType::int4 : StateType::int8;
}

}  // namespace fastoptim::bind
