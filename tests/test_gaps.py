"""Behaviour the README teaches that needs its own test: scheduled settings for every rule, groups
in checkpoints, 0-d and empty arrays, and the averaged AdaGrad identity."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import reference as ref
from cases import CASES
from conftest import grad_stream, init_params, tolerance

import fastoptim as fo
from fastoptim import schedules as S

# The settings each rule takes as a schedule, and a schedule that moves each one.
SCHEDULED = {
    "SGD": ("weight_decay", "momentum"),
    "Adam": ("weight_decay", "beta1"),
    "AdamW": ("weight_decay", "beta1"),
    "Adagrad": ("weight_decay",),
    "RMSprop": ("weight_decay", "momentum"),
    "Adadelta": ("weight_decay",),
    "Adamax": ("weight_decay", "beta1"),
    "NAdam": ("weight_decay", "beta1"),
    "RAdam": ("weight_decay", "beta1"),
    "Lion": ("weight_decay", "beta1"),
    "LAMB": ("weight_decay", "beta1"),
    "LARS": ("weight_decay", "momentum"),
    "ASGD": ("weight_decay",),
    "Adan": ("weight_decay", "beta1"),
    "AdEMAMix": ("weight_decay", "beta1"),
}
MOVES = {"weight_decay": (0.0, 0.05), "momentum": (0.5, 0.9), "beta1": (0.95, 0.8)}
LAST_CASE = {name: (rule, hyper) for name, rule, hyper in CASES}
STEPS = 12


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, setting", [(n, s) for n, ss in SCHEDULED.items() for s in ss])
def test_a_scheduled_setting_matches_the_reference_step_by_step(name, setting, dtype):
    rule, hyper = LAST_CASE[name]
    start, end = MOVES[setting]
    schedule = S.linear(start, end, STEPS - 2)
    kw = dict(hyper)
    if setting == "beta1":
        betas = hyper.get("betas") or inspect.signature(getattr(fo, name)).parameters["betas"].default
        kw["betas"] = (schedule, *betas[1:])
    else:
        kw[setting] = schedule
    shapes = [(5,), (3, 4)]
    params = init_params(shapes, dtype)
    grads = grad_stream(shapes, STEPS, dtype)
    expected = [p.astype(np.float64) for p in params]
    states = [{} for _ in params]
    opt = getattr(fo, name)(params, **kw)
    for t, gs in enumerate(grads, start=1):
        opt.step(gs)
        value = schedule(t - 1)
        step_hyper = dict(hyper, betas=(value, *betas[1:])) if setting == "beta1" else dict(hyper, **{setting: value})
        expected = [rule(p, g.astype(np.float64), s, t, **step_hyper) for p, g, s in zip(expected, gs, states)]
    for p, e in zip(params, expected):
        np.testing.assert_allclose(p, e, **tolerance(dtype))


def test_checkpoints_with_several_groups_and_skipped_steps_survive_save_and_load(tmp_path):
    def build(ps):
        return fo.Adam([{"params": ps[:1], "lr": 0.1}, {"params": ps[1:], "lr": S.exponential(0.05, 0.9)}], nonfinite="skip")

    shapes = [(4,), (2, 3), (5,)]
    grads = grad_stream(shapes, 10, np.float64)
    straight = init_params(shapes, np.float64)
    opt = build(straight)
    nan = [np.full(s, np.nan) for s in shapes]
    for i, gs in enumerate(grads):
        opt.step(nan if i == 3 else gs)
    first = init_params(shapes, np.float64)
    opt = build(first)
    for i, gs in enumerate(grads[:6]):
        opt.step(nan if i == 3 else gs)
    opt.save(tmp_path / "c.npz")
    resumed = [p.copy() for p in first]
    other = build(resumed)
    other.load(tmp_path / "c.npz")
    assert other.skipped_steps == 1 and other.state_dict()["state"][1]["step"] == 5
    for gs in grads[6:]:
        other.step(gs)
    for a, b in zip(straight, resumed):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("name, rule, hyper", [(n, r, h) for n, (r, h) in LAST_CASE.items()], ids=list(LAST_CASE))
def test_0d_and_empty_arrays(name, rule, hyper):
    params = [np.array(1.5), np.zeros(0), np.zeros((3, 0)), np.ones((2, 2))]
    grads = [[np.array(0.25 * (t + 1)), np.zeros(0), np.zeros((3, 0)), np.full((2, 2), 0.1 * t - 0.2)] for t in range(4)]
    start = [p.copy() for p in params]
    opt = getattr(fo, name)(params, **hyper)
    for gs in grads:
        opt.step(gs)
    expected, _ = ref.trajectory(rule, start, grads, **hyper)
    for p, e in zip(params, expected):
        assert p.shape == e.shape
        np.testing.assert_allclose(p, e, **tolerance(np.float64))
    assert opt.state_dict()["state"][0]["step"] == 4


def test_averaged_adagrad_with_inverse_sqrt_lr_and_no_eps_is_adagrad():
    """The README's identity: Adagrad(average=True, lr=inverse_sqrt(eta), eps=0) == Adagrad(lr=eta)."""
    shapes = [(50,), (4, 6)]
    grads = grad_stream(shapes, 30, np.float64)
    a, b = init_params(shapes, np.float64), init_params(shapes, np.float64)
    averaged = fo.Adagrad(a, lr=S.inverse_sqrt(0.3), average=True, eps=0.0)
    plain = fo.Adagrad(b, lr=0.3, eps=0.0)
    for gs in grads:
        averaged.step(gs)
        plain.step(gs)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-13, atol=1e-15)


def test_torch_flags_are_taken_where_torch_takes_them():
    p = np.zeros(2)
    fo.Adam([p], 1e-3, (0.9, 0.999), 1e-8, 0.0, True, foreach=True, fused=True)  # amsgrad positional
    fo.SGD([p], 0.1, 0.9, 0.0, 0.0, True)  # nesterov positional
    fo.RMSprop([p], 0.01, 0.99, 1e-8, 0.0, 0.0, False, False, None, True)  # maximize positional, as in torch
    fo.Adagrad([p], 0.01, 0.0, 0.0, 0.0, 1e-10, True)  # foreach positional
    with pytest.raises(ValueError, match="capturable=True is for CUDA graphs"):
        fo.Adam([p], capturable=True)
    with pytest.raises(ValueError, match="differentiable=True"):
        fo.SGD([p], differentiable=True)
    with pytest.raises(TypeError):
        fo.Lion([p], foreach=True)  # torch has no Lion: no torch flags to mirror


def test_a_bad_setting_names_its_group():
    with pytest.raises(ValueError, match=r"invalid lr=-1: must be >= 0 \(param group 1\)"):
        fo.SGD([{"params": [np.zeros(2)]}, {"params": [np.zeros(2)], "lr": -1.0}], lr=0.1)
