"""LAMB: layer-wise adaptive moments for large batches."""

from __future__ import annotations

from typing import Tuple

from ..core.optimizer import Optimizer
from ..core.params import Params
from ..schedules import ScheduleLike

__all__ = ["LAMB"]


class LAMB(Optimizer):
    r"""LAMB: Adam's direction, rescaled per tensor by a trust ratio; the optimizer that trained BERT in 76 minutes.

    For each parameter tensor :math:`p` with gradient :math:`g` (negated when ``maximize``), at step
    :math:`t = 1, 2, \dots`:

    .. math::

        m_t &= \beta_1 m_{t-1} + (1 - \beta_1) g, \qquad v_t = \beta_2 v_{t-1} + (1 - \beta_2) g^2 \\
        r &= \frac{m_t / (1 - \beta_1^t)}{\sqrt{v_t / (1 - \beta_2^t)} + \epsilon} + \lambda p \\
        \phi &= \frac{\lVert p \rVert}{\lVert r \rVert} \ \text{(1 when either norm is 0)} \\
        p &\leftarrow p - \eta\, \phi\, r

    The trust ratio :math:`\phi` makes each layer's step a fixed fraction :math:`\eta` of its
    weights' norm, whatever the scale of its gradients, which keeps very large batches stable.

    The norms are per tensor, so a step makes two passes, both in one compiled call and parallel
    across tensors: the first updates m and v and sums :math:`p^2` and :math:`r^2`; the second
    updates p. The sums use fixed lanes, so results are the same on every SIMD tier and thread count.

    Args:
        params: arrays to optimize, a dict of them by name, or a list of param group dicts.
        lr: learning rate :math:`\eta`, >= 0. Default 1e-3.
        betas: :math:`(\beta_1, \beta_2)`, each in [0, 1). Default (0.9, 0.999).
        eps: :math:`\epsilon`, >= 0. Default 1e-6.
        weight_decay: decoupled weight decay :math:`\lambda` inside the trust ratio, >= 0. Default 0.
        maximize: maximize the objective instead of minimizing it. Default False.
        nonfinite: ``"raise"``, ``"skip"`` or ``"ignore"``; see :class:`Optimizer`.
        max_grad_norm: clip the gradients' global L2 norm to this inside the step; see :class:`Optimizer`.
        state_dtype: how state is kept: None (the parameters' dtype), ``"float32"``, ``"bfloat16"``,
            ``"int8"`` or ``"int4"`` (blockwise 8- or 4-bit); see :class:`Optimizer`.
        master_weights, rounding, seed: for 16-bit parameters: keep float32 master weights, or round
            each update ``"nearest"`` or ``"stochastic"`` (seeded by ``seed``); see :class:`Optimizer`.

    State per parameter: ``exp_avg``, ``exp_avg_sq``. Memory traffic per parameter per step
    (float32): 40 bytes = 24 (read p, g, m, v; write m, v) + 16 (read p, m, v; write p).

    Example:
        >>> import numpy as np, fastoptim as fo
        >>> w = np.full(4, 2.0)
        >>> opt = fo.LAMB([w], lr=0.1)
        >>> opt.step([np.array([1.0, -1.0, 1.0, -1.0])])
        >>> round(float(np.linalg.norm(w - 2.0) / np.linalg.norm(np.full(4, 2.0))), 6)  # the step is lr * ||w||
        0.1

    References:
        You et al., "Large Batch Optimization for Deep Learning: Training BERT in 76 minutes", ICLR 2020.
    """

    _rule = "lamb"

    def __init__(
        self,
        params: Params,
        lr: ScheduleLike = 1e-3,
        betas: Tuple[ScheduleLike, float] = (0.9, 0.999),
        eps: float = 1e-6,
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
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults, nonfinite=nonfinite, max_grad_norm=max_grad_norm, state_dtype=state_dtype, master_weights=master_weights, rounding=rounding, seed=seed)
