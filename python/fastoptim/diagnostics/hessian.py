"""Critical points from second derivatives: Hessians by central differences, their extreme
eigenvalues by Lanczos, and the classification of a point with its way out of a saddle."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Tuple

import numpy as np

__all__ = ["hessian", "hvp_from_grad", "hessian_eigs", "critical_point", "CriticalPoint"]

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
    """``theta`` as a float64 copy; ValueError if it is complex, empty, or not finite."""
    if np.iscomplexobj(theta):
        raise ValueError(f"theta must be real, got {np.asarray(theta).dtype}")
    theta = np.array(theta, dtype=np.float64)
    if theta.size == 0:
        raise ValueError("theta is empty: there is no point to examine")
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
    theta = _finite_theta(theta)
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
    def matvec(v: np.ndarray) -> np.ndarray:
        out = np.asarray(hvp(np.asarray(v).reshape(-1)), np.float64).reshape(-1)
        if not np.isfinite(out).all():
            raise ValueError("the Hessian-vector product returned inf or NaN (is the gradient finite at theta?)")
        return out

    op = LinearOperator((dim, dim), matvec=matvec, dtype=np.float64)
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
