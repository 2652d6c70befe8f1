r"""Experiment ``race``: every update rule on three classic test surfaces, in still frames and an animation.

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

from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from ..rules import (
    ASGD, LBFGS, Adadelta, Adafactor, Adagrad, Adam, Adamax, AdamW, AdEMAMix, Adan, DAdaptAdaGrad, DAdaptAdam, DAdaptSGD, LAMB, LARS,
    Lion, Muon, NAdam, Prodigy, RAdam, RMSprop, Rprop, RowWiseAdagrad, SGD, ScheduleFreeAdamW, ScheduleFreeSGD, SparseAdam,
)
from ..core.progress import Progress
from ..rules.schedulefree import in_train_mode
from ._common import Result, descend, pyplot, table

NAME = "race"
LESSON = (  # for the lab's page: what the experiment teaches, in plain words
    "Every update rule on three classic surfaces: Rosenbrock's curved valley, Beale's plateaus and steep "
    "walls, and a saddle started almost on its ridge. Plain gradient descent creeps along the ridge of the "
    "saddle, while the adaptive rules, which divide each coordinate by its own gradient scale, turn a tiny "
    "gradient into a full-sized step and leave at once. The animation shows one or two rules of each family "
    "step by step."
)

RULES: Dict[str, Tuple[type, dict]] = {
    "SGD": (SGD, dict(lr=1e-3)),
    "SGD, Nesterov": (SGD, dict(lr=1e-3, momentum=0.9, nesterov=True)),
    "ASGD": (ASGD, dict(lr=2e-3, t0=100)),
    "ScheduleFreeSGD": (ScheduleFreeSGD, dict(lr=2e-3)),
    "Adagrad": (Adagrad, dict(lr=0.5)),
    "RMSprop": (RMSprop, dict(lr=0.01)),
    "Adadelta": (Adadelta, dict(lr=1.0)),
    "Adafactor": (Adafactor, dict(lr=0.05)),
    "RowWiseAdagrad": (RowWiseAdagrad, dict(lr=0.5, max_grad_norm=10.0)),
    "Adam": (Adam, dict(lr=0.05)),
    "AdamW": (AdamW, dict(lr=0.05)),
    "Adamax": (Adamax, dict(lr=0.05)),
    "NAdam": (NAdam, dict(lr=0.05)),
    "RAdam": (RAdam, dict(lr=0.05)),
    "SparseAdam": (SparseAdam, dict(lr=0.05)),
    "Adan": (Adan, dict(lr=0.05)),
    "AdEMAMix": (AdEMAMix, dict(lr=0.05)),
    "ScheduleFreeAdamW": (ScheduleFreeAdamW, dict(lr=0.05)),
    "Lion": (Lion, dict(lr=0.01)),
    "Rprop": (Rprop, dict(lr=0.01)),
    "Muon": (Muon, dict(lr=0.02, weight_decay=0.0)),
    "LBFGS": (LBFGS, dict(line_search_fn="strong_wolfe")),
    "LAMB": (LAMB, dict(lr=0.05)),
    "LARS": (LARS, dict(lr=0.05, trust_coefficient=0.1)),
    "Prodigy": (Prodigy, dict()),  # learning-rate-free: their defaults
    "DAdaptAdam": (DAdaptAdam, dict()),
    "DAdaptSGD": (DAdaptSGD, dict()),
    "DAdaptAdaGrad": (DAdaptAdaGrad, dict()),
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


class _AsStep:
    """LBFGS, Muon and RowWiseAdagrad in the race's loop, which calls ``step([g])`` once per step:
    L-BFGS makes one iteration per step, evaluating the surface itself (its line search needs values
    too); Muon sees the point as a 1 x 2 matrix, whose orthogonalisation is the unit vector along
    the update; RowWiseAdagrad too, so that both coordinates share its one accumulator (as a vector,
    each coordinate would be a row: Adagrad)."""

    def __init__(self, cls: type, kw: dict, theta: np.ndarray, fg: Callable) -> None:
        self.theta, self.fg = theta, fg
        if cls is LBFGS:
            self.opt: Any = LBFGS([theta], **kw, max_iter=1, max_eval=25)  # room for the line search
        else:
            self.opt = cls([theta.reshape(1, 2)], **kw)
        self.lbfgs = cls is LBFGS

    def step(self, grads: List[np.ndarray]) -> None:
        if self.lbfgs:
            self.opt.step(lambda: (lambda f, g: (f, [g]))(*self.fg(self.theta)))
        else:
            self.opt.step([grads[0].reshape(1, 2)])


def _maker(cls: type, kw: dict, fg: Callable) -> Callable[[np.ndarray], Any]:
    if cls in (LBFGS, Muon, RowWiseAdagrad):
        return lambda t: _AsStep(cls, kw, t, fg)
    return lambda t: in_train_mode(cls([t], **kw, max_grad_norm=10.0))


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
            path = descend(_maker(cls, kw, fg), _gradient(fg), start, n, bar, f"{surface} {rule}")
            paths[surface][rule] = path
            figures[surface][rule] = dict(start_loss=float(fg(path[0])[0]), final_loss=float(fg(path[-1])[0]), final=path[-1])
    return dict(name=NAME, steps=n, figures=figures, paths=paths)


def table_of(r: Result) -> str:
    rows = [[rule] + [r["figures"][s][rule]["final_loss"] for s in SURFACES] for rule in RULES]
    start = ", ".join(f"{s} {next(iter(r['figures'][s].values()))['start_loss']:.3g}" for s in SURFACES)
    return f"final loss after {r['steps']} steps (start: {start}; minima 0, 0, -0.25)\n" + table(rows, ["rule"] + list(SURFACES))


# The rules in families, one row of panels each, so that no panel holds more than five paths.
GROUPS: Dict[str, Tuple[str, ...]] = {
    "gradient descent": ("SGD", "SGD, Nesterov", "ASGD", "ScheduleFreeSGD"),
    "per-coordinate scale": ("Adagrad", "RMSprop", "Adadelta", "Adafactor", "RowWiseAdagrad"),
    "Adam and its variants": ("Adam", "AdamW", "Adamax", "NAdam", "RAdam"),
    "lazy, more moments, no schedule": ("SparseAdam", "Adan", "AdEMAMix", "ScheduleFreeAdamW"),
    "sign and layer-wise": ("Lion", "Rprop", "LAMB", "LARS"),
    "orthogonal and second-order": ("Muon", "LBFGS"),
    "learning-rate-free": ("Prodigy", "DAdaptAdam", "DAdaptSGD", "DAdaptAdaGrad"),
}
RACERS = ("SGD", "Adagrad", "RMSprop", "Adam", "Lion")  # the animation's runners, one or two per family
MINIMA = {"rosenbrock": [(1.0, 1.0)], "beale": [(3.0, 0.5)], "saddle": [(0.0, -1.0), (0.0, 1.0)]}
TITLE = "Adaptive rules leave the saddle at once; plain gradient descent creeps along its ridge"


def _contours(ax: Any, surface: str) -> None:
    """The surface's log-scaled contours, its start (a cross) and its box."""
    fg, start, xr, yr = SURFACES[surface]
    X, Y = np.meshgrid(np.linspace(xr[0], xr[1], 200), np.linspace(yr[0], yr[1], 200))
    Z = np.vectorize(lambda a, b: fg((a, b))[0])(X, Y)
    ax.contour(X, Y, np.log1p(Z - Z.min()), levels=25, cmap="Greys", linewidths=0.5)
    ax.plot(*start, "kx", ms=9)
    ax.plot(*np.transpose(MINIMA[surface]), "r*", ms=11)
    ax.set(xlim=xr, ylim=yr, xticks=[], yticks=[])


def _marker_key(fig: Any) -> None:
    """What the markers mean, once for the figure, along its bottom edge."""
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color="k", marker="x", ls="", ms=9, label="start"),
        Line2D([], [], color="r", marker="*", ls="", ms=11, label="minimum"),
        Line2D([], [], color="grey", marker="o", ls="", ms=5, label="where each run is (its colour)"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=10, frameon=False)


def _panel(ax: Any, r: Result, surface: str, rules: Tuple[str, ...], upto: int) -> List[Any]:
    """One surface and a few rules: each rule's path up to step ``upto`` and a dot where it is."""
    artists = []
    for i, rule in enumerate(rules):
        p = r["paths"][surface][rule][: upto + 1]
        color = f"C{i}"
        artists += ax.plot(p[:, 0], p[:, 1], color=color, lw=1.3, label=rule)
        artists += ax.plot(p[-1:, 0], p[-1:, 1], "o", color=color, ms=5)
    return artists


def _grid(plt: Any, rows: Dict[str, Tuple[str, ...]], size: Tuple[float, float]) -> Tuple[Any, Any]:
    """A figure with a row per entry of ``rows`` and a column per surface, contours drawn."""
    fig, axes = plt.subplots(len(rows), len(SURFACES), figsize=size, squeeze=False)
    for row, name in zip(axes, rows):
        for ax, surface in zip(row, SURFACES):
            _contours(ax, surface)
        row[0].set_ylabel(name, fontsize=11)
    for ax, surface in zip(axes[0], SURFACES):
        ax.set_title(surface, fontsize=12)
    return fig, axes


def plot(r: Result, path: str) -> None:
    """The still frame: every path after the last step, a row of panels per family of rules."""
    plt = pyplot()
    fig, axes = _grid(plt, GROUPS, (13, 3.4 * len(GROUPS)))
    for row, group in zip(axes, GROUPS):
        for ax, surface in zip(row, SURFACES):
            _panel(ax, r, surface, GROUPS[group], r["steps"])
        row[-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=10, frameon=False)
    fig.suptitle(f"{TITLE} ({r['steps']} steps)", fontsize=12)
    _marker_key(fig)
    fig.tight_layout(rect=(0, 0.03, 0.86, 0.98))
    fig.savefig(path, dpi=80)
    plt.close(fig)


def animate(r: Result, path: str, frames: int = 40) -> None:
    """An animated GIF of the race (matplotlib's PillowWriter): :data:`RACERS` on every surface,
    step by step, the steps growing geometrically over the frames (the early moves are the fast ones)."""
    plt = pyplot()
    from matplotlib.animation import FuncAnimation, PillowWriter

    fig, axes = _grid(plt, {"": RACERS}, (13, 4.6))
    drawn = [_panel(ax, r, surface, RACERS, 0) for ax, surface in zip(axes[0], SURFACES)]
    axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=10, frameon=False)
    title = fig.suptitle("", fontsize=12)
    _marker_key(fig)
    fig.tight_layout(rect=(0, 0.07, 0.9, 0.95))

    def frame(k: int) -> List[Any]:
        for surface, artists in zip(SURFACES, drawn):
            for rule, line, dot in zip(RACERS, artists[::2], artists[1::2]):
                p = r["paths"][surface][rule][: k + 1]
                line.set_data(p[:, 0], p[:, 1])
                dot.set_data(p[-1:, 0], p[-1:, 1])
        title.set_text(f"{TITLE}: step {k}")
        return [a for artists in drawn for a in artists]

    stops = list(np.unique(np.geomspace(1, r["steps"], frames).astype(int))) + [r["steps"]] * 8  # rest on the end
    FuncAnimation(fig, frame, frames=stops).save(path, writer=PillowWriter(fps=8), dpi=70)
    plt.close(fig)
