r"""Experiment ``batch-size``: what the mini-batch size trades, on a real (small) data set.

A small MLP learns scikit-learn's 8x8 digits (shipped with the package: no download) with Adam at
batch sizes from 1 to the full training set. The measurements:

* **cost**: time per update and per epoch. The work of a batch is vectorised, so up to a few dozen
  examples an update costs about the same as one example's, and an epoch gets much cheaper;
* **noise**: the variance of the mini-batch gradient around the full-batch gradient,
  :math:`E\|g_B - g\|^2`, measured over many batches at the initial weights, against the sampling
  law :math:`\frac{\sigma^2}{B}\frac{N-B}{N-1}` (:math:`\sigma^2` from single examples);
* **the same number of epochs** (each example seen as often): small batches make many more updates
  and reach a far higher accuracy;
* **the same number of updates**: large batches, with their quieter gradients, reach a lower
  training loss, at a higher cost per update;
* **the same training loss** (0.05): the validation accuracy that each batch size generalises to.
  The notes say small batches generalise better; on this small problem the measured difference is
  within a point or two of accuracy, in no consistent direction across seeds, and the figures say so.

BLAS runs single-threaded here (``threadpoolctl``): on a machine with few cores, OpenBLAS's threads
and the optimizer's OpenMP threads fight over the same cores (oversubscription), and the timings
then measure that fight rather than the batch size.
"""

from __future__ import annotations

import time
from typing import Any, Dict, Optional

import numpy as np
from threadpoolctl import threadpool_limits

from ..rules import Adam
from ..core.progress import Progress
from ._common import Result, digits, pyplot, table
from .mlp import MLP

NAME = "batch-size"
LESSON = (  # for the lab's page: what the experiment teaches, in plain words
    "A small network learns 8x8 digits with Adam at batch sizes from 1 to the whole training set. On "
    "vectorised hardware a batch of a few dozen examples costs about as much per update as one example, so an "
    "epoch gets much cheaper. The gradient of a batch of B examples estimates the full gradient with a "
    "variance that falls as 1/B: small batches take noisy steps, large batches precise ones. Compared after "
    "the same number of epochs, small batches win because they update more often; compared after the same "
    "number of updates, large batches win. The notes add that small batches generalise better; on this small "
    "problem, trained to the same training loss, every batch size reaches about the same validation accuracy."
)
UPDATES, TARGET_LOSS = 300, 0.05


def run(*, steps: Optional[int] = None, seed: int = 0, fast: bool = False, progress: bool = False) -> Result:
    """``steps`` is the number of epochs of the equal-epochs runs (default 5; 2 when fast)."""
    Xt, yt, Xv, yv = digits(seed)
    epochs = steps or (2 if fast else 5)
    sizes = [1, 4, 16, 64, 256, len(yt)]
    equal_loss = [4, 16, 64, 256]
    bar = Progress(len(sizes) * 2 + 1 + len(equal_loss), progress)
    data = (Xt, yt, Xv, yv)
    with threadpool_limits(limits=1, user_api="blas"):
        same_epochs, same_updates = {}, {}
        for batch in sizes:
            same_epochs[batch] = _train(batch, data, seed, updates=epochs * -(-len(yt) // batch))
            bar.advance(f"batch {batch}, {epochs} epochs")
            same_updates[batch] = _train(batch, data, seed, updates=UPDATES)
            bar.advance(f"batch {batch}, {UPDATES} updates")
        variance = _variance(sizes[:-1], Xt, yt, seed)
        bar.advance("gradient variance")
        same_loss = {}
        for batch in equal_loss:
            same_loss[batch] = _train(batch, data, seed, updates=20_000, target=TARGET_LOSS)
            bar.advance(f"batch {batch}, to loss {TARGET_LOSS}")
    return dict(
        name=NAME, epochs=epochs, train_size=len(yt), updates=UPDATES, target_loss=TARGET_LOSS,
        figures=same_epochs, same_updates=same_updates, same_loss=same_loss, variance=variance,
    )


def _train(batch: int, data: tuple, seed: int, updates: int, target: Optional[float] = None) -> Dict[str, Any]:
    """Train a fresh network for ``updates`` mini-batches of ``batch`` examples (each epoch a new
    shuffle), or until its training loss, checked after each epoch, is below ``target``."""
    Xt, yt, Xv, yv = data
    net = MLP([64, 64, 10], activation="relu", init="he", seed=seed)
    opt = Adam(net.params, lr=1e-3)
    rng = np.random.default_rng(seed)
    done, epochs, start = 0, 0, time.perf_counter()
    while done < updates:
        order = rng.permutation(len(yt))
        for i in range(0, len(yt), batch):
            rows = order[i : i + batch]
            _, grads = net.loss_and_grads(Xt[rows], yt[rows])
            opt.step(grads)
            done += 1
            if done == updates:
                break
        epochs += 1
        if target is not None and net.loss_and_grads(Xt, yt)[0] < target:
            break
    elapsed = time.perf_counter() - start
    return dict(
        updates=done,
        seconds_per_update=elapsed / done,
        seconds_per_epoch=elapsed * len(yt) / (done * min(batch, len(yt))),
        train_loss=net.loss_and_grads(Xt, yt)[0],
        train_accuracy=net.accuracy(Xt, yt),
        val_loss=net.loss_and_grads(Xv, yv)[0],
        val_accuracy=net.accuracy(Xv, yv),
    )


def _variance(sizes: list, Xt: np.ndarray, yt: np.ndarray, seed: int, draws: int = 200) -> Dict[str, Any]:
    """E||g_B - g||^2 over ``draws`` random batches of each size (without replacement), at the
    initial weights, and the sampling law sigma^2/B (N-B)/(N-1), with sigma^2 = mean_i ||g_i - g||^2
    computed exactly from every example's own gradient."""
    net = MLP([64, 64, 10], activation="relu", init="he", seed=seed)
    flat = lambda rows: np.concatenate([g.ravel() for g in net.loss_and_grads(Xt[rows], yt[rows])[1].values()])
    n = len(yt)
    full = flat(np.arange(n))
    sigma2 = float(np.mean([np.sum((flat(np.array([i])) - full) ** 2) for i in range(n)]))
    rng = np.random.default_rng(seed)
    measured = [
        float(np.mean([np.sum((flat(rng.choice(n, b, replace=False)) - full) ** 2) for _ in range(draws)]))
        for b in sizes
    ]
    law = [sigma2 / b * (n - b) / (n - 1) for b in sizes]
    return dict(sizes=sizes, measured=measured, law=law, draws=draws)


def table_of(r: Result) -> str:
    rows = []
    for b, f in r["figures"].items():
        u = r["same_updates"][b]
        rows.append([
            b, f"{f['seconds_per_update'] * 1e6:.0f} us", f"{f['seconds_per_epoch'] * 1e3:.1f} ms",
            f["updates"], f["train_accuracy"], f["val_accuracy"], u["train_loss"], u["train_accuracy"],
        ])
    out = f"{r['epochs']} epochs of {r['train_size']} digits (and {r['updates']} updates), Adam lr 1e-3\n" + table(
        rows, ["batch", "per update", "per epoch", "updates", "train acc", "val acc",
               f"loss, {r['updates']} upd.", f"train acc, {r['updates']} upd."]
    )
    v = r["variance"]
    out += "\n\ngradient variance E|g_B - g|^2 at the initial weights, " + ", ".join(
        f"B={b}: {m:.3g} (law {w:.3g})" for b, m, w in zip(v["sizes"], v["measured"], v["law"])
    )
    out += f"\ntrained to loss {r['target_loss']}: " + ", ".join(
        f"B={b}: {f['updates']} updates, val acc {f['val_accuracy']:.3f}" for b, f in r["same_loss"].items()
    )
    return out


def plot(r: Result, path: str) -> None:
    plt = pyplot()
    sizes = np.array([int(b) for b in r["figures"]])
    f, u = list(r["figures"].values()), list(r["same_updates"].values())
    fig, ((ax, bx), (cx, dx)) = plt.subplots(2, 2, figsize=(13, 9))
    ax.loglog(sizes, [x["seconds_per_update"] for x in f], "o-", label="time per update")
    ax.loglog(sizes, [x["seconds_per_epoch"] for x in f], "s-", label="time per epoch")
    ax.set(xlabel="batch size", ylabel="seconds", title="cost: updates get dearer slowly, epochs much cheaper")
    ax.legend()
    v = r["variance"]
    bx.loglog(v["sizes"], v["measured"], "o", ms=8, label=f"measured over {v['draws']} batches")
    bx.loglog(v["sizes"], v["law"], "-", label="sigma^2 / B (N - B)/(N - 1)")
    bx.set(xlabel="batch size B", ylabel="E |g_B - g|^2", title="noise: the gradient's variance falls as 1/B")
    bx.legend()
    cx.semilogx(sizes, [x["train_accuracy"] for x in f], "o-", label=f"same epochs ({r['epochs']})")
    cx.semilogx(sizes, [x["train_accuracy"] for x in u], "s-", label=f"same updates ({r['updates']})")
    cx.set(xlabel="batch size", ylabel="training accuracy", ylim=(0, 1.02),
           title="same epochs: small batches win; same updates: large ones do")
    cx.legend(loc="lower center")
    loss = r["same_loss"]
    dx.semilogx(list(loss), [x["val_accuracy"] for x in loss.values()], "o-", label="validation accuracy")
    dx.semilogx(list(loss), [x["train_accuracy"] for x in loss.values()], "s--", label="training accuracy")
    dx.set(xlabel="batch size", ylabel="accuracy", ylim=(0.9, 1.005),
           title=f"trained to the same loss ({r['target_loss']}): about the same validation accuracy")
    dx.legend(loc="lower center")
    fig.suptitle("A larger batch: a quieter gradient and a cheaper epoch, but fewer updates per epoch", fontsize=13)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
