// SIMD tier and thread controls.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "fastoptim/dispatch.hpp"

namespace fastoptim::bind {

namespace py = pybind11;

void register_runtime(py::module_& m) {
  m.def("simd_tier", &active_tier, "Name of the active SIMD tier.");
  m.def("select_tier", &select_tier, py::arg("tier"), "Make a compiled tier that this CPU supports active.");
  m.def("compiled_tiers", &compiled_tiers, "Tiers compiled into this build, lowest first.");
  m.def("supported_tiers", &supported_tiers, "Compiled tiers this CPU can run, lowest first.");
  m.def("tier_flags", &tier_flags, py::arg("tier"), "Compiler flags a tier was built with.");
  m.def("get_num_threads", &num_threads, "Threads used by a step.");
  m.attr("openmp") = has_openmp();
  m.def("set_num_threads", &set_num_threads, py::arg("n"), "Set the threads used by a step.");
}

}  // namespace fastoptim::bind
