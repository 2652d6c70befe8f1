r"""Experiment ``learning-rate``: choosing the learning rate, by grid, by range test, or not at all.

One learning rate does not suit every problem: too small and training crawls, too large and it
diverges, and the good range moves from one model to the next. The classic answer is a grid search
(here Adam's rate over four decades), which costs a training run per point. A range test (Smith
2015, :func:`fastoptim.lr_range_test`) sweeps the rate over decades in one short run and reads a
good one off the loss curve. The learning-rate-free optimizers estimate the step size as they go:
Prodigy and D-Adaptation grow an estimate :math:`d` of the distance to the solution from how far the
parameters have come along the gradients; Schedule-Free AdamW removes the schedule but keeps the
rate. All of them on the digits MLP and on the error surface of a badly scaled linear regression.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

import numpy as np

from ..core.progress import Progress
from ..diagnostics.lr_range import RangeTest, lr_range_test
from ..rules import Adam, DAdaptAdam, Prodigy, ScheduleFreeAdamW
from ._common import Result, digits, pyplot, table
from .error_surface import problem
from .mlp import MLP

NAME = "learning-rate"
LESSON = (  # for the lab's page: what the experiment teaches, in plain words
    "Adam's result depends on its learning rate: a grid over four decades traces a U, poor at both ends. "
    "A range test finds a good rate in one short run, from the slope of the loss as the rate sweeps up. "
    "Prodigy and D-Adapt Adam need no rate at all: they estimate the step size from how far the weights "
    "have come, and land near the grid's best from their defaults; their estimate climbs from a tiny start "
    "to the scale of the best fixed rate within the first hundred steps."
)
MLP_GRID = 10.0 ** np.arange(-5.0, -0.9, 0.5)  # Adam's lr on the digits: 1e-5 .. 1e-1
SURFACE_GRID = 10.0 ** np.arange(-2.0, 2.1, 0.5)  # Adam's lr on the error surface: 1e-2 .. 100
LAYERS = [64, 64, 10]
BATCH = 64
MLP_TARGET = 0.3  # the smoothed training loss "steps to target" counts to
SWEEP = 200  # the range tests' steps: the smoothed loss lags ~20 steps, so a longer sweep lags fewer decades
FREE = {  # the learning-rate-free methods, from their defaults
    "Prodigy": lambda params: Prodigy(params),
    "DAdaptAdam": lambda params: DAdaptAdam(params),
    "ScheduleFreeAdamW": lambda params: ScheduleFreeAdamW(params),
}


def _adam(lr: float) -> Callable[[Any], Any]:
    return lambda params: Adam(params, lr=float(lr))


def _first_below(curve: np.ndarray, target: float) -> Optional[int]:
    hits = np.nonzero(curve <= target)[0]
    return int(hits[0]) + 1 if hits.size else None


def _smoothed(losses: List[float], beta: float = 0.9) -> np.ndarray:
    out, avg = [], losses[0]
    for x in losses:
        avg = beta * avg + (1 - beta) * x
        out.append(avg)
    return np.array(out)


def _mlp_run(make: Callable[[Any], Any], steps: int, seed: int, data: tuple, bar: Progress, label: str) -> Dict[str, Any]:
    """Train the MLP on batches of 64; the figures, and Prodigy's and D-Adapt's d at each step."""
    Xt, yt, Xv, yv = data
    net = MLP(LAYERS, activation="relu", init="he", seed=seed)
    opt = make(net.params)
    if hasattr(opt, "train"):
        opt.train()
    rng = np.random.default_rng(seed)
    losses, ds = [], []
    for _ in range(steps):
        rows = rng.choice(len(yt), BATCH, replace=False)
        loss, grads = net.loss_and_grads(Xt[rows], yt[rows])
        losses.append(loss)
        opt.step(grads)
        if hasattr(opt, "d"):
            ds.append(opt.d)
        bar.advance(label)
    if hasattr(opt, "eval"):
        opt.eval()
    smooth = _smoothed(losses)
    return dict(
        final_loss=float(net.loss_and_grads(Xt, yt)[0]),
        val_accuracy=float(net.accuracy(Xv, yv)),
        steps_to_target=_first_below(smooth, MLP_TARGET),
        losses=smooth,
        d=np.array(ds),
    )


def _mlp_range_test(steps: int, seed: int, data: tuple) -> RangeTest:
    Xt, yt = data[0], data[1]
    net = MLP(LAYERS, activation="relu", init="he", seed=seed)
    rng = np.random.default_rng(seed + 1)

    def closure() -> Any:
        rows = rng.choice(len(yt), BATCH, replace=False)
        return net.loss_and_grads(Xt[rows], yt[rows])

    return lr_range_test(Adam(net.params, lr=1e-3), closure, start_lr=1e-5, end_lr=1.0, steps=steps)


def _surface_run(make: Callable[[Any], Any], steps: int, seed: int) -> Dict[str, Any]:
    """Full-batch gradient descent on the badly scaled linear regression of ``error-surface``."""
    x, y, X = problem(seed)
    best = 0.5 * float(np.mean((X @ np.linalg.lstsq(X, y, rcond=None)[0] - y) ** 2))
    theta = np.zeros(2)
    opt = make([theta])
    if hasattr(opt, "train"):
        opt.train()
    losses = []
    for _ in range(steps):
        r = X @ theta - y
        losses.append(0.5 * float(np.mean(r * r)))
        opt.step([X.T @ r / len(y)])
    if hasattr(opt, "eval"):
        opt.eval()
    final = 0.5 * float(np.mean((X @ theta - y) ** 2))
    curve = np.array(losses)
    return dict(final_loss=final, excess=final - best, steps_to_target=_first_below(curve, 1.01 * best), losses=curve)


def _surface_range_test(steps: int, seed: int) -> RangeTest:
    x, y, X = problem(seed)
    theta = np.zeros(2)

    def closure() -> Any:
        r = X @ theta - y
        return 0.5 * float(np.mean(r * r)), [X.T @ r / len(y)]

    return lr_range_test(Adam([theta], lr=1e-3), closure, start_lr=1e-4, end_lr=100.0, steps=steps)


def run(*, steps: Optional[int] = None, seed: int = 0, fast: bool = False, progress: bool = False) -> Result:
    n = steps or 400  # fast mode too: the claims are about where training lands
    data = digits(seed)
    bar = Progress(n * (len(MLP_GRID) + 1 + len(FREE)), progress)
    mlp: Dict[str, Any] = {"grid": {}}
    for lr in MLP_GRID:
        mlp["grid"][float(lr)] = _mlp_run(_adam(lr), n, seed, data, bar, f"Adam lr {lr:.0e}")
    test = _mlp_range_test(SWEEP, seed, data)
    mlp["range_test"] = dict(sweep_lrs=test.lrs, sweep_losses=test.losses, raw_losses=test.raw_losses, suggestion=test.suggestion, method=test.method)
    mlp["range_test"].update(_mlp_run(_adam(test.suggestion), n, seed, data, bar, "range test's pick"))
    for label, make in FREE.items():
        mlp[label] = _mlp_run(make, n, seed, data, bar, label)

    surface: Dict[str, Any] = {"grid": {float(lr): _surface_run(_adam(lr), n, seed) for lr in SURFACE_GRID}}
    test = _surface_range_test(SWEEP, seed)
    surface["range_test"] = dict(sweep_lrs=test.lrs, sweep_losses=test.losses, raw_losses=test.raw_losses, suggestion=test.suggestion, method=test.method)
    surface["range_test"].update(_surface_run(_adam(test.suggestion), n, seed))
    for label, make in FREE.items():
        surface[label] = _surface_run(make, n, seed)
    return dict(name=NAME, steps=n, figures=dict(mlp=mlp, surface=surface))


def _methods(part: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """Every run of a part by its label: the grid's points, then the range test's pick and the free methods."""
    out = {f"Adam lr {lr:.0e}": f for lr, f in part["grid"].items()}
    out[f"Adam, range test's lr {part['range_test']['suggestion']:.2g}"] = part["range_test"]
    out.update({k: v for k, v in part.items() if k not in ("grid", "range_test")})
    return out


def table_of(r: Result) -> str:
    mlp = [[k, f["final_loss"], f["val_accuracy"], f["steps_to_target"] or "-"] for k, f in _methods(r["figures"]["mlp"]).items()]
    surface = [[k, f["excess"], f["steps_to_target"] or "-"] for k, f in _methods(r["figures"]["surface"]).items()]
    return (
        f"digits MLP {LAYERS}, {r['steps']} steps of {BATCH}\n"
        + table(mlp, ["method", "final train loss", "val acc", f"steps to loss {MLP_TARGET}"])
        + f"\n\nerror surface (linear regression, raw feature), {r['steps']} full-batch steps\n"
        + table(surface, ["method", "loss above least squares", "steps to within 1%"])
    )


def plot(r: Result, path: str) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(21, 4.6))
    colors = {"range test": "C3", "Prodigy": "C1", "DAdaptAdam": "C2", "ScheduleFreeAdamW": "C4"}
    for ax, part, key, label in ((axes[0], r["figures"]["mlp"], "val_accuracy", "held-out accuracy"), (axes[1], r["figures"]["surface"], "excess", "loss above least squares")):
        lrs = np.array(list(part["grid"]))
        values = np.array([f[key] for f in part["grid"].values()])
        ax.plot(lrs, values, "o-", color="C0", label="Adam, fixed lr")
        rt = part["range_test"]
        ax.scatter([rt["suggestion"]], [rt[key]], color=colors["range test"], s=90, zorder=3, marker="*", label=f"Adam at the range test's lr ({rt['suggestion']:.2g})")
        for name in ("Prodigy", "DAdaptAdam", "ScheduleFreeAdamW"):
            ax.axhline(part[name][key], color=colors[name], ls="--", lw=1.2, label=f"{name}, defaults")
        ax.set_xscale("log")
        ax.set(xlabel="Adam's learning rate", ylabel=label)
        ax.legend(fontsize=8)
    axes[0].set_title("digits MLP: the grid's U, and the methods without a tuned lr")
    axes[1].set_yscale("log")
    axes[1].set_title("error surface: the same")
    rt = r["figures"]["mlp"]["range_test"]
    test = RangeTest(np.asarray(rt["sweep_lrs"]), np.asarray(rt["sweep_losses"]), np.asarray(rt["raw_losses"]), None, rt["suggestion"], rt["suggestion"], rt["method"], False)
    test.plot(ax=axes[2], title=f"range test on the MLP (Adam, {len(test.lrs)} steps)")
    best_lr = max(r["figures"]["mlp"]["grid"], key=lambda lr: r["figures"]["mlp"]["grid"][lr]["val_accuracy"])
    for name in ("Prodigy", "DAdaptAdam"):
        axes[3].semilogy(np.arange(1, len(r["figures"]["mlp"][name]["d"]) + 1), r["figures"]["mlp"][name]["d"], color=colors[name], label=f"{name}'s d")
    axes[3].axhline(best_lr, color="C0", ls=":", label=f"the grid's best Adam lr ({best_lr:.0e})")
    axes[3].set(xlabel="step", ylabel="estimated step size d", title="the estimate climbs to the best fixed lr's scale")
    axes[3].legend(fontsize=8)
    fig.suptitle("Choosing the learning rate: a grid costs a run per point; a range test takes one short run; Prodigy and D-Adaptation need none", fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
