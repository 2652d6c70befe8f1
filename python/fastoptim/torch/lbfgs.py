"""``torch.optim.LBFGS``'s twin: fastoptim's L-BFGS on torch tensors."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch

from ..rules.lbfgs import LBFGSCore, lbfgs_defaults
from .views import view_of

__all__ = ["LBFGS"]


class LBFGS(LBFGSCore, torch.optim.Optimizer):
    """``torch.optim.LBFGS`` with fastoptim's L-BFGS (see :class:`fastoptim.LBFGS`): the same
    signature, torch's closure (it zeroes the gradients, computes the loss, calls ``backward()`` and
    returns the loss), one parameter group, dense CPU float32/float64 tensors of one dtype, updated
    in place. The history lives in the first parameter's state, as torch keeps it (as NumPy arrays)."""

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
