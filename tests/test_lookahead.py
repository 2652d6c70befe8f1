"""Lookahead around fastoptim optimizers: the float64 reference, pytorch-optimizer's Lookahead, None
gradients, state_dict, and fastoptim.torch."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref
from conftest import DTYPES, SHAPES, grad_stream, init_params, tolerance

import fastoptim as fo

INNER = [("Adam", ref.adam, dict(lr=1e-2)), ("SGD", ref.sgd, dict(lr=0.05, momentum=0.9))]
SETTINGS = [dict(k=5, alpha=0.5), dict(k=3, alpha=0.8)]


def reference_run(rule, hyper, params, grads, k, alpha):
    """The inner rule in float64, and every k steps theta = phi + alpha (theta - phi), phi = theta."""
    ps = [np.asarray(p, np.float64).copy() for p in params]
    slow = [p.copy() for p in ps]
    states = [{} for _ in ps]
    for t, gs in enumerate(grads, start=1):
        ps = [rule(p, np.asarray(g, np.float64), s, t, **hyper) for p, g, s in zip(ps, gs, states)]
        if t % k == 0:
            ps = [phi + alpha * (p - phi) for p, phi in zip(ps, slow)]
            slow = [p.copy() for p in ps]
    return ps


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("setting", SETTINGS, ids=str)
@pytest.mark.parametrize("name, rule, hyper", INNER, ids=[n for n, _, _ in INNER])
def test_matches_reference(name, rule, hyper, setting, dtype):
    params = init_params(SHAPES, dtype)
    grads = grad_stream(SHAPES, 100, dtype)
    expected = reference_run(rule, hyper, params, grads, **setting)
    opt = fo.Lookahead(getattr(fo, name)(params, **hyper), **setting)
    for gs in grads:
        opt.step(gs)
    for p, e in zip(params, expected):
        np.testing.assert_allclose(p, e, **tolerance(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("setting", SETTINGS, ids=str)
@pytest.mark.parametrize("name, rule, hyper", INNER, ids=[n for n, _, _ in INNER])
def test_matches_pytorch_optimizer(name, rule, hyper, setting, dtype):
    torch = pytest.importorskip("torch")
    po = pytest.importorskip("pytorch_optimizer")
    params = init_params(SHAPES, dtype)
    grads = grad_stream(SHAPES, 100, dtype)
    tparams = [torch.tensor(p) for p in params]
    topt = po.Lookahead(getattr(torch.optim, name)(tparams, **hyper), **setting)
    opt = fo.Lookahead(getattr(fo, name)(params, **hyper), **setting)
    for gs in grads:
        for p, g in zip(tparams, gs):
            p.grad = torch.tensor(g)
        topt.step()
        opt.step(gs)
    for p, t in zip(params, tparams):
        np.testing.assert_allclose(p, t.numpy(), **tolerance(dtype))


def test_a_parameter_without_gradient_at_the_pull_is_left_alone():
    a, b = np.zeros(3), np.zeros(3)
    opt = fo.Lookahead(fo.SGD([a, b], lr=0.1), k=2)
    opt.step([np.ones(3), np.ones(3)])
    opt.step([np.ones(3), None])  # b sits out the pulling step
    np.testing.assert_allclose(a, -0.1)  # -0.2, pulled half way back to 0
    np.testing.assert_allclose(b, -0.1)  # one step, not pulled
    opt.step([np.ones(3), np.ones(3)])
    opt.step([np.ones(3), np.ones(3)])
    np.testing.assert_allclose(b, (-0.3 + 0.0) / 2)  # its slow copy was still the start


def test_state_dict_resumes_mid_window_and_bad_slow_copies_change_nothing():
    shapes = [(5,), (3, 4)]
    grads = grad_stream(shapes, 23, np.float64)
    a, b = init_params(shapes, np.float64), init_params(shapes, np.float64)
    straight = fo.Lookahead(fo.Adam(a, lr=0.01), k=4)
    for gs in grads:
        straight.step(gs)
    first = fo.Lookahead(fo.Adam(b, lr=0.01), k=4)
    for gs in grads[:10]:
        first.step(gs)
    saved = first.state_dict()
    second = fo.Lookahead(fo.Adam(b, lr=0.01), k=4)
    bad = dict(saved, slow_params=[[s[:2] if s.ndim == 1 else s for s in group] for group in saved["slow_params"]])
    before = second.state_dict()
    with pytest.raises(ValueError, match="slow copy of parameter 0 in group 0 has shape"):
        second.load_state_dict(bad)
    after = second.state_dict()
    assert after["counters"] == before["counters"] and after["base_optimizer"]["state"][0] == {"step": 0}
    second.load_state_dict(saved)
    assert second.counters == first.counters == [2]
    for gs in grads[10:]:
        second.step(gs)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p, q)


def test_bad_settings_and_inner_optimizers_are_refused():
    w = np.zeros(2)
    for kw, match in ((dict(k=0), "k must be an integer >= 1"), (dict(k=2.5), "k must be"), (dict(alpha=1.5), "alpha must be in")):
        with pytest.raises(ValueError, match=match):
            fo.Lookahead(fo.SGD([w], lr=0.1), **kw)
    with pytest.raises(TypeError, match="wraps a fastoptim optimizer"):
        fo.Lookahead(object())


def test_wraps_fastoptim_torch_optimizers_too():
    torch = pytest.importorskip("torch")
    import fastoptim.torch as fot

    params = init_params(SHAPES, np.float32)
    grads = grad_stream(SHAPES, 12, np.float32)
    tparams = [torch.tensor(p) for p in params]
    topt = fot.Lookahead(fot.Adam(tparams, lr=0.01), k=3)
    opt = fo.Lookahead(fo.Adam(params, lr=0.01), k=3)
    for gs in grads:
        for p, g in zip(tparams, gs):
            p.grad = torch.tensor(g)
        topt.step()
        opt.step(gs)
    for p, t in zip(params, tparams):
        assert np.array_equal(p, t.numpy())
