"""Prodigy and D-Adaptation: against the float64 reference and the peer packages (prodigyopt,
dadaptation), on every tier; their one estimate d shared by all groups, checkpoints and errors."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from conftest import DTYPES, SHAPES, grad_stream, init_params

import fastoptim as fo
import reference as ref
from fastoptim import _core

STEPS = 50
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in h.items()) or 'defaults'}" for name, _, h in ref.GLOBAL_CASES]
CLASSES = [fo.Prodigy, fo.DAdaptAdam, fo.DAdaptSGD, fo.DAdaptAdaGrad]


def quadratic_grads(ps, k, rng_terms):
    """Gradients of a separable nonconvex-ish objective plus fixed noise: d must grow to move far."""
    return [(0.3 * p + 0.1 * p**3 + t[k]).astype(p.dtype) for p, t in zip(ps, rng_terms)]


def reference_run(rule, params, grads, groups=False, **hyper):
    ps = [np.asarray(p, np.float64).copy() for p in params]
    state: dict = {}
    for t, gs in enumerate(grads, start=1):
        ps = rule(ps, [np.asarray(g, np.float64) for g in gs], state, t, **hyper)
    return ps, state


def split(params, groups):
    return [{"params": params[:2]}, {"params": params[2:]}] if groups else params


@pytest.mark.parametrize("groups", [False, True], ids=["one-group", "two-groups"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, rule, hyper", ref.GLOBAL_CASES, ids=IDS)
def test_matches_reference(name, rule, hyper, dtype, groups, tier):
    params = init_params(SHAPES, dtype)
    grads = grad_stream(SHAPES, STEPS, dtype)
    expected, state = reference_run(rule, params, grads, **hyper)
    opt = getattr(fo, name)(split(params, groups), **hyper)
    for gs in grads:
        opt.step(gs)
    tol = dict(rtol=2e-4, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-12)
    for p, e in zip(params, expected):
        assert p.dtype == dtype
        np.testing.assert_allclose(p, e, **tol)
    # In float32, p0 - p cancels while the parameters have barely moved: d agrees to about 1e-3.
    assert opt.d == pytest.approx(state["d"], rel=1e-2 if dtype == np.float32 else 1e-9)
    saved = opt.state_dict()["state"]
    assert all(saved[i]["step"] == STEPS and saved[i]["d"] == opt.d for i in range(len(SHAPES)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, rule, hyper", ref.GLOBAL_CASES, ids=IDS)
def test_tiers_and_threads_are_bit_identical(name, rule, hyper, dtype):
    """The sums use fixed lanes and are added in chunk order: the same on every tier and thread count."""
    shapes = [(70000,), (33, 65)]
    results = {}
    threads = fo.get_num_threads()
    for t in fo.available_tiers():
        for n in (1, 2):
            _core.select_tier(t)
            fo.set_num_threads(n)
            params = init_params(shapes, dtype)
            opt = getattr(fo, name)(params, **hyper)
            for gs in grad_stream(shapes, 10, dtype):
                opt.step(gs)
            results[t, n] = params, opt.d
    _core.select_tier(fo.available_tiers()[-1])
    fo.set_num_threads(threads)
    base, d = results.pop(("baseline", 1))
    for key, (params, dd) in results.items():
        assert dd == d, key
        for p, b in zip(params, base):
            assert np.array_equal(p, b), f"{key} differs from the baseline tier on one thread"


PEERS = {
    "Prodigy": ("prodigyopt", "Prodigy"),
    "DAdaptAdam": ("dadaptation", "DAdaptAdam"),
    "DAdaptSGD": ("dadaptation", "DAdaptSGD"),
    "DAdaptAdaGrad": ("dadaptation", "DAdaptAdaGrad"),
}


@pytest.mark.parametrize("api", ["numpy", "torch"])
@pytest.mark.parametrize("groups", [False, True], ids=["one-group", "two-groups"])
@pytest.mark.parametrize("name, rule, hyper", [c for c in ref.GLOBAL_CASES if not c[2].get("maximize")], ids=[i for i, c in zip(IDS, ref.GLOBAL_CASES) if not c[2].get("maximize")])
def test_matches_peer_package(name, rule, hyper, groups, api):
    """100 steps in float64 against prodigyopt 1.1 / dadaptation 3.2 within 1e-6 relative."""
    torch = pytest.importorskip("torch")
    module, cls = PEERS[name]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")
    peer_cls = getattr(importlib.import_module(module), cls)
    rng = np.random.default_rng(0)
    shapes = [(5, 7), (13,), (3, 4, 2)]
    start = [rng.normal(size=s) for s in shapes]
    terms = [rng.normal(size=(100,) + s) for s in shapes]

    theirs = [torch.tensor(p.copy(), requires_grad=True) for p in start]
    peer = peer_cls(split(theirs, groups), **hyper)
    if api == "numpy":
        ours = [p.copy() for p in start]
        opt = getattr(fo, name)(split(ours, groups), **hyper)
    else:
        import fastoptim.torch as fot

        tensors = [torch.tensor(p.copy(), requires_grad=True) for p in start]
        opt = getattr(fot, name)(split(tensors, groups), **hyper)
        ours = [t.detach().numpy() for t in tensors]
    for k in range(100):
        for p, g in zip(theirs, quadratic_grads([p.detach().numpy() for p in theirs], k, terms)):
            p.grad = torch.tensor(g)
        peer.step()
        gs = quadratic_grads(ours, k, terms)
        if api == "numpy":
            opt.step(gs)
        else:
            for t, g in zip(tensors, gs):
                t.grad = torch.tensor(g)
            opt.step()
    for a, b in zip(theirs, ours):
        a = a.detach().numpy()
        assert np.abs(a - b).max() <= 1e-6 * np.abs(a).max()
    assert opt.d == pytest.approx(peer.param_groups[0]["d"], rel=1e-6)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_checkpoint_resumes_bit_for_bit(cls, tmp_path):
    grads = grad_stream(SHAPES, 20, np.float64)
    unbroken = init_params(SHAPES, np.float64)
    opt = cls(unbroken)
    for gs in grads:
        opt.step(gs)
    resumed = init_params(SHAPES, np.float64)
    first = cls(resumed)
    for gs in grads[:10]:
        first.step(gs)
    first.save(tmp_path / "opt.npz")
    second = cls(resumed)
    second.load(tmp_path / "opt.npz")
    assert second.d == first.d
    for gs in grads[10:]:
        second.step(gs)
    assert second.d == opt.d
    for a, b in zip(unbroken, resumed):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_one_estimate_for_all_groups(cls):
    """A group added mid-run, and a parameter that sat steps out, take the current d."""
    a, b = np.full(50, 3.0), np.full(7, -2.0)
    opt = cls([a])
    assert opt.d == 1e-6
    for _ in range(30):
        opt.step([a.copy()])
    d = opt.d
    assert d > 1e-6
    opt.add_param_group({"params": [b]})
    opt.step([a.copy(), None])
    opt.step([a.copy(), b.copy()])
    entries = opt.state_dict()["state"]
    assert entries[0]["d"] == entries[1]["d"] == opt.d >= d


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_groups_share_one_lr(cls):
    a, b = np.ones(4), np.ones(3)
    opt = cls([{"params": [a]}, {"params": [b], "lr": 0.5}])
    with pytest.raises(ValueError, match=r"lr=0.5 \(param group 1\) differs from lr=1"):
        opt.step([a.copy(), b.copy()])
    assert np.array_equal(a, np.ones(4)) and np.array_equal(b, np.ones(3))
    opt.param_groups[1]["lr"] = 0.0  # 0 freezes a group
    for _ in range(5):
        opt.step([a.copy(), b.copy()])
    assert np.array_equal(b, np.ones(3)) and not np.array_equal(a, np.ones(4))


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_peer_options_that_do_not_apply_are_refused_by_name(cls):
    with pytest.raises(ValueError, match="growth_rate=0"):
        cls([np.ones(3)], growth_rate=0.0)
    with pytest.raises(ValueError, match="d0"):
        cls([np.ones(3)], d0=0.0)
    if cls is not fo.DAdaptAdaGrad:
        with pytest.raises(ValueError, match="fsdp_in_use"):
            cls([np.ones(3)], fsdp_in_use=True)
    if cls is not fo.Prodigy:
        with pytest.raises(ValueError, match="log_every"):
            cls([np.ones(3)], log_every=10)
    else:
        with pytest.raises(ValueError, match="slice_p"):
            cls([np.ones(3)], slice_p=11)
        with pytest.raises(ValueError, match="beta3"):
            cls([np.ones(3)], beta3=1.5)


@pytest.mark.parametrize("state_dtype", ["bfloat16", "int8"])
def test_dadapt_adam_takes_low_precision_state(state_dtype):
    """DAdaptAdam's state (m, v, s) may be bfloat16 or 8-bit; the rules that keep a copy of the
    parameters (p0, x0) refuse it by name."""
    shapes = [(5000,), (64, 80)]
    targets = init_params(shapes, np.float32, seed=7)
    exact, low = init_params(shapes, np.float32), init_params(shapes, np.float32)
    a, b = fo.DAdaptAdam(exact), fo.DAdaptAdam(low, state_dtype=state_dtype)
    for _ in range(60):  # f = |p - target|^2 / 2: d grows to the distance's scale
        a.step([p - t for p, t in zip(exact, targets)])
        b.step([p - t for p, t in zip(low, targets)])
    assert b.state_dtype == state_dtype
    assert a.d > 1e-2 and b.d == pytest.approx(a.d, rel=0.1)
    for x, y, t in zip(exact, low, targets):
        assert np.linalg.norm(y - t) < 1.1 * np.linalg.norm(x - t) + 1e-3 * np.linalg.norm(t)


@pytest.mark.parametrize("cls", [fo.Prodigy, fo.DAdaptSGD, fo.DAdaptAdaGrad], ids=lambda c: c.__name__)
def test_rules_that_copy_the_parameters_refuse_16_bit_ones(cls):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    for dtype in (ml_dtypes.bfloat16, np.float16):
        with pytest.raises(ValueError, match="parameter 0 is .*16; this rule cannot take 16-bit parameters: its state holds a copy"):
            cls([np.ones(8, dtype)])


def test_dadapt_adam_takes_16_bit_parameters():
    """bfloat16 parameters with float32 master weights step exactly as float32 ones (rounded)."""
    ml_dtypes = pytest.importorskip("ml_dtypes")
    start = np.linspace(-2, 2, 5000).astype(ml_dtypes.bfloat16)
    half, full = start.copy(), start.astype(np.float32)
    a, b = fo.DAdaptAdam([half]), fo.DAdaptAdam([full])
    for (noise,) in grad_stream([(5000,)], 30, np.float32, scale=0.1):
        g = (1.0 + noise).astype(np.float32)  # a steady pull, so d grows
        a.step([g])
        b.step([g])
    assert a.d == b.d > 1e-6
    assert np.array_equal(half, full.astype(ml_dtypes.bfloat16))


def test_prodigy_refuses_state_dtype_by_name():
    torch = pytest.importorskip("torch")
    import fastoptim.torch as fot

    with pytest.raises(TypeError, match="state_dtype"):
        fot.Prodigy([torch.zeros(3, requires_grad=True)], state_dtype="int8")
    with pytest.raises(TypeError, match="state_dtype"):
        fo.Prodigy([np.zeros(3)], state_dtype="int8")  # type: ignore[call-arg]


def test_a_schedule_multiplies_the_estimated_step():
    """lr as a schedule (the paper's cosine decay) scales every update: lr 0 from some step stops it."""
    w = np.full(10, 3.0)
    opt = fo.Prodigy([w], lr=lambda t: 1.0 if t < 20 else 0.0)
    for _ in range(20):
        opt.step([w.copy()])
    frozen = w.copy()
    for _ in range(5):
        opt.step([w.copy()])
    assert np.array_equal(w, frozen)


def test_zero_gradients_move_nothing():
    """With no gradient yet (every sum of |s| is 0) nothing moves and d stays d0, as in the peers."""
    for cls, kw in [(c, {}) for c in CLASSES] + [(fo.Prodigy, dict(weight_decay=0.1))]:  # decoupled: no step
        w = np.full(5, 2.0)
        opt = cls([w], **kw)
        opt.step([np.zeros(5)])
        assert np.array_equal(w, np.full(5, 2.0)) and opt.d == 1e-6, cls.__name__
