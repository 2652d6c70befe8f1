"""L-BFGS against torch.optim.LBFGS, with and without the strong-Wolfe line search, and its API."""

from __future__ import annotations

import numpy as np
import pytest

import fastoptim as fo


def rosenbrock(x):
    """The n-dimensional Rosenbrock function and its gradient."""
    f = np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    g = np.zeros_like(x)
    g[:-1] = -400 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2 * (1 - x[:-1])
    g[1:] += 200 * (x[1:] - x[:-1] ** 2)
    return f, g


def start(dtype=np.float64):
    return [np.linspace(-1.2, 1.0, 6).astype(dtype), np.full((2, 2), 0.5, dtype)]


def split(g):
    return [g[:6].copy(), g[6:].reshape(2, 2).copy()]


@pytest.mark.parametrize("kw", [dict(lr=0.01), dict(line_search_fn="strong_wolfe"), dict(line_search_fn="strong_wolfe", history_size=3, max_iter=7)], ids=str)
def test_matches_torch(kw):
    """float64: the same iterations and evaluations in every step() and the same points; the
    line search's bracketing amplifies rounding in Rosenbrock's valley to 1e-9 before both settle."""
    torch = pytest.importorskip("torch")
    xs = start()
    opt = fo.LBFGS(xs, **kw)

    def closure():
        f, g = rosenbrock(np.concatenate([x.ravel() for x in xs]))
        return f, split(g)

    ts = [torch.tensor(x, requires_grad=True) for x in start()]
    topt = torch.optim.LBFGS(ts, **kw)

    def tclosure():
        topt.zero_grad()
        x = torch.cat([t.reshape(-1) for t in ts])
        f = torch.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
        f.backward()
        return f

    for _ in range(5):
        loss = opt.step(closure)
        tloss = topt.step(tclosure)
        assert loss == pytest.approx(float(tloss.detach()), rel=1e-8, abs=1e-10)
        assert (opt.state["func_evals"], opt.state["n_iter"]) == (topt.state[ts[0]]["func_evals"], topt.state[ts[0]]["n_iter"])
        for x, t in zip(xs, ts):
            np.testing.assert_allclose(x, t.detach().numpy(), rtol=1e-7, atol=1e-8)


def test_float32_converges():
    xs = start(np.float32)

    def closure():
        f, g = rosenbrock(np.concatenate([x.ravel() for x in xs]))
        return f, split(g)

    opt = fo.LBFGS(xs, line_search_fn="strong_wolfe", max_iter=50)
    for _ in range(4):
        opt.step(closure)
    assert all(x.dtype == np.float32 for x in xs) and opt.state["d"].dtype == np.float32
    np.testing.assert_allclose(np.concatenate([x.ravel() for x in xs]), 1.0, atol=1e-3)


def test_reaches_the_minimum_and_state_dict_resumes():
    xs = start()

    def closure():
        f, g = rosenbrock(np.concatenate([x.ravel() for x in xs]))
        return f, split(g)

    opt = fo.LBFGS(xs, line_search_fn="strong_wolfe", max_iter=100)
    opt.step(closure)
    saved = opt.state_dict()
    ys = [x.copy() for x in xs]
    other = fo.LBFGS(ys, line_search_fn="strong_wolfe", max_iter=100)
    other.load_state_dict(saved)

    def closure_y():
        f, g = rosenbrock(np.concatenate([y.ravel() for y in ys]))
        return f, split(g)

    opt.step(closure)
    other.step(closure_y)
    for x, y in zip(xs, ys):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_allclose(x, 1.0, atol=1e-5)
    bad = opt.state_dict()
    bad["state"]["d"] = bad["state"]["d"][:3]
    with pytest.raises(ValueError, match=r"the L-BFGS state's 'd' is \(3,\) float64"):
        other.load_state_dict(bad)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="line_search_fn"):
        fo.LBFGS([np.zeros(2)], line_search_fn="armijo")
    with pytest.raises(ValueError, match="one dtype"):
        fo.LBFGS([np.zeros(2), np.zeros(2, np.float32)])
    with pytest.raises(ValueError, match="history_size must be"):
        fo.LBFGS([np.zeros(2)], history_size=0)
    x = np.zeros(2)
    opt = fo.LBFGS([x])
    with pytest.raises(ValueError, match="gradient of parameter 0 has shape"):
        opt.step(lambda: (0.0, [np.ones(3)]))
    assert (x == 0).all()
    with pytest.raises(TypeError, match="needs a closure"):
        opt.step([np.ones(2)])  # type: ignore[arg-type]


def test_add_flat_refuses_what_it_cannot_do_in_place():
    from fastoptim import _core

    memory = np.ones(7)
    a, b = memory[:3], np.ones((2, 2))
    with pytest.raises(ValueError, match=r"params\[0\] shares memory with flat"):
        _core.add_flat([a, b], memory, 1.0)
    with pytest.raises(ValueError, match="flat has 6 elements, the params 7"):
        _core.add_flat([a, b], np.ones(6), 1.0)
    with pytest.raises(ValueError, match=r"params\[1\] and flat have different dtypes"):
        _core.add_flat([a, b.astype(np.float32)], np.ones(7), 1.0)
    assert (memory == 1).all() and (b == 1).all()
    _core.add_flat([a, b], np.arange(7.0), 2.0)
    np.testing.assert_array_equal(a, [1, 3, 5])
    np.testing.assert_array_equal(b, [[7, 9], [11, 13]])


def test_named_parameters_take_named_gradients():
    params = {"a": np.zeros(2), "b": np.zeros(1)}
    opt = fo.LBFGS(params, lr=0.5, max_iter=1)
    opt.step(lambda: (1.0, {"b": np.ones(1), "a": np.array([1.0, -1.0])}))
    np.testing.assert_allclose(params["a"], [-1 / 3 * 0.5, 1 / 3 * 0.5])  # first step: min(1, 1/|g|_1) lr
    np.testing.assert_allclose(params["b"], [-1 / 3 * 0.5])


def test_torch_adapter_keeps_torchs_closure():
    torch = pytest.importorskip("torch")
    import fastoptim.torch as fot

    ts = [torch.tensor(x, requires_grad=True) for x in start()]
    us = [torch.tensor(x, requires_grad=True) for x in start()]
    ours, theirs = fot.LBFGS(ts, line_search_fn="strong_wolfe"), torch.optim.LBFGS(us, line_search_fn="strong_wolfe")

    def make(params, opt):
        def closure():
            opt.zero_grad()
            x = torch.cat([p.reshape(-1) for p in params])
            f = torch.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
            f.backward()
            return f
        return closure

    for _ in range(3):
        a, b = ours.step(make(ts, ours)), theirs.step(make(us, theirs))
        assert float(a.detach()) == pytest.approx(float(b.detach()), rel=1e-8)
    for t, u in zip(ts, us):
        np.testing.assert_allclose(t.detach().numpy(), u.detach().numpy(), rtol=1e-7, atol=1e-8)  # see test_matches_torch
    assert isinstance(ours, torch.optim.Optimizer) and ours.state[ts[0]]["n_iter"] == theirs.state[us[0]]["n_iter"]
