r"""Experiment ``saddle``: gradient descent stalls at a saddle point; the Hessian shows the way out.

On :math:`f(x, y) = x^2 + y^4/4 - y^2/2` the origin is a saddle (curvature 2 along :math:`x`, -1
along :math:`y`) between two minima at :math:`(0, \pm1)`, :math:`f = -1/4`. Started at
:math:`(1, 10^{-10})`, gradient descent slides into the saddle and sits there: the gradient is
almost zero, and the unstable direction grows only by a factor :math:`1 + \eta` per step.
:func:`~fastoptim.diagnostics.critical_point` classifies the point as a saddle (minimum ratio 0.5)
and gives the escape direction, the eigenvector of the negative eigenvalue; one step along it and
descent continues to a minimum. Momentum (which amplifies the slow unstable growth) and gradient
noise (which kicks the iterate off the ridge) also escape.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..rules import SGD
from ..core.progress import Progress
from ..diagnostics import critical_point
from ._common import Result, descend, pyplot, table

NAME = "saddle"
LESSON = (  # for the lab's page: what the experiment teaches, in plain words
    "Gradient descent slides into the saddle point of x^2 + y^4/4 - y^2/2 and sits there: the gradient is "
    "almost zero, and nothing pushes it off the ridge. The Hessian's eigenvalues classify the point (one "
    "positive, one negative: a saddle), and the eigenvector of the negative one is the way out; one step "
    "along it and descent goes on to a minimum. Momentum, which amplifies the slow drift off the ridge, and "
    "gradient noise, which kicks the point off it, escape too."
)


def f(v: np.ndarray) -> float:
    return float(v[0] ** 2 + v[1] ** 4 / 4 - v[1] ** 2 / 2)


def grad(v: np.ndarray) -> np.ndarray:
    return np.array([2 * v[0], v[1] ** 3 - v[1]])


def run(*, steps: Optional[int] = None, seed: int = 0, fast: bool = False, progress: bool = False) -> Result:
    n = steps or 200
    start = [1.0, 1e-10]
    bar = Progress(4 * n, progress)
    gd = descend(lambda t: SGD([t], lr=0.1), grad, start, n, bar, "gd")
    cp = critical_point(grad, gd[-1])
    escape = descend(lambda t: SGD([t], lr=0.1), grad, cp.escape(0.1), n, bar, "escape")
    momentum = descend(lambda t: SGD([t], lr=0.1, momentum=0.9), grad, start, n, bar, "momentum")
    noisy = descend(lambda t: SGD([t], lr=0.1), grad, start, n, bar, "noise", noise=0.01, seed=seed)
    paths = {"gd": gd, "escape along the eigenvector": np.vstack([gd, escape]), "momentum 0.9": momentum, "gradient noise": noisy}
    figures = {k: dict(final=p[-1], final_loss=f(p[-1])) for k, p in paths.items()}
    return dict(
        name=NAME,
        figures=figures,
        stalled_point=dict(
            theta=cp.theta,
            kind=cp.kind,
            eigenvalues=cp.eigenvalues,
            minimum_ratio=cp.minimum_ratio,
            gradient_norm=cp.gradient_norm,
            escape_direction=cp.escape_direction,
        ),
        paths=paths,
    )


def table_of(r: Result) -> str:
    sp = r["stalled_point"]
    head = (
        f"gradient descent stopped at ({sp['theta'][0]:.2g}, {sp['theta'][1]:.2g}) with |grad| {sp['gradient_norm']:.2g}: "
        f"a {sp['kind']}, eigenvalues {np.round(sp['eigenvalues'], 3).tolist()}, minimum ratio {sp['minimum_ratio']:.2f}, "
        f"escape along {np.round(sp['escape_direction'], 3).tolist()}\n"
    )
    rows = [[k, f"({v['final'][0]:.3f}, {v['final'][1]:.3f})", v["final_loss"]] for k, v in r["figures"].items()]
    return head + table(rows, ["run", "end point", "loss (minimum -0.25)"])


def plot(r: Result, path: str) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 6.5))
    X, Y = np.meshgrid(np.linspace(-1.2, 1.2, 300), np.linspace(-1.6, 1.6, 300))
    ax.contour(X, Y, X**2 + Y**4 / 4 - Y**2 / 2, levels=30, cmap="Greys", linewidths=0.6)
    # Widest first: the paths share stretches (all start on the x axis), and each stays visible under the next.
    for width, (label, p) in zip((7, 4.5, 2.5, 1.2), r["paths"].items()):
        ax.plot(p[:, 0], p[:, 1], lw=width, alpha=0.8, label=label, solid_capstyle="butt")
    d = np.asarray(r["stalled_point"]["escape_direction"])
    ax.annotate("", xy=(0.5 * d[0], 0.5 * d[1]), xytext=(0, 0), arrowprops=dict(arrowstyle="->", color="red", lw=2))
    ax.annotate("", xy=(0.5, 0), xytext=(0, 0), arrowprops=dict(arrowstyle="->", color="blue", lw=2))
    ax.text(0.05, 0.45, "negative curvature: escape", color="red")
    ax.text(0.2, -0.12, "positive curvature", color="blue")
    ax.plot([0, 0], [-1, 1], "r*", ms=12, label="minima")
    ax.set(xlabel="x", ylabel="y", title="f = x^2 + y^4/4 - y^2/2: a saddle at the origin, minima at (0, +-1)")
    fig.suptitle("Gradient descent stalls at the saddle; the Hessian's negative direction, momentum and noise escape it", fontsize=12)
    ax.legend(fontsize=10, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
