"""Rprop."""

from __future__ import annotations

from typing import Tuple

from ..core.optimizer import Optimizer
from ..core.params import Params
from ..schedules import ScheduleLike

__all__ = ["Rprop"]


class Rprop(Optimizer):
    r"""Resilient backpropagation: a step size per element, steered by the gradient's sign alone;
    ``torch.optim.Rprop``.

    For each element of a parameter :math:`p` with gradient :math:`g` (negated when ``maximize``)
    and the gradient it kept from the previous step, :math:`g'`:

    .. math::

        s &= \operatorname{sign}(g \, g') \\
        \delta &\leftarrow \operatorname{clip}\big(\delta \cdot (\eta_+ \text{ if } s > 0,\
              \eta_- \text{ if } s < 0,\ 1 \text{ otherwise}),\ \delta_{min},\ \delta_{max}\big) \\
        g &\leftarrow 0 \ \text{ where } s < 0 \\
        p &\leftarrow p - \operatorname{sign}(g) \, \delta, \qquad g' \leftarrow g

    While an element's gradient keeps its sign, its step grows by :math:`\eta_+`; when the sign
    flips (a minimum was stepped over), the step shrinks by :math:`\eta_-` and that element waits one
    step. The gradient's size never enters, which makes Rprop a full-batch method: mini-batch noise
    flips signs at random.

    Args:
        params: arrays to optimize, a dict of them by name, or a list of param group dicts.
        lr: the step sizes' start :math:`\delta_0`, >= 0 (read at each element's first step).
            Default 1e-2.
        etas: :math:`(\eta_-, \eta_+)`, with :math:`0 < \eta_- < 1 < \eta_+`. Default (0.5, 1.2).
        step_sizes: :math:`(\delta_{min}, \delta_{max})`, with :math:`0 \le \delta_{min} \le
            \delta_{max}`. Default (1e-6, 50).
        maximize: maximize the objective instead of minimizing it. Default False.
        foreach, capturable, differentiable: torch's flags: the first is ignored, the last two must be
            False; see :class:`Optimizer`.
        nonfinite: ``"raise"``, ``"skip"`` or ``"ignore"``; see :class:`Optimizer`.
        max_grad_norm: clip the gradients' global L2 norm to this inside the step; see :class:`Optimizer`.
        state_dtype: how state is kept: None (the parameters' dtype), ``"float32"``, ``"bfloat16"``,
            ``"int8"`` or ``"int4"`` (blockwise 8- or 4-bit); see :class:`Optimizer`.
        master_weights, rounding, seed: for 16-bit parameters: keep float32 master weights, or round
            each update ``"nearest"`` or ``"stochastic"`` (seeded by ``seed``); see :class:`Optimizer`.

    State per parameter: ``prev`` (:math:`g'`) and ``step_size`` (:math:`\delta`). Memory traffic per
    parameter per step (float32): 28 bytes (read p, g, prev, step_size; write p, prev, step_size).

    Example:
        >>> import numpy as np, fastoptim as fo
        >>> w = np.zeros(2)
        >>> opt = fo.Rprop([w], lr=0.1)
        >>> for _ in range(2):
        ...     opt.step([np.array([3.0, -0.01])])  # same sign twice: the second step is 1.2 times the first
        >>> w.round(6)
        array([-0.22,  0.22])

    References:
        Riedmiller & Braun, "A Direct Adaptive Method for Faster Backpropagation Learning: The RPROP
        Algorithm", IEEE ICNN 1993.
    """

    _rule = "rprop"

    def __init__(
        self,
        params: Params,
        lr: ScheduleLike = 1e-2,
        etas: Tuple[float, float] = (0.5, 1.2),
        step_sizes: Tuple[float, float] = (1e-6, 50),
        *,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        nonfinite: str = "raise",
        max_grad_norm: float | None = None,
        state_dtype: str | None = None,
        master_weights: bool = True,
        rounding: str = "nearest",
        seed: int = 0,
    ) -> None:
        defaults = dict(lr=lr, etas=etas, step_sizes=step_sizes, maximize=maximize)
        super().__init__(
            params, defaults, nonfinite=nonfinite, max_grad_norm=max_grad_norm, state_dtype=state_dtype, master_weights=master_weights, rounding=rounding, seed=seed, capturable=capturable, differentiable=differentiable
        )
