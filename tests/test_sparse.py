"""Row-sparse gradients: fastoptim.RowSparse through SGD, Adagrad, SparseAdam and RowWiseAdagrad,
against the float64 reference run on the given rows only, against torch's sparse paths, and
refused cleanly where they do not fit."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DTYPES, tolerance

import fastoptim as fo
import reference as ref
from fastoptim import _core

RULES = [
    ("SGD", ref.sgd, dict(lr=0.1)),
    ("SGD", ref.sgd, dict(lr=0.1, maximize=True)),
    ("Adagrad", ref.adagrad, dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)),
    ("SparseAdam", ref.sparse_adam, dict(lr=0.01)),
    ("SparseAdam", ref.sparse_adam, dict(lr=0.01, betas=(0.8, 0.9), maximize=True)),
    ("RowWiseAdagrad", ref.rowwise_adagrad, dict(lr=0.1)),
    ("RowWiseAdagrad", ref.rowwise_adagrad, dict(lr=0.1, weight_decay=0.01, lr_decay=0.01, maximize=True)),
]
IDS = [f"{n}-{h}" for n, _, h in RULES]
SHAPE = (40, 3, 5)


def sparse_stream(shape, steps, dtype, k=12, seed=0):
    """(indices, values) per step: k indices with duplicates, unsorted, and an empty step."""
    rng = np.random.default_rng(seed)
    out = []
    for t in range(steps):
        n = 0 if t == 3 else k
        idx = rng.integers(0, shape[0], n)
        out.append((idx, rng.standard_normal((n,) + shape[1:]).astype(dtype)))
    return out


def coalesce(idx, values):
    rows = np.unique(idx)
    summed = np.zeros((len(rows),) + values.shape[1:])
    np.add.at(summed, np.searchsorted(rows, idx), values.astype(np.float64))
    return rows, summed


def reference_rows(rule, hyper, p, stream):
    """The rule applied, step by step, to the given rows only (their state sliced alongside)."""
    p = p.astype(np.float64)
    state = {}
    for t, (idx, values) in enumerate(stream, start=1):
        rows, g = coalesce(idx, values)
        sub = {k: v[rows] for k, v in state.items()}
        p[rows] = rule(p[rows], g, sub, t, **hyper)
        for k, v in sub.items():
            state.setdefault(k, np.full(p.shape[: np.ndim(v)], hyper.get("initial_accumulator_value", 0.0)))[rows] = v
    return p, state


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, rule, hyper", RULES, ids=IDS)
def test_matches_the_reference_on_the_given_rows(name, rule, hyper, dtype, tier):
    p = np.random.default_rng(1).standard_normal(SHAPE).astype(dtype)
    stream = sparse_stream(SHAPE, 20, dtype)
    expected, state = reference_rows(rule, hyper, p, stream)
    opt = getattr(fo, name)([p], **hyper)
    for idx, values in stream:
        opt.step([fo.RowSparse(idx, values)])
    np.testing.assert_allclose(p, expected, **tolerance(dtype))
    saved = opt.state_dict()["state"][0]
    assert saved["step"] == 20
    for slot, value in state.items():
        np.testing.assert_allclose(saved[slot], value, **tolerance(dtype))


@pytest.mark.parametrize("name, rule, hyper", RULES, ids=IDS)
def test_a_full_row_sparse_gradient_is_the_dense_step(name, rule, hyper):
    shape = (6, 4)
    dense, sparse = (np.linspace(-1, 1, 24).reshape(shape) for _ in range(2))
    a, b = getattr(fo, name)([dense], **hyper), getattr(fo, name)([sparse], **hyper)
    for t in range(5):
        g = np.cos(np.arange(24.0) * (t + 1)).reshape(shape)
        a.step([g])
        b.step([fo.RowSparse(np.arange(6)[::-1], g[::-1].copy())])  # every row, in reverse order
    np.testing.assert_allclose(sparse, dense, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize(
    "hyper", [dict(momentum=0.9), dict(momentum=0.5, dampening=0.3, maximize=True), dict(momentum=0.9, nesterov=True)], ids=str
)
def test_sgd_momentum_moves_every_row_it_has_seen_as_the_dense_step(hyper):
    """torch's sparse momentum buffer: a row once given keeps moving by its momentum. That is the
    dense step on the scattered gradient, and rows never given stay as they are."""
    shape = (50, 3)
    dense, sparse = np.zeros(shape), np.zeros(shape)
    a, b = fo.SGD([dense], lr=0.1, **hyper), fo.SGD([sparse], lr=0.1, **hyper)
    stream = sparse_stream(shape, 12, np.float64, k=4)
    for t, (idx, values) in enumerate(stream):
        g = np.zeros(shape)
        np.add.at(g, idx, values)
        a.step([g])
        b.step([fo.RowSparse(idx, values)])
        if t == 6:  # the rows moving are found again from the state after a load
            b.load_state_dict(b.state_dict())
    np.testing.assert_allclose(sparse, dense, rtol=1e-14, atol=1e-15)
    given = np.unique(np.concatenate([idx for idx, _ in stream]))
    assert not np.delete(sparse, given, axis=0).any() and (sparse[given] != 0).all()


def test_rows_absent_keep_their_values_and_state():
    table = np.ones((100, 8), np.float32)
    opt = fo.SparseAdam([table], lr=0.1)
    opt.step([np.full((100, 8), 0.5, np.float32)])  # every row gets moments
    before_p, before_m = table.copy(), opt.state_dict()["state"][0]["exp_avg"].copy()
    opt.step([fo.RowSparse(np.array([5, 50]), np.ones((2, 8), np.float32))])
    moved = np.flatnonzero((table != before_p).any(axis=1))
    assert moved.tolist() == [5, 50]
    m = opt.state_dict()["state"][0]["exp_avg"]
    assert np.array_equal(np.delete(m, [5, 50], axis=0), np.delete(before_m, [5, 50], axis=0))  # lazy: not decayed


@pytest.mark.parametrize("threads", [1, 2])
def test_threads_give_the_same_result(threads):
    shape = (5000, 16)
    results = []
    before = fo.get_num_threads()
    try:
        for n in (1, threads):
            fo.set_num_threads(n)
            p = np.zeros(shape, np.float32)
            opt = fo.RowWiseAdagrad([p], lr=0.1)
            for idx, values in sparse_stream(shape, 4, np.float32, k=3000):
                opt.step([fo.RowSparse(idx, values)])
            results.append(p)
    finally:
        fo.set_num_threads(before)
    assert np.array_equal(*results)


def test_bad_gradients_are_refused_naming_the_parameter_before_anything_moves():
    table, other = np.zeros((5, 2)), np.zeros(3)
    opt = fo.SparseAdam({"emb": table, "w": other}, lr=0.1)
    good, empty = np.ones(3), opt.state_dict()["state"]
    cases = [
        (fo.RowSparse(np.array([1, 5]), np.ones((2, 2))), ValueError, "parameter 'emb': row index 5 is out of range for 5 rows"),
        (fo.RowSparse(np.array([-1]), np.ones((1, 2))), ValueError, "row index -1 is out of range"),
        (fo.RowSparse(np.array([1]), np.ones((1, 3))), ValueError, r"values of the row-sparse gradient of parameter 'emb' has shape \(1, 3\), but it must be \(1, 2\) for the parameter's \(5, 2\)"),
        (fo.RowSparse(np.array([1]), np.ones((1, 2), np.float32)), TypeError, "dtype float32, but the parameter's dtype is float64"),
        (fo.RowSparse(np.array([1]), np.ones((2, 1, 2))[:1, 0]), None, None),  # a view: contiguous, accepted
        (fo.RowSparse(np.array([0, 1]), np.ones((2, 4))[:, ::2]), ValueError, "not C-contiguous"),
    ]
    for g, error, message in cases:
        if error is None:
            continue
        with pytest.raises(error, match=message):
            opt.step({"w": good, "emb": g})
        assert not table.any() and not other.any() and opt.state_dict()["state"] == empty
    with pytest.raises(ValueError, match="0-d, so it has no rows"):
        fo.SGD([np.zeros(())], lr=0.1).step([fo.RowSparse(np.array([0]), np.ones(1))])
    with pytest.raises(ValueError, match="gradient of parameter 0 aliases the parameter itself"):
        fo.SGD([table], lr=0.1).step([fo.RowSparse(np.array([0, 1, 2, 3, 4]), table)])


def test_construction_checks():
    with pytest.raises(ValueError, match="indices must be 1-D"):
        fo.RowSparse(np.zeros((2, 1), np.int64), np.ones((2, 3)))
    with pytest.raises(TypeError, match="indices must be integers"):
        fo.RowSparse(np.array([0.0]), np.ones((1, 3)))
    with pytest.raises(ValueError, match="one row per index: 2 indices"):
        fo.RowSparse(np.array([0, 1]), np.ones((3, 3)))
    g = fo.RowSparse(np.array([2, 0], np.int32), np.ones((2, 3), np.float32))
    assert g.indices.dtype == np.int64 and g.indices.tolist() == [2, 0] and "2 rows" in repr(g)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: fo.Adam([p]), r"dense gradients only \(SGD, Adagrad, SparseAdam and RowWiseAdagrad take row-sparse ones\)"),
        (lambda p: fo.SGD([p], lr=0.1, weight_decay=0.1), "row-sparse gradients without weight_decay only, as torch"),
        (lambda p: fo.Adagrad([p], weight_decay=0.1), "row-sparse gradients without weight_decay only, as torch"),
        (lambda p: fo.Adafactor([p]), "dense gradients only"),
    ],
)
def test_rules_that_cannot_take_them_say_so(make, message):
    p = np.zeros((4, 2))
    opt = make(p)
    with pytest.raises(ValueError, match="gradient of parameter 0 is row-sparse; this rule takes " + message):
        opt.step([fo.RowSparse(np.array([1]), np.ones((1, 2)))])
    assert not p.any()


def test_nonfinite_values_and_clipping():
    table = np.zeros((6, 2))
    opt = fo.SGD([table], lr=1.0)
    with pytest.raises(FloatingPointError, match="gradient of parameter 0 holds inf or NaN"):
        opt.step([fo.RowSparse(np.array([1, 2]), np.array([[1.0, 1.0], [np.nan, 0.0]]))])
    assert not table.any()
    opt.max_grad_norm = 1.0
    opt.step([fo.RowSparse(np.array([1, 1]), np.array([[3.0, 0.0], [0.0, 4.0]]))])  # coalesced: (3, 4), norm 5
    assert opt.last_grad_norm == pytest.approx(5.0)
    np.testing.assert_allclose(table[1], [-0.6, -0.8], rtol=1e-6)


def test_mixed_dense_sparse_and_none_in_one_step_and_checkpoints():
    shapes = [(30, 4), (7,), (12, 3)]
    a = [np.linspace(-1, 1, int(np.prod(s))).reshape(s) for s in shapes]
    b = [x.copy() for x in a]
    opt_a, opt_b = fo.RowWiseAdagrad(a, lr=0.1), fo.RowWiseAdagrad(b, lr=0.1)
    rng = np.random.default_rng(0)
    for t in range(6):
        idx = rng.integers(0, 30, 5)
        values = rng.standard_normal((5, 4))
        dense = np.zeros((30, 4))
        np.add.at(dense, idx, values)
        other = [rng.standard_normal(7), None if t % 2 else rng.standard_normal((12, 3))]
        # Rows without gradient: zero rows change a row-wise sum by nothing and the row not at all.
        opt_a.step([fo.RowSparse(idx, values)] + other)
        opt_b.step([dense] + other)
        if t == 2:
            saved = opt_a.state_dict()
            assert saved["state"][0]["sum"].shape == (30,)
            opt_a.load_state_dict(saved)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-13, atol=1e-15)


def test_a_state_of_the_wrong_shape_is_refused_at_load():
    opt = fo.RowWiseAdagrad([np.zeros((4, 3))])
    opt.step([np.ones((4, 3))])
    saved = opt.state_dict()
    saved["state"][0]["sum"] = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"state 'sum' of parameter 0 has shape \(4, 3\), but it must be \(4,\)"):
        opt.load_state_dict(saved)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "name, hyper",
    [("SparseAdam", dict(lr=0.01)), ("SparseAdam", dict(lr=0.01, maximize=True)), ("Adagrad", dict(lr=0.1, lr_decay=0.01)),
     ("SGD", dict(lr=0.1)), ("SGD", dict(lr=0.1, momentum=0.9)), ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True))],
)
def test_matches_torch_sparse(name, hyper, dtype):
    torch = pytest.importorskip("torch")
    p = np.random.default_rng(2).standard_normal(SHAPE).astype(dtype)
    tp = torch.tensor(p.copy(), requires_grad=True)
    ours, theirs = getattr(fo, name)([p], **hyper), getattr(torch.optim, name)([tp], **hyper)
    with torch.sparse.check_sparse_tensor_invariants():  # torch warns when they are left implicit
        for idx, values in sparse_stream(SHAPE, 100, dtype, seed=5):
            ours.step([fo.RowSparse(idx, values)])
            tp.grad = torch.sparse_coo_tensor(torch.from_numpy(idx)[None], torch.from_numpy(values), SHAPE)
            theirs.step()
    # Parameters grow to about 15 here: float32's absolute error grows with them (duplicates are summed in another order).
    tol = dict(rtol=2e-5, atol=1e-5) if dtype == np.float32 else tolerance(dtype)
    np.testing.assert_allclose(p, tp.detach().numpy(), **tol)
    for slot, value in theirs.state[tp].items():
        if slot != "step":
            value = value.to_dense() if value.is_sparse else value  # torch's sparse momentum buffer
            np.testing.assert_allclose(ours.state_dict()["state"][0][slot], value.numpy(), **tol)


def test_every_tier_rounds_the_same():
    results = []
    for t in fo.available_tiers():
        _core.select_tier(t)
        p = np.zeros(SHAPE, np.float32)
        opt = fo.SparseAdam([p], lr=0.01)
        for idx, values in sparse_stream(SHAPE, 5, np.float32):
            opt.step([fo.RowSparse(idx, values)])
        results.append(p)
    _core.select_tier(fo.available_tiers()[-1])
    assert all(np.array_equal(results[0], r) for r in results[1:])


@pytest.mark.parametrize("name, hyper", [("SparseAdam", dict(lr=0.05)), ("Adagrad", dict(lr=0.1)), ("SGD", dict(lr=0.1, momentum=0.9))])
def test_torch_adapter_takes_embedding_gradients(name, hyper):
    """nn.Embedding(sparse=True) gives uncoalesced sparse_coo gradients: fastoptim.torch sums them in C++."""
    torch = pytest.importorskip("torch")
    import fastoptim.torch as ft

    torch.manual_seed(0)
    ours, theirs = torch.nn.Embedding(200, 8, sparse=True), torch.nn.Embedding(200, 8, sparse=True)
    theirs.load_state_dict(ours.state_dict())
    start = ours.weight.detach().clone()
    opts = getattr(ft, name)(ours.parameters(), **hyper), getattr(torch.optim, name)(theirs.parameters(), **hyper)
    seen = set()
    with torch.sparse.check_sparse_tensor_invariants():
        for _ in range(10):
            idx = torch.randint(0, 200, (16,))
            seen.update(idx.tolist())
            for emb, opt in zip((ours, theirs), opts):
                opt.zero_grad()
                emb(idx).pow(2).sum().backward()
                opt.step()
    torch.testing.assert_close(ours.weight, theirs.weight, rtol=1e-5, atol=1e-6)
    never = sorted(set(range(200)) - seen)
    assert never and torch.equal(ours.weight[never], start[never])


def test_torch_adapter_refuses_gradients_sparse_in_two_dimensions():
    torch = pytest.importorskip("torch")
    import fastoptim.torch as ft

    w = torch.zeros(4, 3, requires_grad=True)
    opt = ft.SGD([w], lr=0.1)
    with torch.sparse.check_sparse_tensor_invariants():
        w.grad = torch.sparse_coo_tensor(torch.tensor([[0], [1]]), torch.tensor([1.0]), (4, 3))
    with pytest.raises(ValueError, match="gradient of parameter 0 is sparse in 2 dimensions"):
        opt.step()
    assert not w.detach().any()
