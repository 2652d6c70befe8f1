r"""Experiment ``newton``: second-order steps are exact but costly; adaptive rules approximate them cheaply.

Newton's method steps by :math:`-H^{-1} \nabla L`, the gradient rescaled by the inverse Hessian. On
a quadratic such as the error surface of a linear model, :math:`L(\theta) = L^* + \tfrac12 (\theta -
\theta^*)^\top H (\theta - \theta^*)`, one Newton step lands exactly on the minimum, whatever the
conditioning: here the ``error-surface`` problem, whose Hessian has condition number
:math:`2\cdot10^5`, where gradient descent stalls. But forming :math:`H` costs :math:`n^2` memory
and solving with it :math:`O(n^3)` time, against :math:`O(n)` for a first-order step.

Diagonal scaling sits between the two: dividing each coordinate by its own curvature
:math:`H_{ii}` (diagonal Newton) turns the condition number from :math:`2\cdot10^5` into about 30,
for :math:`O(n)` work. AdaGrad and Adam rescale each coordinate by a running root mean square of its
gradients instead, a cheap stand-in for that diagonal that needs no second derivatives. (At a
constant rate Adam reaches the minimum to rounding, then wanders off again to about :math:`10^{-3}`:
its step, normalised by the gradient's own scale, does not shrink as the gradient does.) The
figures: distance to the minimum over the steps for each, and the measured time of one Newton
solve and one Adam step as :math:`n` grows, with their log-log slopes.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np
from threadpoolctl import threadpool_limits

from ..core.runtime import get_num_threads, set_num_threads
from ..rules import SGD, Adagrad, Adam
from ..core.progress import Progress
from ._common import Result, descend, pyplot, table
from .error_surface import problem

NAME = "newton"
LESSON = (  # for the lab's page: what the experiment teaches, in plain words
    "Newton's method rescales the gradient by the inverse of the Hessian, the matrix of second derivatives. "
    "On a quadratic error surface one Newton step lands exactly on the minimum, however badly the surface is "
    "conditioned: where gradient descent stalls after thousands of steps, Newton is done in one. The price is "
    "the Hessian: n-squared numbers to store and n-cubed work to solve with, which for a network of a million "
    "weights means terabytes and months per step. Dividing each coordinate by its own curvature, the diagonal "
    "of the Hessian, keeps most of the benefit at the cost of a gradient step; AdaGrad and Adam do the same "
    "with a running average of squared gradients, which needs no second derivatives at all."
)

NEWTON_N = [64, 128, 256, 512, 1024, 2048]  # the sizes timed (fast mode stops at 1024)
ADAM_N = [2**k for k in range(10, 23, 2)]


def _best_time(repeats: int, fn: Callable[..., Any], *args: Any) -> float:
    """The fastest of ``repeats`` calls: the cost of the work itself, least disturbed by other processes."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return float(np.min(times))


def _slope(n: List[int], seconds: List[float]) -> float:
    """The log-log slope over the three largest sizes: the exponent of n in the measured cost."""
    return float(np.polyfit(np.log(n[-3:]), np.log(seconds[-3:]), 1)[0])


def _costs(fast: bool, seed: int, bar: Progress) -> Dict[str, Any]:
    """Seconds of one Newton solve (dense Hessian, LAPACK) and of one fastoptim Adam step, as n grows.
    Both run on one thread, so that the exponent is the algorithm's, not a thread pool's ramp-up."""
    rng = np.random.default_rng(seed)
    newton_n = NEWTON_N[:-1] if fast else NEWTON_N
    adam_n = ADAM_N
    newton_s, adam_s = [], []
    with threadpool_limits(limits=1, user_api="blas"):
        for n in newton_n:
            A = rng.standard_normal((n, n))
            H, g = A @ A.T + n * np.eye(n), rng.standard_normal(n)  # symmetric positive definite
            newton_s.append(_best_time(3, np.linalg.solve, H, g))
            bar.advance(f"newton solve, n = {n}")
    threads = get_num_threads()
    set_num_threads(1)
    try:
        for n in adam_n:
            theta, g = np.zeros(n, np.float32), rng.standard_normal(n).astype(np.float32)
            opt = Adam([theta], lr=1e-3)
            opt.step([g])  # the state exists before timing
            adam_s.append(_best_time(7, opt.step, [g]))
            bar.advance(f"adam step, n = {n}")
    finally:
        set_num_threads(threads)
    return dict(
        newton_n=newton_n, newton_seconds=newton_s, newton_slope=_slope(newton_n, newton_s),
        adam_n=adam_n, adam_seconds=adam_s, adam_slope=_slope(adam_n, adam_s),
    )


def run(*, steps: Optional[int] = None, seed: int = 0, fast: bool = False, progress: bool = False) -> Result:
    """``steps`` is every run's step count (default 10,000: what AdaGrad needs to arrive)."""
    x, y, X = problem(seed)
    H = X.T @ X / len(y)  # the Hessian of 0.5 mean((X theta - y)^2), the same at every point
    grad = lambda t: X.T @ (X @ t - y) / len(y)
    best = np.linalg.lstsq(X, y, rcond=None)[0]
    n = steps or 10_000
    d = np.sqrt(np.diag(H))
    scaled = H / np.outer(d, d)  # D^-1/2 H D^-1/2: the Hessian seen by diagonal Newton
    lam = np.linalg.eigvalsh(H)
    lam_scaled = np.linalg.eigvalsh(scaled)
    runs: Dict[str, Callable[[np.ndarray], Any]] = {
        "newton": lambda t: _Newton(t, H),
        # lr 1/lambda_max of the rescaled Hessian, the diagonal Newton counterpart of GD's 1/lambda_max
        "diagonal newton": lambda t: _Newton(t, np.diag(np.diag(H)), 1.0 / lam_scaled[-1]),
        "gd, lr = 1.9/lambda_max": lambda t: SGD([t], lr=1.9 / lam[-1]),
        "adagrad, lr = 10": lambda t: Adagrad([t], lr=10.0),
        "adam, lr = 1 (constant: does not settle)": lambda t: Adam([t], lr=1.0),
    }
    bar = Progress(len(runs) * n + len(NEWTON_N) + len(ADAM_N), progress)
    figures: Dict[str, Dict[str, Any]] = {}
    shown = np.unique(np.r_[0, np.geomspace(1, n, 400).astype(int)])  # the steps drawn, log-spaced
    for label, make in runs.items():
        path = descend(make, grad, [0.0, 0.0], n, bar, label)
        distance = np.linalg.norm(path - best, axis=1)
        figures[label] = dict(
            steps=shown,
            distance=distance[shown],
            after_1=float(distance[1]),
            closest_distance=float(distance.min()),
            final_distance=float(distance[-1]),
            steps_to_1e_2=int(np.argmax(distance < 1e-2)) if (distance < 1e-2).any() else None,
        )
    return dict(
        name=NAME,
        steps=n,
        condition_number=float(lam[-1] / lam[0]),
        scaled_condition_number=float(lam_scaled[-1] / lam_scaled[0]),
        figures=figures,
        cost=_costs(fast, seed, bar),
    )


class _Newton:
    """``theta -= lr * M^-1 grad``: Newton's step with M the Hessian, diagonal Newton's with its diagonal."""

    def __init__(self, theta: np.ndarray, M: np.ndarray, lr: float = 1.0) -> None:
        self.theta, self.M, self.lr = theta, M, lr

    def step(self, grads: List[np.ndarray]) -> None:
        self.theta -= self.lr * np.linalg.solve(self.M, grads[0])


def table_of(r: Result) -> str:
    rows = [
        [k, f["after_1"], "-" if f["steps_to_1e_2"] is None else f["steps_to_1e_2"], f["closest_distance"], f["final_distance"]]
        for k, f in r["figures"].items()
    ]
    c = r["cost"]
    head = (
        f"condition number {r['condition_number']:.3g}; seen by diagonal Newton {r['scaled_condition_number']:.3g}\n"
    )
    tail = (
        f"\ncost per step: Newton solve {c['newton_seconds'][-1] * 1e3:.2f} ms at n = {c['newton_n'][-1]}, "
        f"slope {c['newton_slope']:.2f} (n^3 is 3); Adam {c['adam_seconds'][-1] * 1e3:.2f} ms at n = {c['adam_n'][-1]}, "
        f"slope {c['adam_slope']:.2f} (n is 1)"
    )
    return head + table(rows, ["method", "distance after 1 step", "steps to 0.01", "closest", f"after {r['steps']}"]) + tail


def plot(r: Result, path: str) -> None:
    plt = pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(14, 5.2))
    for label, f in r["figures"].items():
        steps, dist = np.asarray(f["steps"]), np.maximum(np.asarray(f["distance"]), 1e-14)
        ax.loglog(steps + 1, dist, lw=1.8, label=label, marker="o" if label == "newton" else None, markevery=[0, 1])
    ax.set(xlabel="step + 1", ylabel="distance to the minimum",
           title=f"on the error surface (condition number {r['condition_number']:.1e})")
    ax.legend(fontsize=9, loc="center left", bbox_to_anchor=(0.1, 0.4))
    c = r["cost"]
    for name, color in (("newton", "C0"), ("adam", "C4")):
        n, s = np.array(c[f"{name}_n"]), np.array(c[f"{name}_seconds"])
        label = "Newton: solve with the n x n Hessian" if name == "newton" else "Adam: one fastoptim step, one thread"
        bx.loglog(n, s, "o-", color=color, lw=1.8, label=f"{label} (slope {c[f'{name}_slope']:.2f})")
        power = 3 if name == "newton" else 1
        bx.loglog(n, s[-1] * (n / n[-1]) ** power, ":", color=color, label=f"n^{power}")
    bx.set(xlabel="number of parameters n", ylabel="seconds per step", title="cost of one step, measured")
    bx.legend(fontsize=9, loc="lower right")  # under the Adam curve: the Newton curve rises through the upper left
    fig.suptitle("One Newton step lands on the minimum but costs O(n^3); per-coordinate scaling costs O(n)", fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
