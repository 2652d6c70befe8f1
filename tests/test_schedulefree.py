"""Schedule-Free SGD and AdamW: the float64 reference on every tier, the schedulefree package,
train() and eval(), checkpoints, and the torch twins."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref
from conftest import DTYPES, SHAPES, grad_stream, init_params, tolerance

import fastoptim as fo

CASES = [
    ("ScheduleFreeSGD", ref.schedulefree_sgd, dict(lr=0.1)),
    ("ScheduleFreeSGD", ref.schedulefree_sgd, dict(lr=0.1, momentum=0.8, weight_decay=0.01, warmup_steps=10, r=1.0)),
    ("ScheduleFreeAdamW", ref.schedulefree_adamw, dict(lr=1e-2)),
    ("ScheduleFreeAdamW", ref.schedulefree_adamw, dict(lr=1e-2, betas=(0.8, 0.99), weight_decay=0.05, warmup_steps=20, weight_lr_power=1.0)),
]
IDS = [f"{name}-{i}" for i, (name, _, _) in enumerate(CASES)]
STEPS = 100


def beta1(name, hyper):
    return hyper.get("momentum", 0.9) if name == "ScheduleFreeSGD" else hyper.get("betas", (0.9, 0.999))[0]


def trained(name, hyper, params, grads):
    opt = getattr(fo, name)(params, **hyper)
    opt.train()
    for gs in grads:
        opt.step(gs)
    return opt


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, rule, hyper", CASES, ids=IDS)
def test_matches_reference_then_eval_gives_x(name, rule, hyper, dtype, tier):
    params = init_params(SHAPES, dtype)
    grads = grad_stream(SHAPES, STEPS, dtype)
    expected, states = ref.trajectory(rule, params, grads, **hyper)
    opt = trained(name, hyper, params, grads)
    saved = opt.state_dict()["state"]
    for i, (p, e, s) in enumerate(zip(params, expected, states)):
        np.testing.assert_allclose(p, e, **tolerance(dtype))  # y
        assert set(saved[i]) - {"step"} == set(s)
        for key, value in s.items():
            np.testing.assert_allclose(saved[i][key], value, **tolerance(dtype))
    opt.eval()
    for p, e, s in zip(params, expected, states):
        np.testing.assert_allclose(p, ref.schedulefree_x(e, s["z"], beta1(name, hyper)), **tolerance(dtype))
    opt.train()  # and back to y
    for p, e in zip(params, expected):
        np.testing.assert_allclose(p, e, **tolerance(dtype))


@pytest.mark.parametrize("name, rule, hyper", CASES, ids=IDS)
def test_tiers_are_bit_identical(name, rule, hyper):
    from fastoptim import _core

    results = {}
    for t in fo.available_tiers():
        _core.select_tier(t)
        params = init_params(SHAPES, np.float32)
        trained(name, hyper, params, grad_stream(SHAPES, 20, np.float32))
        results[t] = params
    _core.select_tier(fo.available_tiers()[-1])
    base = results.pop("baseline")
    for t, params in results.items():
        assert all(np.array_equal(p, b) for p, b in zip(params, base)), t


def test_step_needs_train_mode_and_eval_is_idempotent():
    w = np.ones(3)
    opt = fo.ScheduleFreeAdamW([w], lr=0.1)
    with pytest.raises(RuntimeError, match="call optimizer.train"):
        opt.step([np.ones(3)])
    assert (w == 1).all() and opt.state_dict()["state"][0] == {"step": 0}  # nothing happened
    opt.train()
    opt.train()  # twice: still y
    opt.step([np.ones(3)])  # after one step x = y = z: take two
    opt.step([np.ones(3)])
    y = w.copy()
    opt.eval()
    x = w.copy()
    opt.eval()
    assert np.array_equal(w, x) and not np.array_equal(x, y)
    with pytest.raises(RuntimeError):
        opt.step([np.ones(3)])
    assert np.array_equal(w, x)


def test_checkpoint_round_trip_in_eval_mode(tmp_path):
    """The schedulefree package's advice: save in eval mode; load, train() and go on as if never stopped."""
    shapes = [(5,), (3, 4)]
    grads = grad_stream(shapes, 30, np.float64)
    a, b = init_params(shapes, np.float64), init_params(shapes, np.float64)
    trained("ScheduleFreeAdamW", dict(lr=0.01), a, grads)  # without a stop
    half = trained("ScheduleFreeAdamW", dict(lr=0.01), b, grads[:15])
    half.eval()
    half.save(tmp_path / "sf.npz")
    again = fo.ScheduleFreeAdamW(b, lr=0.01)
    again.load(tmp_path / "sf.npz")
    assert not again.param_groups[0]["train_mode"]
    again.train()
    for gs in grads[15:]:
        again.step(gs)
    for p, q in zip(a, b):
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, rule, hyper", CASES, ids=IDS)
def test_matches_schedulefree_package(name, rule, hyper, dtype):
    """Against the schedulefree package for 100 steps, in train mode and after eval()."""
    torch = pytest.importorskip("torch")
    schedulefree = pytest.importorskip("schedulefree")
    peer = {"ScheduleFreeSGD": schedulefree.SGDScheduleFree, "ScheduleFreeAdamW": schedulefree.AdamWScheduleFree}[name]
    params = init_params(SHAPES, dtype)
    grads = grad_stream(SHAPES, STEPS, dtype)
    tparams = [torch.tensor(p) for p in params]
    topt = peer(tparams, **hyper)
    topt.train()
    for gs in grads:
        for p, g in zip(tparams, gs):
            p.grad = torch.tensor(g)
        topt.step()
    opt = trained(name, hyper, params, grads)
    for p, t in zip(params, tparams):
        np.testing.assert_allclose(p, t.numpy(), **tolerance(dtype))
    opt.eval()
    topt.eval()
    for p, t in zip(params, tparams):
        np.testing.assert_allclose(p, t.numpy(), **tolerance(dtype))


@pytest.mark.parametrize("name, rule, hyper", CASES, ids=IDS)
def test_torch_twin_matches_the_numpy_class(name, rule, hyper):
    torch = pytest.importorskip("torch")
    import fastoptim.torch as fot

    params = init_params(SHAPES, np.float32)
    grads = grad_stream(SHAPES, 20, np.float32)
    tparams = [torch.tensor(p) for p in params]
    topt = getattr(fot, name)(tparams, **hyper)
    with pytest.raises(RuntimeError, match="train"):
        topt.step()
    topt.train()
    for gs in grads:
        for p, g in zip(tparams, gs):
            p.grad = torch.tensor(g)
        topt.step()
    opt = trained(name, hyper, params, grads)
    topt.eval()
    opt.eval()
    for p, t in zip(params, tparams):
        assert np.array_equal(p, t.numpy())
