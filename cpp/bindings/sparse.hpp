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
  /// The rows to update (set by add_moving_rows): the given ones and those the rule keeps moving
  /// (SGD's momentum), sorted, with at[j] the position of moves[j] in `rows` (-1: a zero
  /// gradient, `zeros`).
  std::vector<std::int64_t> moves;
  std::vector<std::ptrdiff_t> at;
  std::vector<char> zeros;
  const void* values = nullptr;
  std::size_t width = 0;             ///< elements per row
  py::object keep;                   ///< the values' array (the user's, or their coalesced sum)
  std::ptrdiff_t row_shape[2] = {};  ///< (1, width): one row as a kernel tensor's shape
};

/// Check `g` against the parameter (`param`, whose label is `label`) and coalesce it: duplicate
/// indices are summed (in the order given). Indices out of range and values of the wrong dtype or
/// shape raise, naming the parameter.
RowGrad check_row_grad(const RowSparse& g, const py::array& param, const std::string& label);

/// The rows of a (rows x width) state array that hold anything but zeros.
std::vector<std::int64_t> nonzero_rows(const py::array& state, std::size_t width);
/// Set g.moves and g.at to the union of g.rows and `moving` (sorted, unique; empty: g.rows).
void add_moving_rows(RowGrad& g, const std::vector<std::int64_t>& moving, std::size_t itemsize);

void register_sparse(py::module_& m);

}  // namespace fastoptim::bind
