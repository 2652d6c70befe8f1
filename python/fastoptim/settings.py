"""What both APIs share about an optimizer's settings: the step options (``nonfinite``,
``max_grad_norm``, torch's flags) and how a parameter group's settings become a rule's scalars."""

from __future__ import annotations

import functools
import operator
from typing import Any, Callable, List, Mapping, Tuple

import numpy as np

from . import _core

__all__ = ["StepOptions", "settings_reader"]

_NONFINITE = ("raise", "skip", "ignore")


class StepOptions:
    """The step options every fastoptim optimizer has, the NumPy ones and ``fastoptim.torch``'s."""

    _nonfinite: str
    _max_grad_norm: float | None
    skipped_steps: int

    def _init_step_options(self, nonfinite: str, max_grad_norm: float | None, capturable: bool, differentiable: bool) -> None:
        """Check and set the step options (torch's CUDA-only flags refused); no step skipped yet."""
        if capturable:
            raise ValueError("capturable=True is for CUDA graphs; fastoptim steps on the CPU")
        if differentiable:
            raise ValueError("differentiable=True needs autograd through the step; fastoptim updates memory in place in C++")
        self.nonfinite = nonfinite
        self.max_grad_norm = max_grad_norm
        self.skipped_steps = 0

    @property
    def nonfinite(self) -> str:
        """What a step does with a non-finite gradient: ``"raise"``, ``"skip"`` or ``"ignore"``."""
        return self._nonfinite

    @nonfinite.setter
    def nonfinite(self, value: str) -> None:
        if not isinstance(value, str) or value not in _NONFINITE:
            raise ValueError(f"nonfinite must be one of {_NONFINITE}, got {value!r}")
        self._nonfinite = value

    @property
    def max_grad_norm(self) -> float | None:
        """Clip the gradients' global L2 norm to this inside the step (None: no clipping)."""
        return self._max_grad_norm

    @max_grad_norm.setter
    def max_grad_norm(self, value: float | None) -> None:
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise TypeError(f"max_grad_norm must be a number > 0 or None, got {value!r}")
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"max_grad_norm must be > 0 and finite, got {value!r}")
            value = float(value)
        self._max_grad_norm = value


@functools.lru_cache(maxsize=None)
def settings_reader(rule: str) -> Callable[[Mapping[str, Any]], Tuple[Any, ...]]:
    """How a parameter group's settings become a rule's scalars, in the order its C++ header names
    them (``_core.rules[rule]["hyper"]``): each is the group entry of that name, except ``beta1``
    and ``beta2``, which are ``betas[0]`` and ``betas[1]``.

    >>> settings_reader("adam")({"lr": 0.1, "betas": (0.9, 0.99), "eps": 1e-8, "weight_decay": 0.0,
    ...     "amsgrad": False, "maximize": False, "decoupled_weight_decay": True})
    (0.1, 0.9, 0.99, 1e-08, 0.0, False, False, True)
    """
    keys: List[str] = []
    for field in _core.rules[rule]["hyper"]:
        key = "betas" if field in ("beta1", "beta2") else field
        if key not in keys:
            keys.append(key)
    get = operator.itemgetter(*keys)
    if "betas" not in keys:
        return get  # type: ignore[no-any-return]
    at = keys.index("betas")

    def read(group: Mapping[str, Any]) -> Tuple[Any, ...]:
        values = get(group)
        betas = values[at]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        return values[:at] + tuple(betas) + values[at + 1 :]

    return read
