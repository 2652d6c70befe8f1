"""``torch.optim.LBFGS``'s twin: fastoptim's L-BFGS on torch tensors."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np
import torch

from ..rules.lbfgs import LBFGSCore, lbfgs_defaults, parse_state_dict
from .optimizer import load_state_dict_with_hooks, state_dict_with_hooks
from .views import numpy_array, torch_array, view_of

__all__ = ["LBFGS"]


class LBFGS(LBFGSCore, torch.optim.Optimizer):
    """``torch.optim.LBFGS`` with fastoptim's L-BFGS (see :class:`fastoptim.LBFGS`): the same
    signature, torch's closure (it zeroes the gradients, computes the loss, calls ``backward()`` and
    returns the loss), one parameter group, dense CPU float32/float64 tensors of one dtype, updated
    in place. The history lives in the first parameter's state, as torch keeps it; ``state_dict()``
    is in torch's format (tensors), so checkpoints move between this class and torch's both ways."""

    def __init__(
        self,
        params: Any,
        lr: float = 1,
        max_iter: int = 20,
        max_eval: Optional[int] = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: Optional[str] = None,
    ) -> None:
        defaults = lbfgs_defaults(lr, max_iter, max_eval, tolerance_grad, tolerance_change, history_size, line_search_fn)
        torch.optim.Optimizer.__init__(self, params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params: List[torch.Tensor] = self.param_groups[0]["params"]
        for i, p in enumerate(self._params):
            view_of(p, "parameter", i)
            if p.dtype != self._params[0].dtype:
                raise ValueError(f"parameter {i} is {p.dtype}, parameter 0 is {self._params[0].dtype}: L-BFGS needs one dtype")

    def _arrays(self) -> List[np.ndarray]:
        return [view_of(p, "parameter", i) for i, p in enumerate(self._params)]

    def _history(self) -> Dict[str, Any]:
        return self.state[self._params[0]]  # type: ignore[no-any-return]

    @torch.no_grad()
    def step(self, closure: Callable[[], Any]) -> Any:  # type: ignore[override]
        """Up to ``max_iter`` iterations; returns the loss the first closure call gave (a tensor)."""
        closure = torch.enable_grad()(closure)
        first: List[Any] = []

        def evaluate() -> Tuple[float, np.ndarray]:
            loss = closure()
            if not first:
                first.append(loss)
            grads = [np.zeros(p.numel(), view_of(p, "parameter", i).dtype) if p.grad is None
                     else view_of(p.grad, "gradient of parameter", i).reshape(-1) for i, p in enumerate(self._params)]
            return float(loss.detach() if isinstance(loss, torch.Tensor) else loss), np.concatenate(grads)

        self._run(evaluate)
        torch.autograd.graph.increment_version(self._params)  # the parameters changed under autograd
        return first[0]

    def state_dict(self) -> Dict[str, Any]:
        """torch's format: the history as the first parameter's state (id 0), vectors as tensors (copies)."""
        return state_dict_with_hooks(self, self._state_dict)

    def _state_dict(self) -> Dict[str, Any]:
        def saved(value: Any) -> Any:
            if isinstance(value, np.ndarray):
                return torch_array(value.copy())
            return [saved(v) for v in value] if isinstance(value, list) else value

        history = {k: saved(v) for k, v in self._history().items()}
        settings = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        return {"state": {0: history} if history else {}, "param_groups": [{**settings, "params": list(range(len(self._params)))}]}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load this class's or ``torch.optim.LBFGS``'s state dict; everything is checked first and a
        ValueError names what does not fit, with nothing changed."""
        load_state_dict_with_hooks(self, state_dict, self._load_state_dict)

    def _load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        def first(state: Mapping[Any, Any]) -> Mapping[str, Any]:
            if set(state) - {0}:
                raise ValueError(f"an L-BFGS state dict keeps its history under parameter id 0, not {sorted(map(repr, state))}")
            return state.get(0, {})  # type: ignore[no-any-return]

        n = sum(p.numel() for p in self._params)
        as_array = lambda t: numpy_array(t) if isinstance(t, torch.Tensor) else np.asarray(t)  # noqa: E731
        history, settings = parse_state_dict(state_dict, n, view_of(self._params[0], "parameter", 0).dtype, as_array, first)
        self.state.clear()
        self.state[self._params[0]] = history
        self.param_groups[0].update(settings)
