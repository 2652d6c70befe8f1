"""Optimizers for row-sparse gradients (embedding tables): SparseAdam and RowWiseAdagrad.

A row-sparse gradient is :class:`RowSparse`: row ``indices`` of a parameter have the gradients
``values``, every other row's is zero. SGD (without momentum or weight decay), Adagrad (without
weight decay), SparseAdam and RowWiseAdagrad take one wherever a dense gradient would go, and
update only the given rows, in one parallel pass over them.
"""

from __future__ import annotations

from typing import Tuple

from .._core import RowSparse
from ..core.optimizer import Optimizer
from ..core.params import Params
from ..schedules import ScheduleLike

__all__ = ["RowSparse", "RowWiseAdagrad", "SparseAdam"]


class SparseAdam(Optimizer):
    r"""Adam with lazy moments, for row-sparse gradients; ``torch.optim.SparseAdam``.

    For each row present in a parameter's gradient :math:`g` (negated when ``maximize``), at the
    parameter's step :math:`t = 1, 2, \dots` (steps that give it a gradient):

    .. math::

        m &\leftarrow m + (1 - \beta_1)(g - m), \qquad v \leftarrow v + (1 - \beta_2)(g^2 - v) \\
        p &\leftarrow p - \eta \, \frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t} \, \frac{m}{\sqrt{v} + \epsilon}

    The rows absent from the gradient keep their moments as they are (not decayed) and their
    values: the update is lazy, and its cost is that of the rows given. A dense gradient gives every
    row (it is then Adam). Unlike torch's, which takes sparse gradients only, it takes both.

    Args:
        params: arrays to optimize, a dict of them by name, or a list of param group dicts.
        lr: learning rate :math:`\eta`, > 0. Default 1e-3.
        betas: :math:`(\beta_1, \beta_2)`, each in [0, 1). Default (0.9, 0.999).
        eps: :math:`\epsilon`, > 0. Default 1e-8.
        maximize: maximize the objective instead of minimizing it. Default False.
        nonfinite: ``"raise"``, ``"skip"`` or ``"ignore"``; see :class:`Optimizer`.
        max_grad_norm: clip the gradients' global L2 norm to this inside the step; see :class:`Optimizer`.
        state_dtype: how state is kept: None (the parameters' dtype), ``"float32"``, ``"bfloat16"``,
            ``"int8"`` or ``"int4"`` (blockwise 8- or 4-bit); see :class:`Optimizer`.
        master_weights, rounding, seed: for 16-bit parameters: keep float32 master weights, or round
            each update ``"nearest"`` or ``"stochastic"`` (seeded by ``seed``); see :class:`Optimizer`.

    State per parameter: ``exp_avg`` and ``exp_avg_sq``, shaped as the parameter. Memory traffic per
    given element per step (float32): 28 bytes (read p, g, m, v; write p, m, v).

    Example:
        >>> import numpy as np, fastoptim as fo
        >>> table = np.zeros((1000, 4), np.float32)
        >>> opt = fo.SparseAdam([table], lr=0.1)
        >>> opt.step([fo.RowSparse(np.array([7]), np.ones((1, 4), np.float32))])
        >>> table[7].round(6), int(np.count_nonzero(table))  # Adam's first step: about lr * sign(g), row 7 only
        (array([-0.1, -0.1, -0.1, -0.1], dtype=float32), 4)

    References:
        Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015; torch.optim.SparseAdam.
    """

    _rule = "sparse_adam"

    def __init__(
        self,
        params: Params,
        lr: ScheduleLike = 1e-3,
        betas: Tuple[float, float] = (0.9, 0.999),
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
        defaults = dict(lr=lr, betas=betas, eps=eps, maximize=maximize)
        super().__init__(params, defaults, nonfinite=nonfinite, max_grad_norm=max_grad_norm, state_dtype=state_dtype, master_weights=master_weights, rounding=rounding, seed=seed)


class RowWiseAdagrad(Optimizer):
    r"""AdaGrad with one accumulator per row, for embedding tables; FBGEMM's and TorchRec's
    ``rowwise_adagrad``.

    A row is an index of a parameter's first dimension (a vector's rows are its elements). For each
    row :math:`r` with gradient :math:`g_r` (negated when ``maximize``), at step :math:`t`:

    .. math::

        g_r &\leftarrow g_r + \lambda p_r \\
        s_r &\leftarrow s_r + \operatorname{mean}(g_r^2), \qquad s_0 = \text{initial\_accumulator\_value} \\
        p_r &\leftarrow p_r - \frac{\eta}{1 + (t - 1)\,\text{lr\_decay}} \, \frac{g_r}{\sqrt{s_r} + \epsilon}

    One number per row instead of one per element: a 1M x 64 float32 table keeps 4 MB of state
    instead of 256 MB. With a :class:`RowSparse` gradient only the given rows move (the weight decay
    too, as FBGEMM's L2 mode does).

    Args:
        params: arrays to optimize, a dict of them by name, or a list of param group dicts.
        lr: learning rate :math:`\eta`, >= 0. Default 1e-2.
        lr_decay: learning-rate decay per step, >= 0. Default 0.
        weight_decay: L2 penalty :math:`\lambda`, >= 0. Default 0.
        initial_accumulator_value: the value :math:`s_0` each row's sum starts at, >= 0. Default 0.
        eps: :math:`\epsilon`, >= 0. Default 1e-10.
        maximize: maximize the objective instead of minimizing it. Default False.
        nonfinite: ``"raise"``, ``"skip"`` or ``"ignore"``; see :class:`Optimizer`.
        max_grad_norm: clip the gradients' global L2 norm to this inside the step; see :class:`Optimizer`.

    State per parameter: ``sum``, of shape ``(rows,)``. Memory traffic per parameter per step
    (float32): 12 bytes (read p, g; write p), plus the row's sum.

    Example:
        >>> import numpy as np, fastoptim as fo
        >>> table = np.zeros((3, 2))
        >>> opt = fo.RowWiseAdagrad([table], lr=0.5)
        >>> opt.step([fo.RowSparse(np.array([1]), np.array([[3.0, -1.0]]))])
        >>> table[1].round(4), opt.state_dict()["state"][0]["sum"]
        (array([-0.6708,  0.2236]), array([0., 5., 0.]))

    References:
        Duchi, Hazan & Singer, "Adaptive Subgradient Methods", JMLR 2011; FBGEMM's
        ``EmbOptimType.EXACT_ROWWISE_ADAGRAD`` and TorchRec's ``RowWiseAdagrad``.
    """

    _rule = "rowwise_adagrad"

    def __init__(
        self,
        params: Params,
        lr: ScheduleLike = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: ScheduleLike = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
        nonfinite: str = "raise",
        max_grad_norm: float | None = None,
    ) -> None:
        defaults = dict(
            lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, initial_accumulator_value=initial_accumulator_value, eps=eps,
            maximize=maximize,
        )
        super().__init__(params, defaults, nonfinite=nonfinite, max_grad_norm=max_grad_norm)
