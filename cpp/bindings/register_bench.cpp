// Measurement helpers: the roofline loop on the user's arrays (see roofline.hpp).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <array>
#include <string>
#include <vector>

#include "arrays.hpp"
#include "fastoptim/dispatch.hpp"

namespace fastoptim::bind {

namespace {

/// Tensors checked once, so that run() times the loop and not the argument checks.
class RooflineRunner {
 public:
  explicit RooflineRunner(const py::list& tensors) {
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      py::sequence arrays = py::reinterpret_borrow<py::sequence>(tensors[i]);
      constexpr std::size_t n = kRooflineArrays;
      if (arrays.size() != n) throw py::value_error("tensors[" + std::to_string(i) + "] needs " + std::to_string(n) + " arrays");
      Tensor t;
      void* ptr[n] = {};
      for (std::size_t k = 0; k < n; ++k) {
        Checked c = check_param(arrays[k], "tensors[" + std::to_string(i) + "][" + std::to_string(k) + "]");
        if (k == 0) t = c.tensor();
        if (c.size != t.size || c.dtype != t.dtype)
          throw py::value_error("tensors[" + std::to_string(i) + "] mixes sizes or dtypes");
        ptr[k] = c.data;
        keep_.push_back(py::reinterpret_borrow<py::array>(arrays[k]));
      }
      t.grad = ptr[1];
      for (std::size_t k = 0; k < kMaxState; ++k) t.state[k] = ptr[k + 2];
      state_.push_back({t.state[0], t.state[1], t.state[2], t.state[3]});
      set_.add(t);
    }
  }

  void run(int reads, int writes) {
    if (reads < 1 || reads > kRooflineArrays || writes < 0 || writes >= reads)
      throw py::value_error("the roofline needs 1 <= reads <= " + std::to_string(kRooflineArrays) +
                            " and 0 <= writes < reads");
    // Only the arrays this pass reads are given (the driver asks for every given array's lines).
    for (std::size_t i = 0; i < set_.tensors.size(); ++i)
      for (std::size_t k = 0; k < kMaxState; ++k)
        set_.tensors[i].state[k] = static_cast<int>(k) + 2 < reads ? state_[i][k] : nullptr;
    const Work w = set_.work(num_threads());
    const StepFn<Roofline> fn = step_fn<Roofline>(kernels());
    py::gil_scoped_release release;
    fn(Pass{reads, writes}, w);
  }

 private:
  std::vector<py::array> keep_;
  std::vector<std::array<void*, kMaxState>> state_;  ///< each tensor's four state arrays
  TensorSet set_;
};

}  // namespace

void register_bench(py::module_& m) {
  py::class_<RooflineRunner>(m, "Roofline",
                             "The roofline loop over tensors of 6 arrays each (p, g, s0, .., s3): a pass reads the "
                             "first `reads` and writes `writes` of them in place, through the same chunks and threads "
                             "as a step.")
      .def(py::init<const py::list&>(), py::arg("tensors"))
      .def("run", &RooflineRunner::run, py::arg("reads"), py::arg("writes"));
}

}  // namespace fastoptim::bind
