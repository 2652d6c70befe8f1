"""What both APIs share about an optimizer's settings: the step options (``nonfinite``,
``max_grad_norm``, torch's flags) and how a parameter group's settings become a rule's scalars."""

from __future__ import annotations

import functools
import operator
from typing import Any, Callable, Dict, List, Mapping, Tuple

import numpy as np

from .. import _core

__all__ = ["INF_MEANS", "NONE_MEANS", "OWN_ENTRY", "PACKED", "StepOptions", "settings_reader"]

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


# Settings that Python packs in a tuple and C++ takes as separate scalars: scalar -> (tuple, position).
# The step reads each scalar from its position here.
PACKED = {
    "beta1": ("betas", 0), "beta2": ("betas", 1), "beta3": ("betas", 2),  # Adam and its kin; Adan, AdEMAMix
    "etaminus": ("etas", 0), "etaplus": ("etas", 1),  # Rprop
    "step_size_min": ("step_sizes", 0), "step_size_max": ("step_sizes", 1),  # Rprop
    "eps1": ("eps", 0), "eps2": ("eps", 1),  # Adafactor
}
# (rule, scalar): a rule that takes a PACKED name as a group entry of its own (Prodigy's beta3).
OWN_ENTRY = {("prodigy", "beta3")}
# Settings that may be None in Python (alone or in a tuple): the number C++ takes for None.
NONE_MEANS = {
    "t_alpha_beta3": 0.0,  # AdEMAMix: no warm-up
    "eps1": -1.0,  # Adafactor: the dtype's machine epsilon
    "beta3": -1.0,  # Prodigy: sqrt(beta2)
}
# Settings that may be infinite: the number C++ takes for infinity (the engine refuses non-finite
# settings). A user's value equal to it is refused.
INF_MEANS = {"growth_rate": 0.0}  # Prodigy, D-Adaptation: d grows without bound


@functools.lru_cache(maxsize=None)
def settings_reader(rule: str) -> Callable[[Mapping[str, Any]], Tuple[Any, ...]]:
    """How a parameter group's settings become a rule's scalars, in the order its C++ header names
    them (``_core.rules[rule]["hyper"]``): each is the group entry of that name, except the scalars
    packed in a tuple (:data:`PACKED`: ``beta1`` and ``beta2`` are ``betas[0]`` and ``betas[1]``),
    and None stands for the number in :data:`NONE_MEANS`.

    >>> settings_reader("adam")({"lr": 0.1, "betas": (0.9, 0.99), "eps": 1e-8, "weight_decay": 0.0,
    ...     "amsgrad": False, "maximize": False, "decoupled_weight_decay": True})
    (0.1, 0.9, 0.99, 1e-08, 0.0, False, False, True)
    """
    keys: List[str] = []  # the group entries, each once, in order
    members: Dict[str, List[str]] = {}  # a tuple's scalars, in order
    for field in _core.rules[rule]["hyper"]:
        packed = field in PACKED and (rule, field) not in OWN_ENTRY
        key = PACKED[field][0] if packed else field
        if key not in keys:
            keys.append(key)
        if packed:
            members.setdefault(key, []).append(field)
    get = operator.itemgetter(*keys)
    if not members and not (NONE_MEANS.keys() | INF_MEANS.keys()) & set(keys):  # no tuple, no None, no inf
        return get  # type: ignore[no-any-return]

    def read(group: Mapping[str, Any]) -> Tuple[Any, ...]:
        out: List[Any] = []
        for key, value in zip(keys, get(group)):
            if key in members:
                if not isinstance(value, (tuple, list)) or len(value) != len(members[key]):
                    raise ValueError(f"{key} must be a {_COUNT[len(members[key])]} ({', '.join(members[key])}), got {value!r}")
                out += [none_means(f, value[PACKED[f][1]]) for f in members[key]]  # each from its position
            else:
                out.append(none_means(key, value))
        return tuple(out)

    return read


_COUNT = {2: "pair", 3: "triple"}


def none_means(name: str, value: Any) -> Any:
    """The value the engine takes for setting ``name``: :data:`NONE_MEANS`' number for None and
    :data:`INF_MEANS`' for infinity. Those numbers are the engine's private codes, so a user's value
    equal to one (Adafactor's ``eps1=-1``, ``growth_rate=0``) is refused."""
    if name in INF_MEANS:
        if value == INF_MEANS[name]:
            raise ValueError(f"invalid {name}={value!r}: must be > 0 (inf: no bound)")
        return INF_MEANS[name] if value == float("inf") else value
    if name not in NONE_MEANS:
        return value
    if value is None:
        return NONE_MEANS[name]
    if value == NONE_MEANS[name] and NONE_MEANS[name] < 0:
        raise ValueError(f"invalid {name}={value!r}: must be >= 0 (or None)")
    return value
