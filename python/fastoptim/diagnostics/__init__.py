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
* **A learning rate that does not suit.** :func:`lr_range_test` sweeps it over decades in one
  short run and reads a good one off the loss curve (or use a learning-rate-free optimizer,
  :class:`fastoptim.Prodigy` or :class:`fastoptim.DAdaptAdam`).
* **Oscillation.** A loss that stays flat while the gradient stays *large* is not at a critical
  point at all: the parameters bounce across a narrow valley because the learning rate is too large
  for its steep direction. :attr:`GradientMonitor.stalled` flags it; a smaller or adaptive learning
  rate (or normalised inputs) cures it.

Hessians here are float64 and built from a gradient function ``grad_fn(theta) -> gradient`` by
central differences, so any model whose gradient you can compute can be examined.
"""

from .hessian import CriticalPoint, critical_point, hessian, hessian_eigs, hvp_from_grad
from .lr_range import RangeTest, lr_range_test
from .monitor import Flag, GradientMonitor

__all__ = [
    "hessian",
    "hvp_from_grad",
    "hessian_eigs",
    "critical_point",
    "CriticalPoint",
    "GradientMonitor",
    "Flag",
    "RangeTest",
    "lr_range_test",
]
