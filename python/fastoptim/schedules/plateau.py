"""ReduceOnPlateau: a schedule driven by a reported metric, its counters kept in the optimizer's state."""

from __future__ import annotations

from typing import Any, Dict

from .._core import Schedule
from .kinds import choice

__all__ = ["ReduceOnPlateau"]


class ReduceOnPlateau(Schedule):
    r"""Cut the value by ``factor`` when a reported metric stops improving; torch ``ReduceLROnPlateau``.

    Call :meth:`report` with the metric after each evaluation. An improvement is a metric below
    ``best * (1 - threshold)`` (``threshold_mode="rel"``) or ``best - threshold`` (``"abs"``), or
    above for ``mode="max"``. After more than ``patience`` reports without one, the value becomes
    ``max(value * factor, min_value)`` and ``cooldown`` reports pass before counting again.
    Its counters are part of the optimizer's ``state_dict()``, so a resumed run continues exactly.

    Defaults: ``factor=0.1``, ``patience=10``, ``threshold=1e-4``, ``threshold_mode="rel"``,
    ``cooldown=0``, ``min_value=0``, ``mode="min"``.

    >>> s = ReduceOnPlateau(1.0, patience=1)
    >>> [s.report(loss) for loss in (3.0, 2.0, 2.0, 2.0)]
    [1.0, 1.0, 1.0, 0.1]
    >>> s.value
    0.1
    """

    def __init__(
        self,
        init: float,
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_value: float = 0.0,
        mode: str = "min",
    ) -> None:
        rel = choice("threshold_mode", threshold_mode, ("abs", "rel"))
        minimize = choice("mode", mode, ("max", "min"))
        super().__init__(
            "plateau",
            dict(init=init, factor=factor, patience=patience, threshold=threshold, threshold_mode=rel, cooldown=cooldown,
                 min_value=min_value, mode=minimize),
        )

    @property
    def value(self) -> float:
        """The current value (what the next step uses)."""
        return self(0)

    def __copy__(self) -> "ReduceOnPlateau":
        return self.__deepcopy__({})

    def __deepcopy__(self, memo: Dict[int, Any]) -> "ReduceOnPlateau":
        copied = ReduceOnPlateau.__new__(ReduceOnPlateau)
        Schedule.__init__(copied, "plateau", dict(self.args), list(self.ints), [])
        copied.set_state(list(self.state()))
        return copied
