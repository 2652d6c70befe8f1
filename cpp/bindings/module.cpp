// The extension module fastoptim._core: one register_*() per area.
#include <pybind11/pybind11.h>

#include "fastoptim/dispatch.hpp"

namespace py = pybind11;

namespace fastoptim::bind {
void register_runtime(py::module_& m);
void register_optim(py::module_& m);
void register_bench(py::module_& m);
void register_schedules(py::module_& m);
void register_gradients(py::module_& m);
void register_views(py::module_& m);
void register_sparse(py::module_& m);
void register_quantize(py::module_& m);
}  // namespace fastoptim::bind

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastoptim's compiled core: SIMD kernels, the multi-tensor driver and their checks.";
#ifdef FASTOPTIM_VERSION
  m.attr("__version__") = FASTOPTIM_VERSION;
#endif
  // FASTOPTIM_SIMD is read once, here; a bad value fails the import with the reason.
  fastoptim::select_tier_from_env();
  fastoptim::bind::register_runtime(m);
  fastoptim::bind::register_schedules(m);
  fastoptim::bind::register_sparse(m);
  fastoptim::bind::register_quantize(m);
  fastoptim::bind::register_optim(m);
  fastoptim::bind::register_bench(m);
  fastoptim::bind::register_gradients(m);
  fastoptim::bind::register_views(m);
}
