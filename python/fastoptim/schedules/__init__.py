r"""Learning-rate schedules, built and evaluated in C++.

A schedule maps the step :math:`t` (the number of optimizer steps already taken: 0 for the first
step) to a value. Call it with an int for a float, or with an integer array for a float64 array::

    >>> from fastoptim import schedules as S
    >>> s = S.cosine(0.1, total_steps=100)
    >>> s(0), round(s(50), 6), s(100)
    (0.1, 0.05, 0.0)
    >>> import numpy as np
    >>> S.step(1.0, step_size=2)(np.arange(6))
    array([1.  , 1.  , 0.1 , 0.1 , 0.01, 0.01])

Pass a schedule wherever an optimizer takes ``lr`` (and ``weight_decay``, ``momentum`` or
``betas[0]``): it is evaluated once per step, per group, inside the compiled ``step()``, and the
value used is in ``opt.last_lr``. A schedule's position is the optimizer's step count, so resuming
from a checkpoint resumes the schedule exactly; ``ReduceOnPlateau``'s counters are saved with the
optimizer's state. Schedules compose with :func:`join` without Python callbacks.

Any Python callable ``t -> float`` is accepted where a schedule is, but it is the slow path: the
compiled step has to call back into Python for it, and it cannot be saved in a checkpoint.

Why schedules? A constant learning rate is a compromise: large early steps make progress, small
late steps settle into a minimum. Decay (:func:`inverse_sqrt`, :func:`step`, :func:`cosine`)
shrinks the step as training goes on; warm-up (:func:`linear` joined to a decay,
:func:`warmup_cosine`, :func:`noam`, :func:`warmup_stable_decay`) starts small, so that adaptive
methods' running statistics (Adam's :math:`v`, AdaGrad's :math:`\sigma`) settle before the big steps
come; cycles (:func:`cyclic`, :func:`one_cycle`, :func:`cosine_restarts`) raise it again to leave
sharp minima and saddle regions.
"""

from __future__ import annotations

from .._core import Schedule
from .kinds import (
    ScheduleLike,
    constant,
    cosine,
    cosine_restarts,
    cyclic,
    exponential,
    inverse_sqrt,
    inverse_time,
    join,
    linear,
    multistep,
    noam,
    one_cycle,
    one_cycle_momentum,
    polynomial,
    step,
    warmup_cosine,
    warmup_stable_decay,
)
from .plateau import ReduceOnPlateau
from .spec import from_spec, same_schedule, state_updates, to_spec

__all__ = [
    "Schedule",
    "ScheduleLike",
    "constant",
    "step",
    "multistep",
    "exponential",
    "inverse_time",
    "inverse_sqrt",
    "polynomial",
    "linear",
    "cosine",
    "cosine_restarts",
    "one_cycle",
    "one_cycle_momentum",
    "cyclic",
    "noam",
    "warmup_stable_decay",
    "warmup_cosine",
    "join",
    "ReduceOnPlateau",
    "to_spec",
    "from_spec",
    "same_schedule",
    "state_updates",
]
