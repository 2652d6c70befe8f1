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

from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..rules import SGD, Adagrad, Adam, RMSprop
from .. import schedules as S
from ..core.progress import Progress
from ..diagnostics import GradientMonitor
from ._common import Result, descend, pyplot, step_sizes, table

NAME = "error-surface"
LESSON = (  # for the lab's page: what the experiment teaches, in plain words
    "A linear model fitted to a raw feature (values 50 to 250) has a convex error surface shaped like a long, "
    "narrow valley: its curvature across the valley is 200,000 times its curvature along it. One learning "
    "rate cannot suit both directions. Gradient descent at the largest stable rate bounces across the valley "
    "and stalls with a large gradient (stuck is not the same as a small gradient); at a small rate it crawls "
    "along the floor for 100,000 steps. AdaGrad and Adam give each coordinate its own step and arrive. "
    "AdaGrad averaged over the steps with a constant rate bursts out of the valley as its gradients fade; "
    "with a decaying rate it arrives smoothly. Standardising the feature makes the valley round, and then "
    "plain gradient descent works."
)


def problem(seed: int):
    """The data both surface experiments fit (this one and newton): a raw feature x, targets
    y = 3x + 40 + noise, and the design matrix X = [x, 1] of the linear model."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(50, 250, 100)  # a raw feature, e.g. a floor area in square metres
    y = 3.0 * x + 40 + rng.normal(0, 20, x.size)
    X = np.stack([x, np.ones_like(x)], axis=1)
    return x, y, X


def run(*, steps: Optional[int] = None, seed: int = 0, fast: bool = False, progress: bool = False) -> Result:
    """Run every method; return the trajectories and the figures that support each claim."""
    x, y, X = problem(seed)
    loss = lambda t: 0.5 * float(np.mean((X @ t - y) ** 2))
    grad = lambda t: X.T @ (X @ t - y) / len(y)
    best = np.linalg.lstsq(X, y, rcond=None)[0]
    curv = np.linalg.eigvalsh(X.T @ X / len(y))  # the loss's Hessian, constant
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
        seed=seed,
        minimum=best,
        min_loss=loss(best),
        curvatures=curv,
        hessian=X.T @ X / len(y),
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


# Which runs each surface panel draws: the whole surface shows how far each gets from the start,
# the zoom on the valley floor how the per-coordinate rules arrive. Every run is in the loss panel.
WHOLE = ("gd, lr = 1.9/lambda_max", "gd, lr = 0.2/lambda_max", "gd on standardised x, lr = 0.5", "adam, lr = 1")
ZOOM = ("adagrad(average), lr = 1", "adam, lr = 1", "adagrad(average), lr = 10/sqrt(t+1)")  # drawn in this order


def _surface(ax: Any, r: Result, w: Tuple[float, float], b: Tuple[float, float], labels: tuple, colors: dict, title: str) -> None:
    """Contours of the log loss over the box ``w`` x ``b``, the runs ``labels`` and the minimum."""
    W, B = np.meshgrid(np.linspace(w[0], w[1], 300), np.linspace(b[0], b[1], 300))
    x, y, _ = problem(r["seed"])
    L = 0.5 * np.mean((W[..., None] * x + B[..., None] - y) ** 2, axis=-1)
    ax.contourf(W, B, np.log10(L), levels=24, cmap="Greys_r", alpha=0.5)
    ax.contour(W, B, np.log10(L), levels=24, colors="grey", linewidths=0.4)
    floor = np.linalg.eigh(r["hessian"])[1][:, 0]  # the valley floor: the flat direction through the minimum
    t = np.array([-1e3, 1e3])
    ax.plot(r["minimum"][0] + t * floor[0], r["minimum"][1] + t * floor[1], "k--", lw=1, label="valley floor")
    for label in labels:
        p = r["paths"][label]
        burst = label.endswith("lr = 1") and "adagrad" in label
        ax.plot(p[:, 0], p[:, 1], color=colors[label], lw=0.7 if burst else 1.8, alpha=0.6 if burst else 0.95)
        ax.plot(p[-1, 0], p[-1, 1], "o", color=colors[label], ms=6)
    ax.plot(*r["minimum"], "r*", ms=16, zorder=5)
    ax.set(xlim=w, ylim=b, xlabel="w", ylabel="b", title=title)


def plot(r: Result, path: str) -> None:
    plt = pyplot()
    fig = plt.figure(figsize=(14, 10))
    grid = fig.add_gridspec(2, 3, height_ratios=[1.15, 1])
    whole, zoom, curves = fig.add_subplot(grid[0, :2]), fig.add_subplot(grid[0, 2]), fig.add_subplot(grid[1, :2])
    corner = grid[1, 2].subgridspec(2, 1, height_ratios=[1, 1.5], hspace=0.45)
    across, key = fig.add_subplot(corner[0]), fig.add_subplot(corner[1])
    colors = {label: plt.cm.tab10(i) for i, label in enumerate(r["figures"])}
    w0, b0 = r["minimum"]
    _surface(whole, r, (-0.5, 7.5), (-20.0, 60.0), WHOLE, colors, "the whole surface, from the start (0, 0)")
    _surface(zoom, r, (w0 - 0.15, w0 + 0.35), (-5.0, b0 + 10), ZOOM, colors, "zoom on the valley floor")
    for label, f in r["figures"].items():
        losses = np.asarray(f["losses"])
        steps = np.linspace(0, f["steps"], len(losses))
        curves.loglog(steps + 1, losses - r["min_loss"] + 1e-9, color=colors[label], lw=1.2, label=label)
    curves.set(xlabel="step", ylabel="loss - minimum", title="loss curves, every run")
    # On the whole surface both gradient-descent runs travel along b = 0 and hide each other: their
    # w against the step shows the large rate's oscillation across the valley and the small one's crawl.
    for label in WHOLE[:2]:
        w_path = r["paths"][label][:60, 0]
        across.plot(np.arange(len(w_path)), w_path - w0, ".-", color=colors[label], lw=0.8, ms=3)
    across.axhline(0, color="k", lw=0.6)
    across.set(xlabel="step", ylabel="w - w*", title="gradient descent across the valley (first 60 steps)")
    key.axis("off")
    handles = curves.get_lines() + whole.plot([], [], "r*", ms=12, ls="", label="minimum") + whole.get_lines()[:1]
    key.legend(handles=handles, loc="center", fontsize=9, title="run (rmsprop: loss only)")
    fig.suptitle(
        f"One learning rate cannot suit a valley of condition number {r['condition_number']:.1e}: "
        "per-coordinate steps or a standardised feature can",
        fontsize=12,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
