r"""Experiment ``sparse``: adaptive methods suit sparse data, where rare features need larger steps.

A linear model :math:`\hat y = x \cdot w` learns from a stream of binary feature vectors whose
1000 features appear with Zipf frequencies, :math:`p_j = 1/j`: feature 1 is in every example,
feature 1000 in one of a thousand (about 100 times in the run). Labels carry noise of standard
deviation 1. The gradient of a weight is non-zero only in the batches where its feature appears,
so SGD moves rare weights by :math:`\eta p_j` per step on average, while the step that the
frequent features tolerate bounds :math:`\eta`: the rare weights barely learn. Momentum scales
every step alike and does not change the ratio. AdaGrad divides each coordinate by the root of its
own accumulated squared gradients, which is small for a rare feature, so rare weights take large
steps; Adam does the same with a moving average. Each method runs at its best learning rate from a
small grid, chosen by the expected loss :math:`\tfrac12 (w - w^*)^\top E[x x^\top] (w - w^*)`;
the figures are the relative errors of the rarest and the most frequent quarter of the weights.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from ..rules import SGD, Adagrad, Adam
from ..core.progress import Progress
from ._common import Result, pyplot, table

NAME = "sparse"
LESSON = (  # for the lab's page: what the experiment teaches, in plain words
    "Text, clicks and purchases give sparse data: a few features appear in almost every example, most appear "
    "rarely. A weight learns only from the examples where its feature appears, so with one learning rate for "
    "all, the rare weights barely move: the rate is capped by what the frequent features tolerate. SGD and "
    "momentum learn the frequent weights and leave the rare ones far off. AdaGrad and Adam scale each weight's "
    "step by its own gradient history, small for a rare feature, so the rare weights take the larger steps "
    "they need and are learned two to three times more accurately, while the frequent ones come out about as "
    "accurate."
)
FEATURES, BATCH, NOISE = 1000, 32, 1.0
METHODS: Dict[str, Tuple[Callable[..., Any], Tuple[float, ...]]] = {  # name: (optimizer, learning-rate grid)
    "SGD": (lambda w, lr: SGD([w], lr=lr), (0.1, 0.3, 1.0, 3.0)),
    "momentum 0.9": (lambda w, lr: SGD([w], lr=lr, momentum=0.9), (0.01, 0.03, 0.1, 0.3)),
    "AdaGrad": (lambda w, lr: Adagrad([w], lr=lr), (0.1, 0.3, 1.0, 3.0)),
    "Adam": (lambda w, lr: Adam([w], lr=lr), (0.003, 0.01, 0.03, 0.1)),
}


def _stream(steps: int, seed: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The features' frequencies, the true weights, and the whole stream of examples in sparse form:
    for each non-zero, its example and its feature (sorted by example), and each example's label."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, FEATURES + 1)
    w_true = rng.standard_normal(FEATURES)
    n = steps * BATCH
    # Feature j appears in Binomial(n, p_j) examples, chosen uniformly: the same law as a coin per
    # (example, feature), drawn in O(non-zeros) instead of O(n x features).
    hits = [rng.choice(n, rng.binomial(n, pj), replace=False) for pj in p]
    example = np.concatenate(hits)
    feature = np.repeat(np.arange(FEATURES), [len(h) for h in hits])
    order = np.argsort(example, kind="stable")
    example, feature = example[order], feature[order]
    y = np.bincount(example, w_true[feature], minlength=n) + NOISE * rng.standard_normal(n)
    return p, w_true, example, feature, y


def run(*, steps: Optional[int] = None, seed: int = 0, fast: bool = False, progress: bool = False) -> Result:
    """``steps`` is the number of mini-batches (default 3000, fast or not: it takes seconds)."""
    n = steps or 3000
    p, w_true, example, feature, y = _stream(n, seed)
    bounds = np.searchsorted(example, np.arange(n + 1) * BATCH)  # the non-zeros of batch t
    cov = np.outer(p, p)
    cov[np.diag_indices(FEATURES)] = p  # E[x x^T] for independent binary features
    rare, frequent = slice(3 * FEATURES // 4, None), slice(0, FEATURES // 4)
    every = max(1, n // 100)
    bar = Progress(sum(len(g) for _, g in METHODS.values()) * n, progress)
    figures: Dict[str, Dict[str, Any]] = {}
    for method, (make, grid) in METHODS.items():
        tried: List[Dict[str, Any]] = []
        for lr in grid:
            w = np.zeros(FEATURES)
            opt, errors = make(w, lr), []
            try:
                with np.errstate(over="ignore", invalid="ignore"):  # a rate too large overflows, then raises
                    for t in range(n):
                        lo, hi = bounds[t], bounds[t + 1]
                        rows, cols = example[lo:hi] - t * BATCH, feature[lo:hi]
                        residual = np.bincount(rows, w[cols], minlength=BATCH) - y[t * BATCH : (t + 1) * BATCH]
                        opt.step([np.bincount(cols, residual[rows], minlength=FEATURES) / BATCH])
                        if t % every == every - 1:
                            errors.append([_relative(w, w_true, rare), _relative(w, w_true, frequent)])
            except FloatingPointError:  # diverged: this rate is too large
                errors = []
            bar.advance(f"{method}, lr {lr:g}", n)
            if errors:
                loss = 0.5 * float((w - w_true) @ cov @ (w - w_true))
                tried.append(dict(lr=lr, loss=loss, errors=np.array(errors)))
        best = min(tried, key=lambda x: x["loss"])
        figures[method] = dict(
            lr=best["lr"],
            loss=best["loss"],
            rare_error=float(best["errors"][-1, 0]),
            frequent_error=float(best["errors"][-1, 1]),
            errors=best["errors"],
            grid={x["lr"]: x["loss"] for x in tried},  # a rate missing here diverged
        )
    rare_seen = float(n * BATCH * p[rare].mean())
    return dict(name=NAME, steps=n, every=every, rare_seen=rare_seen, figures=figures)


def _relative(w: np.ndarray, w_true: np.ndarray, part: slice) -> float:
    return float(np.linalg.norm(w[part] - w_true[part]) / np.linalg.norm(w_true[part]))


def table_of(r: Result) -> str:
    rows = [[m, f"{f['lr']:g}", f["loss"], f["rare_error"], f["frequent_error"]] for m, f in r["figures"].items()]
    head = (
        f"{FEATURES} binary features with frequencies 1/j, batches of {BATCH}, {r['steps']} steps; a rare feature "
        f"(the rarest quarter) appears about {r['rare_seen']:.0f} times in the run\n"
    )
    return head + table(rows, ["method", "best lr", "expected loss", "rare weights' error", "frequent weights' error"])


def plot(r: Result, path: str) -> None:
    plt = pyplot()
    methods = list(r["figures"])
    fig, axes = plt.subplots(1, len(methods), figsize=(15, 4.6), sharey=True)
    for ax, method in zip(axes, methods):
        f = r["figures"][method]
        steps = r["every"] * np.arange(1, len(f["errors"]) + 1)
        ax.semilogy(steps, f["errors"][:, 0], color="C3", lw=1.8, label="rarest quarter of the weights")
        ax.semilogy(steps, f["errors"][:, 1], color="C0", lw=1.8, label="most frequent quarter")
        ax.set(title=f"{method}, lr {f['lr']:g}", xlabel="step")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("relative error of the weights")
    axes[0].legend(loc="upper right", fontsize=9)
    fig.suptitle("On sparse features, per-coordinate steps (AdaGrad, Adam) learn the rare weights that SGD and momentum leave behind")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
