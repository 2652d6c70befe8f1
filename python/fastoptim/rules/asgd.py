"""ASGD."""

from __future__ import annotations

from ..core.optimizer import Optimizer
from ..core.params import Params
from ..schedules import ScheduleLike

__all__ = ["ASGD"]


class ASGD(Optimizer):
    r"""Averaged stochastic gradient descent: SGD with a slowly decaying step, and the running
    average of its iterates; ``torch.optim.ASGD``.

    For each parameter :math:`p` with gradient :math:`g` (negated when ``maximize``), at step
    :math:`t = 1, 2, \dots`, with the parameter's step size :math:`\eta_t` (:math:`\eta_1` = lr) and
    averaging weight :math:`\mu_t` (:math:`\mu_1 = 1`):

    .. math::

        g &\leftarrow g + \lambda_{wd} \, p \\
        p &\leftarrow p \, (1 - \lambda \eta_t) - \eta_t \, g \\
        \bar p &\leftarrow \bar p + \mu_t (p - \bar p) \\
        \eta_{t+1} &= \frac{\text{lr}}{(1 + \lambda \, \text{lr} \, t)^{\alpha}}, \qquad
        \mu_{t+1} = \frac{1}{\max(1, t - t_0)}

    Until step :math:`t_0` the average :math:`\bar p` (``ax`` in the state) just follows :math:`p`;
    after it, it averages the iterates from there on (Polyak-Ruppert averaging), which cancels much
    of SGD's noise: evaluate the model with ``ax``. :math:`\eta_t` and :math:`\mu_t` are kept per
    parameter in float64 (torch keeps them as float32 scalars).

    Args:
        params: arrays to optimize, a dict of them by name, or a list of param group dicts.
        lr: learning rate, >= 0. Default 1e-2.
        lambd: decay term :math:`\lambda`, >= 0. Default 1e-4.
        alpha: power :math:`\alpha` of the step size's decay, >= 0. Default 0.75.
        t0: the step :math:`t_0` at which averaging starts, >= 0. Default 1e6.
        weight_decay: L2 penalty :math:`\lambda_{wd}`, >= 0. Default 0.
        maximize: maximize the objective instead of minimizing it. Default False.
        foreach, capturable, differentiable: torch's flags: the first is ignored, the last two must be
            False; see :class:`Optimizer`.
        nonfinite: ``"raise"``, ``"skip"`` or ``"ignore"``; see :class:`Optimizer`.
        max_grad_norm: clip the gradients' global L2 norm to this inside the step; see :class:`Optimizer`.
        state_dtype: how state is kept: None (the parameters' dtype), ``"float32"``, ``"bfloat16"``,
            ``"int8"`` or ``"int4"`` (blockwise 8- or 4-bit); see :class:`Optimizer`.
        master_weights, rounding, seed: for 16-bit parameters: keep float32 master weights, or round
            each update ``"nearest"`` or ``"stochastic"`` (seeded by ``seed``); see :class:`Optimizer`.

    State per parameter: ``ax`` (:math:`\bar p`), and the scalars ``eta`` and ``mu``. Memory traffic
    per parameter per step (float32): 20 bytes (read p, g, ax; write p, ax).

    Example:
        >>> import numpy as np, fastoptim as fo
        >>> w = np.zeros(2)
        >>> opt = fo.ASGD([w], lr=0.1, lambd=0.0, t0=0)  # lambd 0: a constant step
        >>> for g in ([1.0, 1.0], [-1.0, 1.0], [1.0, -1.0]):
        ...     opt.step([np.array(g)])
        >>> w.round(6), opt.state_dict()["state"][0]["ax"].round(6)  # ax: the mean of the last two iterates
        (array([-0.1, -0.1]), array([-0.05, -0.15]))

    References:
        Polyak & Juditsky, "Acceleration of Stochastic Approximation by Averaging", SIAM J. Control
        and Optimization 30(4), 1992.
        Bottou, "Stochastic Gradient Descent Tricks", Neural Networks: Tricks of the Trade, 2012.
    """

    _rule = "asgd"

    def __init__(
        self,
        params: Params,
        lr: ScheduleLike = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: ScheduleLike = 0.0,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
        *,
        nonfinite: str = "raise",
        max_grad_norm: float | None = None,
        state_dtype: str | None = None,
        master_weights: bool = True,
        rounding: str = "nearest",
        seed: int = 0,
    ) -> None:
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, maximize=maximize)
        super().__init__(
            params, defaults, nonfinite=nonfinite, max_grad_norm=max_grad_norm, state_dtype=state_dtype, master_weights=master_weights, rounding=rounding, seed=seed, capturable=capturable, differentiable=differentiable
        )
