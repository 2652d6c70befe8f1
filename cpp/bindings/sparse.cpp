#include "sparse.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>

namespace fastoptim::bind {

namespace {

/// values[j] += values[k] over the rows of `width` elements, in the element type T.
template <class T>
void add_row(void* dst, const void* src, std::size_t width) {
  T* d = static_cast<T*>(dst);
  const T* s = static_cast<const T*>(src);
  for (std::size_t i = 0; i < width; ++i) d[i] += s[i];
}

}  // namespace

RowGrad check_row_grad(const RowSparse& g, const py::array& param, const std::string& label) {
  const std::string what = "row-sparse gradient of " + label;
  if (param.ndim() < 1) throw py::value_error(what + ": the parameter is 0-d, so it has no rows");
  const py::array& v = g.values;
  const auto k = static_cast<std::size_t>(g.indices.size());
  std::vector<py::ssize_t> want(param.shape(), param.shape() + param.ndim());
  want[0] = static_cast<py::ssize_t>(k);  // a row per index
  check_like(v, param, "values of the " + what, &want);
  const auto n_rows = static_cast<std::int64_t>(param.shape(0));
  const std::int64_t* idx = g.indices.data();
  bool sorted = true;
  for (std::size_t j = 0; j < k; ++j) {
    if (idx[j] < 0 || idx[j] >= n_rows)
      throw py::value_error(what + ": row index " + std::to_string(idx[j]) + " is out of range for " +
                            std::to_string(n_rows) + " rows; nothing was updated");
    if (j > 0 && idx[j] <= idx[j - 1]) sorted = false;
  }
  RowGrad r;
  r.width = k ? static_cast<std::size_t>(v.size()) / k : 0;
  if (k == 0 && param.shape(0) > 0) r.width = static_cast<std::size_t>(param.size() / param.shape(0));
  r.row_shape[0] = 1;
  r.row_shape[1] = static_cast<std::ptrdiff_t>(r.width);
  if (sorted) {  // coalesced already (torch's coalesce() and most callers)
    r.rows.assign(idx, idx + k);
    r.values = v.data();
    r.keep = v;
    return r;
  }
  // Sort the positions by index (stably: duplicates are summed in the order given), then sum.
  std::vector<std::size_t> order(k);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return idx[a] < idx[b]; });
  std::size_t unique = 0;
  for (std::size_t j = 0; j < k; ++j) unique += j == 0 || idx[order[j]] != idx[order[j - 1]];
  want[0] = static_cast<py::ssize_t>(unique);
  py::array sum(v.dtype(), want);
  const std::size_t row_bytes = r.width * static_cast<std::size_t>(v.itemsize());
  auto* out = static_cast<char*>(sum.mutable_data());
  const auto* in = static_cast<const char*>(v.data());
  const bool single = v.itemsize() == 4;
  for (std::size_t j = 0; j < k; ++j) {
    const std::int64_t row = idx[order[j]];
    const char* src = in + order[j] * row_bytes;
    if (r.rows.empty() || r.rows.back() != row) {
      r.rows.push_back(row);
      std::memcpy(out + (r.rows.size() - 1) * row_bytes, src, row_bytes);
    } else if (single) {
      add_row<float>(out + (r.rows.size() - 1) * row_bytes, src, r.width);
    } else {
      add_row<double>(out + (r.rows.size() - 1) * row_bytes, src, r.width);
    }
  }
  r.values = sum.data();
  r.keep = sum;
  return r;
}

std::vector<std::int64_t> nonzero_rows(const py::array& state, std::size_t width) {
  std::vector<std::int64_t> out;
  const auto n = static_cast<std::size_t>(state.size());
  auto scan = [&](const auto* v) {
    for (std::size_t r = 0; width && r < n / width; ++r)
      for (std::size_t i = 0; i < width; ++i)
        if (v[r * width + i] != 0) {
          out.push_back(static_cast<std::int64_t>(r));
          break;
        }
  };
  if (state.itemsize() == 4)
    scan(static_cast<const float*>(state.data()));
  else
    scan(static_cast<const double*>(state.data()));
  return out;
}

void add_moving_rows(RowGrad& g, const std::vector<std::int64_t>& moving, std::size_t itemsize) {
  g.moves.clear();
  g.at.clear();
  std::size_t a = 0, b = 0;
  while (a < g.rows.size() || b < moving.size()) {
    if (b == moving.size() || (a < g.rows.size() && g.rows[a] <= moving[b])) {
      if (b < moving.size() && moving[b] == g.rows[a]) ++b;
      g.moves.push_back(g.rows[a]);
      g.at.push_back(static_cast<std::ptrdiff_t>(a++));
    } else {
      g.moves.push_back(moving[b++]);
      g.at.push_back(-1);
    }
  }
  g.zeros.assign(g.width * itemsize, 0);
}

void register_sparse(py::module_& m) {
  py::class_<RowSparse>(m, "RowSparse", R"doc(
A row-sparse gradient: rows ``indices`` of a parameter have the gradients ``values``, every other
row's gradient is zero (the gradient of an embedding table).

``indices`` is 1-D, of an integer dtype (kept as int64); ``values`` has shape
``(len(indices),) + param.shape[1:]`` and the parameter's dtype. Duplicate indices are summed, as
torch's ``coalesce()`` does; indices out of range are refused, naming the parameter, before
anything is updated. Pass it in ``step()`` wherever a dense gradient would go; SGD and Adagrad
(without weight decay, as torch), SparseAdam and RowWiseAdagrad take it and update only the given
rows (SGD with momentum: and the rows its momentum already moves, as torch).

Example:
    >>> import numpy as np, fastoptim as fo
    >>> table = np.zeros((4, 2), np.float32)
    >>> fo.SGD([table], lr=1.0).step([fo.RowSparse(np.array([3, 1, 3]), np.ones((3, 2), np.float32))])
    >>> table[:, 0]
    array([ 0., -1.,  0., -2.], dtype=float32)
)doc")
      .def(py::init([](const py::array& indices, const py::array& values) {
             if (indices.ndim() != 1) throw py::value_error("RowSparse indices must be 1-D, got shape " + shape_str(indices));
             const char kind = indices.dtype().kind();
             if (kind != 'i' && kind != 'u')
               throw py::type_error("RowSparse indices must be integers, got dtype " + py::str(indices.dtype()).cast<std::string>());
             if (values.ndim() < 1 || values.shape(0) != indices.shape(0))
               throw py::value_error("RowSparse values must have one row per index: " + std::to_string(indices.shape(0)) +
                                     " indices, values of shape " + shape_str(values));
             RowSparse r;
             r.indices = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>::ensure(indices);
             r.values = values;
             return r;
           }),
           py::arg("indices"), py::arg("values"))
      .def_property_readonly("indices", [](const RowSparse& r) { return r.indices; }, "The row indices (int64).")
      .def_property_readonly("values", [](const RowSparse& r) { return r.values; }, "The rows' gradients.")
      .def("__repr__", [](const RowSparse& r) {
        return "RowSparse(" + std::to_string(r.indices.size()) + " rows, values " + shape_str(r.values) + " " +
               py::str(r.values.dtype()).cast<std::string>() + ")";
      });
}

}  // namespace fastoptim::bind
