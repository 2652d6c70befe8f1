"""What wrappers (Lookahead) see of an optimizer of either API: the arrays a step updates, each
parameter's step count, and how its state dicts hold arrays."""

from __future__ import annotations

from typing import Any, List

import numpy as np

__all__ = ["EngineAccess"]


class EngineAccess:
    """What both APIs' optimizers (NumPy and ``fastoptim.torch``) show wrappers such as
    :class:`~fastoptim.Lookahead`: the arrays a step updates, and each parameter's step count."""

    _engine: Any

    def _sync(self) -> Any:
        raise NotImplementedError

    def arrays(self) -> List[List[np.ndarray]]:
        """The parameters as the step updates them, group by group: the arrays themselves, or for
        ``fastoptim.torch`` NumPy views of the tensors' memory (edits to ``param_groups`` first
        taken in)."""
        with self._engine.hold():
            self._sync()
            return self._engine.arrays()  # type: ignore[no-any-return]

    def step_counts(self) -> List[List[int]]:
        """Each parameter's completed steps, group by group (a parameter without a gradient at a
        step does not count it)."""
        with self._engine.hold():
            return [[0 if e is None else e[0] for e in group] for group in self._engine.snapshot(copy=False)]

    def saved_array(self, a: np.ndarray) -> Any:
        """A copy of ``a`` as this API's state dicts hold arrays (NumPy here; tensors for ``fastoptim.torch``,
        so that ``torch.load(weights_only=True)`` reads them)."""
        return a.copy()

    def loaded_array(self, x: Any) -> np.ndarray:
        """A state dict's array (from :meth:`saved_array`, or NumPy) as a NumPy array (a view, not a copy)."""
        return np.asarray(x)
