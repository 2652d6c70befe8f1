r"""Experiment ``precision``: Adam's state in 16, 8 or 4 bits trains as well as in 32.

Adam keeps two numbers per weight, :math:`m` and :math:`v`: in float32, 8 bytes per parameter,
twice the model. Stored as bfloat16 they take 4 bytes; as blockwise 8-bit codes (Dettmers et al.
2022: a float32 maximum per block of 256, and per element the nearest of 256 codes spread
logarithmically, so small values keep their relative precision) about 2; as 4-bit codes (Li et al.
2023: blocks of 128, 16 codes) about 1.3. The step still computes in float32 (``state_dtype=``).
The same MLP learns the digits with Adam under each state type, from the same start and the same
batches: the loss curves, held-out accuracy, the state's bytes per parameter and the step time.

Two harder looks. A long-tailed version of the digits (class :math:`c` keeps a share
:math:`0.02^{c/9}` of its training images, so the rarest has 2%), scored on the balanced held-out
set and on its three rarest classes: their weights see small, rare gradients, the small moments a
coarse code could lose. And the failure 4-bit state must avoid: Adam with :math:`m` and :math:`v`
rounded to 4-bit codes after each step (NumPy, the same rounding as the engine's), once with
:math:`v`'s map linear without a zero code (fastoptim's and the paper's) and once with the
dynamic map, which has one: a small :math:`v` rounded to 0 makes the next update
:math:`m / \sqrt{(1-\beta_2) g^2}`, a jump.
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
    "half that; as 8-bit codes with a scale per block of 256, a quarter; as 4-bit codes, a sixth. The update "
    "itself still runs in float32, so the network learns the digits as well as with full-precision state, "
    "for a fraction of the memory. At 4 bits the second moment's map must have no zero code: one that rounds "
    "a small v to 0 turns the next update into a jump."
)
# label -> (parameter dtype, Adam's keyword arguments)
CONFIGS: Dict[str, Tuple[str, Dict[str, Any]]] = {
    "float32 state": ("float32", {}),
    "bfloat16 state": ("float32", dict(state_dtype="bfloat16")),
    "int8 state": ("float32", dict(state_dtype="int8")),
    "int4 state": ("float32", dict(state_dtype="int4")),
    "bfloat16 params, master weights": ("bfloat16", {}),
    "bfloat16 params, stochastic rounding, int8 state": ("bfloat16", dict(master_weights=False, rounding="stochastic", state_dtype="int8")),
    "bfloat16 params, stochastic rounding, int4 state": ("bfloat16", dict(master_weights=False, rounding="stochastic", state_dtype="int4")),
}
RARE = (7, 8, 9)  # the long-tailed task's three rarest classes
LAYERS = [64, 128, 128, 10]  # two weight matrices of 4096 elements or more: 8-bit state


def data(task: str, seed: int = 0) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The digits as float32 (train and held-out), or, for ``"long-tailed"``, with class c's
    training images thinned to a share 0.02^(c/9) (the held-out set stays balanced)."""
    Xt, yt, Xv, yv = digits(seed)
    if task == "long-tailed":
        keep = np.random.default_rng(seed + 1).random(len(yt)) < 0.02 ** (yt / 9)
        Xt, yt = Xt[keep], yt[keep]
    return Xt.astype(np.float32), yt, Xv.astype(np.float32), yv


def train(
    params: str, options: Dict[str, Any], steps: int, seed: int = 0, bar: Optional[Progress] = None, label: str = "",
    task: str = "digits",
) -> Dict[str, Any]:
    """Train the MLP with Adam (lr 1e-3, batches of 64, ``options`` such as ``state_dtype``) for
    ``steps`` updates: the loss per step, final training loss and accuracies, bytes per parameter
    of the optimizer's state (master bits included) and the median step time. With bfloat16
    ``params`` the forward and backward passes run in float32 on the weights widened from bfloat16,
    as in mixed-precision training, and the optimizer updates the bfloat16 weights from the float32
    gradients."""
    import ml_dtypes

    Xt, yt, Xv, yv = data(task, seed)
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
        rare_accuracy=net.accuracy(Xv[np.isin(yv, RARE)], yv[np.isin(yv, RARE)]),
        state_bytes_per_param=opt.state_nbytes() / n_params,
        weight_bytes_per_param=sum(w.nbytes for w in weights.values()) / n_params,
        step_seconds=float(np.median(times)),
    )


def train_all(steps: int, seed: int = 0, progress: bool = False, task: str = "digits") -> Dict[str, Dict[str, Any]]:
    """:func:`train` under every configuration of :data:`CONFIGS`, by label."""
    bar = Progress(len(CONFIGS) * steps, progress)
    return {label: train(params, options, steps, seed, bar, label, task) for label, (params, options) in CONFIGS.items()}


def map4_with_zero() -> np.ndarray:
    """The unsigned 4-bit dynamic map (bitsandbytes' create_dynamic_map(False, 3, 4)): zero, one,
    and 14 codes over three decades."""
    codes = [np.float32(0), np.float32(1)]
    for i in range(3):
        bounds = np.linspace(0.1, 1, 2 ** (i + 1) + 1, dtype=np.float32)
        codes += list(np.float32(10.0 ** (i - 2)) * (bounds[:-1] + bounds[1:]) / 2)
    return np.sort(np.array(codes, np.float32))


def rounded4(x: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """x through 4-bit codes: per block of 128 its absmax, each element the nearest code (a tie to
    the lower), decoded."""
    flat = x.astype(np.float32).ravel()
    blocks = np.concatenate([flat, np.zeros(-flat.size % 128, np.float32)]).reshape(-1, 128)
    top = np.abs(blocks).max(axis=1, keepdims=True)
    scaled = blocks * np.divide(np.float32(1), top, out=np.zeros_like(top), where=top > 0)
    mid = (codes[:-1] + codes[1:]) / np.float32(2)
    return (codes[np.searchsorted(mid, scaled, side="left")] * top).ravel()[: flat.size].reshape(x.shape)


def simulate_int4(v_codes: np.ndarray, steps: int, seed: int = 0) -> Dict[str, Any]:
    """Adam (lr 1e-3) on the digits MLP with m and v rounded to 4-bit codes after every step, in
    NumPy: m with the signed 4-bit map, v with ``v_codes``. The loss per step and held-out accuracy."""
    from .. import quantize as Q

    Xt, yt, Xv, yv = data("digits", seed)
    net = MLP(LAYERS, activation="relu", init="he", seed=seed, dtype=np.float32)
    m_codes = Q.dynamic_map(True, bits=4)
    m = {k: np.zeros_like(p) for k, p in net.params.items()}
    v = {k: np.zeros_like(p) for k, p in net.params.items()}
    rng = np.random.default_rng(seed)
    losses = []
    with np.errstate(over="ignore", invalid="ignore"):  # the zero-code run overflows: that is the point
        for t in range(1, steps + 1):
            rows = rng.choice(len(yt), 64, replace=False)
            loss, grads = net.loss_and_grads(Xt[rows], yt[rows])
            losses.append(loss)
            for k, p in net.params.items():
                g = grads[k]
                m[k] = np.float32(0.9) * m[k] + np.float32(0.1) * g
                v[k] = np.float32(0.999) * v[k] + np.float32(0.001) * g * g
                p -= (1e-3 / (1 - 0.9**t) * m[k] / (np.sqrt(v[k] / (1 - 0.999**t)) + 1e-8)).astype(np.float32)
                if p.size >= 4096:  # as the engine: smaller tensors keep float32 state
                    m[k], v[k] = rounded4(m[k], m_codes), rounded4(v[k], v_codes)
        return dict(losses=np.array(losses), val_accuracy=net.accuracy(Xv, yv))


def run(*, steps: Optional[int] = None, seed: int = 0, fast: bool = False, progress: bool = False) -> Result:
    from .. import quantize as Q

    n = steps or (300 if fast else 500)
    figures = train_all(n, seed, progress)
    long_tail = train_all(n, seed, progress, task="long-tailed")
    zero_code = {"v map without zero (fastoptim's)": simulate_int4(Q.dynamic_map(False, bits=4), n, seed),
                 "v map with a zero code": simulate_int4(map4_with_zero(), n, seed)}
    return dict(name=NAME, steps=n, layers=LAYERS, figures=figures, long_tail=long_tail, zero_code=zero_code)


def table_of(r: Result) -> str:
    rows = [
        [k, f"{f['weight_bytes_per_param']:.0f} + {f['state_bytes_per_param']:.2f}", f"{f['step_seconds'] * 1e6:.0f} us",
         f["train_loss"], f["val_accuracy"], r["long_tail"][k]["val_accuracy"], r["long_tail"][k]["rare_accuracy"]]
        for k, f in r["figures"].items()
    ]
    zero = [[k, f["losses"][-50:].mean(), f["losses"].max(), f["val_accuracy"]] for k, f in r["zero_code"].items()]
    return (
        f"Adam, lr 1e-3, {r['steps']} steps of 64 digits, MLP {r['layers']}\n"
        + table(rows, ["precision", "bytes/param: weights + state", "step", "train loss", "val acc",
                       "long-tailed: val acc", "its 3 rarest"])
        + "\n\nAdam with m and v rounded to 4-bit codes after each step (NumPy), two maps for v\n"
        + table(zero, ["v's 4-bit map", "loss, last 50 steps", "largest loss", "val acc"])
    )


def plot(r: Result, path: str) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(19, 4.8), gridspec_kw=dict(width_ratios=[1.5, 1, 1.1]))
    window = 25

    def smooth(losses: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        return np.arange(window - 1, len(losses)), np.convolve(losses, np.ones(window) / window, mode="valid")

    for label, f in r["figures"].items():
        axes[0].semilogy(*smooth(f["losses"]), lw=1.2, label=f"{label}: val acc {f['val_accuracy']:.3f}")
    axes[0].set(xlabel="step", ylabel=f"training loss (mean of {window} batches)", title="loss")
    axes[0].legend(fontsize=8)
    labels = list(r["figures"])
    rows = labels[::-1]
    weights = [r["figures"][k]["weight_bytes_per_param"] for k in rows]
    axes[1].barh(rows, weights, color="0.6", label="weights")
    axes[1].barh(rows, [r["figures"][k]["state_bytes_per_param"] for k in rows], left=weights,
                 color=[f"C{len(labels) - 1 - i}" for i in range(len(labels))], label="optimizer state (and master bits)")
    axes[1].set(xlabel="bytes per parameter", title="memory: weights + optimizer state")
    axes[1].legend(fontsize=8)
    axes[1].tick_params(axis="y", labelsize=8)
    for label, f in r["zero_code"].items():
        axes[2].semilogy(*smooth(f["losses"]), lw=1.4, label=f"{label}: val acc {f['val_accuracy']:.3f}")
    axes[2].set(xlabel="step", ylabel=f"training loss (mean of {window} batches)",
                title="4-bit m and v: v's map with or without zero")
    axes[2].legend(fontsize=8)
    fig.suptitle("Adam in 32, 16, 8 and 4 bits: the same curve from 12 bytes per parameter down to 3.5; "
                 "at 4 bits, a zero code for v diverges", fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
