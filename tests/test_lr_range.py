"""fastoptim.lr_range_test: the suggestion on problems with a known answer, the restore, the torch
path against torch-lr-finder, and bad input."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import fastoptim as fo


def quadratic(L, n=50):
    """f = sum(c w^2) / 2 with curvatures c up to L: plain gradient descent suits lr ~ 1/L."""
    w = np.ones(n)
    c = np.linspace(L / 100, L, n)
    return w, lambda: (0.5 * float(c @ w**2), [c * w])


@pytest.mark.parametrize("L", [0.5, 4.0, 40.0])
@pytest.mark.parametrize("suggest", ["steepest", "minimum"])
def test_the_suggestion_lands_near_one_over_the_curvature(L, suggest):
    w, closure = quadratic(L)
    test = fo.lr_range_test(fo.SGD([w], lr=0.1), closure, end_lr=1000, suggest=suggest)
    assert 1 / L / 3 < test.suggestion < 3 / L
    assert test.method.startswith("steepest" if suggest == "steepest" else "minimum/10")
    assert test.diverged and len(test.lrs) < 100  # stopped once the loss blew up past 2/L


def test_everything_is_put_back():
    w, closure = quadratic(4.0)
    opt = fo.Adam([w], lr=fo.schedules.cosine(0.01, total_steps=100))
    for _ in range(3):
        opt.step(closure()[1])
    before, state, lr = w.copy(), opt.state_dict(), opt.param_groups[0]["lr"]
    fo.lr_range_test(opt, closure, steps=30)
    assert np.array_equal(w, before) and opt.param_groups[0]["lr"] is lr
    after = opt.state_dict()["state"][0]
    assert after["step"] == 3 and all(np.array_equal(after[k], state["state"][0][k]) for k in ("exp_avg", "exp_avg_sq"))
    opt.step(closure()[1])  # and training goes on from there


def test_curve_sweep_and_smoothing():
    w, closure = quadratic(1.0)
    test = fo.lr_range_test(fo.SGD([w]), closure, start_lr=1e-4, end_lr=1e-2, steps=11, smooth=0.5, mode="exp", skip_start=2, skip_end=2)
    np.testing.assert_allclose(test.lrs, 1e-4 * 100 ** (np.arange(11) / 10))
    np.testing.assert_allclose(test.losses[1:], 0.5 * test.raw_losses[1:] + 0.5 * test.losses[:-1])
    linear = fo.lr_range_test(fo.SGD([w]), closure, start_lr=0.1, end_lr=1.1, steps=11, mode="linear", smooth=0)
    np.testing.assert_allclose(linear.lrs, np.linspace(0.1, 1.1, 11))
    assert np.array_equal(linear.losses, linear.raw_losses)
    short = fo.lr_range_test(fo.SGD([w]), closure, steps=10)  # too few points for a slope
    assert short.steepest is None and short.method.startswith("minimum/10 (too few")


def test_plot(tmp_path):
    pytest.importorskip("matplotlib")
    w, closure = quadratic(4.0)
    fo.lr_range_test(fo.SGD([w]), closure, end_lr=100, plot=tmp_path / "range.png")
    assert (tmp_path / "range.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(start_lr=1.0, end_lr=0.1), "start_lr"),
        (dict(steps=1), "steps"),
        (dict(mode="cosine"), "mode"),
        (dict(suggest="valley"), "suggest"),
        (dict(smooth=1.0), "smooth"),
        (dict(diverge=1.0), "diverge"),
    ],
)
def test_bad_settings_are_named(kw, match):
    w, closure = quadratic(1.0)
    with pytest.raises(ValueError, match=match):
        fo.lr_range_test(fo.SGD([w]), closure, **kw)
    with pytest.raises(ValueError, match="closure"):
        fo.lr_range_test(fo.SGD([w]))


def _model_and_data(torch, seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    x = torch.randn(256, 8)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32, shuffle=False)
    return model, loader


@pytest.mark.skipif(importlib.util.find_spec("torch_lr_finder") is None, reason="torch-lr-finder is not installed")
def test_torch_path_draws_torch_lr_finders_curve():
    """The same model, data and sweep as torch-lr-finder's LRFinder: the same curve, to rounding."""
    torch = pytest.importorskip("torch")
    import fastoptim.torch as fot
    from torch_lr_finder import LRFinder

    model, loader = _model_and_data(torch)
    theirs = LRFinder(model, torch.optim.SGD(model.parameters(), lr=1e-7), torch.nn.CrossEntropyLoss())
    theirs.range_test(loader, start_lr=1e-4, end_lr=10, num_iter=60, step_mode="exp", smooth_f=0.05, diverge_th=5)
    model, loader = _model_and_data(torch)
    before = [p.detach().clone() for p in model.parameters()]
    ours = fo.lr_range_test(fot.SGD(model.parameters(), lr=1e-7), model=model, loader=loader, loss_fn=torch.nn.CrossEntropyLoss(),
                            start_lr=1e-4, end_lr=10, steps=60)
    n = min(len(ours.lrs), len(theirs.history["lr"]))
    assert n > 30
    np.testing.assert_allclose(ours.lrs[:n], theirs.history["lr"][:n], rtol=1e-12)
    np.testing.assert_allclose(ours.losses[:n], theirs.history["loss"][:n], rtol=1e-5)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # the model is put back
