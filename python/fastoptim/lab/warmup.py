r"""Experiment ``warmup``: a learning-rate warm-up lets Adam's statistics settle before big steps.

Adam divides each step by :math:`\sqrt{\hat v}`, a running estimate of the gradient's scale. In the
first steps that estimate rests on a handful of gradients, so the step's size is unreliable, and at
a high learning rate the first updates can throw the network far from where it should go. A linear
warm-up (here over 50 steps, :func:`fastoptim.schedules.linear` joined to a constant) keeps the
steps small until :math:`\hat v` has settled. The same MLP on the digits, Adam at lr 0.1, with and
without warm-up: the loss curves, the schedules, and the median :math:`\sqrt{\hat v}` over the weights.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..rules import Adam
from .. import schedules as S
from ..core.progress import Progress
from ._common import Result, digits, pyplot, table
from .mlp import MLP

NAME = "warmup"
LESSON = (  # for the lab's page: what the experiment teaches, in plain words
    "Adam divides each step by a running estimate of the gradient's scale. In the first steps that estimate "
    "rests on a handful of gradients, and at a high learning rate the first updates throw the network far "
    "off. A linear warm-up keeps the steps small for the first 50 updates, until the estimate has settled; "
    "then the same high rate trains well."
)
PEAK, WARM = 0.1, 50


def run(*, steps: Optional[int] = None, seed: int = 0, fast: bool = False, progress: bool = False) -> Result:
    Xt, yt, Xv, yv = digits(seed)
    n = steps or (150 if fast else 300)
    schedules = {"no warm-up": S.constant(PEAK), f"linear warm-up, {WARM} steps": S.join([S.linear(0.0, PEAK, WARM), S.constant(PEAK)], [WARM])}
    bar = Progress(len(schedules) * n, progress)
    figures = {}
    for label, lr in schedules.items():
        net = MLP([64, 128, 128, 10], activation="relu", init="he", seed=seed)
        opt = Adam(net.params, lr=lr)
        rng = np.random.default_rng(seed)
        losses, sigma = [], []
        for t in range(n):
            rows = rng.choice(len(yt), 64, replace=False)
            loss, grads = net.loss_and_grads(Xt[rows], yt[rows])
            losses.append(loss)
            opt.step(grads)
            v = opt.state_dict()["state"]["W1"]["exp_avg_sq"]
            sigma.append(float(np.median(np.sqrt(v / (1 - 0.999 ** (t + 1))))))
            bar.advance(label)
        figures[label] = dict(
            losses=np.array(losses),
            lr=lr(np.arange(n)),
            sigma=np.array(sigma),
            early_max_loss=float(max(losses[: min(n, 60)])),
            final_loss=float(np.mean(losses[-20:])),
            val_accuracy=net.accuracy(Xv, yv),
        )
    return dict(name=NAME, steps=n, peak_lr=PEAK, figures=figures)


def table_of(r: Result) -> str:
    rows = [[k, f["early_max_loss"], f["final_loss"], f["val_accuracy"]] for k, f in r["figures"].items()]
    return f"Adam, lr {r['peak_lr']}, {r['steps']} steps of 64 digits\n" + table(
        rows, ["schedule", "max loss, first 60 steps", "final loss", "val acc"]
    )


def plot(r: Result, path: str) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3))
    for i, (label, f) in enumerate(r["figures"].items()):
        # One mini-batch's loss jumps from batch to batch (a hard batch costs 10x an easy one late
        # in training too): the raw loss faint, its running mean over 25 steps bold.
        raw = np.asarray(f["losses"])
        axes[0].semilogy(raw, lw=0.5, alpha=0.3, color=f"C{i}")
        axes[0].semilogy(np.convolve(raw, np.ones(25) / 25, mode="valid"), lw=1.8, color=f"C{i}", label=f"{label} (mean of 25)")
        axes[1].plot(f["lr"], label=label)
        axes[2].semilogy(f["sigma"], label=label)
    axes[0].set(xlabel="step", ylabel="training loss", title="loss per mini-batch (faint) and its running mean")
    axes[1].set(xlabel="step", ylabel="learning rate", title="schedule")
    axes[2].set(xlabel="step", ylabel="median sqrt(v_hat), layer W1", title="Adam's gradient-scale estimate")
    fig.suptitle("Adam at lr 0.1: without warm-up the first steps throw the network off; a 50-step warm-up trains well", fontsize=12)
    for ax in axes:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
