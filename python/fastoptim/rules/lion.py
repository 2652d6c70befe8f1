"""Lion: sign momentum."""

from __future__ import annotations

from typing import Tuple

from ..core.optimizer import Optimizer
from ..core.params import Params
from ..schedules import ScheduleLike

__all__ = ["Lion"]


class Lion(Optimizer):
    r"""Lion (EvoLved Sign Momentum): every coordinate moves by exactly the learning rate.

    For each parameter :math:`p` with gradient :math:`g` (negated when ``maximize``):

    .. math::

        c &= \beta_1 m + (1 - \beta_1) g \\
        p &\leftarrow p - \eta \left(\operatorname{sign}(c) + \lambda p\right) \\
        m &= \beta_2 m + (1 - \beta_2) g

    The update is a sign, so its size does not depend on the gradient's scale: use a learning rate
    3-10x smaller than AdamW's and a weight decay 3-10x larger. One state array instead of Adam's two.

    Args:
        params: arrays to optimize, a dict of them by name, or a list of param group dicts.
        lr: learning rate :math:`\eta`, >= 0. Default 1e-4.
        betas: :math:`(\beta_1, \beta_2)`, each in [0, 1). Default (0.9, 0.99).
        weight_decay: decoupled weight decay :math:`\lambda`, >= 0. Default 0.
        maximize: maximize the objective instead of minimizing it. Default False.
        nonfinite: ``"raise"``, ``"skip"`` or ``"ignore"``; see :class:`Optimizer`.
        max_grad_norm: clip the gradients' global L2 norm to this inside the step; see :class:`Optimizer`.
        state_dtype: how state is kept: None (the parameters' dtype), ``"float32"``, ``"bfloat16"``,
            ``"int8"`` or ``"int4"`` (blockwise 8- or 4-bit); see :class:`Optimizer`.
        master_weights, rounding, seed: for 16-bit parameters: keep float32 master weights, or round
            each update ``"nearest"`` or ``"stochastic"`` (seeded by ``seed``); see :class:`Optimizer`.

    State per parameter: ``exp_avg`` (m). Memory traffic per parameter per step (float32): 20 bytes
    (read p, g, m; write p, m).

    Example:
        >>> import numpy as np, fastoptim as fo
        >>> w = np.zeros(3)
        >>> opt = fo.Lion([w], lr=0.01)
        >>> opt.step([np.array([1e-6, -50.0, 0.0])])
        >>> w
        array([-0.01,  0.01,  0.  ])

    References:
        Chen et al., "Symbolic Discovery of Optimization Algorithms", NeurIPS 2023.
    """

    _rule = "lion"

    def __init__(
        self,
        params: Params,
        lr: ScheduleLike = 1e-4,
        betas: Tuple[ScheduleLike, float] = (0.9, 0.99),
        weight_decay: ScheduleLike = 0.0,
        *,
        maximize: bool = False,
        nonfinite: str = "raise",
        max_grad_norm: float | None = None,
        state_dtype: str | None = None,
        master_weights: bool = True,
        rounding: str = "nearest",
        seed: int = 0,
    ) -> None:
        defaults = dict(lr=lr, betas=betas, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults, nonfinite=nonfinite, max_grad_norm=max_grad_norm, state_dtype=state_dtype, master_weights=master_weights, rounding=rounding, seed=seed)
