"""RMSProp, plain and centered, with optional momentum."""

from __future__ import annotations


from ..core.optimizer import Optimizer
from ..core.params import Params
from ..schedules import ScheduleLike

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSProp: divide the gradient by a running root mean square of recent gradients; ``torch.optim.RMSprop``.

    For each parameter :math:`p` with gradient :math:`g` (negated when ``maximize``):

    .. math::

        g &\leftarrow g + \lambda p \\
        s &= \alpha s + (1 - \alpha) g^2 \\
        a &= \alpha a + (1 - \alpha) g \quad \text{(centered)} \\
        \delta &= \sqrt{s - a^2} + \epsilon \ \text{(centered)}, \qquad \delta = \sqrt{s} + \epsilon \ \text{(otherwise)} \\
        b &= \mu b + g / \delta, \quad p \leftarrow p - \eta b \quad (\mu > 0;\ b_0 = 0),
        \qquad p \leftarrow p - \eta\, g / \delta \quad (\mu = 0)

    Unlike AdaGrad's sum, the exponential average forgets old gradients, so the step does not
    shrink forever. The centered form divides by an estimate of the gradient's standard deviation
    instead of its root mean square.

    Args:
        params: arrays to optimize, a dict of them by name, or a list of param group dicts.
        lr: learning rate :math:`\eta`, >= 0. Default 1e-2.
        alpha: smoothing constant :math:`\alpha`, >= 0. Default 0.99.
        eps: :math:`\epsilon`, >= 0. Default 1e-8.
        weight_decay: L2 penalty :math:`\lambda`, >= 0. Default 0.
        momentum: momentum factor :math:`\mu`, >= 0. Default 0.
        centered: normalise by the estimated variance. Default False.
        maximize: maximize the objective instead of minimizing it. Default False.
        foreach, fused, capturable, differentiable: torch's flags where torch has them: the first two
            are ignored, the last two must be False; see :class:`Optimizer`.
        nonfinite: ``"raise"``, ``"skip"`` or ``"ignore"``; see :class:`Optimizer`.
        max_grad_norm: clip the gradients' global L2 norm to this inside the step; see :class:`Optimizer`.
        state_dtype: how state is kept: None (the parameters' dtype), ``"float32"``, ``"bfloat16"``,
            ``"int8"`` or ``"int4"`` (blockwise 8- or 4-bit); see :class:`Optimizer`.
        master_weights, rounding, seed: for 16-bit parameters: keep float32 master weights, or round
            each update ``"nearest"`` or ``"stochastic"`` (seeded by ``seed``); see :class:`Optimizer`.

    State per parameter: ``square_avg``, and ``momentum_buffer`` (momentum > 0) and ``grad_avg``
    (centered). Memory traffic per parameter per step (float32): 20 bytes (read p, g, s; write p, s),
    plus 8 with momentum and 8 when centered.

    Example:
        >>> import numpy as np, fastoptim as fo
        >>> w = np.zeros(1)
        >>> opt = fo.RMSprop([w], lr=0.01, alpha=0.99)
        >>> opt.step([np.array([2.0])])  # s = 0.01 * 4, so the step is 0.01 * 2 / 0.2
        >>> w.round(6)
        array([-0.1])

    References:
        Tieleman & Hinton, "Lecture 6.5 - RMSProp", COURSERA: Neural Networks for Machine Learning, 2012.
        Graves, "Generating Sequences With Recurrent Neural Networks", 2013 (centered form).
    """

    _rule = "rmsprop"

    def __init__(
        self,
        params: Params,
        lr: ScheduleLike = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: ScheduleLike = 0.0,
        momentum: ScheduleLike = 0.0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        *,
        nonfinite: str = "raise",
        max_grad_norm: float | None = None,
        state_dtype: str | None = None,
        master_weights: bool = True,
        rounding: str = "nearest",
        seed: int = 0,
    ) -> None:
        defaults = dict(
            lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered, maximize=maximize
        )
        super().__init__(
            params, defaults, nonfinite=nonfinite, max_grad_norm=max_grad_norm, state_dtype=state_dtype, master_weights=master_weights, rounding=rounding, seed=seed, capturable=capturable, differentiable=differentiable
        )
