"""LARS: layer-wise adaptive rate scaling."""

from __future__ import annotations


from ..core.optimizer import Optimizer
from ..core.params import Params
from ..schedules import ScheduleLike

__all__ = ["LARS"]


class LARS(Optimizer):
    r"""LARS: SGD with momentum whose step is rescaled per tensor by a trust ratio.

    For each parameter tensor :math:`p` with gradient :math:`g` (negated when ``maximize``):

    .. math::

        \phi &= \frac{\kappa \lVert p \rVert}{\lVert g \rVert + \lambda \lVert p \rVert + \epsilon}
              \ \text{(1 when either norm is 0)} \\
        d &= \phi (g + \lambda p) \\
        b &= d \ \text{(first step)}, \qquad b = \mu b + d \ \text{(later)} \\
        p &\leftarrow p - \eta b

    with trust coefficient :math:`\kappa`. Layers whose gradients are large relative to their
    weights take proportionally smaller steps, which lets ResNet-50 train with batches of 32K.

    The norms are per tensor, so a step makes two passes in one compiled call: a read-only pass
    that sums :math:`p^2` and :math:`g^2` (in fixed lanes: the same result on every SIMD tier), then
    the update.

    Args:
        params: arrays to optimize, a dict of them by name, or a list of param group dicts.
        lr: learning rate :math:`\eta`, >= 0. Required.
        momentum: momentum factor :math:`\mu`, >= 0. Default 0.9.
        weight_decay: L2 penalty :math:`\lambda`, >= 0. Default 0.
        trust_coefficient: :math:`\kappa`, > 0. Default 1e-3.
        eps: :math:`\epsilon`, >= 0. Default 1e-8.
        maximize: maximize the objective instead of minimizing it. Default False.
        nonfinite: ``"raise"``, ``"skip"`` or ``"ignore"``; see :class:`Optimizer`.
        max_grad_norm: clip the gradients' global L2 norm to this inside the step; see :class:`Optimizer`.
        state_dtype: how state is kept: None (the parameters' dtype), ``"float32"``, ``"bfloat16"``,
            ``"int8"`` or ``"int4"`` (blockwise 8- or 4-bit); see :class:`Optimizer`.
        master_weights, rounding, seed: for 16-bit parameters: keep float32 master weights, or round
            each update ``"nearest"`` or ``"stochastic"`` (seeded by ``seed``); see :class:`Optimizer`.

    State per parameter: ``momentum_buffer`` (momentum != 0). Memory traffic per parameter per step
    (float32): 28 bytes = 8 (read p, g) + 20 (read p, g, b; write p, b); 20 without momentum.

    Example:
        >>> import numpy as np, fastoptim as fo
        >>> w = np.full(4, 3.0)
        >>> opt = fo.LARS([w], lr=1.0, trust_coefficient=0.01)
        >>> opt.step([np.full(4, 100.0)])  # phi = 0.01 * 6 / 200, so each weight moves by 0.03
        >>> w.round(6)
        array([2.97, 2.97, 2.97, 2.97])

    References:
        You, Gitman & Ginsburg, "Large Batch Training of Convolutional Networks", 2017.
    """

    _rule = "lars"

    def __init__(
        self,
        params: Params,
        lr: ScheduleLike,
        momentum: ScheduleLike = 0.9,
        weight_decay: ScheduleLike = 0.0,
        trust_coefficient: float = 1e-3,
        eps: float = 1e-8,
        *,
        maximize: bool = False,
        nonfinite: str = "raise",
        max_grad_norm: float | None = None,
        state_dtype: str | None = None,
        master_weights: bool = True,
        rounding: str = "nearest",
        seed: int = 0,
    ) -> None:
        defaults = dict(
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            trust_coefficient=trust_coefficient,
            eps=eps,
            maximize=maximize,
        )
        super().__init__(params, defaults, nonfinite=nonfinite, max_grad_norm=max_grad_norm, state_dtype=state_dtype, master_weights=master_weights, rounding=rounding, seed=seed)
