"""``torch.optim.Muon``'s twin: fastoptim's Muon on torch tensors."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np

import torch

from ..rules import muon as numpy_muon
from .views import numpy_array, view_of

__all__ = ["Muon"]


class Muon(torch.optim.Optimizer):
    """``torch.optim.Muon`` with fastoptim's Muon (see :class:`fastoptim.Muon`, whose ``ns_dtype`` it
    adds): the same signature, 2-D dense CPU float32/float64 tensors updated in place, the matrix
    products in NumPy (BLAS). As torch's, it keeps each parameter's ``momentum_buffer`` (a tensor) in
    ``state``, so ``state_dict()`` is torch's format and checkpoints move between this class and
    ``torch.optim.Muon`` both ways. ``param_groups`` are read at every step: edited settings,
    swapped tensors and groups added with ``add_param_group`` all take effect."""

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
        self._views()

    def add_param_group(self, param_group: Dict[str, Any]) -> None:
        """torch's add_param_group, with Muon's checks of the group (nothing added if they fail)."""
        super().add_param_group(param_group)
        try:
            numpy_muon.check_group(self.param_groups[-1], len(self.param_groups) - 1)
            self._views()
        except Exception:
            self.param_groups.pop()
            raise

    def _views(self) -> List[np.ndarray]:
        """NumPy views of every group's parameters, as they are now, checked."""
        views = [view_of(p, "parameter", i) for i, p in enumerate(p for g in self.param_groups for p in g["params"])]
        numpy_muon.check_params(views)
        return views

    @torch.no_grad()
    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:  # type: ignore[override]
        """One Muon step from the tensors' ``.grad`` (None: the parameter sits the step out). The
        parameters, settings, gradients and buffers are all checked before anything changes."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        params = [p for g in self.param_groups for p in g["params"]]
        views = self._views()
        for g, group in enumerate(self.param_groups):
            numpy_muon.check_group({**self.defaults, **group}, g)
        work = []
        for i, (p, v) in enumerate(zip(params, views)):
            if p.grad is None:
                continue
            grad = view_of(p.grad, "gradient of parameter", i)
            numpy_muon.check_grad(f"parameter {i}", v, grad)
            buf = self.state[p].get("momentum_buffer")
            if buf is not None and (buf.shape != p.shape or buf.dtype != p.dtype):
                raise ValueError(f"momentum_buffer of parameter {i} is {tuple(buf.shape)} {buf.dtype}, the parameter {tuple(p.shape)} {p.dtype}")
            work.append((p, v, grad))
        owner = {id(p): g for g in self.param_groups for p in g["params"]}
        for p, v, grad in work:
            if "momentum_buffer" not in self.state[p]:
                self.state[p]["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.contiguous_format)
            numpy_muon.muon_update(v, grad, numpy_array(self.state[p]["momentum_buffer"]), {**self.defaults, **owner[id(p)]})
        torch.autograd.graph.increment_version([p for p, _, _ in work])
        return loss

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """torch's load, after checking every entry (``momentum_buffer`` a tensor of its parameter's
        shape; ``step``, as fastoptim.Muon keeps it, dropped): a ValueError names what does not fit."""
        if not isinstance(state_dict, Mapping) or not isinstance(state_dict.get("state"), Mapping):
            raise ValueError("a Muon state_dict is a dict with a 'state' dict and a 'param_groups' list")
        params = [p for g in self.param_groups for p in g["params"]]
        state = {}
        for i, entry in state_dict["state"].items():
            if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(params):
                raise ValueError(f"state for unknown parameter {i!r} (the keys are parameter ids, as integers)")
            if not isinstance(entry, Mapping) or set(entry) - {"step", "momentum_buffer"}:
                raise ValueError(f"state of parameter {i} must be a dict of 'momentum_buffer' (and 'step'), got {entry!r:.80}")
            buf = entry.get("momentum_buffer")
            if buf is not None:
                buf = torch.as_tensor(buf)
                if tuple(buf.shape) != tuple(params[i].shape):
                    raise ValueError(f"momentum_buffer of parameter {i} has shape {tuple(buf.shape)}, the parameter {tuple(params[i].shape)}")
                state[i] = {"momentum_buffer": buf}
        for g, group in enumerate(state_dict.get("param_groups") or []):
            numpy_muon.check_group({**self.defaults, **{k: v for k, v in group.items() if k != "params"}}, g)
        super().load_state_dict({**state_dict, "state": state})
