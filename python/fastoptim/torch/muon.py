"""``torch.optim.Muon``'s twin: fastoptim's Muon on torch tensors."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import torch

from ..rules import muon as numpy_muon
from .views import view_of

__all__ = ["Muon"]


class Muon(torch.optim.Optimizer):
    """``torch.optim.Muon`` with fastoptim's Muon (see :class:`fastoptim.Muon`, whose ``ns_dtype`` it
    adds): the same signature, 2-D dense CPU float32/float64 tensors updated in place, the matrix
    products in NumPy (BLAS). Settings edited in ``param_groups`` (by a scheduler) apply at the next
    step; ``state_dict()`` is :class:`fastoptim.Muon`'s."""

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: Tuple[float, float, float] = numpy_muon.NS_COEFFICIENTS,
        eps: float = 1e-7,
        ns_steps: int = numpy_muon.NS_STEPS,
        adjust_lr_fn: Optional[str] = None,
        ns_dtype: str = "float32",
    ) -> None:
        defaults = numpy_muon.muon_defaults(lr, weight_decay, momentum, nesterov, ns_coefficients, eps, ns_steps, adjust_lr_fn, ns_dtype)
        torch.optim.Optimizer.__init__(self, params, defaults)
        self._params: List[torch.Tensor] = [p for g in self.param_groups for p in g["params"]]
        views = iter([view_of(p, "parameter", i) for i, p in enumerate(self._params)])
        self._numpy = numpy_muon.Muon([{**self._settings(g), "params": [next(views) for _ in g["params"]]} for g in self.param_groups])

    @staticmethod
    def _settings(group: Mapping[str, Any]) -> Dict[str, Any]:
        return {k: v for k, v in group.items() if k != "params"}

    @torch.no_grad()
    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:  # type: ignore[override]
        """One Muon step from the tensors' ``.grad`` (None: the parameter sits the step out)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group, mine in zip(self.param_groups, self._numpy.param_groups):
            mine.update(self._settings(group))
        grads = [None if p.grad is None else view_of(p.grad, "gradient of parameter", i) for i, p in enumerate(self._params)]
        self._numpy.step(grads)
        torch.autograd.graph.increment_version(self._params)
        return loss

    def state_dict(self) -> Dict[str, Any]:
        return self._numpy.state_dict()

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:  # type: ignore[override]
        self._numpy.load_state_dict(state_dict)
