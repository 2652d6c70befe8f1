// _core.Schedule: schedules built and evaluated in C++ (see fastoptim/schedules.hpp).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <vector>

#include "fastoptim/schedules.hpp"

namespace fastoptim::bind {

namespace py = pybind11;

namespace {

std::int64_t step_of(py::handle t) {
  if (PyBool_Check(t.ptr()) || !PyIndex_Check(t.ptr()))
    throw py::type_error("a schedule takes an integer step (or an integer array), got " +
                         py::str(py::type::handle_of(t).attr("__name__")).cast<std::string>());
  py::object index = py::reinterpret_steal<py::object>(PyNumber_Index(t.ptr()));
  if (!index) throw py::error_already_set();
  int overflow = 0;
  const long long step = PyLong_AsLongLongAndOverflow(index.ptr(), &overflow);
  if (overflow || step < 0)
    throw py::value_error("a schedule's step must be >= 0 and < 2**63, got " + py::repr(index).cast<std::string>());
  return step;
}

py::object call(const Schedule& s, py::handle t) {
  if (!py::isinstance<py::array>(t)) return py::float_(s.value(step_of(t)));
  py::array in = py::reinterpret_borrow<py::array>(t);
  const char kind = in.dtype().kind();
  if (kind != 'i' && kind != 'u') throw py::type_error("a schedule takes an integer array, got dtype " + py::str(in.dtype()).cast<std::string>());
  auto steps = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>::ensure(in);
  const std::int64_t* ts = steps.data();
  for (py::ssize_t i = 0; i < steps.size(); ++i)
    if (ts[i] < 0) throw py::value_error("a schedule's steps must be >= 0");
  py::array_t<double> out(std::vector<py::ssize_t>(in.shape(), in.shape() + in.ndim()));
  s.values(ts, out.mutable_data(), static_cast<std::size_t>(steps.size()));
  return std::move(out);
}

std::string repr(const Schedule& s) {
  std::string out = s.kind() + "(";
  const auto args = s.args();
  for (std::size_t i = 0; i < args.size(); ++i)
    out += (i ? ", " : "") + args[i].first + "=" + py::repr(py::float_(args[i].second)).cast<std::string>();
  if (!s.ints().empty()) out += std::string(args.empty() ? "" : ", ") + py::repr(py::cast(s.ints())).cast<std::string>();
  for (const auto& c : s.children()) out += ", " + repr(*c);
  return out + ")";
}

/// A schedule's named arguments from a dict name -> number (bools count as 0 and 1).
std::vector<std::pair<std::string, double>> named(const std::string& kind, const py::dict& args) {
  std::vector<std::pair<std::string, double>> out;
  for (const auto& [key, value] : args) {
    const std::string name = py::str(key).cast<std::string>();
    const double v = PyFloat_AsDouble(value.ptr());
    if (v == -1.0 && PyErr_Occurred()) {
      PyErr_Clear();
      throw py::type_error(kind + ": " + name + " must be a number, got " + py::repr(value).cast<std::string>());
    }
    out.emplace_back(name, v);
  }
  return out;
}

py::dict args_of(const Schedule& s) {
  py::dict out;
  for (const auto& [name, v] : s.args()) out[py::str(name)] = v;
  return out;
}

}  // namespace

void register_schedules(py::module_& m) {
  py::class_<Schedule, std::shared_ptr<Schedule>>(m, "Schedule",
                                                  "A schedule evaluated in C++: call it with a step t >= 0 (or an "
                                                  "integer array of steps). Build one with fastoptim.schedules.")
      .def(py::init([](const std::string& kind, const py::dict& args, std::vector<std::int64_t> ints,
                       std::vector<std::shared_ptr<Schedule>> children) {
             return std::make_shared<Schedule>(kind, named(kind, args), std::move(ints), std::move(children));
           }),
           py::arg("kind"), py::arg("args"), py::arg("ints") = std::vector<std::int64_t>{},
           py::arg("children") = std::vector<std::shared_ptr<Schedule>>{},
           "A schedule of `kind` from its named arguments (a dict: every one the kind takes, see "
           "_core.schedule_kinds), integer lists (milestones, boundaries) and children (join).")
      .def("__call__", &call, py::arg("t"), "The value at step t (float), or at each step of an integer array.")
      .def("__repr__", &repr)
      .def_property_readonly("kind", &Schedule::kind)
      .def_property_readonly("args", &args_of, "The arguments by name, in their declared order.")
      .def_property_readonly("ints", &Schedule::ints)
      .def_property_readonly("children", &Schedule::children)
      .def("report", &Schedule::report, py::arg("metric"))
      .def("state", &Schedule::state)
      .def("set_state", &Schedule::set_state, py::arg("state"))
      .def("check_state", &Schedule::check_state, py::arg("state"),
           "Raise ValueError unless set_state(state) would accept it.")
      .def("__copy__", [](const Schedule& s) { return s.clone(); })
      .def("__deepcopy__", [](const Schedule& s, const py::dict&) { return s.clone(); }, py::arg("memo"));
  py::list kinds;
  for (const auto& [kind, names] : Schedule::kinds()) kinds.append(py::make_tuple(kind, names));
  m.attr("schedule_kinds") = kinds;
}

}  // namespace fastoptim::bind
