"""Adafactor."""

from __future__ import annotations

from typing import Tuple

from ..core.optimizer import Optimizer
from ..core.params import Params
from ..schedules import ScheduleLike

__all__ = ["Adafactor"]


class Adafactor(Optimizer):
    r"""Adafactor: Adam-like steps whose second moment of a matrix is kept as one statistic per row
    and one per column; ``torch.optim.Adafactor``.

    For a parameter :math:`p` of :math:`n` elements with gradient :math:`g` (negated when
    ``maximize``), at step :math:`t = 1, 2, \dots`, with :math:`w_t = t^{\beta_{2,decay}}` and
    :math:`\epsilon_1` the dtype's machine epsilon when None:

    .. math::

        \alpha &= \max\big(\epsilon_2, \lVert p \rVert / \sqrt{n}\big) \min(\mathrm{lr}, 1/\sqrt{t}) \\
        p &\leftarrow p \, (1 - \mathrm{lr} \cdot \lambda) \\
        R &\leftarrow \operatorname{lerp}(R, \operatorname{mean}_{cols} g^2, w_t), \quad
        C \leftarrow \operatorname{lerp}(C, \operatorname{mean}_{rows} g^2, w_t) \\
        v &= R \, C^\top / \max(\operatorname{mean}(R), \epsilon_1) \\
        u &= g / \sqrt{\max(v, \epsilon_1^2)} \\
        p &\leftarrow p - \frac{\alpha}{\max(1, \lVert u \rVert / (\sqrt{n} \, d))} \, u

    For a parameter of 2 or more dimensions, :math:`R` and :math:`C` are the row and column
    statistics of its last two dimensions (any before them are a batch of matrices): the state is
    rows + cols numbers per matrix instead of rows x cols. A vector or scalar keeps the full
    ``variance`` :math:`v \leftarrow \operatorname{lerp}(v, g^2, w_t)` instead. :math:`w_1 = 1`, so no
    bias correction is needed; the relative step :math:`\alpha` scales with the parameter's RMS, and
    the update's RMS is clipped to :math:`d`.

    Args:
        params: arrays to optimize, a dict of them by name, or a list of param group dicts.
        lr: the largest relative step, >= 0. Default 1e-2.
        beta2_decay: the exponent of :math:`w_t`, <= 0. Default -0.8.
        eps: :math:`(\epsilon_1, \epsilon_2)`: the floor of the second moment's root (None: the
            parameter dtype's machine epsilon) and of the parameter's RMS. Default (None, 1e-3).
        d: the clipping threshold on the update's RMS, >= 1. Default 1.0.
        weight_decay: decoupled weight decay :math:`\lambda`, >= 0. Default 0.0.
        maximize: maximize the objective instead of minimizing it. Default False.
        foreach: torch's flag, ignored; see :class:`Optimizer`.
        nonfinite: ``"raise"``, ``"skip"`` or ``"ignore"``; see :class:`Optimizer`.
        max_grad_norm: clip the gradients' global L2 norm to this inside the step; see :class:`Optimizer`.

    State per parameter: ``row_var`` (the shape with its last extent 1) and ``col_var`` (its
    second-last extent 1) for 2 or more dimensions, else ``variance`` (the parameter's shape). The
    norms need the whole tensor, so the threads share out whole tensors, not chunks. Memory traffic
    per parameter per step (float32, a matrix): 24 bytes (read p and g twice and g once more; write
    p), plus the O(rows + cols) statistics.

    Example:
        >>> import numpy as np, fastoptim as fo
        >>> w = np.ones((2, 3))
        >>> opt = fo.Adafactor([w], lr=0.1)
        >>> opt.step([np.ones((2, 3))])
        >>> [a.shape for a in opt.state_dict()["state"][0].values() if hasattr(a, "shape")]
        [(2, 1), (1, 3)]

    References:
        Shazeer & Stern, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost", ICML 2018.
    """

    _rule = "adafactor"

    def __init__(
        self,
        params: Params,
        lr: ScheduleLike = 1e-2,
        beta2_decay: float = -0.8,
        eps: Tuple[float | None, float] = (None, 1e-3),
        d: float = 1.0,
        weight_decay: ScheduleLike = 0.0,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        nonfinite: str = "raise",
        max_grad_norm: float | None = None,
    ) -> None:
        defaults = dict(lr=lr, beta2_decay=beta2_decay, eps=eps, d=d, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults, nonfinite=nonfinite, max_grad_norm=max_grad_norm)
