"""Every rule and option against the float64 reference, on every SIMD tier, in float32 and float64."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import DTYPES, SHAPES, grad_stream, init_params, tolerance

import fastoptim as fo
import reference as ref
from cases import CASES, IDS
from fastoptim import _core

STEPS = 50


def run_fastoptim(name, hyper, params, grads, **kw):
    opt = getattr(fo, name)(params, **hyper, **kw)
    for gs in grads:
        opt.step(gs)
    return opt


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, rule, hyper", CASES, ids=IDS)
def test_matches_reference(name, rule, hyper, dtype, tier):
    params = init_params(SHAPES, dtype)
    grads = grad_stream(SHAPES, STEPS, dtype)
    expected, states = ref.trajectory(rule, params, grads, **hyper)
    opt = run_fastoptim(name, hyper, params, grads)
    for p, e in zip(params, expected):
        assert p.dtype == dtype
        np.testing.assert_allclose(p, e, **tolerance(dtype))
    saved = opt.state_dict()["state"]
    for i, s in enumerate(states):
        assert saved[i]["step"] == STEPS
        assert set(saved[i]) - {"step"} == set(s)
        for slot, value in s.items():
            np.testing.assert_allclose(saved[i][slot], value, **tolerance(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, rule, hyper", CASES, ids=IDS)
def test_tiers_are_bit_identical(name, rule, hyper, dtype):
    """Elementwise kernels without FP contraction round the same on every tier."""
    results = {}
    for t in fo.available_tiers():
        _core.select_tier(t)
        assert fo.simd_tier() == t
        params = init_params(SHAPES, dtype)
        run_fastoptim(name, hyper, params, grad_stream(SHAPES, 20, dtype))
        results[t] = params
    _core.select_tier(fo.available_tiers()[-1])
    base = results.pop("baseline")
    for t, params in results.items():
        for p, b in zip(params, base):
            assert np.array_equal(p, b), f"tier {t} differs from baseline"


THREAD_CASES = [c for c in CASES if c[0] in ("SGD", "Adam", "LAMB", "LARS")]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, rule, hyper", THREAD_CASES, ids=[IDS[CASES.index(c)] for c in THREAD_CASES])
def test_threads_give_the_same_result(name, rule, hyper, dtype):
    """Large tensors go through the parallel driver; each element is computed the same way."""
    shapes = [(300_001,), (70_000,), (5,)]
    results = []
    for threads in (1, 2):
        before = fo.get_num_threads()
        fo.set_num_threads(threads)
        try:
            params = init_params(shapes, dtype)
            run_fastoptim(name, hyper, params, grad_stream(shapes, 5, dtype))
        finally:
            fo.set_num_threads(before)
        results.append(params)
    for a, b in zip(*results):
        assert np.array_equal(a, b)
    expected, _ = ref.trajectory(rule, init_params(shapes, dtype), grad_stream(shapes, 5, dtype), **hyper)
    for p, e in zip(results[1], expected):
        np.testing.assert_allclose(p, e, **tolerance(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm_type", [1.0, 2.0, math.inf, 3.0])
def test_clip_grad_norm_is_bit_identical_across_tiers_and_threads(dtype, norm_type):
    shapes = [(300_001,), (70_000,), (5,)]
    outcomes = []
    before = fo.get_num_threads()
    try:
        for t in fo.available_tiers():
            _core.select_tier(t)
            for threads in (1, 2):
                fo.set_num_threads(threads)
                grads = grad_stream(shapes, 1, dtype, scale=3.0)[0]
                outcomes.append((fo.clip_grad_norm(grads, 1.0, norm_type), grads))
    finally:
        fo.set_num_threads(before)
        _core.select_tier(fo.available_tiers()[-1])
    norm, grads = outcomes[0]
    for other_norm, other in outcomes[1:]:
        assert other_norm == norm and all(np.array_equal(a, b) for a, b in zip(grads, other))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, rule, hyper", CASES, ids=IDS)
def test_sparse_gradients(name, rule, hyper, dtype):
    """Mostly-zero gradients, with one tensor whose gradient is zero throughout (norms of 0, sums at
    their initial value)."""
    shapes = [(257,), (16, 16), (9,)]
    grads = grad_stream(shapes, 30, dtype, seed=3)
    mask_rng = np.random.default_rng(4)
    for gs in grads:
        gs[0] *= mask_rng.random(257) < 0.05
        gs[1] *= mask_rng.random((16, 16)) < 0.2
        gs[2][:] = 0
    params = init_params(shapes, dtype)
    expected, _ = ref.trajectory(rule, params, grads, **hyper)
    run_fastoptim(name, hyper, params, grads)
    for p, e in zip(params, expected):
        np.testing.assert_allclose(p, e, **tolerance(dtype))


def test_mixed_dtypes_in_one_group():
    params = [np.ones(5, np.float32), np.ones(5, np.float64)]
    opt = fo.Adam(params, lr=0.1)
    opt.step([np.ones(5, np.float32), np.ones(5, np.float64)])
    np.testing.assert_allclose(params[0], 0.9, rtol=1e-6)
    np.testing.assert_allclose(params[1], 0.9 + 0.1e-8, rtol=1e-12)  # eps = 1e-8 shortens the step


def test_param_groups_take_their_own_settings():
    a, b = np.zeros(3), np.zeros(3)
    opt = fo.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    opt.step([np.ones(3), np.ones(3)])
    np.testing.assert_allclose(a, -0.1)
    np.testing.assert_allclose(b, -0.5)
    assert opt.last_lr == [0.1, 0.5]
    opt.param_groups[0]["lr"] = 0.2  # editable between steps, as in torch
    opt.step([np.ones(3), np.ones(3)])
    np.testing.assert_allclose(a, -0.3)
    assert opt.last_lr == [0.2, 0.5]


def test_momentum_switched_on_later_starts_its_buffer_at_d():
    w = np.zeros(2)
    opt = fo.SGD([w], lr=1.0)
    opt.step([np.ones(2)])
    opt.param_groups[0]["momentum"] = 0.9
    opt.step([np.ones(2)])  # fresh buffer: b = d, so the step is 1, not 0.1
    np.testing.assert_allclose(w, -2.0)
    opt.step([np.ones(2)])  # b = 0.9 * 1 + 1
    np.testing.assert_allclose(w, -3.9)
