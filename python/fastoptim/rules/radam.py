"""RAdam: rectified Adam."""

from __future__ import annotations

from typing import Tuple

from ..core.optimizer import Optimizer
from ..core.params import Params
from ..schedules import ScheduleLike

__all__ = ["RAdam"]


class RAdam(Optimizer):
    r"""RAdam: Adam with its adaptive step rectified while the variance estimate is young; ``torch.optim.RAdam``.

    For each parameter :math:`p` with gradient :math:`g` (negated when ``maximize``), at step
    :math:`t = 1, 2, \dots`:

    .. math::

        g &\leftarrow g + \lambda p \quad\text{(or, decoupled, } p \leftarrow p(1 - \eta\lambda)\text{)} \\
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1) g, \qquad v_t = \beta_2 v_{t-1} + (1 - \beta_2) g^2 \\
        \rho_\infty &= \frac{2}{1 - \beta_2} - 1, \qquad
        \rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1 - \beta_2^t} \\
        r_t &= \sqrt{\frac{(\rho_t - 4)(\rho_t - 2)\rho_\infty}{(\rho_\infty - 4)(\rho_\infty - 2)\rho_t}} \\
        p &\leftarrow p - \frac{\eta\, r_t \sqrt{1 - \beta_2^t}}{1 - \beta_1^t} \frac{m_t}{\sqrt{v_t} + \epsilon}
              \quad (\rho_t > 5), \qquad
        p \leftarrow p - \frac{\eta}{1 - \beta_1^t} m_t \quad \text{(otherwise)}

    While :math:`\rho_t \le 5` (the first few steps with the default :math:`\beta_2`) the variance of
    the adaptive rate is unbounded, so RAdam takes plain momentum steps: a built-in warm-up.

    Args:
        params: arrays to optimize, a dict of them by name, or a list of param group dicts.
        lr: learning rate :math:`\eta`, >= 0. Default 1e-3.
        betas: :math:`(\beta_1, \beta_2)`, each in [0, 1). Default (0.9, 0.999).
        eps: :math:`\epsilon`, >= 0. Default 1e-8.
        weight_decay: :math:`\lambda`, >= 0. Default 0.
        decoupled_weight_decay: decay the weights directly, as AdamW does. Default False.
        maximize: maximize the objective instead of minimizing it. Default False.
        foreach, fused, capturable, differentiable: torch's flags where torch has them: the first two
            are ignored, the last two must be False; see :class:`Optimizer`.
        nonfinite: ``"raise"``, ``"skip"`` or ``"ignore"``; see :class:`Optimizer`.
        max_grad_norm: clip the gradients' global L2 norm to this inside the step; see :class:`Optimizer`.
        state_dtype: how state is kept: None (the parameters' dtype), ``"float32"``, ``"bfloat16"``,
            ``"int8"`` or ``"int4"`` (blockwise 8- or 4-bit); see :class:`Optimizer`.
        master_weights, rounding, seed: for 16-bit parameters: keep float32 master weights, or round
            each update ``"nearest"`` or ``"stochastic"`` (seeded by ``seed``); see :class:`Optimizer`.

    State per parameter: ``exp_avg``, ``exp_avg_sq``. Memory traffic per parameter per step
    (float32): 28 bytes (read p, g, m, v; write p, m, v).

    Example:
        >>> import numpy as np, fastoptim as fo
        >>> w = np.zeros(1)
        >>> opt = fo.RAdam([w], lr=0.1)
        >>> opt.step([np.array([3.0])])  # step 1 is not rectified: p -= lr * m / (1 - beta1)
        >>> w.round(6)
        array([-0.3])

    References:
        Liu et al., "On the Variance of the Adaptive Learning Rate and Beyond", ICLR 2020.
    """

    _rule = "radam"

    def __init__(
        self,
        params: Params,
        lr: ScheduleLike = 1e-3,
        betas: Tuple[ScheduleLike, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: ScheduleLike = 0.0,
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
            decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize,
        )
        super().__init__(
            params, defaults, nonfinite=nonfinite, max_grad_norm=max_grad_norm, state_dtype=state_dtype, master_weights=master_weights, rounding=rounding, seed=seed, capturable=capturable, differentiable=differentiable
        )
