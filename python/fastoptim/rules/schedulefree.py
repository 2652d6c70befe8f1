"""Schedule-Free SGD and AdamW."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Dict, Tuple, TypeVar

import numpy as np

from ..core.lerp import lerp_
from ..core.optimizer import Optimizer
from ..core.params import Params
from ..schedules import ScheduleLike

__all__ = ["ScheduleFreeAdamW", "ScheduleFreeSGD"]

T = TypeVar("T")


class ScheduleFreeMode:
    """``train()`` and ``eval()`` for the Schedule-Free optimizers, for both APIs (the NumPy classes
    and their ``fastoptim.torch`` twins): the parameters hold the training point y in train mode and
    the evaluation point x in eval mode, and a step needs train mode."""

    #: Group entries besides the settings, with their start (the torch twins add them too).
    _group_extras: ClassVar[Dict[str, Any]] = {"train_mode": False}
    param_groups: Any
    defaults: Dict[str, Any]
    _engine: Any
    if TYPE_CHECKING:

        def _sync(self) -> Any: ...  # the optimizer's own (NumPy or torch), after this class in the MRO

    def add_param_group(self, param_group: Dict[str, Any]) -> None:
        """The optimizer's own, after checking what ``train()`` and ``eval()`` read: ``train_mode`` a
        bool, and ``momentum`` / ``betas[0]`` a number (they set the point the parameters hold)."""
        check_mode_settings({**self.defaults, **param_group}, len(self.param_groups))
        super().add_param_group(param_group)  # type: ignore[misc]

    def train(self) -> None:
        """Put the parameters at y, where gradients are taken: call it before training steps."""
        self._switch(True)

    def eval(self) -> None:
        """Put the parameters at x, the average the method promises: call it before evaluating the
        model, and before saving a checkpoint."""
        self._switch(False)

    def _switch(self, train: bool) -> None:
        # x = (y - (1 - b1) z) / b1 and y = (1 - b1) z + b1 x: each a lerp of the parameter towards z,
        # as the schedulefree package does it (torch's lerp rounding).
        with self._engine.hold():
            self._sync()
            for g, group in enumerate(self.param_groups):  # edits to param_groups too, before anything moves
                check_mode_settings(group, g)
            for group, arrays, entries in zip(self.param_groups, self._engine.arrays(), self._engine.snapshot(copy=False)):
                if group["train_mode"] == train:
                    continue
                beta1 = float(group["momentum"] if "momentum" in group else group["betas"][0])  # SGD's, AdamW's
                weight = 1 - beta1 if train else 1 - 1 / beta1
                for p, entry in zip(arrays, entries):
                    if entry is not None and "z" in entry[2]:
                        lerp_(p, entry[2]["z"], weight)
                group["train_mode"] = train

    def step(self, *args: Any, **kwargs: Any) -> Any:
        """A step, in train mode only (see :meth:`train`)."""
        if not all(g["train_mode"] for g in self.param_groups):
            raise RuntimeError(
                f"{type(self).__name__} steps in train mode: call optimizer.train() before training "
                "(and optimizer.eval() before evaluating); nothing was updated"
            )
        return super().step(*args, **kwargs)  # type: ignore[misc]


def check_mode_settings(group: Dict[str, Any], index: int) -> None:
    """ValueError unless a Schedule-Free group's ``train_mode`` is a bool and the momentum that moves
    the parameters between x and y (``momentum``, ``betas[0]``) a number: a schedule for it would
    leave no one value to move them back with."""
    mode = group.get("train_mode", False)
    if not isinstance(mode, (bool, np.bool_)):
        raise ValueError(f"param group {index}: train_mode must be True or False, got {mode!r}")
    beta = group["momentum"] if "momentum" in group else group.get("betas", (0.9,))[0]
    if isinstance(beta, bool) or not isinstance(beta, (int, float, np.integer, np.floating)):
        name = "momentum" if "momentum" in group else "betas[0]"
        raise ValueError(
            f"param group {index}: Schedule-Free's {name} must be a number, got {beta!r}: train() and eval() move "
            "the parameters between y and x with it, so a schedule cannot set it"
        )


def in_train_mode(opt: T) -> T:
    """``opt``, put in train mode if it is a Schedule-Free optimizer (other optimizers have no modes):
    for code that builds any optimizer and steps it, as the bench and the lab's race do."""
    if isinstance(opt, ScheduleFreeMode):
        opt.train()
    return opt


_DOC_COMMON = r"""
    Schedule-Free methods replace the learning-rate schedule by an average: the parameters the
    gradient is taken at, :math:`y`, interpolate between a plain gradient sequence :math:`z` and
    the running average :math:`x` of the :math:`z` iterates, which is the point to evaluate. The
    average's weights grow with :math:`\max_{s \le t} \eta_s^{\,p}`, so a warm-up
    (``warmup_steps``) counts for little. There is no schedule to choose and no training length
    to fix in advance; the paper reports the accuracy of tuned cosine schedules.

    **Call** :meth:`train` **before training and** :meth:`eval` **before evaluating or saving.**
    The optimizer starts in eval mode (as the schedulefree package's), and ``step()`` refuses to run
    outside train mode. :meth:`train` moves the parameters to :math:`y`, :meth:`eval` to :math:`x`.
    A model with BatchNorm also needs its running statistics recomputed at :math:`x`: after
    :meth:`eval`, run a few training batches through the model in its training mode, without
    stepping, before evaluating.
"""


class ScheduleFreeSGD(ScheduleFreeMode, Optimizer):
    __doc__ = r"""Schedule-Free SGD with momentum; as ``schedulefree.SGDScheduleFree``.
    """ + _DOC_COMMON + r"""
    At step :math:`t`, with :math:`\eta_t = \eta \min(1, t / \text{warmup\_steps})`,
    :math:`w_t = t^r \max_{s \le t} \eta_s^{\,p}` and :math:`c_t = w_t / \sum_{s \le t} w_s`:

    .. math::

        d &= g + \lambda y \\
        y &\leftarrow (1 - c_t) \, y + c_t z + \eta_t (\beta (1 - c_t) - 1) \, d \\
        z &\leftarrow z - \eta_t d

    Args:
        params: arrays to optimize, a dict of them by name, or a list of param group dicts.
        lr: learning rate :math:`\eta`, >= 0. Default 1.0.
        momentum: :math:`\beta`, in (0, 1): how far y sits from z towards x. Default 0.9.
        weight_decay: :math:`\lambda`, >= 0 (taken at y). Default 0.
        warmup_steps: linear warm-up of the learning rate, a whole number >= 0. Default 0.
        r: the average's weights grow as :math:`t^r`, >= 0. Default 0.
        weight_lr_power: :math:`p`, >= 0. Default 2.
        nonfinite: ``"raise"``, ``"skip"`` or ``"ignore"``; see :class:`Optimizer`.
        max_grad_norm: clip the gradients' global L2 norm to this inside the step; see :class:`Optimizer`.

    State per parameter: ``z``, and the scalars ``weight_sum`` and ``lr_max``. Memory traffic per
    parameter per step (float32): 20 bytes (read y, g, z; write y, z).

    Example:
        >>> import numpy as np, fastoptim as fo
        >>> w = np.ones(2)
        >>> opt = fo.ScheduleFreeSGD([w], lr=0.1)
        >>> opt.train()
        >>> for _ in range(3):
        ...     opt.step([w.copy()])  # the gradient of |w|^2 / 2
        >>> opt.eval()  # w now holds x, the average
        >>> w.round(4)
        array([0.8116, 0.8116])

    References:
        Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky, "The Road Less Scheduled", NeurIPS 2024.
    """

    _rule = "schedulefree_sgd"

    def __init__(
        self,
        params: Params,
        lr: ScheduleLike = 1.0,
        momentum: float = 0.9,
        weight_decay: ScheduleLike = 0.0,
        warmup_steps: int = 0,
        r: float = 0.0,
        weight_lr_power: float = 2.0,
        *,
        nonfinite: str = "raise",
        max_grad_norm: float | None = None,
    ) -> None:
        defaults: Dict[str, Any] = dict(
            lr=lr, momentum=momentum, weight_decay=weight_decay, warmup_steps=warmup_steps, r=r,
            weight_lr_power=weight_lr_power, **self._group_extras,
        )
        super().__init__(params, defaults, nonfinite=nonfinite, max_grad_norm=max_grad_norm)


class ScheduleFreeAdamW(ScheduleFreeMode, Optimizer):
    __doc__ = r"""Schedule-Free AdamW; as ``schedulefree.AdamWScheduleFree``.
    """ + _DOC_COMMON + r"""
    At step :math:`t`, with :math:`\eta_t`, :math:`c_t` as in :class:`ScheduleFreeSGD`:

    .. math::

        v &\leftarrow \beta_2 v + (1 - \beta_2) g^2 \\
        d &= \frac{g}{\sqrt{v / (1 - \beta_2^t)} + \epsilon} + \lambda y \\
        y &\leftarrow (1 - c_t) \, y + c_t z + \eta_t (\beta_1 (1 - c_t) - 1) \, d \\
        z &\leftarrow z - \eta_t d

    Args:
        params: arrays to optimize, a dict of them by name, or a list of param group dicts.
        lr: learning rate :math:`\eta`, >= 0. Default 0.0025.
        betas: :math:`(\beta_1, \beta_2)`: :math:`\beta_1` in (0, 1), :math:`\beta_2` in [0, 1).
            Default (0.9, 0.999).
        eps: :math:`\epsilon`, >= 0. Default 1e-8.
        weight_decay: :math:`\lambda`, >= 0 (taken at y). Default 0.
        warmup_steps: linear warm-up of the learning rate, a whole number >= 0. Default 0.
        r: the average's weights grow as :math:`t^r`, >= 0. Default 0.
        weight_lr_power: :math:`p`, >= 0. Default 2.
        nonfinite: ``"raise"``, ``"skip"`` or ``"ignore"``; see :class:`Optimizer`.
        max_grad_norm: clip the gradients' global L2 norm to this inside the step; see :class:`Optimizer`.

    State per parameter: ``z``, ``exp_avg_sq`` (v), and the scalars ``weight_sum`` and ``lr_max``.
    Memory traffic per parameter per step (float32): 28 bytes (read y, g, z, v; write y, z, v).

    Example:
        >>> import numpy as np, fastoptim as fo
        >>> w = np.ones(2)
        >>> opt = fo.ScheduleFreeAdamW([w], lr=0.1)
        >>> opt.train()
        >>> opt.step([np.array([1.0, -1.0])])  # the first step moves y by about lr
        >>> w.round(4)
        array([0.9, 1.1])

    References:
        Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky, "The Road Less Scheduled", NeurIPS 2024.
    """

    _rule = "schedulefree_adamw"

    def __init__(
        self,
        params: Params,
        lr: ScheduleLike = 0.0025,
        betas: Tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: ScheduleLike = 0.0,
        warmup_steps: int = 0,
        r: float = 0.0,
        weight_lr_power: float = 2.0,
        *,
        nonfinite: str = "raise",
        max_grad_norm: float | None = None,
    ) -> None:
        defaults: Dict[str, Any] = dict(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, warmup_steps=warmup_steps, r=r,
            weight_lr_power=weight_lr_power, **self._group_extras,
        )
        super().__init__(params, defaults, nonfinite=nonfinite, max_grad_norm=max_grad_norm)
