r"""Experiment ``batch-size``: what the mini-batch size trades, on a real (small) data set.

A small MLP learns scikit-learn's 8x8 digits (shipped with the package: no download) with Adam,
for the same number of epochs at each batch size from 1 to the full training set. A large batch
costs more per update but, because the work is vectorised, less per epoch; it also makes fewer
updates per epoch, each with a less noisy gradient. A batch of 1 makes many cheap, noisy updates
and is slow per epoch. The measurements: time per update, time per epoch, training and validation
accuracy.

BLAS runs single-threaded here (``threadpoolctl``): on a machine with few cores, OpenBLAS's threads
and the optimizer's OpenMP threads fight over the same cores (oversubscription), and the timings
then measure that fight rather than the batch size.
"""

from __future__ import annotations

import time
from typing import Optional

import numpy as np
from threadpoolctl import threadpool_limits

from .. import Adam
from .._progress import Progress
from ._common import Result, digits, pyplot, table
from .mlp import MLP

NAME = "batch-size"
LESSON = (  # for the lab's page: what the experiment teaches, in plain words
    "A small network learns 8x8 digits with Adam at batch sizes from 1 to the whole training set. A larger "
    "batch costs little more per update on vectorised hardware, so an epoch gets much cheaper, but it makes "
    "fewer updates per epoch. The gradient of a batch of B examples estimates the full gradient with a "
    "variance that falls as 1/B: small batches take noisy steps, large batches precise ones. Compared after "
    "the same number of epochs, small batches win because they update more often; compared after the same "
    "number of updates, large batches win."
)


def run(*, steps: Optional[int] = None, seed: int = 0, fast: bool = False, progress: bool = False) -> Result:
    """``steps`` is the number of epochs (default 5; 2 when fast)."""
    Xt, yt, Xv, yv = digits(seed)
    epochs = steps or (2 if fast else 5)
    sizes = [1, 4, 16, 64, 256, len(yt)]
    bar = Progress(len(sizes) * epochs, progress)
    figures = {}
    with threadpool_limits(limits=1, user_api="blas"):
        for batch in sizes:
            figures[batch] = _train(batch, Xt, yt, Xv, yv, epochs, seed, bar)
    return dict(name=NAME, epochs=epochs, train_size=len(yt), figures=figures)


def _train(batch: int, Xt: np.ndarray, yt: np.ndarray, Xv: np.ndarray, yv: np.ndarray, epochs: int, seed: int, bar: Progress) -> dict:
    """Train a fresh network for ``epochs`` epochs at one batch size; its figures."""
    net = MLP([64, 64, 10], activation="relu", init="he", seed=seed)
    opt = Adam(net.params, lr=1e-3)
    rng = np.random.default_rng(seed)
    updates, start = 0, time.perf_counter()
    for _ in range(epochs):
        order = rng.permutation(len(yt))
        for i in range(0, len(yt), batch):
            rows = order[i : i + batch]
            _, grads = net.loss_and_grads(Xt[rows], yt[rows])
            opt.step(grads)
            updates += 1
        bar.advance(f"batch {batch}")
    elapsed = time.perf_counter() - start
    return dict(
        updates=updates,
        seconds_per_update=elapsed / updates,
        seconds_per_epoch=elapsed / epochs,
        train_accuracy=net.accuracy(Xt, yt),
        val_accuracy=net.accuracy(Xv, yv),
    )


def table_of(r: Result) -> str:
    rows = [
        [b, f["updates"], f"{f['seconds_per_update'] * 1e6:.0f} us", f"{f['seconds_per_epoch'] * 1e3:.1f} ms", f["train_accuracy"], f["val_accuracy"]]
        for b, f in r["figures"].items()
    ]
    return f"{r['epochs']} epochs of {r['train_size']} digits, Adam lr 1e-3\n" + table(
        rows, ["batch", "updates", "per update", "per epoch", "train acc", "val acc"]
    )


def plot(r: Result, path: str) -> None:
    plt = pyplot()
    sizes = np.array([int(b) for b in r["figures"]])
    f = list(r["figures"].values())
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.5))
    ax.loglog(sizes, [x["seconds_per_update"] for x in f], "o-", label="time per update")
    ax.loglog(sizes, [x["seconds_per_epoch"] for x in f], "s-", label="time per epoch")
    ax.set(xlabel="batch size", ylabel="seconds", title="larger batches: slower updates, faster epochs")
    ax.legend()
    bx.semilogx(sizes, [x["train_accuracy"] for x in f], "o-", label="training")
    bx.semilogx(sizes, [x["val_accuracy"] for x in f], "s-", label="validation")
    bx.set(xlabel="batch size", ylabel="accuracy", title=f"accuracy after {r['epochs']} epochs", ylim=(0, 1.02))
    bx.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
