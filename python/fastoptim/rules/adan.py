"""Adan."""

from __future__ import annotations

from typing import Tuple

from ..core.optimizer import Optimizer
from ..core.params import Params
from ..schedules import ScheduleLike

__all__ = ["Adan"]


class Adan(Optimizer):
    r"""Adan, adaptive Nesterov momentum: Adam's moments plus a moment of the gradient's change;
    as ``pytorch_optimizer.Adan``.

    For each parameter :math:`p` with gradient :math:`g_t` (negated when ``maximize``), at step
    :math:`t = 1, 2, \dots`, with :math:`d_t = g_t - g_{t-1}` (:math:`d_1 = 0`):

    .. math::

        m_t &= \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
        \delta_t &= \beta_2 \delta_{t-1} + (1 - \beta_2) d_t \\
        n_t &= \beta_3 n_{t-1} + (1 - \beta_3) (g_t + \beta_2 d_t)^2 \\
        p &\leftarrow p - \frac{\eta}{\sqrt{n_t} / \sqrt{1 - \beta_3^t} + \epsilon}
              \Big(\frac{m_t}{1 - \beta_1^t} + \frac{\beta_2 \, \delta_t}{1 - \beta_2^t}\Big)

    :math:`g_t + \beta_2 d_t` is the gradient extrapolated one step ahead, Nesterov's look-ahead
    without a second gradient evaluation. Weight decay :math:`\lambda` is applied as the paper's
    proximal step :math:`p \leftarrow p / (1 + \eta\lambda)` after the update, or, with
    ``weight_decouple=True``, as :math:`p \leftarrow p (1 - \eta\lambda)` before it. The betas are
    decay rates, as in Adam (the paper writes :math:`1 - \beta`). With ``maximize``, the gradients
    are negated first and :math:`d_1` is 0 as ever; pytorch-optimizer 4.1 stores its first previous
    gradient before negating it, which makes its :math:`d_1 = -2g_1` there.

    Args:
        params: arrays to optimize, a dict of them by name, or a list of param group dicts.
        lr: learning rate :math:`\eta`, >= 0. Default 1e-3.
        betas: :math:`(\beta_1, \beta_2, \beta_3)`, each in [0, 1). Default (0.98, 0.92, 0.99).
        weight_decay: :math:`\lambda`, >= 0. Default 0.
        weight_decouple: decay before the update, AdamW's way. Default False.
        eps: :math:`\epsilon`, >= 0. Default 1e-8.
        maximize: maximize the objective instead of minimizing it. Default False.
        nonfinite: ``"raise"``, ``"skip"`` or ``"ignore"``; see :class:`Optimizer`.
        max_grad_norm: clip the gradients' global L2 norm to this inside the step (pytorch-optimizer's
            Adan has the same option); see :class:`Optimizer`.

    State per parameter: ``exp_avg`` (m), ``exp_avg_diff`` (:math:`\delta`), ``exp_avg_sq`` (n) and
    ``previous_grad`` (:math:`-g_{t-1}`, kept negated as pytorch-optimizer keeps it). Memory traffic
    per parameter per step (float32): 44 bytes (read p, g and the four; write p and the four).

    Example:
        >>> import numpy as np, fastoptim as fo
        >>> w = np.zeros(2)
        >>> opt = fo.Adan([w], lr=0.1)
        >>> opt.step([np.array([2.0, -0.5])])  # the first step is lr * sign(g), as Adam's
        >>> w.round(6)
        array([-0.1,  0.1])

    References:
        Xie, Zhou, Li, Lin & Yan, "Adan: Adaptive Nesterov Momentum Algorithm for Faster Optimizing
        Deep Models", IEEE TPAMI 2024.
    """

    _rule = "adan"

    def __init__(
        self,
        params: Params,
        lr: ScheduleLike = 1e-3,
        betas: Tuple[ScheduleLike, float, float] = (0.98, 0.92, 0.99),
        weight_decay: ScheduleLike = 0.0,
        weight_decouple: bool = False,
        eps: float = 1e-8,
        maximize: bool = False,
        *,
        nonfinite: str = "raise",
        max_grad_norm: float | None = None,
        state_dtype: str | None = None,
        master_weights: bool = True,
        rounding: str = "nearest",
        seed: int = 0,
    ) -> None:
        defaults = dict(lr=lr, betas=betas, weight_decay=weight_decay, weight_decouple=weight_decouple, eps=eps, maximize=maximize)
        super().__init__(params, defaults, nonfinite=nonfinite, max_grad_norm=max_grad_norm, state_dtype=state_dtype, master_weights=master_weights, rounding=rounding, seed=seed)
