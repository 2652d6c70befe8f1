"""Adam, AMSGrad and AdamW."""

from __future__ import annotations

from typing import Tuple

from ..core.optimizer import Optimizer
from ..core.params import Params
from ..schedules import ScheduleLike

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    r"""Adam with bias correction, optional AMSGrad and L2 or decoupled weight decay; ``torch.optim.Adam``.

    For each parameter :math:`p` with gradient :math:`g` (negated when ``maximize``), at step
    :math:`t = 1, 2, \dots`:

    .. math::

        g &\leftarrow g + \lambda p \qquad \text{(L2 decay; with decoupled decay instead }
              p \leftarrow p (1 - \eta \lambda)\text{)} \\
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1) g \\
        v_t &= \beta_2 v_{t-1} + (1 - \beta_2) g^2 \\
        \hat v_t &= \max(\hat v_{t-1}, v_t) \ \text{(amsgrad)}, \qquad \hat v_t = v_t \ \text{(otherwise)} \\
        p &\leftarrow p - \frac{\eta}{1 - \beta_1^t} \,
              \frac{m_t}{\sqrt{\hat v_t} / \sqrt{1 - \beta_2^t} + \epsilon}

    As in torch, :math:`\epsilon` is added after the bias-corrected square root (the paper adds it to
    :math:`\sqrt{\hat v_t / (1 - \beta_2^t)}`, which is the same thing). Bias corrections are computed
    once per step in float64.

    Args:
        params: arrays to optimize, a dict of them by name, or a list of param group dicts.
        lr: learning rate :math:`\eta`, >= 0. Default 1e-3.
        betas: :math:`(\beta_1, \beta_2)`, each in [0, 1). Default (0.9, 0.999).
        eps: :math:`\epsilon`, >= 0. Default 1e-8.
        weight_decay: :math:`\lambda`, >= 0. Default 0.
        amsgrad: keep the running maximum of :math:`v` (Reddi et al.). Default False.
        maximize: maximize the objective instead of minimizing it. Default False.
        decoupled_weight_decay: decay the weights directly (AdamW) instead of adding
            :math:`\lambda p` to the gradient. Default False.
        foreach, fused, capturable, differentiable: torch's flags where torch has them: the first two
            are ignored, the last two must be False; see :class:`Optimizer`.
        nonfinite: ``"raise"``, ``"skip"`` or ``"ignore"``; see :class:`Optimizer`.
        max_grad_norm: clip the gradients' global L2 norm to this inside the step; see :class:`Optimizer`.
        state_dtype: how state is kept: None (the parameters' dtype), ``"float32"``, ``"bfloat16"``,
            ``"int8"`` or ``"int4"`` (blockwise 8- or 4-bit); see :class:`Optimizer`.
        master_weights, rounding, seed: for 16-bit parameters: keep float32 master weights, or round
            each update ``"nearest"`` or ``"stochastic"`` (seeded by ``seed``); see :class:`Optimizer`.

    State per parameter: ``exp_avg`` (m), ``exp_avg_sq`` (v) and, with amsgrad, ``max_exp_avg_sq``.
    Memory traffic per parameter per step (float32): 28 bytes (read p, g, m, v; write p, m, v),
    36 with amsgrad, in one pass; the finiteness check reads g once more.

    Example:
        >>> import numpy as np, fastoptim as fo
        >>> w = np.zeros(2, np.float32)
        >>> opt = fo.Adam([w], lr=0.1)
        >>> opt.step([np.array([1.0, -1.0], np.float32)])
        >>> w.round(4)  # the first step moves each weight by about lr
        array([-0.1,  0.1], dtype=float32)

    References:
        Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015.
        Reddi, Kale & Kumar, "On the Convergence of Adam and Beyond", ICLR 2018 (AMSGrad).
    """

    _rule = "adam"
    _decoupled = False

    def __init__(
        self,
        params: Params,
        lr: ScheduleLike = 1e-3,
        betas: Tuple[ScheduleLike, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: ScheduleLike = 0.0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
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
            amsgrad=amsgrad,
            maximize=maximize,
            decoupled_weight_decay=decoupled_weight_decay or self._decoupled,
        )
        super().__init__(
            params, defaults, nonfinite=nonfinite, max_grad_norm=max_grad_norm, state_dtype=state_dtype, master_weights=master_weights, rounding=rounding, seed=seed, capturable=capturable, differentiable=differentiable
        )

class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter); ``torch.optim.AdamW``.

    The same update as :class:`Adam` with ``decoupled_weight_decay=True``: the weights shrink by
    :math:`p \leftarrow p (1 - \eta \lambda)` before the Adam step, instead of :math:`\lambda p` being
    added to the gradient, so the decay is not rescaled by :math:`1/\sqrt{\hat v}`. The default
    weight decay is 1e-2. Memory traffic as Adam: 28 bytes per float32 parameter per step.

    Example:
        >>> import numpy as np, fastoptim as fo
        >>> w = np.ones(4, np.float32)
        >>> opt = fo.AdamW({"w": w}, lr=1e-3, weight_decay=0.01)
        >>> opt.step({"w": np.zeros(4, np.float32)})  # a zero gradient: only the decay acts
        >>> float(w[0])
        0.9999899864196777

    References:
        Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.
    """

    _decoupled = True

    def __init__(
        self,
        params: Params,
        lr: ScheduleLike = 1e-3,
        betas: Tuple[ScheduleLike, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: ScheduleLike = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        nonfinite: str = "raise",
        max_grad_norm: float | None = None,
        state_dtype: str | None = None,
        master_weights: bool = True,
        rounding: str = "nearest",
        seed: int = 0,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            nonfinite=nonfinite,
            max_grad_norm=max_grad_norm, state_dtype=state_dtype, master_weights=master_weights, rounding=rounding, seed=seed,
        )
