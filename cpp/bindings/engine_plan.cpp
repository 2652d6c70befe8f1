// Planning a step: each parameter's state (allocated aside), the runs a group is cut into, the
// tensors of a row-sparse gradient's rows, the two-pass rules' split around reduce_sums, and the
// one estimate of the rules with global sums.
#include <algorithm>
#include <cstring>

#include "engine.hpp"

namespace fastoptim::bind {

void EngineBase::plan(std::vector<Pending>& pending) {
  runs_.clear();
  std::vector<unsigned> fresh;
  const std::size_t slots = n_state();
  for (std::size_t gi = 0; gi < groups_.size(); ++gi) {
    Group& g = groups_[gi];
    const unsigned mask = state_mask(gi);
    if (g.members.empty()) continue;
    if (!g.partial && g.ready && g.ready_mask == mask) {
      Run run;
      run.group = gi;
      run.step = params_[g.members[0]].step;
      run.scalars = params_[g.members[0]].scalars;
      run.mask = mask;
      runs_.push_back(std::move(run));
      continue;
    }
    g.ready = false;  // until this plan's step completes
    fresh.assign(g.members.size(), 0u);
    g.active = TensorSet();
    auto has_grad = [&](std::size_t i) { return g.set.tensors[i].grad || g.sparse_of[i] >= 0; };
    for (std::size_t i = 0; i < g.members.size(); ++i) {
      if (!has_grad(i)) continue;  // skipped: no state, no run
      Param& p = params_[g.members[i]];
      const unsigned uses = mask & ndim_mask(static_cast<int>(p.expect.shape.size()));
      for (std::size_t k = 0; k < slots; ++k) {
        void* ptr = nullptr;
        float* absmax_ptr = nullptr;
        if ((uses >> k) & 1u) {
          py::handle absmax = p.absmax[k];
          if (!p.state[k]) {
            const bool copy = (param_copies() >> k) & 1u;
            Pending a{g.members[i], k, {}, {}};
            a.array = alloc_state(p.array, slot_shape(k), copy ? 0.0 : slot_init(gi, k), p.state_type,
                                  !((unsigned_slots() >> k) & 1u), &a.absmax);
            if (copy) std::memcpy(data_of(a.array), p.data, p.expect.nbytes);
            pending.push_back(std::move(a));
            fresh[i] |= 1u << k;
            ptr = data_of(pending.back().array);
            absmax = pending.back().absmax;
          } else {
            ptr = data_of(p.state[k]);
          }
          absmax_ptr = absmax ? static_cast<float*>(data_of(py::reinterpret_borrow<py::object>(absmax))) : nullptr;
        }
        g.set.tensors[i].state[k] = ptr;
        g.set.tensors[i].absmax[k] = absmax_ptr;
      }
      if (g.sparse_of[i] >= 0) {  // the values, as one tensor
        const RowGrad& rg = g.sparse[static_cast<std::size_t>(g.sparse_of[i])];
        Tensor values;
        values.grad = rg.values;
        values.size = rg.rows.size() * rg.width;
        values.dtype = g.set.tensors[i].dtype;
        g.active.add(values);
      } else if (g.partial) {
        g.active.add(g.set.tensors[i]);
      }
    }
    // Cut the group into runs of parameters that share a step count, scalar state and fresh slots:
    // one run, the whole group, unless its parameters have diverged.
    const bool has_scalars = n_scalars() > 0;
    auto same = [&](const Run& run, std::size_t i) {
      const Param& p = params_[g.members[i]];
      return run.step == p.step && run.fresh == fresh[i] && (!has_scalars || run.scalars == p.scalars);
    };
    auto start = [&](std::size_t i) {
      Run run;
      run.group = gi;
      run.step = params_[g.members[i]].step;
      run.fresh = fresh[i];
      run.scalars = params_[g.members[i]].scalars;
      run.mask = mask;
      runs_.push_back(std::move(run));
    };
    if (!g.partial) {
      const std::size_t first = runs_.size();
      start(0);
      std::size_t i = 1;
      while (i < g.members.size() && same(runs_[first], i)) ++i;
      if (i == g.members.size()) continue;  // one run: the whole group
      runs_.pop_back();
    }
    const std::size_t first = runs_.size();
    for (std::size_t j = 0; j < g.members.size(); ++j) {
      if (!has_grad(j)) continue;
      std::size_t r = first;
      while (r < runs_.size() && !same(runs_[r], j)) ++r;
      if (r == runs_.size()) start(j);
      runs_[r].members.push_back(j);
      add_member(g, j, runs_[r].own);
    }
  }
  for (std::size_t r = 0; r < runs_.size(); ++r) prepare(r);
}

void EngineBase::add_member(const Group& g, std::size_t i, TensorSet& set) const {
  const Tensor& whole = g.set.tensors[i];
  if (g.sparse_of[i] < 0) {
    set.add(whole);
    return;
  }
  const RowGrad& rg = g.sparse[static_cast<std::size_t>(g.sparse_of[i])];
  const std::size_t elem = whole.dtype == DType::f32 ? sizeof(float) : sizeof(double);
  for (std::size_t j = 0; j < rg.moves.size(); ++j) {
    const auto row = static_cast<std::size_t>(rg.moves[j]);
    const std::ptrdiff_t at = rg.at[j];
    Tensor t = whole;
    t.param = static_cast<char*>(whole.param) + row * rg.width * elem;
    t.grad = at < 0 ? static_cast<const void*>(rg.zeros.data())
                    : static_cast<const char*>(rg.values) + static_cast<std::size_t>(at) * rg.width * elem;
    for (std::size_t k = 0; k < kMaxState; ++k)
      if (whole.state[k])
        t.state[k] = static_cast<char*>(whole.state[k]) + (slot_shape(k) == SlotShape::first ? row : row * rg.width) * elem;
    t.size = rg.width;
    t.ndim = 2;
    t.shape = rg.row_shape;
    set.add(t);
  }
}

Work EngineBase::work_of(std::size_t r, int threads) const {
  const Run& rr = runs_[r];
  return rr.members.empty() ? groups_[rr.group].set.work(threads) : rr.own.work(threads);
}

void EngineBase::run_split(const KernelTable& k, int threads, const py::object& reduce_sums) {
  std::vector<std::size_t> first(runs_.size() + 1, 0);  // each run's first row in `sums`
  for (std::size_t r = 0; r < runs_.size(); ++r) first[r + 1] = first[r] + work_of(r, threads).n_tensors;
  const std::size_t width = global_sums() ? global_sums() : 2;  // sums per tensor
  std::vector<double> sums(width * first.back());
  for (std::size_t r = 0; r < runs_.size(); ++r) {
    Work w = work_of(r, threads);
    w.phase = Phase::norms;
    w.sums = sums.data() + width * first[r];
    run(k, r, w);
  }
  if (!reduce_sums.is_none()) {
    py::gil_scoped_acquire acquire;
    const auto rows = static_cast<py::ssize_t>(first.back());
    py::array_t<double> table({rows, static_cast<py::ssize_t>(width)});
    py::array_t<std::int64_t> index(rows);
    std::copy(sums.begin(), sums.end(), table.mutable_data());
    std::int64_t* at = index.mutable_data();
    for (const Run& rr : runs_) {
      const Group& g = groups_[rr.group];
      if (rr.members.empty())
        for (std::size_t m : g.members) *at++ = static_cast<std::int64_t>(m);
      else
        for (std::size_t i : rr.members) *at++ = static_cast<std::int64_t>(g.members[i]);
    }
    reduce_sums(table, index);
    std::copy(table.data(), table.data() + sums.size(), sums.begin());
  }
  if (global_sums()) {  // in row order, so every process that holds the same table gets the same totals
    double totals[kMaxGlobalSums] = {};
    for (std::size_t row = 0; row < first.back(); ++row)
      for (std::size_t j = 0; j < width; ++j) totals[j] += sums[width * row + j];
    finish(totals);
  }
  for (std::size_t r = 0; r < runs_.size(); ++r) {
    Work w = work_of(r, threads);
    w.phase = Phase::update;
    w.sums = sums.data() + width * first[r];
    run(k, r, w);
  }
}

void EngineBase::check_shared_lr() const {
  const double* first = nullptr;
  for (std::size_t gi = 0; gi < groups_.size(); ++gi) {
    const double lr = values_[gi][lr_field()];
    if (lr == 0) continue;
    if (!first) first = &values_[gi][lr_field()];
    if (lr != *first)
      throw py::value_error("lr=" + shortest(lr) + " (param group " + std::to_string(gi) + ") differs from lr=" +
                            shortest(*first) + " of an earlier group: this rule's estimate is one number for all "
                            "groups, so they share one lr (0 freezes a group)");
  }
}

std::vector<double> EngineBase::shared_scalars() const {
  for (const Param& p : params_)
    if (p.step > 0) return p.scalars;
  return initial_scalars();
}

}  // namespace fastoptim::bind
