"""A None gradient skips its parameter for that step, as in torch: no state, no step counted."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref
from cases import CASES, IDS
from conftest import grad_stream, init_params, tolerance

import fastoptim as fo

SHAPES = [(5,), (3, 4), (7,)]
# Which parameters have no gradient at each step (indices), over 8 steps.
MISSING = [set(), {1}, {0, 2}, set(), {1}, {0, 1, 2}, {2}, set()]


@pytest.mark.parametrize("name, rule, hyper", CASES, ids=IDS)
def test_none_gradients_skip_their_parameter_with_its_own_step_count(name, rule, hyper):
    params = init_params(SHAPES, np.float64)
    expected = [p.copy() for p in params]
    states = [{} for _ in params]
    counts = [0] * len(params)
    opt = getattr(fo, name)([{"params": params[:2]}, {"params": params[2:]}], **hyper)
    for gs, missing in zip(grad_stream(SHAPES, len(MISSING), np.float64), MISSING):
        opt.step([None if i in missing else g for i, g in enumerate(gs)])
        for i, g in enumerate(gs):
            if i not in missing:
                counts[i] += 1
                expected[i] = rule(expected[i], g, states[i], counts[i], **hyper)
    for p, e in zip(params, expected):
        np.testing.assert_allclose(p, e, **tolerance(np.float64))
    assert [opt.state_dict()["state"][i]["step"] for i in range(3)] == counts


def test_a_parameter_without_gradients_gets_no_state():
    a, b = np.ones(3), np.ones(2)
    opt = fo.Adam({"a": a, "b": b}, lr=0.1)
    opt.step({"a": np.ones(3), "b": None})
    state = opt.state_dict()["state"]
    assert state["b"] == {"step": 0} and state["a"]["step"] == 1 and np.array_equal(b, np.ones(2))


def test_none_with_clipping_and_nonfinite_names_the_right_parameter():
    params = init_params(SHAPES, np.float32)
    opt = fo.SGD(params, lr=0.1, max_grad_norm=1.0)
    gs = grad_stream(SHAPES, 1, np.float32, scale=5.0)[0]
    present = [gs[0], gs[2]]
    norm = fo.clip_grad_norm([g.copy() for g in present], 1.0)
    opt.step([gs[0], None, gs[2]])
    assert opt.last_grad_norm == norm
    bad = gs[2].copy()
    bad[3] = np.nan
    with pytest.raises(FloatingPointError, match="gradient of parameter 2 holds inf or NaN"):
        opt.step([None, gs[1], bad])


def test_every_gradient_none_changes_nothing():
    p = np.ones(4)
    opt = fo.Adam([p], lr=0.1)
    opt.step([None])
    assert np.array_equal(p, np.ones(4)) and opt.state_dict()["state"] == {0: {"step": 0}}


def test_none_matches_the_reference_through_the_float64_trajectory():
    """The same as torch's skip: a run with a None step equals one without that step for that parameter."""
    shapes = [(6,)]
    grads = grad_stream(shapes, 5, np.float64)
    with_none = init_params(shapes, np.float64)
    opt = fo.Adam(with_none, lr=0.05)
    for i, gs in enumerate(grads):
        opt.step([None] if i == 2 else gs)
    without = init_params(shapes, np.float64)
    expected, _ = ref.trajectory(ref.adam, without, [g for i, g in enumerate(grads) if i != 2], lr=0.05)
    np.testing.assert_allclose(with_none[0], expected[0], rtol=1e-13)
