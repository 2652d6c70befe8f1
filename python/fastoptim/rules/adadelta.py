"""AdaDelta."""

from __future__ import annotations


from ..core.optimizer import Optimizer
from ..core.params import Params
from ..schedules import ScheduleLike

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    r"""AdaDelta: a step whose units come from the running size of past steps; ``torch.optim.Adadelta``.

    For each parameter :math:`p` with gradient :math:`g` (negated when ``maximize``):

    .. math::

        g &\leftarrow g + \lambda p \\
        s &= \rho s + (1 - \rho) g^2 \\
        \Delta &= \frac{\sqrt{u + \epsilon}}{\sqrt{s + \epsilon}}\, g \\
        u &= \rho u + (1 - \rho) \Delta^2 \\
        p &\leftarrow p - \eta \Delta

    The ratio of two root mean squares gives the step the units of the parameter, so the learning
    rate is a plain multiplier (default 1).

    Args:
        params: arrays to optimize, a dict of them by name, or a list of param group dicts.
        lr: multiplier :math:`\eta` of the step, >= 0. Default 1.0.
        rho: decay :math:`\rho` of both running averages, in [0, 1]. Default 0.9.
        eps: :math:`\epsilon`, >= 0. Default 1e-6.
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

    State per parameter: ``square_avg`` (s), ``acc_delta`` (u). Memory traffic per parameter per
    step (float32): 28 bytes (read p, g, s, u; write p, s, u).

    Example:
        >>> import numpy as np, fastoptim as fo
        >>> w = np.zeros(1)
        >>> opt = fo.Adadelta([w])
        >>> opt.step([np.array([1.0])])  # sqrt(1e-6) / sqrt(0.1 + 1e-6): a small first step
        >>> float(w[0]) < 0
        True

    References:
        Zeiler, "ADADELTA: An Adaptive Learning Rate Method", 2012.
    """

    _rule = "adadelta"

    def __init__(
        self,
        params: Params,
        lr: ScheduleLike = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: ScheduleLike = 0.0,
        foreach: bool | None = None,
        *,
        capturable: bool = False,
        maximize: bool = False,
        differentiable: bool = False,
        nonfinite: str = "raise",
        max_grad_norm: float | None = None,
        state_dtype: str | None = None,
        master_weights: bool = True,
        rounding: str = "nearest",
        seed: int = 0,
    ) -> None:
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(
            params, defaults, nonfinite=nonfinite, max_grad_norm=max_grad_norm, state_dtype=state_dtype, master_weights=master_weights, rounding=rounding, seed=seed, capturable=capturable, differentiable=differentiable
        )
