"""The schedule kinds: one constructor per kind, each a compiled :class:`Schedule` with named arguments."""

from __future__ import annotations

from typing import Callable, Sequence, Union

from .._core import Schedule


ScheduleLike = Union[float, Schedule, Callable[[int], float]]


def choice(name: str, value: str, options: Sequence[str]) -> int:
    """The index of ``value`` in ``options`` (how the engine takes a named mode); ValueError naming ``name``."""
    if value not in options:
        raise ValueError(f"{name} must be one of {list(options)}, got {value!r}")
    return options.index(value)


def constant(value: float) -> Schedule:
    r"""The same value at every step: :math:`\eta_t = v`.

    >>> constant(0.01)(1000)
    0.01
    """
    return Schedule("constant", dict(value=value))


def step(init: float, step_size: int, gamma: float = 0.1) -> Schedule:
    r"""Decay by ``gamma`` every ``step_size`` steps: :math:`\eta_t = \eta_0 \gamma^{\lfloor t / s \rfloor}`.

    torch ``StepLR``. Default ``gamma=0.1``.

    >>> [round(step(1.0, step_size=10)(t), 6) for t in (0, 9, 10, 25)]
    [1.0, 1.0, 0.1, 0.01]
    """
    return Schedule("step", dict(init=init, step_size=step_size, gamma=gamma))


def multistep(init: float, milestones: Sequence[int], gamma: float = 0.1) -> Schedule:
    r"""Decay by ``gamma`` at each milestone: :math:`\eta_t = \eta_0 \gamma^{|\{m_i \le t\}|}`.

    torch ``MultiStepLR``. Milestones must be strictly increasing. Default ``gamma=0.1``.

    >>> [round(multistep(1.0, [3, 5])(t), 6) for t in (2, 3, 5)]
    [1.0, 0.1, 0.01]
    """
    return Schedule("multistep", dict(init=init, gamma=gamma), [int(m) for m in milestones])


def exponential(init: float, gamma: float) -> Schedule:
    r"""Decay by ``gamma`` every step: :math:`\eta_t = \eta_0 \gamma^t`. torch ``ExponentialLR``.

    >>> exponential(1.0, 0.5)(3)
    0.125
    """
    return Schedule("exponential", dict(init=init, gamma=gamma))


def inverse_time(init: float, decay_rate: float, decay_steps: int = 1, staircase: bool = False) -> Schedule:
    r"""Inverse-time decay: :math:`\eta_t = \eta_0 / (1 + r\, t / s)`, with :math:`\lfloor t/s \rfloor` when ``staircase``.

    Keras ``InverseTimeDecay``. Defaults ``decay_steps=1``, ``staircase=False``.

    >>> inverse_time(1.0, decay_rate=0.5)(2)
    0.5
    """
    return Schedule("inverse_time", dict(init=init, decay_rate=decay_rate, decay_steps=decay_steps, staircase=staircase))


def inverse_sqrt(init: float, timescale: float = 1.0) -> Schedule:
    r"""Inverse square-root decay: :math:`\eta_t = \eta_0 / \sqrt{1 + t / \tau}`.

    With the default ``timescale=1`` this is :math:`\eta / \sqrt{t + 1}`, the decay that makes the
    averaged AdaGrad (``Adagrad(average=True)``) into ordinary AdaGrad, and the step size that
    convex analysis gives plain gradient descent on non-smooth problems.

    >>> inverse_sqrt(1.0)(3)
    0.5
    """
    return Schedule("inverse_sqrt", dict(init=init, timescale=timescale))


def polynomial(init: float, end: float, total_steps: int, power: float = 1.0) -> Schedule:
    r"""Polynomial decay: :math:`\eta_t = (\eta_0 - \eta_T)(1 - \min(t, T)/T)^p + \eta_T`.

    With ``end=0``, torch ``PolynomialLR``. Default ``power=1`` (linear).

    >>> polynomial(1.0, 0.0, total_steps=4, power=2)(2)
    0.25
    """
    return Schedule("polynomial", dict(init=init, end=end, total_steps=total_steps, power=power))


def linear(start: float, end: float, steps: int) -> Schedule:
    r"""Linear from ``start`` to ``end`` over ``steps`` steps, then ``end``.

    :math:`\eta_t = a + (b - a) \min(t, S) / S`; torch ``LinearLR`` times the base lr. A warm-up is
    ``linear(0, peak, n)`` joined to a decay (see :func:`join`).

    >>> [linear(0.0, 1.0, 4)(t) for t in (0, 2, 4, 9)]
    [0.0, 0.5, 1.0, 1.0]
    """
    return Schedule("linear", dict(start=start, end=end, steps=steps))


def cosine(init: float, total_steps: int, min_value: float = 0.0) -> Schedule:
    r"""Cosine annealing: :math:`\eta_t = \eta_{min} + (\eta_0 - \eta_{min})(1 + \cos(\pi t / T))/2` for
    :math:`t \le T`, then :math:`\eta_{min}`.

    torch ``CosineAnnealingLR`` (for :math:`t \le T`), Loshchilov & Hutter, SGDR (ICLR 2017).
    Default ``min_value=0``.

    >>> round(cosine(1.0, 10)(5), 6)
    0.5
    """
    return Schedule("cosine", dict(init=init, total_steps=total_steps, min_value=min_value))


def cosine_restarts(init: float, period: int, period_mult: int = 1, min_value: float = 0.0) -> Schedule:
    r"""Cosine annealing with warm restarts (SGDR): a cosine over :math:`T_i` steps, then back to the top,
    with :math:`T_{i+1} = T_i \cdot` ``period_mult``.

    :math:`\eta_t = \eta_{min} + (\eta_0 - \eta_{min})(1 + \cos(\pi T_{cur} / T_i))/2`, torch
    ``CosineAnnealingWarmRestarts``. Defaults ``period_mult=1``, ``min_value=0``.

    >>> s = cosine_restarts(1.0, period=4)
    >>> [round(s(t), 3) for t in range(6)]
    [1.0, 0.854, 0.5, 0.146, 1.0, 0.854]
    """
    return Schedule("cosine_restarts", dict(init=init, period=period, period_mult=period_mult, min_value=min_value))


def one_cycle(
    max_value: float,
    total_steps: int,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    anneal: str = "cos",
    three_phase: bool = False,
) -> Schedule:
    r"""The 1cycle policy (Smith & Topin 2018): up from ``max_value/div_factor`` to ``max_value`` over
    ``pct_start`` of the steps, then down to ``max_value/div_factor/final_div_factor``.

    With ``three_phase`` it comes back down to the start value symmetrically before the final
    descent. ``anneal`` is ``"cos"`` or ``"linear"``. torch ``OneCycleLR`` (its lr); past
    ``total_steps`` the final value holds. Pair it with :func:`one_cycle_momentum`.

    >>> s = one_cycle(1.0, total_steps=100)
    >>> round(s(0), 9), s(29), round(s(99), 9)
    (0.04, 1.0, 4e-06)
    """
    a = choice("anneal", anneal, ("linear", "cos"))
    return Schedule(
        "one_cycle",
        dict(max_value=max_value, total_steps=total_steps, pct_start=pct_start, div_factor=div_factor,
             final_div_factor=final_div_factor, anneal=a, three_phase=three_phase),
    )


def one_cycle_momentum(
    total_steps: int,
    base: float = 0.85,
    max_value: float = 0.95,
    pct_start: float = 0.3,
    anneal: str = "cos",
    three_phase: bool = False,
) -> Schedule:
    r"""The momentum half of the 1cycle policy: down from ``max_value`` to ``base`` while the lr rises,
    then back up while it falls. torch ``OneCycleLR(cycle_momentum=True)``.

    Use it for SGD's ``momentum`` or Adam's ``betas[0]``. Defaults ``base=0.85``, ``max_value=0.95``.

    >>> s = one_cycle_momentum(100)
    >>> s(0), s(29), s(99)
    (0.95, 0.85, 0.95)
    """
    a = choice("anneal", anneal, ("linear", "cos"))
    return Schedule(
        "one_cycle_momentum",
        dict(total_steps=total_steps, base=base, max_value=max_value, pct_start=pct_start, anneal=a, three_phase=three_phase),
    )


def cyclic(
    base: float,
    max_value: float,
    step_size_up: int,
    step_size_down: int | None = None,
    mode: str = "triangular",
    gamma: float = 1.0,
) -> Schedule:
    r"""Cyclical learning rates (Smith 2017): a triangle between ``base`` and ``max_value``.

    Up over ``step_size_up`` steps, down over ``step_size_down`` (default: the same). ``mode`` is
    ``"triangular"``, ``"triangular2"`` (the amplitude halves each cycle) or ``"exp_range"`` (the
    amplitude is scaled by :math:`\gamma^t`). torch ``CyclicLR`` (its lr).

    >>> s = cyclic(0.0, 1.0, step_size_up=2)
    >>> [s(t) for t in range(5)]
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    m = choice("mode", mode, ("triangular", "triangular2", "exp_range"))
    down = step_size_up if step_size_down is None else step_size_down
    return Schedule("cyclic", dict(base=base, max_value=max_value, step_size_up=step_size_up, step_size_down=down, mode=m, gamma=gamma))


def noam(d_model: int, warmup_steps: int, scale: float = 1.0) -> Schedule:
    r"""The Transformer's schedule (Vaswani et al. 2017): linear warm-up, then inverse square-root decay.

    :math:`\eta_t = s \, d^{-1/2} \min((t+1)^{-1/2}, (t+1)\, w^{-3/2})`, peaking at step
    :math:`t + 1 = w`. Default ``scale=1``.

    >>> s = noam(512, warmup_steps=4000)
    >>> round(s(3999), 6) == round(512 ** -0.5 * 4000 ** -0.5, 6)
    True
    """
    return Schedule("noam", dict(d_model=d_model, warmup_steps=warmup_steps, scale=scale))


def warmup_stable_decay(
    peak: float,
    warmup_steps: int,
    stable_steps: int,
    decay_steps: int,
    min_value: float = 0.0,
    decay: str = "linear",
    init: float = 0.0,
) -> Schedule:
    r"""Warm-up, stable, decay (WSD): linear from ``init`` to ``peak``, flat at ``peak``, then down to
    ``min_value`` over ``decay_steps``, then ``min_value``.

    The decay's shape is ``"linear"``, ``"cosine"`` or ``"1-sqrt"``
    (:math:`\eta = \eta_{min} + (\eta_{peak} - \eta_{min})(1 - \sqrt{f})`). Its long flat phase can be
    extended, or branched from, without knowing the run's length in advance.

    >>> s = warmup_stable_decay(1.0, warmup_steps=2, stable_steps=2, decay_steps=2)
    >>> [s(t) for t in range(7)]
    [0.0, 0.5, 1.0, 1.0, 1.0, 0.5, 0.0]
    """
    d = choice("decay", decay, ("linear", "cosine", "1-sqrt"))
    return Schedule(
        "warmup_stable_decay",
        dict(peak=peak, warmup_steps=warmup_steps, stable_steps=stable_steps, decay_steps=decay_steps, min_value=min_value,
             decay=d, init=init),
    )


def warmup_cosine(peak: float, warmup_steps: int, total_steps: int, init: float = 0.0, min_value: float = 0.0) -> Schedule:
    r"""Linear warm-up from ``init`` to ``peak`` over ``warmup_steps``, then a cosine down to ``min_value``
    at ``total_steps``; optax ``warmup_cosine_decay_schedule``.

    >>> s = warmup_cosine(1.0, warmup_steps=2, total_steps=6)
    >>> [round(s(t), 3) for t in range(7)]
    [0.0, 0.5, 1.0, 0.854, 0.5, 0.146, 0.0]
    """
    return Schedule("warmup_cosine", dict(peak=peak, warmup_steps=warmup_steps, total_steps=total_steps, init=init, min_value=min_value))


def join(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    r"""Schedules one after another: after boundary :math:`b_i`, schedule :math:`i+1` runs and sees
    :math:`t - b_i`. optax ``join_schedules``, torch ``SequentialLR``.

    ``boundaries`` has one entry fewer than ``schedules`` and is strictly increasing. Joined
    schedules are evaluated in C++ like any other, and resume exactly from a checkpoint.

    >>> warm_then_decay = join([linear(0.0, 1.0, 2), exponential(1.0, 0.5)], [2])
    >>> [warm_then_decay(t) for t in range(5)]
    [0.0, 0.5, 1.0, 0.5, 0.25]
    """
    items = list(schedules)
    for i, s in enumerate(items):
        if not isinstance(s, Schedule):
            raise TypeError(f"join takes fastoptim schedules; schedules[{i}] is {type(s).__name__}")
    return Schedule("join", {}, [int(b) for b in boundaries], items)
