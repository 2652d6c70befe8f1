"""The same gradient stream through fastoptim and torch.optim (skipped when torch is absent)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DTYPES, SHAPES, grad_stream, init_params, tolerance
from cases import IDS, PYTORCH_OPTIMIZER_CASES, TORCH_CASES

import fastoptim as fo
from fastoptim import schedules as S

torch = pytest.importorskip("torch")

STEPS = 100


def torch_trajectory(name, hyper, params, grads, library=None):
    # torch keeps scalar state (NAdam's mu_product, every step count) in the default dtype: float64
    # parameters need a float64 default for torch to carry it as fastoptim does.
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64 if params[0].dtype == np.float64 else torch.float32)
    try:
        tparams = [torch.tensor(p) for p in params]
        opt = getattr(library or torch.optim, name)(tparams, **hyper)
        for gs in grads:
            for p, g in zip(tparams, gs):
                p.grad = torch.tensor(g)
            opt.step()
    finally:
        torch.set_default_dtype(before)
    return [p.numpy() for p in tparams], [opt.state[p] for p in tparams]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, rule, hyper", [c for _, c in TORCH_CASES], ids=[IDS[i] for i, _ in TORCH_CASES])
def test_matches_torch(name, rule, hyper, dtype):
    params = init_params(SHAPES, dtype)
    grads = grad_stream(SHAPES, STEPS, dtype)
    expected, tstates = torch_trajectory(name, hyper, params, grads)
    opt = getattr(fo, name)(params, **hyper)
    for gs in grads:
        opt.step(gs)
    state = opt.state_dict()["state"]
    for i, (p, e) in enumerate(zip(params, expected)):
        np.testing.assert_allclose(p, e, **tolerance(dtype))
        for slot, value in tstates[i].items():
            if slot == "step":
                assert int(value) == state[i]["step"]
            elif value is not None:
                np.testing.assert_allclose(state[i][slot], value.numpy(), **tolerance(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, rule, hyper", [c for _, c in PYTORCH_OPTIMIZER_CASES], ids=[IDS[i] for i, _ in PYTORCH_OPTIMIZER_CASES])
def test_matches_pytorch_optimizer(name, rule, hyper, dtype):
    """Adan and AdEMAMix against the pytorch-optimizer package, whose names and defaults they take."""
    library = pytest.importorskip("pytorch_optimizer")
    params = init_params(SHAPES, dtype)
    grads = grad_stream(SHAPES, 100, dtype)
    expected, tstates = torch_trajectory(name, hyper, params, grads, library)
    opt = getattr(fo, name)(params, **hyper)
    for gs in grads:
        opt.step(gs)
    state = opt.state_dict()["state"]
    for i, (p, e) in enumerate(zip(params, expected)):
        np.testing.assert_allclose(p, e, **tolerance(dtype))
        for slot, value in tstates[i].items():
            np.testing.assert_allclose(state[i][slot], value.numpy(), **tolerance(dtype), err_msg=slot)


def test_zero_copy_views_of_torch_tensors():
    """A CPU tensor's .numpy() view is updated in place: torch sees every step."""
    t = torch.zeros(1000)
    opt = fo.Adam([t.numpy()], lr=0.1)
    opt.step([np.ones(1000, np.float32)])
    assert torch.allclose(t, torch.full((1000,), -0.1), atol=1e-6)


# -- schedules against torch.optim.lr_scheduler ---------------------------------------------------

N = 250
LRS = torch.optim.lr_scheduler if torch is not None else None
SCHEDULE_CASES = [
    (lambda o: LRS.StepLR(o, step_size=7, gamma=0.5), S.step(0.1, 7, 0.5), N),
    (lambda o: LRS.MultiStepLR(o, milestones=[10, 60, 61], gamma=0.3), S.multistep(0.1, [10, 60, 61], 0.3), N),
    (lambda o: LRS.ExponentialLR(o, gamma=0.98), S.exponential(0.1, 0.98), N),
    (lambda o: LRS.PolynomialLR(o, total_iters=120, power=2.0), S.polynomial(0.1, 0.0, 120, 2.0), N),
    (lambda o: LRS.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=30), S.linear(0.01, 0.1, 30), N),
    (lambda o: LRS.CosineAnnealingLR(o, T_max=N, eta_min=0.001), S.cosine(0.1, N, 0.001), N + 1),
    (lambda o: LRS.CosineAnnealingWarmRestarts(o, T_0=13), S.cosine_restarts(0.1, 13), N),
    (lambda o: LRS.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=0.01), S.cosine_restarts(0.1, 5, 2, 0.01), N),
    (lambda o: LRS.OneCycleLR(o, max_lr=1.0, total_steps=N), S.one_cycle(1.0, N), N),
    (
        lambda o: LRS.OneCycleLR(o, max_lr=0.5, total_steps=N, pct_start=0.2, anneal_strategy="linear", div_factor=5, final_div_factor=50, three_phase=True),
        S.one_cycle(0.5, N, pct_start=0.2, anneal="linear", div_factor=5, final_div_factor=50, three_phase=True),
        N,
    ),
    (lambda o: LRS.CyclicLR(o, 0.01, 0.1, step_size_up=20, cycle_momentum=False), S.cyclic(0.01, 0.1, 20), N),
    (
        lambda o: LRS.CyclicLR(o, 0.01, 0.1, step_size_up=10, step_size_down=25, mode="triangular2", cycle_momentum=False),
        S.cyclic(0.01, 0.1, 10, 25, mode="triangular2"),
        N,
    ),
    (
        lambda o: LRS.CyclicLR(o, 0.01, 0.1, step_size_up=15, mode="exp_range", gamma=0.99, cycle_momentum=False),
        S.cyclic(0.01, 0.1, 15, mode="exp_range", gamma=0.99),
        N,
    ),
    (
        lambda o: LRS.SequentialLR(o, [LRS.LinearLR(o, 0.1, 1.0, total_iters=10), LRS.ExponentialLR(o, 0.97)], milestones=[10]),
        S.join([S.linear(0.01, 0.1, 10), S.exponential(0.1, 0.97)], [10]),
        N,
    ),
]


def torch_lrs(make, n, momentum=0.0):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1, momentum=momentum)
    sched = make(opt)
    lrs, moms = [], []
    for _ in range(n):
        lrs.append(opt.param_groups[0]["lr"])
        moms.append(opt.param_groups[0]["momentum"])
        p.grad = torch.ones(1)
        opt.step()
        sched.step()
    return np.array(lrs), np.array(moms)


@pytest.mark.parametrize("make, ours, n", SCHEDULE_CASES, ids=[repr(c[1])[:40] for c in SCHEDULE_CASES])
def test_schedule_matches_torch(make, ours, n):
    expected, _ = torch_lrs(make, n)
    np.testing.assert_allclose(ours(np.arange(n)), expected, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("three_phase", [False, True])
def test_one_cycle_momentum_matches_torch(three_phase):
    make = lambda o: LRS.OneCycleLR(o, max_lr=1.0, total_steps=N, base_momentum=0.8, max_momentum=0.9, three_phase=three_phase)
    _, moms = torch_lrs(make, N, momentum=0.9)
    ours = S.one_cycle_momentum(N, base=0.8, max_value=0.9, three_phase=three_phase)
    np.testing.assert_allclose(ours(np.arange(N)), moms, rtol=1e-9)


def test_reduce_on_plateau_matches_torch():
    rng = np.random.default_rng(0)
    metrics = np.concatenate([np.linspace(5, 1, 20), np.ones(30), rng.random(40) + 0.5])
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=1.0)
    theirs = LRS.ReduceLROnPlateau(opt, factor=0.5, patience=3, threshold=1e-3, cooldown=2, min_lr=0.01)
    ours = S.ReduceOnPlateau(1.0, factor=0.5, patience=3, threshold=1e-3, cooldown=2, min_value=0.01)
    for m in metrics:
        theirs.step(float(m))
        assert ours.report(float(m)) == opt.param_groups[0]["lr"]


@pytest.mark.parametrize("rule", ["SGD", "Adam"])
def test_trajectory_with_a_scheduler_matches_torch(rule):
    """fastoptim with schedules inside step() against torch's optimizer + scheduler pair."""
    shapes = [(40,), (5, 6)]
    steps = 60
    grads = grad_stream(shapes, steps, np.float64)
    params = init_params(shapes, np.float64)
    tparams = [torch.tensor(p) for p in params]
    if rule == "SGD":
        topt = torch.optim.SGD(tparams, lr=0.1, momentum=0.9)
        tsched = LRS.OneCycleLR(topt, max_lr=0.1, total_steps=steps)
        opt = fo.SGD(params, lr=S.one_cycle(0.1, steps), momentum=S.one_cycle_momentum(steps))
    else:
        topt = torch.optim.Adam(tparams, lr=0.01)
        tsched = LRS.SequentialLR(topt, [LRS.LinearLR(topt, 0.1, 1.0, 10), LRS.CosineAnnealingLR(topt, steps - 10)], [10])
        opt = fo.Adam(params, lr=S.join([S.linear(0.001, 0.01, 10), S.cosine(0.01, steps - 10)], [10]))
    for gs in grads:
        for p, g in zip(tparams, gs):
            p.grad = torch.tensor(g)
        topt.step()
        tsched.step()
        opt.step(gs)
    for p, t in zip(params, tparams):
        np.testing.assert_allclose(p, t.numpy(), rtol=1e-9, atol=1e-12)
