r"""Diagnostics for training that gets stuck.

Training stalls for a few distinct reasons, and each has a measurement:

* **A critical point.** Where the gradient is zero, the Hessian :math:`H` (the matrix of second
  derivatives) tells what kind of point it is. All eigenvalues positive: a local minimum; all
  negative: a local maximum; mixed signs: a *saddle point*, downhill along the eigenvectors with
  negative eigenvalues. Zero eigenvalues decide nothing (the third derivatives would). The share of
  positive eigenvalues, the *minimum ratio*, is 1 at a minimum; measured at the points where real
  networks stall it rarely exceeds 0.5-0.6, so "stuck" usually means "at a saddle", and a step along
  the most negative eigenvector escapes it (:func:`critical_point`, :meth:`CriticalPoint.escape`).
  For models too large for a full Hessian, :func:`hessian_eigs` finds the extreme eigenvalues from
  Hessian-vector products alone (Lanczos).
* **Vanishing or exploding gradients.** Backpropagation multiplies the gradient by each layer's
  Jacobian. Through a sigmoid (whose slope is at most 1/4) it shrinks by about 4x per layer, so the
  first layers of a deep sigmoid net barely learn; through large weights it grows without bound.
  :class:`GradientMonitor` measures per-parameter gradient norms and names the culprits;
  :func:`fastoptim.clip_grad_norm` caps an explosion.
* **Oscillation.** A loss that stays flat while the gradient stays *large* is not at a critical
  point at all: the parameters bounce across a narrow valley because the learning rate is too large
  for its steep direction. :attr:`GradientMonitor.stalled` flags it; a smaller or adaptive learning
  rate (or normalised inputs) cures it.

Hessians here are float64 and built from a gradient function ``grad_fn(theta) -> gradient`` by
central differences, so any model whose gradient you can compute can be examined.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = [
    "hessian",
    "hvp_from_grad",
    "hessian_eigs",
    "critical_point",
    "CriticalPoint",
    "GradientMonitor",
    "Flag",
]

GradFn = Callable[[np.ndarray], np.ndarray]
_CBRT_EPS = np.finfo(np.float64).eps ** (1 / 3)  # the step that balances truncation and rounding


def _grad(grad_fn: GradFn, theta: np.ndarray) -> np.ndarray:
    g = np.asarray(grad_fn(theta.reshape(theta.shape)), dtype=np.float64)
    if g.shape != theta.shape:
        raise ValueError(f"grad_fn returned shape {g.shape} for theta of shape {theta.shape}")
    return g


def hessian(grad_fn: GradFn, theta: np.ndarray, eps: Optional[float] = None) -> np.ndarray:
    r"""The Hessian of a function at ``theta``, by central differences of its gradient.

    Column :math:`i` is :math:`(\nabla f(\theta + h_i e_i) - \nabla f(\theta - h_i e_i)) / 2h_i`,
    with :math:`h_i = \epsilon^{1/3} \max(1, |\theta_i|)` by default (:math:`\epsilon` the float64
    machine epsilon; the step that balances the :math:`O(h^2)` truncation error against rounding),
    or ``eps`` if given. The result is symmetrised, :math:`(H + H^\top)/2`, and has shape
    ``(n, n)`` with ``n = theta.size``. Costs ``2n`` gradient evaluations.

    Example:
        >>> import numpy as np
        >>> from fastoptim.diagnostics import hessian
        >>> grad = lambda v: np.array([2 * v[0], -6 * v[1]])  # f = x^2 - 3 y^2
        >>> hessian(grad, np.zeros(2)).round(6) + 0.0
        array([[ 2.,  0.],
               [ 0., -6.]])
    """
    theta = _finite_theta(theta)
    if eps is not None and not (np.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be finite and > 0, got {eps!r}")
    flat = theta.reshape(-1)
    n = flat.size
    H = np.empty((n, n))
    for i in range(n):
        h = eps if eps is not None else _CBRT_EPS * max(1.0, abs(flat[i]))
        up, down = flat.copy(), flat.copy()
        up[i] += h
        down[i] -= h
        H[:, i] = (_grad(grad_fn, up.reshape(theta.shape)) - _grad(grad_fn, down.reshape(theta.shape))).reshape(-1) / (2 * h)
    if not np.isfinite(H).all():
        raise ValueError("the finite-difference Hessian holds inf or NaN: grad_fn is not finite near theta")
    return (H + H.T) / 2


def _finite_theta(theta: np.ndarray) -> np.ndarray:
    theta = np.array(theta, dtype=np.float64)
    if not np.isfinite(theta).all():
        raise ValueError("theta holds inf or NaN")
    return theta


_finite_difference_hessian = hessian  # critical_point's `hessian` argument shadows the name


def hvp_from_grad(grad_fn: GradFn, theta: np.ndarray, eps: Optional[float] = None) -> Callable[[np.ndarray], np.ndarray]:
    r"""A Hessian-vector product :math:`v \mapsto Hv` at ``theta`` from the gradient alone.

    :math:`Hv \approx \lVert v \rVert \, (\nabla f(\theta + h\hat v) - \nabla f(\theta - h\hat v)) / 2h`
    with :math:`\hat v = v / \lVert v \rVert` and :math:`h = \epsilon^{1/3} \max(1, \lVert\theta\rVert)`
    (or ``eps``): two gradient evaluations per product, no :math:`n \times n` matrix, so it scales to
    real models. Feed it to :func:`hessian_eigs`.

    Example:
        >>> import numpy as np
        >>> from fastoptim.diagnostics import hvp_from_grad
        >>> hvp = hvp_from_grad(lambda v: np.array([2 * v[0], -6 * v[1]]), np.zeros(2))
        >>> hvp(np.array([0.0, 1.0])).round(6)
        array([ 0., -6.])
    """
    theta = np.array(theta, dtype=np.float64)
    h = eps if eps is not None else _CBRT_EPS * max(1.0, float(np.linalg.norm(theta)))

    def hvp(v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, dtype=np.float64).reshape(theta.shape)
        size = float(np.linalg.norm(v))
        if size == 0:
            return np.zeros_like(theta)
        d = v / size
        return size * (_grad(grad_fn, theta + h * d) - _grad(grad_fn, theta - h * d)) / (2 * h)

    return hvp


def hessian_eigs(
    hvp: Callable[[np.ndarray], np.ndarray], dim: int, k: int = 1, which: str = "largest", tol: float = 0.0
) -> Tuple[np.ndarray, np.ndarray]:
    r"""Extreme eigenvalues and eigenvectors of a Hessian known only through products :math:`v \mapsto Hv`.

    Uses the Lanczos method (SciPy's ``eigsh`` on a ``LinearOperator``), which needs a few dozen
    products rather than the :math:`n` columns of the full matrix. ``which`` is ``"largest"`` (the
    sharpest directions: the step size must stay below :math:`2/\lambda_{max}` for gradient descent
    to be stable), ``"smallest"`` (a negative one means a saddle, and its eigenvector is the way
    out) or ``"both"`` (``k`` of each). Returns ``(eigenvalues, eigenvectors)``, ascending, with the
    eigenvectors as columns. Needs SciPy: ``pip install "fastoptim[diagnostics]"``.

    Example:
        >>> import numpy as np
        >>> from fastoptim.diagnostics import hessian_eigs
        >>> A = np.diag([-2.0, 1.0, 3.0, 5.0])
        >>> vals, vecs = hessian_eigs(lambda v: A @ v, 4, k=1, which="both")
        >>> vals.round(6)
        array([-2.,  5.])
    """
    try:
        from scipy.sparse.linalg import LinearOperator, eigsh
    except ImportError as exc:  # pragma: no cover - SciPy is in the test extra
        raise ImportError('hessian_eigs needs SciPy: pip install "fastoptim[diagnostics]"') from exc
    if which not in ("largest", "smallest", "both"):
        raise ValueError(f"which must be 'largest', 'smallest' or 'both', got {which!r}")
    if not 1 <= k < dim:
        raise ValueError(f"k must be in [1, dim), got k={k} for dim={dim}")
    op = LinearOperator((dim, dim), matvec=lambda v: np.asarray(hvp(np.asarray(v).reshape(-1)), np.float64).reshape(-1), dtype=np.float64)
    parts = [("SA", which in ("smallest", "both")), ("LA", which in ("largest", "both"))]
    vals, vecs = [], []
    for mode, wanted in parts:
        if wanted:
            w, v = eigsh(op, k=k, which=mode, tol=tol)
            vals.append(w)
            vecs.append(v)
    values, vectors = np.concatenate(vals), np.concatenate(vecs, axis=1)
    order = np.argsort(values)
    return values[order], vectors[:, order]


@dataclass
class CriticalPoint:
    r"""What the Hessian says about a point: see :func:`critical_point`.

    Attributes:
        theta: the point examined.
        kind: ``"local_min"``, ``"local_max"``, ``"saddle"`` or ``"degenerate"``.
        eigenvalues: the Hessian's eigenvalues, ascending.
        eigenvectors: matching unit eigenvectors, as columns.
        minimum_ratio: the share of positive eigenvalues (1 at a minimum, 0 at a maximum).
        gradient_norm: :math:`\lVert\nabla f(\theta)\rVert`; a critical point has it near 0.
        escape_direction: a unit eigenvector of the most negative eigenvalue, or None when no
            eigenvalue is negative.
    """

    theta: np.ndarray
    kind: str
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    minimum_ratio: float
    gradient_norm: float
    escape_direction: Optional[np.ndarray] = field(default=None)

    def escape(self, step: float) -> np.ndarray:
        r"""The point moved by ``step`` along the escape direction: :math:`\theta + s\,u_{min}`.

        Along that eigenvector the function falls like :math:`\tfrac12 \lambda_{min} s^2 < 0`, in
        either direction, so any small step leaves the saddle downhill.
        """
        if self.escape_direction is None:
            raise ValueError(f"a {self.kind} point has no negative curvature to escape along")
        return self.theta + step * self.escape_direction.reshape(self.theta.shape)

    def __str__(self) -> str:
        vals = ", ".join(f"{v:.4g}" for v in self.eigenvalues[:8]) + (", ..." if self.eigenvalues.size > 8 else "")
        return (
            f"{self.kind} at |grad| = {self.gradient_norm:.3g}: eigenvalues [{vals}], "
            f"minimum ratio {self.minimum_ratio:.2f}"
        )


def critical_point(
    grad_fn: GradFn, theta: np.ndarray, *, hessian: Optional[np.ndarray] = None, tol: float = 1e-6
) -> CriticalPoint:
    r"""Classify the point ``theta`` from the eigenvalues of the Hessian there.

    An eigenvalue counts as positive above :math:`\tau` and negative below :math:`-\tau`, with
    :math:`\tau` = ``tol`` :math:`\cdot \max(1, \max_i |\lambda_i|)`; the rest are zero.

    * mixed signs: ``"saddle"`` (whatever the zero eigenvalues);
    * all positive: ``"local_min"``; all negative: ``"local_max"``;
    * otherwise (some zero, none of the other sign): ``"degenerate"``: second-order information
      cannot decide, as at the monkey saddle :math:`x^3 - 3xy^2`.

    ``hessian`` may be given (e.g. analytic); by default it is :func:`hessian` of ``grad_fn``.

    Example:
        >>> import numpy as np
        >>> from fastoptim.diagnostics import critical_point
        >>> cp = critical_point(lambda v: np.array([2 * v[0], -2 * v[1]]), np.zeros(2))  # x^2 - y^2
        >>> cp.kind, cp.minimum_ratio, np.abs(cp.escape_direction).round(6)
        ('saddle', 0.5, array([0., 1.]))
        >>> cp.escape(0.1)
        array([0. , 0.1])
    """
    theta = _finite_theta(theta)
    H = np.asarray(hessian, dtype=np.float64) if hessian is not None else _finite_difference_hessian(grad_fn, theta)
    n = theta.size
    if H.shape != (n, n):
        raise ValueError(f"hessian has shape {H.shape}, expected {(n, n)}")
    if not np.isfinite(H).all():
        raise ValueError("hessian holds inf or NaN: its eigenvalues cannot classify the point")
    values, vectors = np.linalg.eigh((H + H.T) / 2)
    threshold = tol * max(1.0, float(np.max(np.abs(values))))
    pos, neg = int(np.sum(values > threshold)), int(np.sum(values < -threshold))
    if pos and neg:
        kind = "saddle"
    elif pos == n:
        kind = "local_min"
    elif neg == n:
        kind = "local_max"
    else:
        kind = "degenerate"
    direction = None
    if neg:
        direction = vectors[:, 0].copy()
        direction *= np.sign(direction[np.argmax(np.abs(direction))])  # a fixed sign, for reproducibility
    return CriticalPoint(
        theta=theta,
        kind=kind,
        eigenvalues=values,
        eigenvectors=vectors,
        minimum_ratio=pos / n,
        gradient_norm=float(np.linalg.norm(_grad(grad_fn, theta))),
        escape_direction=direction,
    )


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
        if window < 2:
            raise ValueError(f"window must be >= 2, got {window}")
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
