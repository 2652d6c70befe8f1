"""AdEMAMix."""

from __future__ import annotations

from typing import Optional, Tuple

from ..core.optimizer import Optimizer
from ..core.params import Params
from ..schedules import ScheduleLike

__all__ = ["AdEMAMix"]


class AdEMAMix(Optimizer):
    r"""AdEMAMix: Adam plus a slow gradient average that remembers far older gradients; as
    ``pytorch_optimizer.AdEMAMix``.

    For each parameter :math:`p` with gradient :math:`g` (negated when ``maximize``), at step
    :math:`t = 1, 2, \dots`:

    .. math::

        m_t &= \beta_1 m_{t-1} + (1 - \beta_1) g \\
        v_t &= \beta_2 v_{t-1} + (1 - \beta_2) g^2 \\
        s_t &= \beta_{3,t} s_{t-1} + (1 - \beta_{3,t}) g \\
        p &\leftarrow p - \eta \, \frac{m_t / (1 - \beta_1^t) + \alpha_t s_t}{\sqrt{v_t} / \sqrt{1 - \beta_2^t} + \epsilon}

    With :math:`\beta_3 = 0.9999` the slow average spans about 10,000 steps, where Adam's
    :math:`m` spans 10: old gradients keep pulling, which the paper finds makes large models learn
    faster and forget less. With ``t_alpha_beta3 = T``, :math:`\alpha_t = \min(t\alpha/T, \alpha)`
    and :math:`\beta_{3,t}` rises from :math:`\beta_1` to :math:`\beta_3` over :math:`T` steps
    (:math:`\beta_{3,t} = \min(\exp(\frac{\ln\beta_1 \ln\beta_3}{(1 - t/T)\ln\beta_3 + (t/T)\ln\beta_1}), \beta_3)`),
    so that the slow average does not dominate while it is still young; otherwise they are constant.
    Weight decay :math:`\lambda` is added to the gradient, or with ``weight_decouple=True``
    applied as :math:`p \leftarrow p (1 - \eta\lambda)` (:math:`1 - \lambda` with ``fixed_decay``).

    Args:
        params: arrays to optimize, a dict of them by name, or a list of param group dicts.
        lr: learning rate :math:`\eta`, >= 0. Default 1e-3.
        betas: :math:`(\beta_1, \beta_2, \beta_3)`, each in [0, 1). Default (0.9, 0.999, 0.9999).
        weight_decay: :math:`\lambda`, >= 0. Default 0.
        weight_decouple: decay the weights directly instead of through the gradient. Default False.
        fixed_decay: with ``weight_decouple``, decay by :math:`\lambda` itself, not :math:`\eta\lambda`.
            Default False.
        alpha: the slow average's weight :math:`\alpha`, >= 0. Default 5.
        t_alpha_beta3: warm-up steps :math:`T` of :math:`\alpha` and :math:`\beta_3`; None (or 0): none.
            Default None.
        eps: :math:`\epsilon`, >= 0. Default 1e-8.
        maximize: maximize the objective instead of minimizing it. Default False.
        nonfinite: ``"raise"``, ``"skip"`` or ``"ignore"``; see :class:`Optimizer`.
        max_grad_norm: clip the gradients' global L2 norm to this inside the step; see :class:`Optimizer`.
        state_dtype: how state is kept: None (the parameters' dtype), ``"float32"``, ``"bfloat16"``,
            ``"int8"`` or ``"int4"`` (blockwise 8- or 4-bit); see :class:`Optimizer`.
        master_weights, rounding, seed: for 16-bit parameters: keep float32 master weights, or round
            each update ``"nearest"`` or ``"stochastic"`` (seeded by ``seed``); see :class:`Optimizer`.

    State per parameter: ``exp_avg`` (m), ``exp_avg_sq`` (v), ``exp_avg_slow`` (s). Memory traffic
    per parameter per step (float32): 36 bytes (read p, g, m, v, s; write p, m, v, s).

    Example:
        >>> import numpy as np, fastoptim as fo
        >>> w = np.zeros(2)
        >>> opt = fo.AdEMAMix([w], lr=0.1, alpha=0.0)  # alpha 0: Adam
        >>> opt.step([np.array([2.0, -0.5])])
        >>> w.round(6)
        array([-0.1,  0.1])

    References:
        Pagliardini, Ablin & Grangier, "The AdEMAMix Optimizer: Better, Faster, Older", ICLR 2025.
    """

    _rule = "ademamix"

    def __init__(
        self,
        params: Params,
        lr: ScheduleLike = 1e-3,
        betas: Tuple[ScheduleLike, float, float] = (0.9, 0.999, 0.9999),
        weight_decay: ScheduleLike = 0.0,
        weight_decouple: bool = False,
        fixed_decay: bool = False,
        alpha: float = 5.0,
        t_alpha_beta3: Optional[float] = None,
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
        defaults = dict(
            lr=lr, betas=betas, weight_decay=weight_decay, weight_decouple=weight_decouple, fixed_decay=fixed_decay,
            alpha=alpha, t_alpha_beta3=t_alpha_beta3, eps=eps, maximize=maximize,
        )
        super().__init__(params, defaults, nonfinite=nonfinite, max_grad_norm=max_grad_norm, state_dtype=state_dtype, master_weights=master_weights, rounding=rounding, seed=seed)
