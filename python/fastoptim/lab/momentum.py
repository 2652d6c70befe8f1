r"""Experiment ``momentum``: momentum rolls over a small hill that stops gradient descent.

The 1-D loss :math:`f(x) = x^4/4 - \tfrac83 x^3 + \tfrac{17}2 x^2 - 10x`, with
:math:`f'(x) = (x-1)(x-2)(x-5)`, has a shallow local minimum at :math:`x = 1`, a small hill at
:math:`x = 2` and a much deeper minimum at :math:`x = 5`. Started at :math:`x = 0`, gradient descent
stops in the first minimum, where the gradient is zero. With momentum 0.9 the same learning rate
builds up velocity on the way down, carries it over the hill and settles in the deeper minimum:
momentum remembers the past gradients, not just the present one.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..rules import SGD
from ..core.progress import Progress
from ._common import Result, descend, pyplot, table

NAME = "momentum"
LESSON = (  # for the lab's page: what the experiment teaches, in plain words
    "A one-dimensional loss with a shallow minimum before a deep one. Gradient descent stops in the first "
    "minimum it meets. Momentum keeps a running sum of past gradients: the speed it gathers on the way down "
    "carries it over the small hill into the deeper minimum."
)


def f(x: np.ndarray) -> np.ndarray:
    return x**4 / 4 - 8 / 3 * x**3 + 8.5 * x**2 - 10 * x


def grad(x: np.ndarray) -> np.ndarray:
    return (x - 1) * (x - 2) * (x - 5)


def run(*, steps: Optional[int] = None, seed: int = 0, fast: bool = False, progress: bool = False) -> Result:
    n = steps or 500
    bar = Progress(2 * n, progress)
    paths = {
        "gd, lr 0.01": descend(lambda t: SGD([t], lr=0.01), grad, [0.0], n, bar, "gd")[:, 0],
        "momentum 0.9, lr 0.01": descend(lambda t: SGD([t], lr=0.01, momentum=0.9), grad, [0.0], n, bar, "momentum")[:, 0],
    }
    figures = {k: dict(final=float(p[-1]), final_loss=float(f(p[-1])), furthest=float(p.max())) for k, p in paths.items()}
    return dict(name=NAME, minima=dict(shallow=1.0, deep=5.0), hill=2.0, figures=figures, paths=paths)


def table_of(r: Result) -> str:
    rows = [[k, v["final"], v["final_loss"], v["furthest"]] for k, v in r["figures"].items()]
    return "shallow minimum x = 1 (f = -3.92), hill x = 2, deep minimum x = 5 (f = -14.58)\n" + table(
        rows, ["run", "end x", "loss", "furthest x"]
    )


def plot(r: Result, path: str) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    x = np.linspace(-0.3, 6.2, 400)
    ax.plot(x, f(x), "k", lw=1.5, label="loss")
    for (label, p), dy in zip(r["paths"].items(), (0.0, -0.6)):
        ax.plot(p, f(p) + dy, ".-", ms=3, lw=0.6, label=f"{label} (ends at x = {p[-1]:.2f})")
    ax.set(xlabel="x", ylabel="f(x)", title="gradient descent stops in the first minimum; momentum rolls on")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
