"""Prodigy: Adam with a step size estimated from the distance travelled."""

from __future__ import annotations

from typing import Tuple

from ..core.optimizer import Optimizer
from ..core.params import Params
from ..schedules import ScheduleLike
from .dadapt import INF, LearningRateFree

__all__ = ["Prodigy"]


class Prodigy(LearningRateFree, Optimizer):
    r"""Prodigy: Adam whose step size :math:`d` is estimated as it trains, so ``lr`` stays 1.

    For all parameters at once, with :math:`d` the estimate (``d0`` at first), :math:`\eta = d\,
    \mathrm{lr}` (times :math:`\sqrt{1 - \beta_2^t} / (1 - \beta_1^t)` with ``use_bias_correction``)
    and :math:`p_0` each parameter at its first step:

    .. math::

        n &\leftarrow \beta_3 n + \tfrac{d}{d_0} \eta \textstyle\sum \langle g, p_0 - p\rangle \\
        m &\leftarrow \beta_1 m + d (1 - \beta_1) g, \quad v \leftarrow \beta_2 v + d^2 (1 - \beta_2) g^2,
          \quad s \leftarrow \beta_3 s + \tfrac{d}{d_0} \eta g \\
        \hat d &= d_\text{coef}\, n / \textstyle\sum \lVert s \rVert_1, \quad
          d_\text{max} \leftarrow \max(d_\text{max}, \hat d), \quad
          d \leftarrow \min(d_\text{max}, d \cdot \text{growth\_rate}) \\
        p &\leftarrow p - \eta \frac{m}{\sqrt{v} + d \epsilon} \quad (\text{after } p \leftarrow p - \lambda \eta p
          \text{ with decouple})

    (on the first update :math:`d` jumps to :math:`\max(d_0, \hat d)`; :math:`\beta_3` defaults to
    :math:`\sqrt{\beta_2}`; ``safeguard_warmup`` uses :math:`d` for :math:`\eta` in s). The
    estimate is the ratio of how far the parameters have come along the gradients to how large
    those gradients were: it grows quickly while progress is steady and settles near the distance
    to the solution, so no learning rate has to be tuned. The sums run over every parameter of
    every group, so a step makes two passes: the first updates m, v, s and sums, the engine turns
    the totals into the new :math:`d`, the second moves the parameters. Schedules of ``lr`` (the
    paper recommends a cosine decay) multiply the estimated step. All groups share one ``lr``
    (0 freezes a group).

    Args:
        params: arrays to optimize, a dict of them by name, or a list of param group dicts.
        lr: a multiplier of the estimated step, >= 0 (1: as estimated). Default 1.
        betas: :math:`(\beta_1, \beta_2)`, each in [0, 1); :math:`\beta_1 = 0` keeps no m. Default (0.9, 0.999).
        beta3: :math:`\beta_3` in [0, 1), or None for :math:`\sqrt{\beta_2}`. Default None.
        eps: :math:`\epsilon`, > 0 (scaled by d). Default 1e-8.
        weight_decay: :math:`\lambda`, >= 0: AdamW's with ``decouple``, else added to the gradient. Default 0.
        decouple: decoupled weight decay. Default True.
        use_bias_correction: Adam's bias correction in :math:`\eta`. Default False.
        safeguard_warmup: use :math:`d` instead of :math:`\eta` in s (steadier under an lr warm-up). Default False.
        d0: the first estimate, > 0. Default 1e-6.
        d_coef: a multiplier of the estimate, > 0. Default 1.
        growth_rate: the most :math:`d` may grow in one step, > 0. Default inf.
        fsdp_in_use: False only (the sums are global here already).
        slice_p: 1 only (s and p0 are kept in full).
        maximize: maximize the objective instead of minimizing it. Default False.
        nonfinite, max_grad_norm: see :class:`Optimizer`. p0 needs the parameters' precision, so
            state stays in their dtype and 16-bit parameters are refused.

    State per parameter: ``exp_avg`` (unless :math:`\beta_1 = 0`), ``exp_avg_sq``, ``s``, ``p0``,
    and the scalars ``d``, ``d_max``, ``d_numerator`` (the same in every entry; :attr:`d` reads it).
    Memory traffic per parameter per step (float32): 52 bytes = 36 (read p, g, m, v, s, p0; write
    m, v, s) + 16 (read p, m, v; write p).

    Example:
        >>> import numpy as np, fastoptim as fo
        >>> w = np.array([4.0, -2.0])
        >>> opt = fo.Prodigy([w])
        >>> for _ in range(200):
        ...     opt.step([w.copy()])  # f = |w|^2 / 2
        >>> bool(np.abs(w).max() < 0.5), opt.d > 0.1
        (True, True)

    References:
        Mishchenko & Defazio, "Prodigy: An Expeditiously Adaptive Parameter-Free Learner", ICML 2024;
        the ``prodigyopt`` package 1.1, whose update this is.
    """

    _rule = "prodigy"

    def __init__(
        self,
        params: Params,
        lr: ScheduleLike = 1.0,
        betas: Tuple[float, float] = (0.9, 0.999),
        beta3: float | None = None,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decouple: bool = True,
        use_bias_correction: bool = False,
        safeguard_warmup: bool = False,
        d0: float = 1e-6,
        d_coef: float = 1.0,
        growth_rate: float = INF,
        fsdp_in_use: bool = False,
        slice_p: int = 1,
        *,
        maximize: bool = False,
        nonfinite: str = "raise",
        max_grad_norm: float | None = None,
    ) -> None:
        defaults = dict(lr=lr, betas=betas, beta3=beta3, eps=eps, weight_decay=weight_decay, decouple=decouple,
                        use_bias_correction=use_bias_correction, safeguard_warmup=safeguard_warmup, d0=d0, d_coef=d_coef,
                        growth_rate=growth_rate, fsdp_in_use=fsdp_in_use, slice_p=slice_p, maximize=maximize)
        super().__init__(params, defaults, nonfinite=nonfinite, max_grad_norm=max_grad_norm)
