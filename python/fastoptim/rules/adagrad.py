"""AdaGrad, including the averaged form taught alongside adaptive learning rates."""

from __future__ import annotations


from ..core.optimizer import Optimizer
from ..core.params import Params
from ..schedules import ScheduleLike

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""AdaGrad: a per-coordinate learning rate from the history of squared gradients; ``torch.optim.Adagrad``.

    For each parameter :math:`p` with gradient :math:`g` (negated when ``maximize``), at step
    :math:`t = 1, 2, \dots`:

    .. math::

        g &\leftarrow g + \lambda p \\
        s_t &= s_{t-1} + g^2, \qquad s_0 = \text{initial\_accumulator\_value} \\
        \sigma_t &= \sqrt{s_t} \quad\text{or, with } \texttt{average=True},\quad \sigma_t = \sqrt{s_t / t} \\
        p &\leftarrow p - \frac{\eta}{1 + (t - 1)\,\text{lr\_decay}} \, \frac{g}{\sigma_t + \epsilon}

    ``average=True`` is the form in many lecture notes: :math:`\sigma_t` is the root *mean* square
    of past gradients. With a constant learning rate its steps do not shrink as
    :math:`1/\sqrt{t}`, so where gradients fade late in training the effective step
    :math:`\eta / \sigma_t` grows and the iterate bursts away. With ``lr = eta / sqrt(t + 1)``
    (``fastoptim.schedules.inverse_sqrt``) it is ordinary AdaGrad again, up to a constant.

    Args:
        params: arrays to optimize, a dict of them by name, or a list of param group dicts.
        lr: learning rate :math:`\eta`, >= 0. Default 1e-2.
        lr_decay: learning-rate decay per step, >= 0. Default 0.
        weight_decay: L2 penalty :math:`\lambda`, >= 0. Default 0.
        initial_accumulator_value: the value :math:`s_0` the sum starts at, >= 0. Default 0.
        eps: :math:`\epsilon`, >= 0. Default 1e-10.
        maximize: maximize the objective instead of minimizing it. Default False.
        average: use the root mean square :math:`\sqrt{s_t/t}`. Default False.
        foreach, fused, capturable, differentiable: torch's flags where torch has them: the first two
            are ignored, the last two must be False; see :class:`Optimizer`.
        nonfinite: ``"raise"``, ``"skip"`` or ``"ignore"``; see :class:`Optimizer`.
        max_grad_norm: clip the gradients' global L2 norm to this inside the step; see :class:`Optimizer`.
        state_dtype: how state is kept: None (the parameters' dtype), ``"float32"``, ``"bfloat16"``,
            ``"int8"`` or ``"int4"`` (blockwise 8- or 4-bit); see :class:`Optimizer`.
        master_weights, rounding, seed: for 16-bit parameters: keep float32 master weights, or round
            each update ``"nearest"`` or ``"stochastic"`` (seeded by ``seed``); see :class:`Optimizer`.

    State per parameter: ``sum``. Memory traffic per parameter per step (float32): 20 bytes
    (read p, g, s; write p, s).

    Example:
        >>> import numpy as np, fastoptim as fo
        >>> w = np.zeros(2)
        >>> opt = fo.Adagrad([w], lr=0.5)
        >>> opt.step([np.array([3.0, -0.1])])  # the first step is lr * sign(g), whatever |g|
        >>> w.round(6)
        array([-0.5,  0.5])

    References:
        Duchi, Hazan & Singer, "Adaptive Subgradient Methods for Online Learning and Stochastic
        Optimization", JMLR 2011.
    """

    _rule = "adagrad"

    def __init__(
        self,
        params: Params,
        lr: ScheduleLike = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: ScheduleLike = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        average: bool = False,
        nonfinite: str = "raise",
        max_grad_norm: float | None = None,
        state_dtype: str | None = None,
        master_weights: bool = True,
        rounding: str = "nearest",
        seed: int = 0,
    ) -> None:
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
            maximize=maximize,
            average=average,
        )
        super().__init__(params, defaults, nonfinite=nonfinite, max_grad_norm=max_grad_norm, state_dtype=state_dtype, master_weights=master_weights, rounding=rounding, seed=seed, differentiable=differentiable)
