r"""Experiment ``vanishing``: gradients vanish through sigmoids, explode through large weights.

Backpropagation multiplies the gradient by every layer's Jacobian on the way down. The sigmoid's
slope is at most 1/4, so through 10 sigmoid layers with Glorot-scaled weights the first layer's
gradient is thousands of times smaller than the last one's: the early layers barely learn. ReLU
(slope 1 where active) with He initialisation (weights scaled by :math:`\sqrt{2/n_{in}}`, which
keeps the activations' variance constant) keeps every layer's gradient of the same order. With
unit-variance weights instead, each ReLU layer amplifies it and the gradient explodes;
:func:`fastoptim.clip_grad_norm` caps its norm and keeps its direction. The per-layer norms come
from :class:`~fastoptim.diagnostics.GradientMonitor`, which names the layers at fault.

The two remedies the notes name, on the same sigmoid network: batch normalisation rescales each
layer's pre-activation to the activation's steep range, and its backward pass divides by the
batch's small standard deviation, which cancels the sigmoid's shrinking; the first layer's gradient
comes within a factor 2 of the last's. Residual connections give the gradient a path through the
identity that no slope shrinks: the hidden layers' gradients stay within a factor 10 of each other
instead of falling by 4 orders of magnitude.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np

from ..core.clip import clip_grad_norm
from ..core.progress import Progress
from ..diagnostics import GradientMonitor
from ._common import Result, digits, pyplot, table
from .mlp import MLP

NAME = "vanishing"
LESSON = (  # for the lab's page: what the experiment teaches, in plain words
    "Backpropagation multiplies the gradient by each layer's slope on the way down. A sigmoid's slope is at "
    "most 1/4, so through 10 sigmoid layers the first layer's gradient is a million times smaller than the "
    "last's, and the early layers do not learn. Batch normalisation keeps each layer's input to the sigmoid "
    "in its steep range and restores the gradient; residual connections give it a path around each layer. "
    "ReLU with He initialisation keeps the gradients level; unit-variance weights make them explode, and "
    "clipping the gradient's norm tames them."
)
NETS: Dict[str, Tuple[str, str, Dict[str, bool]]] = {  # label: (activation, init, remedies)
    "sigmoid, Glorot init": ("sigmoid", "xavier", {}),
    "sigmoid + batch norm": ("sigmoid", "xavier", {"batch_norm": True}),
    "sigmoid + residual": ("sigmoid", "xavier", {"residual": True}),
    "relu, He init": ("relu", "he", {}),
    "relu, unit init": ("relu", "normal", {}),
}


def run(*, steps: Optional[int] = None, seed: int = 0, fast: bool = False, progress: bool = False) -> Result:
    """``steps`` is the batch size (default 256)."""
    Xt, yt, _, _ = digits(seed)
    rows = np.random.default_rng(seed).choice(len(yt), steps or 256, replace=False)
    bar = Progress(len(NETS) + 1, progress)
    figures = {}
    for label, (activation, init, remedies) in NETS.items():
        net = MLP([64] + [64] * 9 + [10], activation=activation, init=init, seed=seed, batch_norm=remedies.get("batch_norm", False), residual=remedies.get("residual", False))
        _, grads = net.loss_and_grads(Xt[rows], yt[rows])
        weights = {k: g for k, g in grads.items() if k.startswith("W")}
        mon = GradientMonitor()
        mon.record(weights)
        norms = mon.history["grad_norm"][-1]
        figures[label] = dict(
            layer_norms=norms,
            first_to_last=float(norms[0] / norms[-1]),
            vanishing=list(mon.vanishing),
            exploding=list(mon.exploding),
            total_norm=float(np.sqrt(np.sum(norms**2))),
        )
        if init == "normal":
            clipped = [g.copy() for g in weights.values()]
            before = clip_grad_norm(clipped, max_norm=1.0)
            figures[label]["clipped"] = dict(
                norm_before=before, norm_after=float(np.sqrt(sum(float(np.sum(g * g)) for g in clipped))),
                layer_norms=np.array([np.linalg.norm(g) for g in clipped]),
            )
        bar.advance(label)
    bar.advance("done")
    return dict(name=NAME, layers=10, figures=figures)


def table_of(r: Result) -> str:
    rows = [
        [k, f"{f['layer_norms'][0]:.3g}", f"{f['layer_norms'][-1]:.3g}", f["first_to_last"], ", ".join(f["vanishing"]) or "-", ", ".join(f["exploding"]) or "-"]
        for k, f in r["figures"].items()
    ]
    out = table(rows, ["network (10 layers)", "|grad W0|", "|grad W9|", "first/last", "vanishing", "exploding"])
    for k, f in r["figures"].items():
        if "clipped" in f:
            c = f["clipped"]
            out += f"\nclip_grad_norm(max_norm=1) on '{k}': total norm {c['norm_before']:.3g} -> {c['norm_after']:.3g}"
    return out


def plot(r: Result, path: str) -> None:
    plt = pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 5), sharey=True)
    panels = {ax: "sigmoid", bx: "relu"}
    for label, f in r["figures"].items():
        panel = ax if label.startswith("sigmoid") else bx
        layers = range(len(f["layer_norms"]))
        (line,) = panel.semilogy(layers, f["layer_norms"], "o-", label=label)
        if "clipped" in f:
            panel.semilogy(layers, f["clipped"]["layer_norms"], "o--", color=line.get_color(), label=f"{label}, clipped to norm 1")
    for panel, activation in panels.items():
        panel.set(xlabel="layer (0 = first)", title=f"10 {activation} layers")
        panel.legend(fontsize=9, loc="lower right")
    ax.set_ylabel("gradient norm of the layer's weights")
    fig.suptitle("Gradients vanish through sigmoids: batch norm and residual connections bring them back; "
                 "clipping tames exploding ones", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
