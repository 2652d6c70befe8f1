"""Lookahead: slow weights that follow any optimizer's fast ones every k steps."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

import numpy as np

from ..core.lerp import lerp_
from ..core.access import EngineAccess

__all__ = ["Lookahead"]


class Lookahead:
    r"""Lookahead around any fastoptim optimizer (NumPy or ``fastoptim.torch``); as
    ``pytorch_optimizer.Lookahead`` with ``pullback_momentum="none"``.

    The inner optimizer steps the parameters (the fast weights) as usual. Every ``k`` steps of a
    parameter group, each of its parameters that had a gradient at that step is pulled towards its
    slow copy :math:`\phi`, and the slow copy takes the result:

    .. math::

        \theta \leftarrow \theta + (1 - \alpha)(\phi - \theta) = \phi + \alpha (\theta - \phi),
        \qquad \phi \leftarrow \theta

    The fast weights explore for ``k`` steps; the slow weights move a fraction :math:`\alpha` of
    the way, which damps the inner optimizer's oscillations and makes it less sensitive to its
    learning rate. The slow copies start as the parameters at construction (copies: 4 or 8 more
    bytes per parameter), and are part of :meth:`state_dict`. Pulling costs one pass over the
    parameters every ``k`` steps.

    Args:
        optimizer: the inner optimizer, already built on the parameters.
        k: steps between pulls, an integer >= 1. Default 5.
        alpha: :math:`\alpha`, the share of the fast weights' move kept, in [0, 1]. Default 0.5.

    ``param_groups`` are the inner optimizer's (a learning-rate scheduler built on the inner
    optimizer drives both). ``step`` takes what the inner optimizer's ``step`` takes.

    Example:
        >>> import numpy as np, fastoptim as fo
        >>> w = np.zeros(2)
        >>> opt = fo.Lookahead(fo.SGD([w], lr=0.1), k=2, alpha=0.5)
        >>> for _ in range(2):
        ...     opt.step([np.ones(2)])  # the fast weights reach -0.2, then are pulled half way back
        >>> w
        array([-0.1, -0.1])

    References:
        Zhang, Lucas, Hinton & Ba, "Lookahead Optimizer: k steps forward, 1 step back", NeurIPS 2019.
    """

    def __init__(self, optimizer: Any, k: int = 5, alpha: float = 0.5) -> None:
        if not isinstance(optimizer, EngineAccess):
            raise TypeError(f"Lookahead wraps a fastoptim optimizer, got {type(optimizer).__name__}")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be an integer >= 1, got {k!r}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
        self.optimizer: Any = optimizer
        self.k, self.alpha = int(k), float(alpha)
        arrays = optimizer.arrays()
        self.slow: List[List[np.ndarray]] = [[a.copy() for a in group] for group in arrays]
        self.counters = [0] * len(arrays)
        self._owners = self._params()  # whose slow copy each is, by identity

    @property
    def param_groups(self) -> List[Dict[str, Any]]:
        """The inner optimizer's parameter groups."""
        return self.optimizer.param_groups  # type: ignore[no-any-return]

    def _params(self) -> List[List[Any]]:
        return [list(g["params"]) for g in self.param_groups]

    def _follow_param_groups(self) -> None:
        """Slow copies belong to parameters, not positions: after an edit of ``param_groups`` a
        parameter keeps its slow copy wherever it moved, and one new to the optimizer (or whose shape
        or dtype changed) starts from its current value; a new group starts its count at 0."""
        params = self._params()
        if len(params) == len(self._owners) and all(
            len(a) == len(b) and all(x is y for x, y in zip(a, b)) for a, b in zip(params, self._owners)
        ):
            return
        old = {id(p): s for ps, ss in zip(self._owners, self.slow) for p, s in zip(ps, ss)}
        self.slow = [
            [old[id(p)] if id(p) in old and old[id(p)].shape == a.shape and old[id(p)].dtype == a.dtype else a.copy()
             for p, a in zip(ps, arrays)]
            for ps, arrays in zip(params, self.optimizer.arrays())
        ]
        self.counters = (self.counters + [0] * len(params))[: len(params)]
        self._owners = params

    def step(self, *args: Any, **kwargs: Any) -> Any:
        """The inner optimizer's step; then, in each group at its k-th step, the pull."""
        self._follow_param_groups()
        pulling = [g for g, c in enumerate(self.counters) if c + 1 >= self.k]
        before = self.optimizer.step_counts() if pulling else None
        out = self.optimizer.step(*args, **kwargs)  # a step that raises counts for nothing
        self.counters = [0 if g in pulling else c + 1 for g, c in enumerate(self.counters)]
        if pulling:  # only then the arrays and step counts are read
            assert before is not None
            after, arrays = self.optimizer.step_counts(), self.optimizer.arrays()
            for g in pulling:
                for i, (theta, phi) in enumerate(zip(arrays[g], self.slow[g])):
                    if after[g][i] != before[g][i]:  # it had a gradient at this step
                        lerp_(theta, phi, 1.0 - self.alpha)
                        phi[...] = theta
        return out

    def state_dict(self) -> Dict[str, Any]:
        """``{"base_optimizer": <the inner optimizer's state_dict>, "slow_params": [[array, ...], ...]
        (copies, per group; tensors for a ``fastoptim.torch`` optimizer), "counters": [...], "k", "alpha"}``."""
        self._follow_param_groups()
        return {
            "base_optimizer": self.optimizer.state_dict(),
            "slow_params": [[self.optimizer.saved_array(s) for s in group] for group in self.slow],
            "counters": list(self.counters),
            "k": self.k,
            "alpha": self.alpha,
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`. The slow copies are checked (one per parameter, each of its
        parameter's shape and dtype) before anything changes; then the inner optimizer loads its part
        (refusing as it does, with nothing changed), then the slow copies and counters are set."""
        if not isinstance(state_dict, Mapping):
            raise ValueError(f"a Lookahead state_dict is a dict, got {type(state_dict).__name__}")
        missing = [k for k in ("base_optimizer", "slow_params", "counters") if k not in state_dict]
        if missing:
            raise ValueError(f"the Lookahead state_dict has no {missing}")
        arrays = self.optimizer.arrays()
        slow = state_dict["slow_params"]
        counters = state_dict["counters"]
        if not isinstance(slow, (list, tuple)) or len(slow) != len(arrays) or any(
            not isinstance(s, (list, tuple)) or len(s) != len(a) for s, a in zip(slow, arrays)
        ):
            raise ValueError("state_dict's slow_params must hold one array per parameter, group by group")
        if not isinstance(counters, (list, tuple)) or len(counters) != len(arrays) or not all(
            isinstance(c, (int, np.integer)) and not isinstance(c, bool) and c >= 0 for c in counters
        ):
            raise ValueError("state_dict's counters must be one integer >= 0 per group")
        copies = []
        for g, (saved, current) in enumerate(zip(slow, arrays)):
            group = []
            for i, (s, a) in enumerate(zip(saved, current)):
                s = self.optimizer.loaded_array(s)
                if s.shape != a.shape or s.dtype != a.dtype:
                    raise ValueError(
                        f"slow copy of parameter {i} in group {g} has shape {s.shape} and dtype {s.dtype}; "
                        f"the parameter has {a.shape} and {a.dtype}"
                    )
                group.append(np.array(s, copy=True))
            copies.append(group)
        self.optimizer.load_state_dict(state_dict["base_optimizer"])
        self.slow, self.counters, self._owners = copies, [int(c) for c in counters], self._params()

    def __repr__(self) -> str:
        return f"Lookahead(k={self.k}, alpha={self.alpha}, optimizer={self.optimizer!r})"

    def zero_grad(self, set_to_none: bool = True) -> Optional[Any]:
        """The inner optimizer's zero_grad (fastoptim.torch)."""
        return self.optimizer.zero_grad(set_to_none=set_to_none)
