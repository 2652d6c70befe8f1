"""Gradient health over training: vanishing, exploding, non-finite and stalled, per parameter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

__all__ = ["GradientMonitor", "Flag"]


class Flag(list):
    """A list of parameter names that is truthy when something was found, with the reason."""

    def __init__(self, names: Sequence[str] = (), reason: str = "") -> None:
        super().__init__(names)
        self.reason = reason

    def __repr__(self) -> str:
        return f"Flag({list(self)!r}, reason={self.reason!r})"


Grads = Union[Sequence[np.ndarray], Mapping[str, np.ndarray]]


class GradientMonitor:
    r"""Per-parameter gradient health over training: vanishing, exploding, and stalled-but-not-small.

    Call :meth:`record` after each backward pass with the gradients (a list or a dict by name), and
    optionally the parameters (for update-to-weight ratios) and the loss. Then:

    * :attr:`vanishing` names the parameters whose gradient norm is below ``vanishing_ratio`` times
      the largest one's: in a deep sigmoid net, the first layers;
    * :attr:`exploding` names those whose gradient norm exceeds ``exploding_norm`` or holds inf/NaN;
    * :attr:`nonfinite` names those whose gradient holds inf or NaN (vanishing compares finite
      norms only);
    * :attr:`stalled` is truthy when, over the last ``window`` records, the loss moved by less than
      ``flat_tol`` (relative) while the mean gradient norm stayed above ``small_grad``: the
      parameters oscillate across a valley instead of descending it, a learning-rate problem, not a
      critical point;
    * :meth:`summary` is a table to read, :attr:`history` the arrays to plot.

    The update-to-weight ratio :math:`\lVert p_t - p_{t-1}\rVert / \lVert p_{t-1}\rVert` is the
    quantity to watch when tuning a learning rate: around 1e-3 is healthy; 1e-1 means the weights
    are being thrown around, 1e-6 that they barely move.

    Example:
        >>> import numpy as np
        >>> from fastoptim.diagnostics import GradientMonitor
        >>> mon = GradientMonitor()
        >>> mon.record({"first": np.full(4, 1e-7), "last": np.ones(4)})
        >>> list(mon.vanishing), bool(mon.exploding)
        (['first'], False)
    """

    def __init__(
        self,
        vanishing_ratio: float = 1e-3,
        exploding_norm: float = 1e3,
        *,
        window: int = 20,
        flat_tol: float = 1e-3,
        small_grad: float = 1e-3,
    ) -> None:
        if not 0 < vanishing_ratio < 1:
            raise ValueError(f"vanishing_ratio must be in (0, 1), got {vanishing_ratio}")
        if not exploding_norm > 0:
            raise ValueError(f"exploding_norm must be > 0, got {exploding_norm}")
        if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 2:
            raise ValueError(f"window must be an integer >= 2, got {window!r}")
        self.vanishing_ratio, self.exploding_norm = vanishing_ratio, exploding_norm
        self.window, self.flat_tol, self.small_grad = window, flat_tol, small_grad
        self.names: List[str] = []
        self._norms: List[np.ndarray] = []
        self._ratios: List[np.ndarray] = []
        self._nonfinite: List[np.ndarray] = []
        self._losses: List[float] = []
        self._previous: Optional[List[np.ndarray]] = None

    def _named(self, arrays: Grads, what: str) -> List[np.ndarray]:
        if isinstance(arrays, Mapping):
            names, values = [str(k) for k in arrays], list(arrays.values())
        else:
            values = list(arrays)
            names = [str(i) for i in range(len(values))]
        if not self.names:
            self.names = names
        elif names != self.names:
            raise ValueError(f"{what} name {names} but earlier records named {self.names}")
        return [np.asarray(v) for v in values]

    def record(self, grads: Grads, params: Optional[Grads] = None, loss: Optional[float] = None) -> None:
        """Add one step's gradients (and optionally parameters and loss) to the history."""
        gs = self._named(grads, "grads")
        with np.errstate(over="ignore", invalid="ignore"):
            self._norms.append(np.array([np.linalg.norm(g.ravel().astype(np.float64, copy=False)) for g in gs]))
        self._nonfinite.append(np.array([int(g.size - np.count_nonzero(np.isfinite(g))) for g in gs]))
        ratios = np.full(len(gs), np.nan)
        if params is not None:
            ps = self._named(params, "params")
            if self._previous is not None:
                for i, (p, q) in enumerate(zip(ps, self._previous)):
                    base = float(np.linalg.norm(q))
                    ratios[i] = float(np.linalg.norm(p - q)) / base if base > 0 else np.nan
            self._previous = [np.array(p, dtype=np.float64) for p in ps]
        self._ratios.append(ratios)
        self._losses.append(np.nan if loss is None else float(loss))

    @property
    def steps(self) -> int:
        """How many records the monitor holds."""
        return len(self._norms)

    @property
    def vanishing(self) -> Flag:
        """Parameters whose latest gradient norm is below ``vanishing_ratio`` times the largest."""
        if not self._norms:
            return Flag()
        norms = self._norms[-1]
        finite = np.isfinite(norms)
        if not finite.any():
            return Flag()  # nothing to compare with: see `nonfinite`
        top = float(norms[finite].max())
        if top == 0:
            return Flag([n for n, f in zip(self.names, finite) if f], "every finite gradient is zero")
        names = [n for n, v in zip(self.names, norms) if v < self.vanishing_ratio * top]
        return Flag(names, f"gradient norm below {self.vanishing_ratio:g} x the largest ({top:.3g})" if names else "")

    @property
    def exploding(self) -> Flag:
        """Parameters whose latest gradient norm exceeds ``exploding_norm`` or that hold inf/NaN."""
        if not self._norms:
            return Flag()
        norms, bad = self._norms[-1], self._nonfinite[-1]
        names = [n for n, v, b in zip(self.names, norms, bad) if b > 0 or not v <= self.exploding_norm]
        return Flag(names, f"gradient norm above {self.exploding_norm:g} or not finite" if names else "")

    @property
    def nonfinite(self) -> Flag:
        """Parameters whose latest gradient holds inf or NaN."""
        if not self._norms:
            return Flag()
        names = [n for n, b in zip(self.names, self._nonfinite[-1]) if b > 0]
        return Flag(names, "gradient holds inf or NaN" if names else "")

    @property
    def stalled(self) -> Flag:
        """Truthy when the loss is flat over the last ``window`` records but the gradient is not small."""
        losses = np.array(self._losses[-self.window :])
        if len(losses) < self.window or np.isnan(losses).any():
            return Flag()
        scale = max(float(np.abs(losses).mean()), 1e-12)
        flat = (losses.max() - losses.min()) / scale < self.flat_tol
        grad = float(np.mean([np.linalg.norm(n) for n in self._norms[-self.window :]]))
        if flat and grad > self.small_grad:
            return Flag(
                ["loss"],
                f"loss moved {(losses.max() - losses.min()) / scale:.2g} (relative) over {self.window} steps "
                f"while the gradient norm stayed {grad:.3g}: oscillation, lower or adapt the learning rate",
            )
        return Flag()

    @property
    def history(self) -> Dict[str, np.ndarray]:
        """Arrays for plots: ``grad_norm``, ``update_ratio`` and ``nonfinite`` (steps x parameters),
        ``loss`` (steps; NaN where not recorded)."""
        n = len(self.names)
        return {
            "grad_norm": np.array(self._norms).reshape(-1, n),
            "update_ratio": np.array(self._ratios).reshape(-1, n),
            "nonfinite": np.array(self._nonfinite).reshape(-1, n),
            "loss": np.array(self._losses),
        }

    def summary(self) -> str:
        """A table: each parameter's latest and extreme gradient norms, update ratio and flags."""
        if not self._norms:
            return "GradientMonitor: nothing recorded yet"
        h = self.history
        vanishing, exploding = set(self.vanishing), set(self.exploding)
        width = max(9, *(len(n) for n in self.names))
        lines = [
            f"GradientMonitor: {self.steps} steps",
            f"{'parameter':<{width}}  {'|grad|':>10}  {'min':>10}  {'max':>10}  {'update/w':>10}  {'nonfinite':>9}  flags",
        ]
        for i, name in enumerate(self.names):
            col = h["grad_norm"][:, i]
            ratio = h["update_ratio"][-1, i]
            flags = ", ".join(f for f, on in (("vanishing", name in vanishing), ("exploding", name in exploding)) if on)
            lines.append(
                f"{name:<{width}}  {col[-1]:>10.3e}  {np.nanmin(col):>10.3e}  {np.nanmax(col):>10.3e}  "
                f"{ratio:>10.3e}  {int(h['nonfinite'][:, i].sum()):>9d}  {flags}"
            )
        if self.stalled:
            lines.append(f"stalled: {self.stalled.reason}")
        return "\n".join(lines)
