#pragma once
// Row-sparse gradients: fastoptim.RowSparse(indices, values) gives the gradient of rows
// `indices` of a parameter (an embedding table), all other rows' gradient being zero.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "arrays.hpp"

namespace fastoptim::bind {

/// What the user passes: the row indices (int64, 1-D) and their gradients, values[j] for row indices[j].
struct RowSparse {
  py::array_t<std::int64_t> indices;
  py::array values;
};

/// A checked, coalesced row-sparse gradient of one parameter: rows[j] (sorted, unique) has the
/// gradient values + j * width elements.
struct RowGrad {
  std::vector<std::int64_t> rows;
  const void* values = nullptr;
  std::size_t width = 0;             ///< elements per row
  py::object keep;                   ///< the values' array (the user's, or their coalesced sum)
  std::ptrdiff_t row_shape[2] = {};  ///< (1, width): one row as a kernel tensor's shape
};

/// Check `g` against the parameter (`param`, whose label is `label`) and coalesce it: duplicate
/// indices are summed (in the order given). Indices out of range and values of the wrong dtype or
/// shape raise, naming the parameter.
RowGrad check_row_grad(const RowSparse& g, const py::array& param, const std::string& label);

void register_sparse(py::module_& m);

}  // namespace fastoptim::bind
