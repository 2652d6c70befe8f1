"""Critical points on known surfaces, Hessians, Lanczos, clipping, and the gradient monitor."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import grad_stream, init_params

import fastoptim as fo
from fastoptim.diagnostics import GradientMonitor, critical_point, hessian, hessian_eigs, hvp_from_grad
from fastoptim.lab import MLP


def rosenbrock_grad(v):
    x, y = v
    return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


def rosenbrock_hessian(v):
    x, y = v
    return np.array([[2 - 400 * (y - x * x) + 800 * x * x, -400 * x], [-400 * x, 200.0]])


SURFACES = [
    ("bowl", lambda v: np.array([2 * v[0], 4 * v[1]]), np.zeros(2), "local_min", 1.0),
    ("cap", lambda v: -2 * v, np.zeros(2), "local_max", 0.0),
    ("x2-y2", lambda v: np.array([2 * v[0], -2 * v[1]]), np.zeros(2), "saddle", 0.5),
    ("monkey", lambda v: np.array([3 * v[0] ** 2 - 3 * v[1] ** 2, -6 * v[0] * v[1]]), np.zeros(2), "degenerate", 0.0),
    ("rosenbrock", rosenbrock_grad, np.ones(2), "local_min", 1.0),
]


@pytest.mark.parametrize("name, grad, point, kind, ratio", SURFACES, ids=[s[0] for s in SURFACES])
def test_known_surfaces(name, grad, point, kind, ratio):
    cp = critical_point(grad, point)
    assert cp.kind == kind
    assert cp.minimum_ratio == ratio
    assert cp.gradient_norm < 1e-9
    assert np.all(np.diff(cp.eigenvalues) >= 0)
    if kind == "saddle":
        np.testing.assert_allclose(np.abs(cp.escape_direction), [0, 1], atol=1e-6)
    if kind in ("local_min", "degenerate"):
        assert cp.escape_direction is None
        with pytest.raises(ValueError, match="no negative curvature"):
            cp.escape(0.1)


def test_random_rotated_saddle_escapes_along_its_negative_eigenvector():
    rng = np.random.default_rng(7)
    Q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    H = Q @ np.diag([3.0, 1.0, -2.0]) @ Q.T
    f = lambda v: 0.5 * v @ H @ v
    cp = critical_point(lambda v: H @ v, np.zeros(3))
    assert cp.kind == "saddle" and cp.minimum_ratio == pytest.approx(2 / 3)
    assert abs(abs(cp.escape_direction @ Q[:, 2]) - 1) < 1e-8
    out = cp.escape(0.1)
    assert f(out) < f(np.zeros(3)) - 1e-3  # downhill: 0.5 * (-2) * 0.1^2
    # gradient descent from there keeps going down, while from the saddle itself it cannot move
    p = out.copy()
    for _ in range(50):
        p -= 0.1 * (H @ p)
    assert f(p) < f(out)


def test_finite_difference_hessian_matches_the_analytic_one():
    rng = np.random.default_rng(0)
    for point in rng.uniform(-2, 2, size=(5, 2)):
        np.testing.assert_allclose(hessian(rosenbrock_grad, point), rosenbrock_hessian(point), rtol=1e-6, atol=1e-4)
    cp = critical_point(rosenbrock_grad, np.ones(2), hessian=rosenbrock_hessian(np.ones(2)))
    assert cp.kind == "local_min"
    with pytest.raises(ValueError, match="hessian has shape"):
        critical_point(rosenbrock_grad, np.ones(2), hessian=np.eye(3))
    with pytest.raises(ValueError, match="grad_fn returned shape"):
        hessian(lambda v: np.zeros(3), np.zeros(2))


def test_lanczos_extremes_match_eigvalsh():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((300, 300))
    A = (A + A.T) / 2
    exact = np.linalg.eigvalsh(A)
    vals, vecs = hessian_eigs(lambda v: A @ v, 300, k=3, which="both")
    np.testing.assert_allclose(vals, np.concatenate([exact[:3], exact[-3:]]), rtol=1e-8)
    np.testing.assert_allclose(A @ vecs, vecs * vals, atol=1e-6)
    top, _ = hessian_eigs(lambda v: A @ v, 300, which="largest")
    assert top[0] == pytest.approx(exact[-1])
    with pytest.raises(ValueError, match="which must be"):
        hessian_eigs(lambda v: A @ v, 300, which="middle")


def test_hvp_from_grad_on_a_quadratic_and_through_lanczos():
    rng = np.random.default_rng(2)
    A = rng.standard_normal((40, 40))
    A = A @ A.T - 5 * np.eye(40)
    theta = rng.standard_normal(40)
    hvp = hvp_from_grad(lambda v: A @ v + 1.0, theta)
    v = rng.standard_normal(40)
    np.testing.assert_allclose(hvp(v), A @ v, rtol=1e-6, atol=1e-6)
    assert not hvp(np.zeros(40)).any()
    low, _ = hessian_eigs(hvp, 40, which="smallest")
    assert low[0] == pytest.approx(np.linalg.eigvalsh(A)[0], rel=1e-5)


# -- clipping -------------------------------------------------------------------------------------


def test_clip_grad_norm_semantics():
    g = [np.array([3.0, 0.0], np.float32), np.array([4.0], np.float32)]
    assert fo.clip_grad_norm(g, 10.0) == 5.0
    np.testing.assert_array_equal(g[0], [3, 0])  # under the limit: untouched
    assert fo.clip_grad_norm(g, 1.0, norm_type=1) == 7.0
    np.testing.assert_allclose(np.concatenate(g), np.array([3, 0, 4]) / 7, rtol=1e-5)
    h = {"a": np.array([1.0, -8.0]), "b": np.array([2.0])}
    assert fo.clip_grad_norm(h, 4.0, norm_type=float("inf")) == 8.0
    np.testing.assert_allclose(h["a"], [0.5, -4.0], rtol=1e-6)


def test_clip_grad_norm_nonfinite_and_bad_input():
    g = [np.array([1.0, np.inf])]
    with pytest.raises(RuntimeError, match="not finite"):
        fo.clip_grad_norm(g, 1.0, error_if_nonfinite=True)
    assert np.array_equal(g[0], [1.0, np.inf])
    n = [np.array([1.0, np.nan])]
    fo.clip_grad_norm(n, 1.0)
    assert np.isnan(n[0]).all()  # as torch: a NaN norm spreads
    assert np.isnan(fo.clip_grad_norm([np.array([1.0, np.nan, 2.0]), np.array([5.0])], 1.0, norm_type=float("inf")))
    ro = np.ones(3)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"grads\[0\] is read-only"):
        fo.clip_grad_norm([ro], 1.0)
    a = np.ones(4)
    with pytest.raises(ValueError, match="share memory"):
        fo.clip_grad_norm([a, a[1:]], 1.0)
    with pytest.raises(ValueError, match="norm_type must be > 0"):
        fo.clip_grad_norm([np.ones(2)], 1.0, norm_type=0)
    with pytest.raises(ValueError, match="not C-contiguous"):
        fo.clip_grad_value([np.ones(6)[::2]], 1.0)


def test_clip_grad_value():
    g = [np.array([-3.0, 0.5, np.nan], np.float32)]
    fo.clip_grad_value(g, 1.0)
    np.testing.assert_array_equal(g[0], np.array([-1.0, 0.5, np.nan], np.float32))
    with pytest.raises(ValueError, match="clip_value must be >= 0"):
        fo.clip_grad_value(g, -1.0)


@pytest.mark.parametrize("p", [1.0, 2.0, float("inf"), 3.0])
def test_clip_grad_norm_matches_torch(p):
    torch = pytest.importorskip("torch")
    grads = grad_stream([(100,), (7, 9), (1,)], 1, np.float32, scale=3.0)[0]
    tensors = [torch.zeros(g.shape, requires_grad=True) for g in grads]
    for t, g in zip(tensors, grads):
        t.grad = torch.tensor(g)
    expected = torch.nn.utils.clip_grad_norm_(tensors, max_norm=2.0, norm_type=p)
    ours = [g.copy() for g in grads]
    total = fo.clip_grad_norm(ours, 2.0, norm_type=p)
    assert total == pytest.approx(float(expected), rel=1e-6)
    for g, t in zip(ours, tensors):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-5, atol=1e-7)


# Every rule with settings under which clipping changes the result (LARS with weight decay, so its
# trust ratio is not scale-free). Rprop is left out: it reads only the gradient's sign.
CLIP_SETTINGS = {
    "SGD": dict(lr=0.1, momentum=0.9),
    "Adam": dict(lr=0.01),
    "AdamW": dict(lr=0.01),
    "Adagrad": dict(lr=0.1),
    "RMSprop": dict(lr=0.01),
    "Adadelta": dict(lr=1.0),
    "Adamax": dict(lr=0.01),
    "NAdam": dict(lr=0.01),
    "RAdam": dict(lr=0.01),
    "Lion": dict(lr=0.01),
    "LAMB": dict(lr=0.01, weight_decay=0.1),
    "LARS": dict(lr=0.1, momentum=0.9, weight_decay=0.01),
    "ASGD": dict(lr=0.01),
    "Adan": dict(lr=0.01),
    "AdEMAMix": dict(lr=0.01),
}


def _two_groups(rule, params, **kw):
    settings = CLIP_SETTINGS[rule]
    return getattr(fo, rule)([{"params": params[:1]}, {"params": params[1:], "lr": settings["lr"] / 2}], **settings, **kw)


@pytest.mark.parametrize("rule", sorted(CLIP_SETTINGS))
def test_max_grad_norm_inside_step_equals_clip_then_step(rule):
    """Over two groups (one norm over both, as torch clips), every rule: clipping inside the step
    equals clip_grad_norm then the step, bit for bit, and differs from not clipping."""
    shapes = [(30,), (4, 5), (9,)]
    grads = grad_stream(shapes, 20, np.float32, scale=5.0)
    inside, outside, unclipped = (init_params(shapes, np.float32) for _ in range(3))
    opt = _two_groups(rule, inside, max_grad_norm=1.0)
    ref = _two_groups(rule, outside)
    free = _two_groups(rule, unclipped)
    for gs in grads:
        kept = [g.copy() for g in gs]
        opt.step(gs)
        assert all(np.array_equal(a, b) for a, b in zip(gs, kept))  # the gradients are only read
        clipped = [g.copy() for g in gs]
        assert fo.clip_grad_norm(clipped, 1.0) == opt.last_grad_norm
        ref.step(clipped)
        free.step(gs)
    for a, b in zip(inside, outside):
        assert np.array_equal(a, b)
    assert max(float(np.max(np.abs(a - c))) for a, c in zip(inside, unclipped)) > 1e-4
    with pytest.raises(ValueError, match="max_grad_norm must be > 0"):
        fo.SGD([np.zeros(1)], max_grad_norm=0.0)


@pytest.mark.parametrize("nonfinite", ["skip", "ignore"])
def test_max_grad_norm_with_nonfinite_skip_and_ignore(nonfinite):
    shapes = [(30,), (4, 5)]
    grads = grad_stream(shapes, 6, np.float32, scale=5.0)
    bad = [np.full(s, np.nan, np.float32) for s in shapes]
    inside, outside = init_params(shapes, np.float32), init_params(shapes, np.float32)
    opt = fo.Adam(inside, lr=0.01, max_grad_norm=1.0, nonfinite=nonfinite)
    ref = fo.Adam(outside, lr=0.01)
    for i, gs in enumerate(grads):
        opt.step(gs)
        clipped = [g.copy() for g in gs]
        fo.clip_grad_norm(clipped, 1.0)
        ref.step(clipped)
        if i == 2 and nonfinite == "skip":
            opt.step(bad)  # skipped whole: nothing moves, nothing counts
            assert opt.skipped_steps == 1
    for a, b in zip(inside, outside):
        assert np.array_equal(a, b)
    if nonfinite == "ignore":
        opt.step(bad)  # not checked: the NaN norm makes the clip factor NaN, as torch's would
        assert all(np.isnan(p).all() for p in inside)


def test_max_grad_norm_matches_torch_clip_and_adam():
    torch = pytest.importorskip("torch")
    shapes = [(50,), (6, 7)]
    grads = grad_stream(shapes, 30, np.float64, scale=4.0)
    params = init_params(shapes, np.float64)
    tparams = [torch.tensor(p) for p in params]
    topt = torch.optim.Adam(tparams, lr=0.01)
    opt = fo.Adam(params, lr=0.01, max_grad_norm=0.5)
    for gs in grads:
        for t, g in zip(tparams, gs):
            t.grad = torch.tensor(g)
        torch.nn.utils.clip_grad_norm_(tparams, 0.5)
        topt.step()
        opt.step(gs)
    for p, t in zip(params, tparams):
        np.testing.assert_allclose(p, t.numpy(), rtol=1e-10, atol=1e-12)


# -- the monitor ----------------------------------------------------------------------------------


def deep_net_grads(activation, init, seed=0):
    rng = np.random.default_rng(seed)
    net = MLP([32] + [32] * 9 + [10], activation=activation, init=init, seed=seed)
    X, y = rng.standard_normal((64, 32)), rng.integers(0, 10, 64)
    return net.loss_and_grads(X, y)


def test_monitor_flags_a_deep_sigmoid_net_and_not_relu_with_he():
    mon = GradientMonitor()
    loss, grads = deep_net_grads("sigmoid", "xavier")
    mon.record({k: v for k, v in grads.items() if k.startswith("W")}, loss=loss)
    assert mon.vanishing and "W0" in mon.vanishing and "W9" not in mon.vanishing
    norms = mon.history["grad_norm"][-1]
    assert norms[0] / norms[-1] < 1e-3
    healthy = GradientMonitor()
    loss, grads = deep_net_grads("relu", "he")
    healthy.record({k: v for k, v in grads.items() if k.startswith("W")}, loss=loss)
    assert not healthy.vanishing and not healthy.exploding
    assert "W0" in healthy.summary()


def test_monitor_flags_exploding_and_nonfinite():
    mon = GradientMonitor(exploding_norm=100.0)
    mon.record({"a": np.full(4, 1e3), "b": np.ones(4), "c": np.array([1.0, np.nan])})
    assert list(mon.exploding) == ["a", "c"]
    assert mon.history["nonfinite"][-1].tolist() == [0, 0, 1]
    loss, grads = deep_net_grads("relu", "normal")
    big = GradientMonitor()
    big.record(grads)
    assert big.exploding


def test_monitor_stalled_means_flat_loss_with_large_gradient():
    osc = GradientMonitor(window=10)
    for t in range(12):
        osc.record([np.array([5.0 * (-1) ** t])], loss=1.0 + 1e-6 * (-1) ** t)
    assert osc.stalled and "oscillation" in osc.stalled.reason
    assert "stalled" in osc.summary()
    descending = GradientMonitor(window=10)
    for t in range(12):
        descending.record([np.array([5.0])], loss=1.0 / (t + 1))
    assert not descending.stalled
    arrived = GradientMonitor(window=10)
    for _ in range(12):
        arrived.record([np.array([1e-6])], loss=0.5)
    assert not arrived.stalled  # flat, but the gradient is small: converged, not stuck


def test_monitor_update_ratios_and_names():
    mon = GradientMonitor()
    p = {"w": np.ones(4)}
    mon.record({"w": np.ones(4)}, params=p)
    p["w"] = p["w"] * 1.01
    mon.record({"w": np.ones(4)}, params=p)
    assert mon.history["update_ratio"][-1, 0] == pytest.approx(0.01)
    with pytest.raises(ValueError, match="earlier records named"):
        mon.record({"v": np.ones(4)})
    with pytest.raises(ValueError, match="vanishing_ratio"):
        GradientMonitor(vanishing_ratio=2.0)
