"""Stochastic gradient descent with momentum and Nesterov momentum."""

from __future__ import annotations


from ..core.optimizer import Optimizer
from ..core.params import Params
from ..schedules import ScheduleLike

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with (Nesterov) momentum; ``torch.optim.SGD``.

    For each parameter :math:`p` with gradient :math:`g` (negated when ``maximize``):

    .. math::

        d &= g + \lambda p \\
        b_t &= d \ \text{(first step)}, \qquad b_t = \mu b_{t-1} + (1 - \tau) d \ \text{(later)} \\
        d &= d + \mu b_t \ \text{(nesterov)}, \qquad d = b_t \ \text{(otherwise)} \\
        p &\leftarrow p - \eta d

    with learning rate :math:`\eta` (``lr``), momentum :math:`\mu`, dampening :math:`\tau` and
    weight decay :math:`\lambda`. Without momentum the buffer :math:`b` is neither kept nor touched.

    Args:
        params: arrays to optimize, a dict of them by name, or a list of param group dicts.
        lr: learning rate, >= 0. Default 1e-3.
        momentum: momentum factor :math:`\mu`, >= 0. Default 0.
        dampening: dampening :math:`\tau` of the momentum, >= 0. Default 0.
        weight_decay: L2 penalty :math:`\lambda` added to the gradient, >= 0. Default 0.
        nesterov: use Nesterov momentum (needs momentum > 0 and dampening 0). Default False.
        maximize: maximize the objective instead of minimizing it. Default False.
        foreach, fused, capturable, differentiable: torch's flags where torch has them: the first two
            are ignored, the last two must be False; see :class:`Optimizer`.
        nonfinite: ``"raise"``, ``"skip"`` or ``"ignore"``; see :class:`Optimizer`.
        max_grad_norm: clip the gradients' global L2 norm to this inside the step; see :class:`Optimizer`.
        state_dtype: how state is kept: None (the parameters' dtype), ``"float32"``, ``"bfloat16"``,
            ``"int8"`` or ``"int4"`` (blockwise 8- or 4-bit); see :class:`Optimizer`.
        master_weights, rounding, seed: for 16-bit parameters: keep float32 master weights, or round
            each update ``"nearest"`` or ``"stochastic"`` (seeded by ``seed``); see :class:`Optimizer`.

    Memory traffic per parameter per step (float32): 12 bytes without momentum (read p, g; write p),
    20 with it (read p, g, b; write p, b); the finiteness check reads g once more.

    Example:
        >>> import numpy as np, fastoptim as fo
        >>> w = np.ones(3, np.float32)
        >>> opt = fo.SGD([w], lr=0.1, momentum=0.9)
        >>> opt.step([np.full(3, 2.0, np.float32)])
        >>> w
        array([0.8, 0.8, 0.8], dtype=float32)

    References:
        Polyak, "Some methods of speeding up the convergence of iteration methods", 1964.
        Sutskever, Martens, Dahl, Hinton, "On the importance of initialization and momentum in deep
        learning", ICML 2013 (Nesterov momentum as used here).
    """

    _rule = "sgd"

    def __init__(
        self,
        params: Params,
        lr: ScheduleLike = 1e-3,
        momentum: ScheduleLike = 0.0,
        dampening: float = 0.0,
        weight_decay: ScheduleLike = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
        nonfinite: str = "raise",
        max_grad_norm: float | None = None,
        state_dtype: str | None = None,
        master_weights: bool = True,
        rounding: str = "nearest",
        seed: int = 0,
    ) -> None:
        defaults = dict(
            lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov, maximize=maximize
        )
        super().__init__(params, defaults, nonfinite=nonfinite, max_grad_norm=max_grad_norm, state_dtype=state_dtype, master_weights=master_weights, rounding=rounding, seed=seed, differentiable=differentiable)
