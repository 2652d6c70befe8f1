// _core.dynamic_map, quantize_blockwise, dequantize_blockwise (see fastoptim/quantize.hpp).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "arrays.hpp"
#include "fastoptim/quantize.hpp"

namespace fastoptim::bind {

namespace {

template <class T>
py::array_t<T> checked(const py::handle& obj, const char* what, const char* dtype) {
  if (!py::isinstance<py::array_t<T>>(obj) || !(py::reinterpret_borrow<py::array>(obj).flags() & py::array::c_style))
    throw py::type_error(std::string(what) + " must be a C-contiguous " + dtype + " numpy array");
  return py::reinterpret_borrow<py::array_t<T>>(obj);
}

std::size_t blocks_of(std::size_t n, std::size_t block) {
  if (block == 0) throw py::value_error("blocksize must be > 0");
  return (n + block - 1) / block;
}

}  // namespace

void register_quantize(py::module_& m) {
  m.def(
      "dynamic_map",
      [](bool is_signed) {
        const auto& map = dynamic_map(is_signed);
        py::array_t<float> out(256);
        std::copy(map.begin(), map.end(), out.mutable_data());
        return out;
      },
      py::arg("signed"), "The 256 sorted codes of the signed or unsigned dynamic map.");
  m.def(
      "quantize_blockwise",
      [](const py::handle& obj, bool is_signed, std::size_t block) {
        py::array_t<float> x = checked<float>(obj, "x", "float32");
        const auto n = static_cast<std::size_t>(x.size());
        py::array_t<std::uint8_t> codes(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
        py::array_t<float> absmax(static_cast<py::ssize_t>(blocks_of(n, block)));
        const float* px = x.data();
        std::uint8_t* pc = codes.mutable_data();
        float* pa = absmax.mutable_data();
        {
          py::gil_scoped_release release;
          quantize_blockwise(px, n, block, is_signed, pc, pa);
        }
        return py::make_tuple(codes, absmax);
      },
      py::arg("x"), py::arg("signed"), py::arg("blocksize") = 256);
  m.def(
      "dequantize_blockwise",
      [](const py::handle& codes_obj, const py::handle& absmax_obj, bool is_signed, std::size_t block) {
        py::array_t<std::uint8_t> codes = checked<std::uint8_t>(codes_obj, "codes", "uint8");
        py::array_t<float> absmax = checked<float>(absmax_obj, "absmax", "float32");
        const auto n = static_cast<std::size_t>(codes.size());
        if (static_cast<std::size_t>(absmax.size()) != blocks_of(n, block))
          throw py::value_error("absmax has " + std::to_string(absmax.size()) + " values; " + std::to_string(n) +
                                " codes in blocks of " + std::to_string(block) + " need " + std::to_string(blocks_of(n, block)));
        py::array_t<float> x(std::vector<py::ssize_t>(codes.shape(), codes.shape() + codes.ndim()));
        const std::uint8_t* pc = codes.data();
        const float* pa = absmax.data();
        float* px = x.mutable_data();
        {
          py::gil_scoped_release release;
          dequantize_blockwise(pc, pa, n, block, is_signed, px);
        }
        return x;
      },
      py::arg("codes"), py::arg("absmax"), py::arg("signed"), py::arg("blocksize") = 256);
}

}  // namespace fastoptim::bind
