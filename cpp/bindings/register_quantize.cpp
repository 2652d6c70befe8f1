// _core.dynamic_map, quantize_blockwise, dequantize_blockwise, 8- and 4-bit (see fastoptim/quantize.hpp).
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

/// The bits a map is asked for: 8 or 4.
void check_bits(int bits) {
  if (bits != 8 && bits != 4) throw py::value_error("bits must be 8 or 4, got " + std::to_string(bits));
}

void register_quantize(py::module_& m) {
  m.def(
      "dynamic_map",
      [](bool is_signed, int bits) {
        check_bits(bits);
        py::array_t<float> out(bits == 8 ? 256 : 16);
        if (bits == 8) {
          const auto& map = dynamic_map(is_signed);
          std::copy(map.begin(), map.end(), out.mutable_data());
        } else {
          const Codebook4& c = codebook4(is_signed);
          std::copy(std::begin(c.map), std::end(c.map), out.mutable_data());
        }
        return out;
      },
      py::arg("signed"), py::arg("bits") = 8, "The sorted codes of the signed or unsigned 8- or 4-bit map.");
  m.def(
      "quantize_blockwise",
      [](const py::handle& obj, bool is_signed, std::size_t block, int bits) {
        check_bits(bits);
        py::array_t<float> x = checked<float>(obj, "x", "float32");
        const auto n = static_cast<std::size_t>(x.size());
        if (bits == 4 && block % 2) throw py::value_error("4-bit blocks hold whole bytes: blocksize must be even");
        py::array_t<std::uint8_t> codes(bits == 8 ? std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim())
                                                  : std::vector<py::ssize_t>{static_cast<py::ssize_t>((n + 1) / 2)});
        py::array_t<float> absmax(static_cast<py::ssize_t>(blocks_of(n, block)));
        const float* px = x.data();
        std::uint8_t* pc = codes.mutable_data();
        float* pa = absmax.mutable_data();
        {
          py::gil_scoped_release release;
          if (bits == 8)
            quantize_blockwise(px, n, block, is_signed, pc, pa);
          else
            quantize_blockwise4(px, n, block, is_signed, pc, pa);
        }
        return py::make_tuple(codes, absmax);
      },
      py::arg("x"), py::arg("signed"), py::arg("blocksize") = 256, py::arg("bits") = 8);
  m.def(
      "dequantize_blockwise",
      [](const py::handle& codes_obj, const py::handle& absmax_obj, bool is_signed, std::size_t block, int bits,
         std::size_t n) {
        check_bits(bits);
        py::array_t<std::uint8_t> codes = checked<std::uint8_t>(codes_obj, "codes", "uint8");
        py::array_t<float> absmax = checked<float>(absmax_obj, "absmax", "float32");
        if (bits == 8) n = static_cast<std::size_t>(codes.size());
        if (bits == 4 && (n + 1) / 2 != static_cast<std::size_t>(codes.size()))
          throw py::value_error(std::to_string(n) + " elements need " + std::to_string((n + 1) / 2) + " bytes of 4-bit codes, got " +
                                std::to_string(codes.size()));
        if (static_cast<std::size_t>(absmax.size()) != blocks_of(n, block))
          throw py::value_error("absmax has " + std::to_string(absmax.size()) + " values; " + std::to_string(n) +
                                " codes in blocks of " + std::to_string(block) + " need " + std::to_string(blocks_of(n, block)));
        py::array_t<float> x(bits == 8 ? std::vector<py::ssize_t>(codes.shape(), codes.shape() + codes.ndim())
                                       : std::vector<py::ssize_t>{static_cast<py::ssize_t>(n)});
        const std::uint8_t* pc = codes.data();
        const float* pa = absmax.data();
        float* px = x.mutable_data();
        {
          py::gil_scoped_release release;
          if (bits == 8)
            dequantize_blockwise(pc, pa, n, block, is_signed, px);
          else
            dequantize_blockwise4(pc, pa, n, block, is_signed, px);
        }
        return x;
      },
      py::arg("codes"), py::arg("absmax"), py::arg("signed"), py::arg("blocksize") = 256, py::arg("bits") = 8,
      py::arg("size") = 0);
}

}  // namespace fastoptim::bind
