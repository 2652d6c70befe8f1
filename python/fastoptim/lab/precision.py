r"""Experiment ``precision``: Adam's state in 16 or 8 bits trains as well as in 32.

Adam keeps two numbers per weight, :math:`m` and :math:`v`: in float32, 8 bytes per parameter,
twice the model. Stored as bfloat16 they take 4 bytes; as blockwise 8-bit codes (Dettmers et al.
2022: a float32 maximum per block of 256, and per element the nearest of 256 codes spread
logarithmically, so small values keep their relative precision) about 2. The step still computes
in float32: fastoptim decodes each block, runs Adam's own loop and encodes the result within the
one pass over memory (``state_dtype=``). The same MLP learns the digits with Adam under each
state type, from the same start and the same batches: the loss curves, held-out accuracy, the
state's bytes per parameter and the step time.
"""

from __future__ import annotations

import time
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..rules import Adam
from ..core.progress import Progress
from ._common import Result, digits, pyplot, table
from .mlp import MLP

NAME = "precision"
LESSON = (
    "Adam keeps two numbers per weight, in float32 twice the size of the model. Kept in bfloat16 they take "
    "half that; as 8-bit codes with a scale per block of 256, a quarter. The update itself still runs in "
    "float32, so the network learns the digits as well as with full-precision state, for a fraction of "
    "the memory."
)
# label -> (parameter dtype, Adam's keyword arguments)
CONFIGS: Dict[str, Tuple[str, Dict[str, Any]]] = {
    "float32 state": ("float32", {}),
    "bfloat16 state": ("float32", dict(state_dtype="bfloat16")),
    "int8 state": ("float32", dict(state_dtype="int8")),
    "bfloat16 params, master weights": ("bfloat16", {}),
    "bfloat16 params, stochastic rounding, int8 state": ("bfloat16", dict(master_weights=False, rounding="stochastic", state_dtype="int8")),
}
LAYERS = [64, 128, 128, 10]  # two weight matrices of 4096 elements or more: 8-bit state


def train(
    params: str, options: Dict[str, Any], steps: int, seed: int = 0, bar: Optional[Progress] = None, label: str = ""
) -> Dict[str, Any]:
    """Train the MLP with Adam (lr 1e-3, batches of 64, ``options`` such as ``state_dtype``) for
    ``steps`` updates: the loss per step, final training loss and accuracies, bytes per parameter
    of the optimizer's state (master bits included) and the median step time. With bfloat16
    ``params`` the forward and backward passes run in float32 on the weights widened from bfloat16,
    as in mixed-precision training, and the optimizer updates the bfloat16 weights from the float32
    gradients."""
    import ml_dtypes

    Xt, yt, Xv, yv = digits(seed)
    Xt, Xv = Xt.astype(np.float32), Xv.astype(np.float32)
    net = MLP(LAYERS, activation="relu", init="he", seed=seed, dtype=np.float32)
    weights = net.params if params == "float32" else {k: v.astype(ml_dtypes.bfloat16) for k, v in net.params.items()}
    opt = Adam(weights, lr=1e-3, **options)
    rng = np.random.default_rng(seed)
    losses, times = [], []
    for _ in range(steps):
        if weights is not net.params:
            for k, v in weights.items():
                net.params[k][...] = v
        rows = rng.choice(len(yt), 64, replace=False)
        loss, grads = net.loss_and_grads(Xt[rows], yt[rows])
        losses.append(loss)
        start = time.perf_counter()
        opt.step(grads)
        times.append(time.perf_counter() - start)
        if bar:
            bar.advance(label)
    for k, v in weights.items():
        net.params[k][...] = v
    n_params = sum(p.size for p in net.params.values())
    return dict(
        losses=np.array(losses),
        train_loss=net.loss_and_grads(Xt, yt)[0],
        train_accuracy=net.accuracy(Xt, yt),
        val_accuracy=net.accuracy(Xv, yv),
        state_bytes_per_param=opt.state_nbytes() / n_params,
        weight_bytes_per_param=sum(w.nbytes for w in weights.values()) / n_params,
        step_seconds=float(np.median(times)),
    )


def train_all(steps: int, seed: int = 0, progress: bool = False) -> Dict[str, Dict[str, Any]]:
    """:func:`train` under every configuration of :data:`CONFIGS`, by label."""
    bar = Progress(len(CONFIGS) * steps, progress)
    return {label: train(params, options, steps, seed, bar, label) for label, (params, options) in CONFIGS.items()}


def run(*, steps: Optional[int] = None, seed: int = 0, fast: bool = False, progress: bool = False) -> Result:
    n = steps or (300 if fast else 500)
    return dict(name=NAME, steps=n, layers=LAYERS, figures=train_all(n, seed, progress))


def table_of(r: Result) -> str:
    rows = [
        [k, f"{f['weight_bytes_per_param']:.0f} + {f['state_bytes_per_param']:.2f}", f"{f['step_seconds'] * 1e6:.0f} us",
         f["train_loss"], f["train_accuracy"], f["val_accuracy"]]
        for k, f in r["figures"].items()
    ]
    return f"Adam, lr 1e-3, {r['steps']} steps of 64 digits, MLP {r['layers']}\n" + table(
        rows, ["precision", "bytes/param: weights + state", "step", "train loss", "train acc", "val acc"]
    )


def plot(r: Result, path: str) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.6), gridspec_kw=dict(width_ratios=[1.6, 1]))
    window = 25
    for label, f in r["figures"].items():
        smooth = np.convolve(f["losses"], np.ones(window) / window, mode="valid")
        axes[0].semilogy(np.arange(window - 1, len(f["losses"])), smooth, lw=1.2, label=f"{label}: val acc {f['val_accuracy']:.3f}")
    axes[0].set(xlabel="step", ylabel=f"training loss (mean of {window} batches)", title="loss")
    axes[0].legend(fontsize=9)
    labels = list(r["figures"])
    rows = labels[::-1]
    weights = [r["figures"][k]["weight_bytes_per_param"] for k in rows]
    axes[1].barh(rows, weights, color="0.6", label="weights")
    axes[1].barh(rows, [r["figures"][k]["state_bytes_per_param"] for k in rows], left=weights,
                 color=[f"C{len(labels) - 1 - i}" for i in range(len(labels))], label="optimizer state (and master bits)")
    axes[1].set(xlabel="bytes per parameter", title="memory: weights + optimizer state")
    axes[1].legend(fontsize=8)
    axes[1].tick_params(axis="y", labelsize=8)
    fig.suptitle("Adam in 32, 16 and 8 bits: the same curve from 12 bytes per parameter down to 4.4", fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
