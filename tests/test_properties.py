"""Property-based tests: random groups, shapes (0 and 1 element included), dtypes, settings and faults.

After any accepted step the parameters equal ``tests/reference.py``; after any refused call every
parameter and the whole ``state_dict()`` are bit-identical to before.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import reference as ref
from cases import CASES
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_hardening import assert_same, snapshot

import fastoptim as fo
from fastoptim import _core
from fastoptim import schedules as S

# Derandomized: CI runs the same examples every time, so a failure reproduces.
EXAMPLES = settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
DIMS = st.lists(st.integers(0, 5), min_size=0, max_size=3).map(tuple)


@st.composite
def problems(draw):
    """An optimizer over random groups, with the reference rule, settings and a gradient stream."""
    name, rule, hyper = draw(st.sampled_from(CASES))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    sizes = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))  # parameters per group
    shapes = [[draw(DIMS) for _ in range(n)] for n in sizes]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    groups = [[rng.standard_normal(s).astype(dtype) for s in group] for group in shapes]
    opt = getattr(fo, name)([{"params": ps} for ps in groups], **hyper)
    params = [p for ps in groups for p in ps]
    steps = draw(st.integers(1, 4))
    grads = [[rng.standard_normal(p.shape).astype(dtype) for p in params] for _ in range(steps)]
    return opt, params, rule, hyper, grads


def tolerance(dtype, steps):
    return dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)


@EXAMPLES
@given(problems())
def test_accepted_steps_equal_the_reference(problem):
    opt, params, rule, hyper, grads = problem
    start = [p.copy() for p in params]
    for gs in grads:
        opt.step(gs)
    expected, _ = ref.trajectory(rule, start, grads, **hyper)
    for p, e in zip(params, expected):
        assert p.shape == e.shape
        np.testing.assert_allclose(p, e, **tolerance(p.dtype, len(grads)))


def _bad_values(grads, at, rng):
    out = list(grads)
    g = out[at].copy()
    assume(g.size > 0)
    g.reshape(-1)[rng.integers(g.size)] = rng.choice([np.nan, np.inf, -np.inf])
    out[at] = g
    return out, FloatingPointError


def _bad_shape(grads, at, rng):
    out = list(grads)
    out[at] = np.zeros(out[at].size + 1, out[at].dtype)
    return out, ValueError


def _bad_dtype(grads, at, rng):
    out = list(grads)
    other = np.float32 if out[at].dtype == np.float64 else np.float64
    out[at] = out[at].astype(other)
    return out, TypeError


def _strided(grads, at, rng):
    out = list(grads)
    g = out[at]
    assume(g.ndim >= 1 and g.size > 1)
    out[at] = np.repeat(g.reshape(-1), 2)[::2].reshape(g.shape)
    return out, ValueError


def _too_few(grads, at, rng):
    return list(grads)[:-1], ValueError


def _bad_setting(opt, rng):
    group = opt.param_groups[rng.integers(len(opt.param_groups))]
    key = rng.choice([k for k in ("lr", "eps", "weight_decay", "momentum") if k in group])
    group[key] = rng.choice([-1.0, math.inf, math.nan])


GRAD_FAULTS = [_bad_values, _bad_shape, _bad_dtype, _strided, _too_few]


@EXAMPLES
@given(problems(), st.integers(0, 3), st.integers(0, 10**6), st.sampled_from(GRAD_FAULTS + ["allocation", "setting"]))
def test_a_refused_step_changes_nothing(problem, warm, seed, fault):
    opt, params, rule, hyper, grads = problem
    for gs in grads[: min(warm, len(grads) - 1)]:
        opt.step(gs)
    rng = np.random.default_rng(seed)
    gs = grads[-1]
    if fault == "setting":
        _bad_setting(opt, rng)  # the user's edit; the refused step must change nothing after it
    before = snapshot(opt, params)
    if fault == "allocation":
        _core._fail_allocation(int(rng.integers(1, 4)))
        try:
            opt.step(gs)  # may need fewer allocations than that, or none: then it is accepted
        except MemoryError:
            assert_same(before, snapshot(opt, params))
        finally:
            _core._fail_allocation(0)
        return
    if fault == "setting":
        error = ValueError
    else:
        gs, error = fault(gs, int(rng.integers(len(gs))), rng)
    with pytest.raises(error):
        opt.step(gs)
    assert_same(before, snapshot(opt, params))


def _set_step(sd, rng, value):
    key = list(sd["state"])[rng.integers(len(sd["state"]))]
    sd["state"][key]["step"] = value


def _set_slot(sd, rng, make):
    entries = [e for e in sd["state"].values() if any(isinstance(v, np.ndarray) for v in e.values())]
    assume(entries)
    entry = entries[rng.integers(len(entries))]
    name = [n for n, v in entry.items() if isinstance(v, np.ndarray)][0]
    entry[name] = make(entry[name])


CORRUPTIONS = {
    "negative step": lambda sd, rng: _set_step(sd, rng, -1),
    "huge step": lambda sd, rng: _set_step(sd, rng, 2**63),
    "float step": lambda sd, rng: _set_step(sd, rng, 1.5),
    "slot shape": lambda sd, rng: _set_slot(sd, rng, lambda a: np.zeros(a.size + 1, a.dtype)),
    "slot dtype": lambda sd, rng: _set_slot(sd, rng, lambda a: a.astype(np.float16)),
    "slot strided": lambda sd, rng: _set_slot(sd, rng, lambda a: np.repeat(a.reshape(-1), 2)[::2].reshape(a.shape) if a.size > 1 else "x"),
    "unknown entry": lambda sd, rng: next(iter(sd["state"].values())).update(bogus=np.zeros(1)),
    "missing key": lambda sd, rng: sd["state"].pop(next(iter(sd["state"]))),
    "extra key": lambda sd, rng: sd["state"].update({"nobody": {"step": 1}}),
    "lost group": lambda sd, rng: sd["param_groups"].pop(),
    "bad setting": lambda sd, rng: sd["param_groups"][0].update(lr=-1.0),
    "bad skipped": lambda sd, rng: sd.update(skipped_steps=-2),
}


@EXAMPLES
@given(problems(), st.integers(0, 10**6), st.sampled_from(sorted(CORRUPTIONS)))
def test_a_corrupted_state_dict_is_refused_and_changes_nothing(problem, seed, corruption):
    opt, params, rule, hyper, grads = problem
    for gs in grads:
        opt.step(gs)
    sd = opt.state_dict()
    CORRUPTIONS[corruption](sd, np.random.default_rng(seed))
    before = snapshot(opt, params)
    with pytest.raises(ValueError):
        opt.load_state_dict(sd)
    assert_same(before, snapshot(opt, params))


@EXAMPLES
@given(problems(), st.integers(1, 3))
def test_a_checkpoint_resumes_bit_for_bit(problem, split):
    opt, params, rule, hyper, grads = problem
    split = min(split, len(grads))
    for gs in grads[:split]:
        opt.step(gs)
    sd = opt.state_dict()
    resumed = [p.copy() for p in params]
    layout = [len(g["params"]) for g in opt.param_groups]
    starts = np.cumsum([0] + layout)
    other = type(opt)([{"params": resumed[a:b]} for a, b in zip(starts, starts[1:])], **hyper)
    other.load_state_dict(sd)  # a fresh optimizer: only the checkpoint can make it continue alike
    for gs in grads[split:]:
        opt.step(gs)
        other.step(gs)
    for a, b in zip(params, resumed):
        assert np.array_equal(a, b)


SCHEDULE_CASES = [
    (lambda a, b, n: S.cosine(a, n, b), lambda t, a, b, n: ref.SCHEDULES["cosine"](t, a, n, b)),
    (lambda a, b, n: S.linear(a, b, n), lambda t, a, b, n: ref.SCHEDULES["linear"](t, a, b, n)),
    (lambda a, b, n: S.cosine_restarts(a, n, 2, b), lambda t, a, b, n: ref.cosine_restarts(t, a, n, 2, b)),
    (lambda a, b, n: S.step(a, n, 0.5), lambda t, a, b, n: ref.SCHEDULES["step"](t, a, n, 0.5)),
]


@EXAMPLES
@given(
    st.lists(st.tuples(st.sampled_from(range(len(SCHEDULE_CASES))), st.floats(0, 10), st.floats(0, 10), st.integers(1, 50)), min_size=1, max_size=4),
    st.lists(st.integers(1, 40), min_size=3, max_size=3, unique=True),
    st.integers(0, 300),
)
def test_joined_schedules_equal_their_pieces(pieces, gaps, t):
    built = [SCHEDULE_CASES[k][0](a, b, n) for k, a, b, n in pieces]
    bounds = list(np.cumsum(sorted(gaps))[: len(pieces) - 1])
    s = S.join(built, [int(b) for b in bounds])
    i = sum(t >= b for b in bounds)
    local = t - (bounds[i - 1] if i else 0)
    k, a, b, n = pieces[i]
    assert s(t) == pytest.approx(SCHEDULE_CASES[k][1](local, a, b, n), rel=1e-12, abs=1e-12)
    assert S.from_spec(S.to_spec(s))(t) == s(t)


SPARSE_RULES = [
    ("SGD", dict(lr=0.1)), ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)), ("Adagrad", dict(lr=0.1)),
    ("SparseAdam", dict(lr=0.01)), ("RowWiseAdagrad", dict(lr=0.1)),
]


@EXAMPLES
@given(
    st.sampled_from(SPARSE_RULES),
    st.sampled_from([np.float32, np.float64]),
    st.tuples(st.integers(1, 6), st.lists(st.integers(0, 3), max_size=2).map(tuple)),
    st.lists(st.lists(st.integers(0, 5), max_size=8), min_size=1, max_size=4),
    st.integers(0, 2**32 - 1),
)
def test_row_sparse_steps_equal_the_dense_step_on_the_scattered_gradient(rule, dtype, shape, index_lists, seed):
    """Where a row without gradient would not move in a dense step either (all but SparseAdam, whose
    lazy moments differ on purpose: it moves the given rows only), a RowSparse step with duplicates, any order and out-of-range
    indices mixed in is the dense step on the summed, scattered gradient; an out-of-range index
    changes nothing."""
    name, hyper = rule
    rows, rest = shape[0], shape[1]
    rng = np.random.default_rng(seed)
    sparse_p, dense_p = (rng.standard_normal((rows,) + rest).astype(dtype) for _ in range(2))
    dense_p[...] = sparse_p
    sparse_opt, dense_opt = getattr(fo, name)([sparse_p], **hyper), getattr(fo, name)([dense_p], **hyper)
    for indices in index_lists:
        idx = np.array(indices, np.int64)
        values = rng.standard_normal((len(idx),) + rest).astype(dtype)
        if (idx >= rows).any():
            before = snapshot(sparse_opt, [sparse_p])
            with pytest.raises(ValueError, match="out of range"):
                sparse_opt.step([fo.RowSparse(idx, values)])
            assert_same(before, snapshot(sparse_opt, [sparse_p]))
            continue
        dense = np.zeros((rows,) + rest, dtype)
        np.add.at(dense, idx, values)
        unchanged = sparse_p.copy()
        sparse_opt.step([fo.RowSparse(idx, values)])
        if name == "SparseAdam":  # lazy moments: the rows not given stay exactly as they were
            absent = np.setdiff1d(np.arange(rows), idx)
            assert np.array_equal(sparse_p[absent], unchanged[absent])
            continue
        dense_opt.step([dense])
        tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(sparse_p, dense_p, **tol)
