r"""Experiment ``race``: every update rule on three classic test surfaces, as still frames.

* Rosenbrock's banana, :math:`(1-x)^2 + 100(y-x^2)^2`: a curved, narrow valley to the minimum at
  :math:`(1, 1)`;
* Beale's function: flat plateaus and steep walls, minimum at :math:`(3, 1/2)`;
* the saddle :math:`x^2 + y^4/4 - y^2/2`, started almost on the ridge.

Each rule runs with a learning rate suited to it and the same ``max_grad_norm=10`` (clipping inside
the step). On the saddle the contrast is sharpest: plain gradient descent creeps along the ridge,
while the adaptive rules, which divide each coordinate by its own gradient scale, turn the tiny
:math:`y` gradient into a full-sized step and leave at once.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from .. import Adadelta, Adagrad, Adam, Adamax, AdamW, LAMB, LARS, Lion, NAdam, RAdam, RMSprop, SGD
from .._progress import Progress
from ._common import Result, descend, pyplot, table

NAME = "race"

RULES: Dict[str, Tuple[type, dict]] = {
    "SGD": (SGD, dict(lr=1e-3)),
    "SGD, Nesterov": (SGD, dict(lr=1e-3, momentum=0.9, nesterov=True)),
    "Adagrad": (Adagrad, dict(lr=0.5)),
    "RMSprop": (RMSprop, dict(lr=0.01)),
    "Adadelta": (Adadelta, dict(lr=1.0)),
    "Adam": (Adam, dict(lr=0.05)),
    "AdamW": (AdamW, dict(lr=0.05)),
    "Adamax": (Adamax, dict(lr=0.05)),
    "NAdam": (NAdam, dict(lr=0.05)),
    "RAdam": (RAdam, dict(lr=0.05)),
    "Lion": (Lion, dict(lr=0.01)),
    "LAMB": (LAMB, dict(lr=0.05)),
    "LARS": (LARS, dict(lr=0.05, trust_coefficient=0.1)),
}


def _rosenbrock(v):
    x, y = v
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2, np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


def _beale(v):
    x, y = v
    a, b, c = 1.5 - x + x * y, 2.25 - x + x * y**2, 2.625 - x + x * y**3
    g = [2 * a * (y - 1) + 2 * b * (y**2 - 1) + 2 * c * (y**3 - 1), 2 * x * (a + 2 * b * y + 3 * c * y**2)]
    return a * a + b * b + c * c, np.array(g)


def _saddle(v):
    x, y = v
    return x**2 + y**4 / 4 - y**2 / 2, np.array([2 * x, y**3 - y])


SURFACES: Dict[str, Tuple[Callable, list, tuple, tuple]] = {
    # name: (value and gradient, start, x range, y range)
    "rosenbrock": (_rosenbrock, [-1.5, 2.0], (-2.0, 2.0), (-1.0, 3.0)),
    "beale": (_beale, [1.0, 1.4], (-0.5, 4.5), (-1.5, 2.0)),
    "saddle": (_saddle, [1.0, 1e-3], (-1.2, 1.2), (-1.5, 1.5)),
}


def _maker(cls: type, kw: dict) -> Callable[[np.ndarray], Any]:
    return lambda t: cls([t], **kw, max_grad_norm=10.0)


def _gradient(fg: Callable) -> Callable[[np.ndarray], np.ndarray]:
    return lambda v: fg(v)[1]


def run(*, steps: Optional[int] = None, seed: int = 0, fast: bool = False, progress: bool = False) -> Result:
    n = steps or (200 if fast else 500)
    bar = Progress(len(SURFACES) * len(RULES) * n, progress)
    figures: Dict[str, Dict[str, dict]] = {}
    paths: Dict[str, Dict[str, np.ndarray]] = {}
    for surface, (fg, start, _, _) in SURFACES.items():
        figures[surface], paths[surface] = {}, {}
        for rule, (cls, kw) in RULES.items():
            path = descend(_maker(cls, kw), _gradient(fg), start, n, bar, f"{surface} {rule}")
            paths[surface][rule] = path
            figures[surface][rule] = dict(start_loss=float(fg(path[0])[0]), final_loss=float(fg(path[-1])[0]), final=path[-1])
    return dict(name=NAME, steps=n, figures=figures, paths=paths)


def table_of(r: Result) -> str:
    rows = [[rule] + [r["figures"][s][rule]["final_loss"] for s in SURFACES] for rule in RULES]
    start = ", ".join(f"{s} {next(iter(r['figures'][s].values()))['start_loss']:.3g}" for s in SURFACES)
    return f"final loss after {r['steps']} steps (start: {start}; minima 0, 0, -0.25)\n" + table(rows, ["rule"] + list(SURFACES))


def plot(r: Result, path: str) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(SURFACES), figsize=(18, 5.5))
    colors = plt.cm.tab20(np.linspace(0, 1, len(RULES)))
    for ax, (surface, (fg, start, xr, yr)) in zip(axes, SURFACES.items()):
        X, Y = np.meshgrid(np.linspace(xr[0], xr[1], 250), np.linspace(yr[0], yr[1], 250))
        Z = np.vectorize(lambda a, b, fg=fg: fg((a, b))[0])(X, Y)
        ax.contour(X, Y, np.log1p(Z - Z.min()), levels=30, cmap="Greys", linewidths=0.5)
        for color, (rule, p) in zip(colors, r["paths"][surface].items()):
            ax.plot(p[:, 0], p[:, 1], color=color, lw=1.2, label=rule)
            ax.plot(p[-1, 0], p[-1, 1], "o", color=color, ms=4)
        ax.plot(*start, "kx", ms=10)
        ax.set(xlim=xr, ylim=yr, title=f"{surface}, {r['steps']} steps")
    axes[0].legend(fontsize=7, loc="upper left", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
