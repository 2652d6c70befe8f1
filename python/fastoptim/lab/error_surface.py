r"""Experiment ``error-surface``: adaptive learning rates on a badly conditioned error surface.

A linear model :math:`\hat y = w x + b` fitted by least squares to a *raw*, un-normalised feature
(:math:`x` between 50 and 250) has a convex error surface, but a long, narrow valley: the Hessian
:math:`\begin{pmatrix}\overline{x^2} & \bar x\\ \bar x & 1\end{pmatrix}` has eigenvalues about
:math:`3\cdot10^4` and :math:`0.1`. One learning rate cannot suit both directions:

* gradient descent with the largest stable lr oscillates across the valley, then stalls: the loss is
  flat but the gradient stays large (stuck is not small gradient);
* with a small lr it crawls along the valley floor and is nowhere near after 100,000 steps;
* AdaGrad gives each coordinate its own step. The lecture's averaged form (:math:`\sigma` = root
  *mean* square of past gradients) arrives, but with a constant lr its effective step grows as the
  gradients fade, until it bursts sideways out of the valley, again and again;
* with :math:`\eta_t = \eta/\sqrt{t+1}` the same rule is ordinary AdaGrad and arrives smoothly,
  never stepping away from the minimum in the second half of its run (it needs 10,000 steps);
* RMSProp and Adam are shown for comparison;
* standardising the feature makes the surface round, and plain gradient descent works.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

from .. import SGD, Adagrad, Adam, RMSprop
from .. import schedules as S
from .._progress import Progress
from ..diagnostics import GradientMonitor
from ._common import Result, descend, pyplot, step_sizes, table

NAME = "error-surface"


def _problem(seed: int):
    rng = np.random.default_rng(seed)
    x = rng.uniform(50, 250, 100)  # a raw feature, e.g. a floor area in square metres
    y = 3.0 * x + 40 + rng.normal(0, 20, x.size)
    X = np.stack([x, np.ones_like(x)], axis=1)
    return x, y, X


def run(*, steps: Optional[int] = None, seed: int = 0, fast: bool = False, progress: bool = False) -> Result:
    """Run every method; return the trajectories and the figures that support each claim."""
    x, y, X = _problem(seed)
    loss = lambda t: 0.5 * float(np.mean((X @ t - y) ** 2))
    grad = lambda t: X.T @ (X @ t - y) / len(y)
    best = np.linalg.lstsq(X, y, rcond=None)[0]
    curv = np.linalg.eigvalsh(X.T @ X / len(y))
    n = steps or 3000
    crawl = steps or (20_000 if fast else 100_000)
    z = (x - x.mean()) / x.std()  # the standardised feature
    Z = np.stack([z, np.ones_like(z)], axis=1)
    zgrad = lambda t: Z.T @ (Z @ t - y) / len(y)
    start = [0.0, 0.0]
    runs: Dict[str, Any] = {
        "gd, lr = 1.9/lambda_max": (lambda t: SGD([t], lr=1.9 / curv[1]), grad, 2000 if steps is None else steps),
        "gd, lr = 0.2/lambda_max": (lambda t: SGD([t], lr=0.2 / curv[1]), grad, crawl),
        "adagrad(average), lr = 1": (lambda t: Adagrad([t], lr=1.0, average=True), grad, n),
        # The decayed form takes longer to cross the valley floor: 10,000 steps to arrive.
        "adagrad(average), lr = 10/sqrt(t+1)": (
            lambda t: Adagrad([t], lr=S.inverse_sqrt(10.0), average=True),
            grad,
            10_000 if steps is None else steps,
        ),
        "rmsprop, lr = 0.3": (lambda t: RMSprop([t], lr=0.3), grad, n),
        "adam, lr = 1": (lambda t: Adam([t], lr=1.0), grad, n),
        "gd on standardised x, lr = 0.5": (lambda t: SGD([t], lr=0.5), zgrad, 200 if steps is None else steps),
    }
    bar = Progress(sum(r[2] for r in runs.values()), progress)
    paths, figures = {}, {}
    for label, (make, g, k) in runs.items():
        path = descend(make, g, start, k, bar, label)
        if g is zgrad:  # back to raw coordinates: w = w'/std, b = b' - w' mean/std
            path = np.stack([path[:, 0] / x.std(), path[:, 1] - path[:, 0] * x.mean() / x.std()], axis=1)
        losses = np.array([loss(p) for p in path[:: max(1, k // 2000)]])
        late = step_sizes(path)[k // 2 :]
        distance = np.linalg.norm(path - best, axis=1)
        mon = GradientMonitor(window=100, flat_tol=1e-2)
        for p in path[-101:]:
            mon.record([grad(p)], loss=loss(p))
        paths[label] = path
        figures[label] = dict(
            steps=k,
            final_distance=float(distance[-1]),
            closest_distance=float(distance.min()),
            late_distance_rises=int(np.sum(np.diff(distance[k // 2 :]) > 1e-9)),  # steps away from the minimum
            final_loss=loss(path[-1]),
            final_grad_norm=float(np.linalg.norm(grad(path[-1]))),
            late_max_over_median_step=float(late.max() / max(np.median(late), 1e-300)),
            late_max_loss=float(max(loss(p) for p in path[k // 2 :: max(1, k // 4000)])),
            stalled=bool(mon.stalled),
            losses=losses,
        )
    return dict(
        name=NAME,
        minimum=best,
        min_loss=loss(best),
        curvatures=curv,
        condition_number=float(curv[1] / curv[0]),
        figures=figures,
        paths={k: v[:: max(1, len(v) // 3000)] for k, v in paths.items()},
    )


def table_of(r: Result) -> str:
    rows = [
        [label, f["steps"], f["final_distance"], f["final_loss"], f["final_grad_norm"], f["late_max_over_median_step"], "yes" if f["stalled"] else ""]
        for label, f in r["figures"].items()
    ]
    head = (
        f"condition number {r['condition_number']:.3g}; minimum w = {r['minimum'][0]:.4f}, b = {r['minimum'][1]:.3f}, "
        f"loss {r['min_loss']:.4g}\n"
    )
    return head + table(rows, ["method", "steps", "distance", "loss", "|grad|", "late max/median step", "stalled"])


def plot(r: Result, path: str) -> None:
    plt = pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 5.2))
    w0, b0 = r["minimum"]
    W, B = np.meshgrid(np.linspace(w0 - 0.8, w0 + 0.8, 300), np.linspace(b0 - 90, b0 + 90, 300))
    x, y, _ = _problem(0)
    L = 0.5 * np.mean((W[..., None] * x + B[..., None] - y) ** 2, axis=-1)
    ax.contour(W, B, np.log10(L), levels=18, cmap="Greys", linewidths=0.5)
    for label, p in r["paths"].items():
        ax.plot(p[:, 0], p[:, 1], lw=0.8 if "rmsprop" in label else 1.4, alpha=0.5 if "rmsprop" in label else 0.9, label=label)
    ax.plot([w0], [b0], "r*", ms=14, label="minimum")
    ax.set(xlim=(w0 - 0.8, w0 + 0.8), ylim=(b0 - 90, b0 + 90), xlabel="w", ylabel="b",
           title=f"error surface of y = w x + b on raw x (condition number {r['condition_number']:.2g})")
    ax.legend(fontsize=7, loc="lower left")
    for label, f in r["figures"].items():
        losses = np.asarray(f["losses"])
        steps = np.linspace(0, f["steps"], len(losses))
        bx.semilogy(steps + 1, losses - r["min_loss"] + 1e-9, lw=1.0, label=label)
    bx.set(xscale="log", xlabel="step", ylabel="loss - minimum", title="loss curves")
    bx.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
