"""Adamax."""

from __future__ import annotations

from typing import Tuple

from ..core.optimizer import Optimizer
from ..core.params import Params
from ..schedules import ScheduleLike

__all__ = ["Adamax"]


class Adamax(Optimizer):
    r"""Adamax: Adam with the infinity norm in place of the second moment; ``torch.optim.Adamax``.

    For each parameter :math:`p` with gradient :math:`g` (negated when ``maximize``), at step
    :math:`t = 1, 2, \dots`:

    .. math::

        g &\leftarrow g + \lambda p \\
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1) g \\
        u_t &= \max(\beta_2 u_{t-1}, |g| + \epsilon) \\
        p &\leftarrow p - \frac{\eta}{1 - \beta_1^t} \, \frac{m_t}{u_t}

    :math:`u` needs no bias correction: a maximum is not pulled towards its zero start.

    Args:
        params: arrays to optimize, a dict of them by name, or a list of param group dicts.
        lr: learning rate :math:`\eta`, >= 0. Default 2e-3.
        betas: :math:`(\beta_1, \beta_2)`, each in [0, 1). Default (0.9, 0.999).
        eps: :math:`\epsilon`, >= 0. Default 1e-8.
        weight_decay: L2 penalty :math:`\lambda`, >= 0. Default 0.
        maximize: maximize the objective instead of minimizing it. Default False.
        foreach, fused, capturable, differentiable: torch's flags where torch has them: the first two
            are ignored, the last two must be False; see :class:`Optimizer`.
        nonfinite: ``"raise"``, ``"skip"`` or ``"ignore"``; see :class:`Optimizer`.
        max_grad_norm: clip the gradients' global L2 norm to this inside the step; see :class:`Optimizer`.
        state_dtype: how state is kept: None (the parameters' dtype), ``"float32"``, ``"bfloat16"``,
            ``"int8"`` or ``"int4"`` (blockwise 8- or 4-bit); see :class:`Optimizer`.
        master_weights, rounding, seed: for 16-bit parameters: keep float32 master weights, or round
            each update ``"nearest"`` or ``"stochastic"`` (seeded by ``seed``); see :class:`Optimizer`.

    State per parameter: ``exp_avg`` (m), ``exp_inf`` (u). Memory traffic per parameter per step
    (float32): 28 bytes (read p, g, m, u; write p, m, u).

    Example:
        >>> import numpy as np, fastoptim as fo
        >>> w = np.zeros(2)
        >>> opt = fo.Adamax([w], lr=0.1)
        >>> opt.step([np.array([5.0, -0.5])])  # the first step is lr * sign(g)
        >>> w.round(6)
        array([-0.1,  0.1])

    References:
        Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, section 7.1.
    """

    _rule = "adamax"

    def __init__(
        self,
        params: Params,
        lr: ScheduleLike = 2e-3,
        betas: Tuple[ScheduleLike, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: ScheduleLike = 0.0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
        nonfinite: str = "raise",
        max_grad_norm: float | None = None,
        state_dtype: str | None = None,
        master_weights: bool = True,
        rounding: str = "nearest",
        seed: int = 0,
    ) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(
            params, defaults, nonfinite=nonfinite, max_grad_norm=max_grad_norm, state_dtype=state_dtype, master_weights=master_weights, rounding=rounding, seed=seed, capturable=capturable, differentiable=differentiable
        )
