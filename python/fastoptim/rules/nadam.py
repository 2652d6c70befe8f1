"""NAdam: Adam with Nesterov momentum."""

from __future__ import annotations

from typing import Tuple

from ..core.optimizer import Optimizer
from ..core.params import Params
from ..schedules import ScheduleLike

__all__ = ["NAdam"]


class NAdam(Optimizer):
    r"""NAdam: Adam with Nesterov momentum and a momentum warm-up; ``torch.optim.NAdam``.

    For each parameter :math:`p` with gradient :math:`g` (negated when ``maximize``), at step
    :math:`t = 1, 2, \dots`, with :math:`\psi` the momentum decay:

    .. math::

        \mu_t &= \beta_1 \left(1 - \tfrac12\, 0.96^{t\psi}\right), \qquad
        \Pi_t = \prod_{k \le t} \mu_k \\
        g &\leftarrow g + \lambda p \quad\text{(or, decoupled, } p \leftarrow p(1 - \eta\lambda)\text{)} \\
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1) g, \qquad v_t = \beta_2 v_{t-1} + (1 - \beta_2) g^2 \\
        \delta &= \sqrt{v_t / (1 - \beta_2^t)} + \epsilon \\
        p &\leftarrow p - \eta \frac{1 - \mu_t}{1 - \Pi_t} \frac{g}{\delta}
              - \eta \frac{\mu_{t+1}}{1 - \Pi_t \mu_{t+1}} \frac{m_t}{\delta}

    The first term is the Nesterov look-ahead: the gradient enters the step at once, not only
    through the average. :math:`\Pi_t` (``mu_product``) is kept per group and saved in the state.

    Args:
        params: arrays to optimize, a dict of them by name, or a list of param group dicts.
        lr: learning rate :math:`\eta`, >= 0. Default 2e-3.
        betas: :math:`(\beta_1, \beta_2)`, each in [0, 1). Default (0.9, 0.999).
        eps: :math:`\epsilon`, >= 0. Default 1e-8.
        weight_decay: :math:`\lambda`, >= 0. Default 0.
        momentum_decay: :math:`\psi`, >= 0. Default 4e-3.
        decoupled_weight_decay: decay the weights directly, as AdamW does (NAdamW). Default False.
        maximize: maximize the objective instead of minimizing it. Default False.
        foreach, fused, capturable, differentiable: torch's flags where torch has them: the first two
            are ignored, the last two must be False; see :class:`Optimizer`.
        nonfinite: ``"raise"``, ``"skip"`` or ``"ignore"``; see :class:`Optimizer`.
        max_grad_norm: clip the gradients' global L2 norm to this inside the step; see :class:`Optimizer`.
        state_dtype: how state is kept: None (the parameters' dtype), ``"float32"``, ``"bfloat16"``,
            ``"int8"`` or ``"int4"`` (blockwise 8- or 4-bit); see :class:`Optimizer`.
        master_weights, rounding, seed: for 16-bit parameters: keep float32 master weights, or round
            each update ``"nearest"`` or ``"stochastic"`` (seeded by ``seed``); see :class:`Optimizer`.

    State per parameter: ``exp_avg``, ``exp_avg_sq`` and the group's ``mu_product``. Memory traffic
    per parameter per step (float32): 28 bytes (read p, g, m, v; write p, m, v).

    Example:
        >>> import numpy as np, fastoptim as fo
        >>> w = np.zeros(2)
        >>> opt = fo.NAdam([w], lr=0.1)
        >>> opt.step([np.array([1.0, -1.0])])
        >>> bool(w[0] < 0 < w[1])
        True

    References:
        Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016 workshop.
    """

    _rule = "nadam"

    def __init__(
        self,
        params: Params,
        lr: ScheduleLike = 2e-3,
        betas: Tuple[ScheduleLike, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: ScheduleLike = 0.0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        nonfinite: str = "raise",
        max_grad_norm: float | None = None,
        state_dtype: str | None = None,
        master_weights: bool = True,
        rounding: str = "nearest",
        seed: int = 0,
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            momentum_decay=momentum_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize,
        )
        super().__init__(
            params, defaults, nonfinite=nonfinite, max_grad_norm=max_grad_norm, state_dtype=state_dtype, master_weights=master_weights, rounding=rounding, seed=seed, capturable=capturable, differentiable=differentiable
        )
