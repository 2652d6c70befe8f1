"""Muon: Newton-Schulz against float64, the float64 reference, torch.optim.Muon, bfloat16 mode, refusals."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref

import fastoptim as fo
from fastoptim.rules.muon import newton_schulz

SHAPES = [(64, 32), (16, 48), (5, 5)]
CASES = [dict(lr=0.02), dict(lr=0.02, momentum=0.9, nesterov=False, weight_decay=0.01), dict(lr=0.02, adjust_lr_fn="match_rms_adamw")]


def matrices(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in SHAPES]


def test_newton_schulz_float32_is_float64_to_rounding_and_bfloat16_within_2_percent():
    for g in matrices(np.float32, seed=5):
        exact = ref.newton_schulz(g)
        f32, bf16 = newton_schulz(g), newton_schulz(g, ns_dtype="bfloat16")
        assert np.linalg.norm(f32 - exact) / np.linalg.norm(exact) < 1e-5
        assert 1e-3 < np.linalg.norm(bf16 - exact) / np.linalg.norm(exact) < 0.03  # the docstring's 1-2%
        s = np.linalg.svd(exact, compute_uv=False)
        assert s.min() > 0.6 and s.max() < 1.25  # singular values pushed into about [0.7, 1.2]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", CASES, ids=str)
def test_matches_reference(kw, dtype):
    params = matrices(dtype)
    expected = [p.astype(np.float64) for p in params]
    states = [{} for _ in params]
    opt = fo.Muon(params, **kw)
    rng = np.random.default_rng(1)
    for t in range(1, 31):
        grads = [rng.standard_normal(p.shape).astype(dtype) for p in params]
        opt.step(grads)
        expected = [ref.muon(e, g.astype(np.float64), s, t, **kw) for e, g, s in zip(expected, grads, states)]
    for p, e in zip(params, expected):
        np.testing.assert_allclose(p, e, rtol=2e-5, atol=2e-6)  # the iteration runs in float32
    saved = opt.state_dict()["state"]
    for i, s in enumerate(states):
        assert saved[i]["step"] == 30
        np.testing.assert_allclose(saved[i]["momentum_buffer"], s["momentum_buffer"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("ns_dtype, tolerance", [("float32", 3e-3), ("bfloat16", 1e-3)])
def test_close_to_torch_muon(ns_dtype, tolerance):
    """torch rounds the iteration to bfloat16: over 20 steps, float32 mode stays within 3e-3 of its
    parameters (relative to their largest), bfloat16 mode within 1e-3."""
    torch = pytest.importorskip("torch")
    params = matrices(np.float32)
    tparams = [torch.tensor(p) for p in params]
    opt, topt = fo.Muon(params, lr=0.02, ns_dtype=ns_dtype), torch.optim.Muon(tparams, lr=0.02)
    rng = np.random.default_rng(2)
    for _ in range(20):
        grads = [rng.standard_normal(p.shape).astype(np.float32) for p in params]
        opt.step(grads)
        for t, g in zip(tparams, grads):
            t.grad = torch.tensor(g)
        topt.step()
    for p, t in zip(params, tparams):
        assert np.abs(p - t.numpy()).max() < tolerance * np.abs(t.numpy()).max()


def test_refusals_name_the_parameter_and_change_nothing():
    with pytest.raises(ValueError, match=r"Muon updates 2-D parameters; parameter 1 has shape \(3,\)"):
        fo.Muon([np.zeros((2, 2)), np.zeros(3)])
    with pytest.raises(ValueError, match="adjust_lr_fn must be"):
        fo.Muon([np.zeros((2, 2))], adjust_lr_fn="other")
    with pytest.raises(ValueError, match="ns_dtype must be"):
        fo.Muon([np.zeros((2, 2))], ns_dtype="float16")
    a, b = np.ones((2, 3)), np.ones((3, 2))
    opt = fo.Muon([a, b])
    with pytest.raises(FloatingPointError, match="gradient of parameter 1 holds inf or NaN"):
        opt.step([np.ones((2, 3)), np.full((3, 2), np.nan)])
    with pytest.raises(ValueError, match="gradient of parameter 0 must be a float64 array of shape"):
        opt.step([np.ones((3, 2)), np.ones((3, 2))])
    assert (a == 1).all() and (b == 1).all() and opt.state_dict()["state"] == {}


def test_state_dict_round_trip_and_named_params():
    params = {"w": np.ones((3, 4)), "v": np.ones((2, 2))}
    opt = fo.Muon(params, lr=0.1)
    opt.step({"w": np.full((3, 4), 0.5), "v": np.eye(2)})
    saved = opt.state_dict()
    other_params = {"w": params["w"].copy(), "v": params["v"].copy()}
    other = fo.Muon(other_params, lr=0.1)
    other.load_state_dict(saved)
    grads = {"w": np.arange(12.0).reshape(3, 4), "v": np.ones((2, 2))}
    opt.step(grads)
    other.step(grads)
    for k in params:
        np.testing.assert_array_equal(params[k], other_params[k])
    bad = opt.state_dict()
    bad["state"][0]["momentum_buffer"] = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"state of parameter 0: 'momentum_buffer' is \(4, 3\) float64"):
        other.load_state_dict(bad)


def test_torch_twin_matches_the_numpy_class_and_follows_a_scheduler():
    torch = pytest.importorskip("torch")
    import fastoptim.torch as fot

    params = matrices(np.float32)
    tparams = [torch.tensor(p) for p in params]
    opt, topt = fo.Muon(params, lr=0.02), fot.Muon(tparams, lr=0.02)
    sched = torch.optim.lr_scheduler.StepLR(topt, step_size=2, gamma=0.5)
    rng = np.random.default_rng(3)
    for t in range(6):
        grads = [rng.standard_normal(p.shape).astype(np.float32) for p in params]
        for tp, g in zip(tparams, grads):
            tp.grad = torch.tensor(g)
        topt.step()
        sched.step()
        opt.step(grads)
        for group in opt.param_groups:
            group["lr"] = 0.02 * 0.5 ** ((t + 1) // 2)
    for p, tp in zip(params, tparams):
        assert np.array_equal(p, tp.numpy())
    with pytest.raises(ValueError, match="Muon updates 2-D parameters"):
        fot.Muon([torch.zeros(3)])
