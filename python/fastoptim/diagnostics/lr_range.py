r"""The learning-rate range test (Smith 2015; fastai's ``lr_find``): train for a few steps while the
learning rate sweeps from tiny to huge, watch the loss, and read a good learning rate off the curve.

At first the steps are too small to change the loss; then it falls, fastest where the learning rate
suits the problem's curvature; then it blows up once the rate passes about :math:`2/L` for the
steepest curvature :math:`L`. Two readings of the curve are common: the rate where the smoothed loss
falls most steeply (its most negative slope against the sweep), and a tenth of the rate at the
loss's minimum. The model and the optimizer are put back as they were afterwards.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, List, Optional, Tuple

import numpy as np

from ..core.progress import Progress

__all__ = ["RangeTest", "lr_range_test"]


@dataclass
class RangeTest:
    """A range test's curve and its suggestion.

    ``lrs[i]`` is the learning rate of step ``i`` and ``losses[i]`` the smoothed loss measured at the
    start of that step (``raw_losses``: unsmoothed). ``steepest`` is the rate of the smoothed loss's
    most negative slope (the first ``skip_start`` and last ``skip_end`` points left out),
    ``minimum_over_10`` a tenth of the rate at its minimum; ``suggestion`` is the one ``method``
    names. ``diverged``: the test stopped early because the loss passed ``diverge`` times its best.
    """

    lrs: np.ndarray
    losses: np.ndarray
    raw_losses: np.ndarray
    steepest: Optional[float]
    minimum_over_10: float
    suggestion: float
    method: str
    diverged: bool
    skip: Tuple[int, int] = field(default=(10, 5))

    def plot(self, path: Any = None, ax: Any = None, title: str = "Learning-rate range test") -> Any:
        """Draw the smoothed loss against the learning rate (log axis) with the suggestion marked, on
        ``ax`` or a new figure (saved to ``path`` if given). Needs matplotlib."""
        try:
            import matplotlib

            if ax is None and path is not None:
                matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as exc:
            raise ImportError('plotting needs matplotlib: pip install "fastoptim[lab]"') from exc
        fig = None
        if ax is None:
            fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(self.lrs, self.raw_losses, color="0.8", lw=1, label="loss")
        ax.plot(self.lrs, self.losses, color="C0", lw=2, label="smoothed loss")
        at = int(np.argmin(np.abs(np.log(self.lrs) - math.log(self.suggestion))))
        ax.scatter([self.suggestion], [self.losses[at]], color="C3", zorder=3, s=60,
                   label=f"suggestion ({self.method}): {self.suggestion:.2g}")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss")
        ax.set_title(title)
        ax.legend()
        if fig is not None and path is not None:
            fig.tight_layout()
            fig.savefig(path, dpi=110)
            plt.close(fig)
        return ax


def lr_range_test(
    optimizer: Any,
    closure: Optional[Callable[[], Tuple[float, Any]]] = None,
    *,
    model: Any = None,
    loader: Optional[Iterable[Any]] = None,
    loss_fn: Optional[Callable[..., Any]] = None,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    steps: int = 100,
    mode: str = "exp",
    smooth: float = 0.05,
    diverge: float = 5.0,
    suggest: str = "steepest",
    skip_start: int = 10,
    skip_end: int = 5,
    plot: Any = None,
    progress: bool = False,
) -> RangeTest:
    r"""Sweep the learning rate of every group of ``optimizer`` from ``start_lr`` to ``end_lr`` over
    ``steps`` training steps, record the loss, and suggest a learning rate; then restore the
    parameters, the optimizer's state and its groups' ``lr``.

    Two ways to give the training step:

    * NumPy: ``closure()`` returns ``(loss, grads)`` at the current parameters, with ``grads`` as
      ``optimizer.step`` takes them; the test calls ``optimizer.step(grads)``.
    * torch: ``model``, ``loader`` (batches ``(inputs, targets)``, cycled) and ``loss_fn(outputs,
      targets)``; each step is ``zero_grad``, forward, ``backward``, ``optimizer.step()``, with any
      torch optimizer (a :mod:`fastoptim.torch` one or ``torch.optim``'s).

    Step :math:`i` of :math:`n` uses :math:`\eta_i = \eta_0 (\eta_1/\eta_0)^{i/(n-1)}` (``mode="exp"``)
    or the straight line between them (``"linear"``); the loss is smoothed as
    :math:`\bar\ell_i = s \ell_i + (1 - s) \bar\ell_{i-1}` (``smooth`` = s, 0 for none), as
    torch-lr-finder does, and the test stops once :math:`\bar\ell_i` exceeds ``diverge`` times the best
    so far. ``suggest="steepest"`` picks the rate of the most negative slope of the smoothed curve,
    ``"minimum"`` a tenth of the rate at its minimum; with too few points for a slope it falls back to
    ``"minimum"`` and says so in ``method``. ``plot``: a path to save the figure to, or True to draw it
    on a new figure (``result.plot()`` draws it later). ``progress``: a bar on stderr.

    Example:
        >>> import numpy as np, fastoptim as fo
        >>> w = np.ones(10)
        >>> curvature = np.linspace(0.1, 4.0, 10)          # L = 4: lr ~ 1/L suits it
        >>> opt = fo.SGD([w], lr=0.1)
        >>> test = fo.lr_range_test(opt, lambda: (0.5 * float(curvature @ w**2), [curvature * w]), end_lr=100)
        >>> bool(1 / 4 / 3 < test.suggestion < 3 / 4), np.array_equal(w, np.ones(10))
        (True, True)
    """
    if mode not in ("exp", "linear"):
        raise ValueError(f"mode must be 'exp' or 'linear', got {mode!r}")
    if suggest not in ("steepest", "minimum"):
        raise ValueError(f"suggest must be 'steepest' or 'minimum', got {suggest!r}")
    if not (0 < start_lr < end_lr) or not math.isfinite(end_lr):
        raise ValueError(f"need 0 < start_lr < end_lr < inf, got start_lr={start_lr!r}, end_lr={end_lr!r}")
    if not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an integer >= 2, got {steps!r}")
    if not 0 <= smooth < 1:
        raise ValueError(f"smooth must be in [0, 1), got {smooth!r}")
    if not diverge > 1:
        raise ValueError(f"diverge must be > 1, got {diverge!r}")
    step = _training_step(optimizer, closure, model, loader, loss_fn)
    fractions = np.arange(steps) / (steps - 1)
    sweep = start_lr * (end_lr / start_lr) ** fractions if mode == "exp" else start_lr + (end_lr - start_lr) * fractions

    restore = _snapshot(optimizer, model)
    lrs: List[float] = []
    raw: List[float] = []
    smoothed: List[float] = []
    diverged = False
    bar = Progress(steps, progress)
    try:
        for lr in sweep:
            for group in optimizer.param_groups:
                group["lr"] = float(lr)
            loss = step()
            lrs.append(float(lr))
            raw.append(loss)
            smoothed.append(loss if not smoothed or smooth == 0 else smooth * loss + (1 - smooth) * smoothed[-1])
            bar.advance(f"lr {lr:.2g}")
            if not math.isfinite(smoothed[-1]) or smoothed[-1] > diverge * min(smoothed):
                diverged = True
                break
    finally:
        restore()
        if bar.done < bar.total:
            bar.advance("done", bar.total - bar.done)
    result = _suggest(np.array(lrs), np.array(smoothed), np.array(raw), suggest, skip_start, skip_end, diverged)
    if plot is not None and plot is not False:
        result.plot(path=None if plot is True else plot)
    return result


def _training_step(optimizer: Any, closure: Any, model: Any, loader: Any, loss_fn: Any) -> Callable[[], float]:
    """One training step at the groups' current lr, returning the loss before it."""
    if closure is not None:
        if model is not None or loader is not None:
            raise ValueError("give either closure (NumPy) or model, loader and loss_fn (torch), not both")

        def numpy_step() -> float:
            loss, grads = closure()
            optimizer.step(grads)
            return float(loss)

        return numpy_step
    if model is None or loader is None or loss_fn is None:
        raise ValueError("lr_range_test needs closure() -> (loss, grads), or model, loader and loss_fn")
    batches: Iterator[Any] = iter(())

    def torch_step() -> float:
        nonlocal batches
        try:
            inputs, targets = next(batches)
        except StopIteration:  # cycle the loader
            batches = iter(loader)
            inputs, targets = next(batches)
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        return float(loss.item())

    return torch_step


def _snapshot(optimizer: Any, model: Any) -> Callable[[], None]:
    """What to put back after the test: the parameters (in place), the optimizer's state, each
    group's lr."""
    lrs = [group["lr"] for group in optimizer.param_groups]
    state = copy.deepcopy(optimizer.state_dict())
    if model is not None:
        weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
    else:
        arrays = [p for group in optimizer.param_groups for p in group["params"]]
        saved = [np.array(p, copy=True) for p in arrays]

    def restore() -> None:
        if model is not None:
            model.load_state_dict(weights)
        else:
            for p, s in zip(arrays, saved):
                p[...] = s
        optimizer.load_state_dict(state)
        for group, lr in zip(optimizer.param_groups, lrs):
            group["lr"] = lr

    return restore


def _suggest(lrs: np.ndarray, losses: np.ndarray, raw: np.ndarray, suggest: str, skip_start: int, skip_end: int, diverged: bool) -> RangeTest:
    """The two readings of the curve, and the one asked for (steepest needs enough points)."""
    best = int(np.nanargmin(losses))
    minimum_over_10 = float(lrs[best]) / 10
    steepest = None
    end = len(lrs) - skip_end
    if end - skip_start >= 2:
        window = losses[skip_start:end]
        steepest = float(lrs[skip_start + int(np.argmin(np.gradient(window)))])
    if suggest == "steepest" and steepest is not None:
        suggestion, method = steepest, "steepest"
    else:
        suggestion = minimum_over_10
        method = "minimum/10" if suggest == "minimum" else "minimum/10 (too few points for the steepest slope)"
    return RangeTest(lrs, losses, raw, steepest, minimum_over_10, suggestion, method, diverged, (skip_start, skip_end))
