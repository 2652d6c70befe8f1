"""D-Adaptation: SGD, Adam and AdaGrad that estimate their own step size."""

from __future__ import annotations

from typing import Any, Dict, Tuple

from ..core.optimizer import Optimizer
from ..core.params import Params
from ..schedules import ScheduleLike

__all__ = ["DAdaptAdaGrad", "DAdaptAdam", "DAdaptSGD"]

INF = float("inf")


class LearningRateFree:
    """What the learning-rate-free optimizers (Prodigy, D-Adaptation) share, for both APIs (the NumPy
    classes and their ``fastoptim.torch`` twins): the estimate ``d`` and the peers' options that do
    not apply here, refused by name."""

    defaults: Dict[str, Any]
    param_groups: Any
    _engine: Any

    def add_param_group(self, param_group: Dict[str, Any]) -> None:
        """The optimizer's own, after refusing ``fsdp_in_use=True`` (the sums are global already:
        :class:`fastoptim.distributed.ZeroOptimizer` adds them over the processes), ``slice_p`` other
        than 1 and ``log_every`` other than 0 (read :attr:`d` instead)."""
        group = {**self.defaults, **param_group}
        index = len(self.param_groups)
        if group.get("fsdp_in_use", False):
            raise ValueError(
                f"param group {index}: fsdp_in_use=True is for torch FSDP; fastoptim sums d's statistics over all "
                "parameters itself, and over processes under fastoptim.distributed.ZeroOptimizer"
            )
        if group.get("slice_p", 1) != 1:
            raise ValueError(f"param group {index}: slice_p={group['slice_p']!r} is not supported: s and p0 are kept in full (slice_p=1)")
        if group.get("log_every", 0) != 0:
            raise ValueError(f"param group {index}: log_every={group['log_every']!r} is not supported: read the optimizer's d instead")
        super().add_param_group(param_group)  # type: ignore[misc]

    @property
    def d(self) -> float:
        """The current estimate of the step size :math:`d` (``d0`` before the first step): one number
        for every parameter group."""
        with self._engine.hold():
            for entries in self._engine.snapshot(copy=False):
                for entry in entries:
                    if entry is not None and entry[1]["d"] > 0:
                        return float(entry[1]["d"])
        return float(self.param_groups[0]["d0"])


class DAdaptAdam(LearningRateFree, Optimizer):
    r"""D-Adapt Adam: Adam whose step size is estimated as it trains, so ``lr`` stays 1.

    For all parameters at once, with :math:`d` the estimate (``d0`` at first), :math:`\eta = d\,
    \mathrm{lr}` (times Adam's bias correction with ``use_bias_correction``), :math:`r` the group's
    ``layer_scale`` and :math:`\beta = \sqrt{\beta_2}`:

    .. math::

        n &\leftarrow \beta n + (1 - \beta)\, r \eta \textstyle\sum \langle g, s / (\sqrt{v} + \epsilon)\rangle \\
        m &\leftarrow \beta_1 m + r \eta (1 - \beta_1) g, \quad v \leftarrow \beta_2 v + (1 - \beta_2) g^2,
          \quad s \leftarrow \beta s + \eta (1 - \beta) g \\
        d &\leftarrow \max\bigl(d, \min(n / ((1 - \beta) \textstyle\sum r \lVert s \rVert_1), d \cdot \text{growth\_rate})\bigr) \\
        p &\leftarrow p - \frac{m}{\sqrt{v} + \epsilon} \quad (\text{after } p \leftarrow p - \lambda \eta p \text{ with decouple})

    The sums run over every parameter of every group, so a step makes two passes: the first
    updates the state and sums, the engine turns the totals into the new :math:`d`, the second
    moves the parameters. :math:`d` is a lower bound on the distance to the solution that only
    grows; it starts tiny (``d0``) and catches up within the first hundred steps or so.
    Schedules of ``lr`` (a warm-up, a cosine decay) multiply the estimated step, as in the paper.
    All groups share one ``lr`` (0 freezes a group).

    Args:
        params: arrays to optimize, a dict of them by name, or a list of param group dicts.
        lr: a multiplier of the estimated step, >= 0 (1: as estimated). Default 1.
        betas: :math:`(\beta_1, \beta_2)`, each in [0, 1). Default (0.9, 0.999).
        eps: :math:`\epsilon`, > 0. Default 1e-8.
        weight_decay: :math:`\lambda`, >= 0: added to the gradient, or with ``decouple`` AdamW's. Default 0.
        log_every: 0 only (dadaptation's logging; read :attr:`d`).
        decouple: decoupled (AdamW-style) weight decay. Default False.
        use_bias_correction: Adam's bias correction in :math:`\eta`. Default False.
        d0: the first estimate, > 0. Default 1e-6.
        growth_rate: the most :math:`d` may grow in one step, > 0. Default inf.
        fsdp_in_use: False only (the sums are global here already).
        maximize: maximize the objective instead of minimizing it. Default False.
        nonfinite, max_grad_norm, state_dtype, master_weights, rounding, seed: see :class:`Optimizer`
            (``state_dtype`` ``"bfloat16"`` and ``"int8"`` keep m, v and s so).

    A group's ``layer_scale`` (default 1) scales its share of the estimate, as in dadaptation.
    State per parameter: ``exp_avg``, ``exp_avg_sq``, ``s``, and the scalars ``d`` and
    ``numerator_weighted`` (the same in every entry). Memory traffic per parameter per step
    (float32): 48 bytes = 32 (read p, g, m, v, s; write m, v, s) + 16 (read p, m, v; write p).

    Example:
        >>> import numpy as np, fastoptim as fo
        >>> w = np.array([4.0, -2.0])
        >>> opt = fo.DAdaptAdam([w])
        >>> for _ in range(300):
        ...     opt.step([w.copy()])  # f = |w|^2 / 2
        >>> bool(np.abs(w).max() < 0.5), opt.d > 1.0
        (True, True)

    References:
        Defazio & Mishchenko, "Learning-Rate-Free Learning by D-Adaptation", ICML 2023; the
        ``dadaptation`` package 3.2, whose update this is.
    """

    _rule = "dadapt_adam"
    _group_extras: Dict[str, Any] = {"layer_scale": 1.0}

    def __init__(
        self,
        params: Params,
        lr: ScheduleLike = 1.0,
        betas: Tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        log_every: int = 0,
        decouple: bool = False,
        use_bias_correction: bool = False,
        d0: float = 1e-6,
        growth_rate: float = INF,
        fsdp_in_use: bool = False,
        *,
        maximize: bool = False,
        nonfinite: str = "raise",
        max_grad_norm: float | None = None,
        state_dtype: str | None = None,
        master_weights: bool = True,
        rounding: str = "nearest",
        seed: int = 0,
    ) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, log_every=log_every, decouple=decouple,
                        use_bias_correction=use_bias_correction, d0=d0, growth_rate=growth_rate, fsdp_in_use=fsdp_in_use,
                        layer_scale=1.0, maximize=maximize)
        super().__init__(params, defaults, nonfinite=nonfinite, max_grad_norm=max_grad_norm, state_dtype=state_dtype, master_weights=master_weights, rounding=rounding, seed=seed)


class DAdaptSGD(LearningRateFree, Optimizer):
    r"""D-Adapt SGD: SGD (dual averaging) whose step size is estimated as it trains, so ``lr`` stays 1.

    For all parameters at once, with :math:`d` the estimate (``d0`` at first), :math:`g_0` the
    gradients' norm at the first step and :math:`\eta = d\, \mathrm{lr} / \lVert g_0 \rVert`:

    .. math::

        n &\leftarrow n + \eta \textstyle\sum \langle g, s\rangle, \qquad s \leftarrow s + \eta g \\
        d &\leftarrow \max\bigl(d, \min(2 n / \lVert s \rVert, d \cdot \text{growth\_rate})\bigr) \\
        p &\leftarrow \mu p + (1 - \mu)(x_0 - s)

    where :math:`x_0` is the parameter at its first step and :math:`\mu` the momentum. The first
    pass only reads (:math:`\lVert s + \eta g\rVert^2` follows from :math:`\langle g, s\rangle`,
    :math:`\lVert s\rVert^2` and :math:`\lVert g\rVert^2`, since :math:`\eta` needs :math:`g_0`);
    the second writes s and p. All groups share one ``lr`` (0 freezes a group).

    Args:
        params: arrays to optimize, a dict of them by name, or a list of param group dicts.
        lr: a multiplier of the estimated step, >= 0. Default 1.
        momentum: :math:`\mu` in [0, 1). Default 0.
        weight_decay: added to the gradient times the parameter, >= 0. Default 0.
        log_every: 0 only (read :attr:`d`).
        d0: the first estimate, > 0. Default 1e-6.
        growth_rate: the most :math:`d` may grow in one step, > 0. Default inf.
        fsdp_in_use: False only.
        maximize: maximize the objective instead of minimizing it. Default False.
        nonfinite, max_grad_norm: see :class:`Optimizer`.

    State per parameter: ``s``, ``x0`` (dadaptation's ``z`` is :math:`x_0 - s`, computed, not
    kept), and the scalars ``d``, ``numerator_weighted``, ``g0_norm``. Memory traffic per parameter
    per step (float32): 36 bytes = 12 (read p, g, s) + 24 (read p, g, s, x0; write s, p).

    Example:
        >>> import numpy as np, fastoptim as fo
        >>> w = np.array([4.0, -2.0])
        >>> opt = fo.DAdaptSGD([w])
        >>> for _ in range(100):
        ...     opt.step([w.copy()])  # f = |w|^2 / 2
        >>> bool(np.abs(w).max() < 0.1)
        True

    References:
        Defazio & Mishchenko, "Learning-Rate-Free Learning by D-Adaptation", ICML 2023; the
        ``dadaptation`` package 3.2.
    """

    _rule = "dadapt_sgd"

    def __init__(
        self,
        params: Params,
        lr: ScheduleLike = 1.0,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        log_every: int = 0,
        d0: float = 1e-6,
        growth_rate: float = INF,
        fsdp_in_use: bool = False,
        *,
        maximize: bool = False,
        nonfinite: str = "raise",
        max_grad_norm: float | None = None,
    ) -> None:
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, log_every=log_every, d0=d0,
                        growth_rate=growth_rate, fsdp_in_use=fsdp_in_use, maximize=maximize)
        super().__init__(params, defaults, nonfinite=nonfinite, max_grad_norm=max_grad_norm)


class DAdaptAdaGrad(LearningRateFree, Optimizer):
    r"""D-Adapt AdaGrad: AdaGrad (dual averaging) whose step size is estimated as it trains.

    For all parameters at once, with :math:`d` the estimate (``d0`` at first), :math:`\eta = d\,
    \mathrm{lr}` and :math:`a` the running sum of squared gradients (from 1e-6):

    .. math::

        a &\leftarrow a + g^2, \qquad s \leftarrow s + \eta g, \qquad
          \gamma \leftarrow \gamma + \eta^2 \textstyle\sum g^2 / (\sqrt{a} + \epsilon) \\
        d &\leftarrow \max\Bigl(d, \min\Bigl(\frac{\sum s^2 / (\sqrt{a} + \epsilon) - \gamma}{\sum \lvert s\rvert},
          d \cdot \text{growth\_rate}\Bigr)\Bigr) \\
        p &\leftarrow \mu p + (1 - \mu)\bigl(x_0 - s / (\sqrt{a} + \epsilon)\bigr)

    with :math:`x_0` the parameter at its first step and :math:`\mu` the momentum. The sums over
    :math:`s` are kept as running totals, changed by each step's differences, as dadaptation keeps
    them. All groups share one ``lr`` (0 freezes a group).

    Args:
        params: arrays to optimize, a dict of them by name, or a list of param group dicts.
        lr: a multiplier of the estimated step, >= 0. Default 1.
        momentum: :math:`\mu` in [0, 1). Default 0.
        log_every: 0 only (read :attr:`d`).
        weight_decay: added to the gradient times the parameter, >= 0. Default 0.
        eps: :math:`\epsilon`, >= 0. Default 1e-6.
        d0: the first estimate, > 0. Default 1e-6.
        growth_rate: the most :math:`d` may grow in one step, > 0. Default inf.
        maximize: maximize the objective instead of minimizing it. Default False.
        nonfinite, max_grad_norm: see :class:`Optimizer`.

    State per parameter: ``alphak``, ``sk``, ``x0``, and the scalars ``d``, ``gsq_weighted``,
    ``sksq_weighted``, ``skl1``. Dense gradients only. Memory traffic per parameter per step
    (float32): 44 bytes = 24 (read p, g, a, s; write a, s) + 20 (read p, a, s, x0; write p).

    Example:
        >>> import numpy as np, fastoptim as fo
        >>> w = np.array([4.0, -2.0])
        >>> opt = fo.DAdaptAdaGrad([w])
        >>> for _ in range(200):
        ...     opt.step([w.copy()])  # f = |w|^2 / 2
        >>> bool(np.abs(w).max() < 0.5)
        True

    References:
        Defazio & Mishchenko, "Learning-Rate-Free Learning by D-Adaptation", ICML 2023; the
        ``dadaptation`` package 3.2.
    """

    _rule = "dadapt_adagrad"

    def __init__(
        self,
        params: Params,
        lr: ScheduleLike = 1.0,
        momentum: float = 0.0,
        log_every: int = 0,
        weight_decay: float = 0.0,
        eps: float = 1e-6,
        d0: float = 1e-6,
        growth_rate: float = INF,
        *,
        maximize: bool = False,
        nonfinite: str = "raise",
        max_grad_norm: float | None = None,
    ) -> None:
        defaults = dict(lr=lr, momentum=momentum, log_every=log_every, weight_decay=weight_decay, eps=eps, d0=d0,
                        growth_rate=growth_rate, maximize=maximize)
        super().__init__(params, defaults, nonfinite=nonfinite, max_grad_norm=max_grad_norm)
