"""The ``torch.optim.Optimizer`` whose step is the engine's, and its twin of every NumPy rule class
(see :mod:`fastoptim.torch` for the semantics)."""

from __future__ import annotations

import inspect
from collections import defaultdict
from typing import Any, Callable, ClassVar, Dict, List, Mapping, Optional, Type

import numpy as np
import torch

from .. import _core, rules
from ..core.checkpoint import state_arrays
from ..core.optimizer import EngineAccess, Optimizer as NumpyOptimizer
from ..core.settings import StepOptions, settings_reader
from .state import engine_entry, torch_entry, torch_parts
from .views import numpy_array, torch_array, view_of

__all__ = ["Optimizer", "twin_class", "twins", "state_dict_with_hooks", "load_state_dict_with_hooks"]

_STEPPED, _CHANGED = 1, 2  # what Engine.step() returns


class Optimizer(StepOptions, EngineAccess, torch.optim.Optimizer):
    """Base class: a ``torch.optim.Optimizer`` whose step runs fastoptim's engine (see the module)."""

    _rule: ClassVar[str]

    def __init__(
        self,
        params: Any,
        defaults: Dict[str, Any],
        *,
        nonfinite: str = "raise",
        max_grad_norm: Optional[float] = None,
        state_dtype: Optional[str] = None,
        master_weights: bool = True,
        rounding: str = "nearest",
        seed: int = 0,
    ) -> None:
        self._init_step_options(nonfinite, max_grad_norm, bool(defaults.get("capturable")), bool(defaults.get("differentiable")))
        self._precision = dict(state_dtype=state_dtype, master_weights=master_weights, rounding=rounding, seed=seed)
        self._engine = _core.Engine(self._rule, state_dtype, master_weights, rounding, seed)
        self._settings = settings_reader(self._rule)
        self._views = _core.TensorViews(view_of, torch.Tensor.data_ptr, torch.Tensor.is_contiguous)
        super().__init__(params, defaults)

    # -- torch.optim.Optimizer's interface --------------------------------------------------------

    @property  # type: ignore[override]
    def state(self) -> Dict[torch.Tensor, Dict[str, Any]]:
        """Each parameter's state as torch tensors that share the engine's memory (built on access);
        as torch's, ``state[p]`` of a parameter without state is ``{}``."""
        out: Dict[torch.Tensor, Dict[str, Any]] = defaultdict(dict)
        with self._engine.hold():
            self._sync()
            for group, entries in zip(self.param_groups, self._engine.snapshot(copy=False)):
                for p, entry in zip(group["params"], entries):
                    if entry is not None:
                        out[p] = torch_entry(entry)
        return out

    @state.setter
    def state(self, value: Any) -> None:
        """Assigning an empty mapping resets every parameter's state (step counts included), as for a
        new optimizer (torch.optim.Optimizer.__init__ assigns one); anything else is refused: the
        engine holds the state, and ``load_state_dict()`` sets it."""
        if not isinstance(value, Mapping) or value:
            raise ValueError("fastoptim.torch keeps its state in the engine: assign {} to reset it, or use load_state_dict()")
        if getattr(self, "param_groups", None):
            with self._engine.hold():
                self._sync()
                self._engine.load([[None] * len(g["params"]) for g in self.param_groups])

    def add_param_group(self, param_group: Dict[str, Any]) -> None:
        """torch's add_param_group, with fastoptim's checks of the settings (ValueError names the group)."""
        super().add_param_group(param_group)
        index = len(self.param_groups) - 1
        try:
            self._engine.validate(index, self._settings(self.param_groups[index]))
            first = sum(len(g["params"]) for g in self.param_groups[:index])
            for i, p in enumerate(self.param_groups[index]["params"]):
                view_of(p, "parameter", first + i)
        except Exception:
            self.param_groups.pop()
            raise

    @torch.no_grad()
    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:  # type: ignore[override]
        """One step over every parameter that has a gradient; returns the closure's loss, if any."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        lists, grads, stepped = self._views.gather([g["params"] for g in self.param_groups])
        hypers = [self._settings(g) for g in self.param_groups]
        outcome = self._engine.step(lists, grads, hypers, self._nonfinite, self._max_grad_norm)
        if outcome == _CHANGED:  # parameters swapped or moved: register them, then step
            self._register(lists)
            outcome = self._engine.step(lists, grads, hypers, self._nonfinite, self._max_grad_norm)
        if outcome == _STEPPED:
            torch.autograd.graph.increment_version(stepped)
        else:
            self.skipped_steps += 1
        return loss

    @torch.no_grad()
    def _step_only(self, params: List[torch.Tensor]) -> None:
        """Step ``params`` alone, in the engine call :meth:`step` makes, the other parameters'
        gradients left out (see :func:`fastoptim.torch.step_in_backward`)."""
        chosen = {id(p) for p in params}
        lists, grads, _ = self._views.gather([g["params"] for g in self.param_groups])
        for group, gs in zip(self.param_groups, grads):
            for i, p in enumerate(group["params"]):
                if id(p) not in chosen:
                    gs[i] = None
        hypers = [self._settings(g) for g in self.param_groups]
        outcome = self._engine.step(lists, grads, hypers, self._nonfinite, self._max_grad_norm)
        if outcome == _CHANGED:
            self._register(lists)
            outcome = self._engine.step(lists, grads, hypers, self._nonfinite, self._max_grad_norm)
        if outcome == _STEPPED:
            torch.autograd.graph.increment_version(params)
        else:
            self.skipped_steps += 1

    def state_dict(self) -> Dict[str, Any]:
        """torch's format: ``{"state": {index: {"step": tensor, <slot>: tensor}}, "param_groups": [...]}``,
        the state tensors sharing the engine's memory (as torch's share the optimizer's). The
        ``register_state_dict_pre/post_hook`` hooks run as torch runs them."""
        return state_dict_with_hooks(self, self._state_dict)

    def _state_dict(self) -> Dict[str, Any]:
        with self._engine.hold():
            self._sync()
            snapshot = self._engine.snapshot(copy=False)
            state: Dict[int, Dict[str, Any]] = {}
            groups: List[Dict[str, Any]] = []
            index = 0
            for group, entries in zip(self.param_groups, snapshot):
                ids = []
                for entry in entries:
                    if entry is not None:
                        state[index] = torch_entry(entry)
                    ids.append(index)
                    index += 1
                groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load a state dict in torch's format (from this class or from torch's optimizer of the same
        rule). Everything is checked first; a ValueError names what does not fit, and nothing changes.
        The ``register_load_state_dict_pre/post_hook`` hooks run as torch runs them."""
        load_state_dict_with_hooks(self, state_dict, self._load_state_dict)

    def _load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        groups, state = torch_parts(state_dict, len(self.param_groups))
        slots = state_arrays(_core.rules[self._rule]["state"], self._engine.state_dtype or None)
        scalars = tuple(_core.rules[self._rule]["scalars"])
        with self._engine.hold():
            self._sync()
            entries, settings = [], []
            for g, (saved, current) in enumerate(zip(groups, self.param_groups)):
                ids = saved["params"]
                if len(ids) != len(current["params"]):
                    raise ValueError(f"param group {g}: state_dict has {len(ids)} parameters, this optimizer has {len(current['params'])}")
                entries.append([engine_entry(state.get(i), i, slots, scalars) for i in ids])
                new = {**current, **{k: v for k, v in saved.items() if k not in ("params", "param_names")}}
                try:
                    self._engine.validate(g, self._settings(new))
                except (KeyError, TypeError, ValueError) as exc:
                    raise ValueError(f"param group {g}: {exc}") from exc
                settings.append(new)
            self._engine.load(entries)
            for current, new in zip(self.param_groups, settings):
                current.update(new)

    def saved_array(self, a: np.ndarray) -> torch.Tensor:
        """A copy of ``a`` as a tensor: what ``torch.load(weights_only=True)`` reads back."""
        return torch_array(a.copy())

    def loaded_array(self, x: Any) -> np.ndarray:
        """A tensor (or NumPy array) from a state dict as a NumPy array."""
        return numpy_array(x) if isinstance(x, torch.Tensor) else np.asarray(x)

    # -- copies and pickles: rebuilt from the state dict -----------------------------------------------

    def __getstate__(self) -> Dict[str, Any]:
        return {
            "param_groups": self.param_groups,
            "defaults": self.defaults,
            "state_dict": self.state_dict(),
            "options": dict(nonfinite=self.nonfinite, max_grad_norm=self.max_grad_norm, **self._precision),
            "skipped_steps": self.skipped_steps,
        }

    def __setstate__(self, saved: Dict[str, Any]) -> None:
        Optimizer.__init__(self, saved["param_groups"], saved["defaults"], **saved["options"])
        self.load_state_dict(saved["state_dict"])
        self.skipped_steps = saved["skipped_steps"]

    # -- tensors to the engine --------------------------------------------------------------------

    def _register(self, lists: List[List[np.ndarray]]) -> None:
        """Hand the engine the current parameters, known by their tensors (so a tensor whose memory
        moved keeps its state), and forget views of tensors no longer in any group."""
        labels: List[List[str]] = []
        index = 0
        for group in self.param_groups:
            names = group.get("param_names")
            labels.append([f"parameter {names[i]!r}" if names else f"parameter {index + i}" for i in range(len(group["params"]))])
            index += len(group["params"])
        params = [g["params"] for g in self.param_groups]
        self._engine.set_groups(lists, labels, params)
        self._views.retain(params)

    def _sync(self) -> None:
        """Register the parameters if param_groups changed since the engine last saw them."""
        lists = self._views.params([g["params"] for g in self.param_groups])
        if not self._engine.matches(lists):
            self._register(lists)


def twin_class(numpy_class: Type[NumpyOptimizer]) -> Type[Optimizer]:
    """The ``fastoptim.torch`` twin of a NumPy optimizer class: the same signature (torch's order and
    defaults, which the NumPy classes follow), torch's flags kept in the groups as torch keeps them."""
    signature = inspect.signature(numpy_class)
    torch_flags = [f for f in ("foreach", "fused", "capturable", "differentiable") if f in signature.parameters]
    rule = numpy_class._rule
    decoupled = getattr(numpy_class, "_decoupled", False)

    def __init__(self: Optimizer, params: Any, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(params, *args, **kwargs)
        bound.apply_defaults()
        defaults = dict(bound.arguments)
        del defaults["params"]
        options = ("nonfinite", "max_grad_norm", "state_dtype", "master_weights", "rounding", "seed")
        extras = {k: defaults.pop(k) for k in options if k in defaults}
        if "decoupled_weight_decay" in _core.rules[rule]["hyper"]:
            defaults.setdefault("decoupled_weight_decay", decoupled)
        defaults.update(getattr(numpy_class, "_group_extras", {}))
        Optimizer.__init__(self, params, defaults, **extras)

    __init__.__signature__ = signature  # type: ignore[attr-defined]
    doc = (
        f"``torch.optim`` twin of :class:`fastoptim.{numpy_class.__name__}`: the same update, signature "
        f"and defaults, on torch tensors (see :mod:`fastoptim.torch`). torch flags taken: "
        f"{', '.join(torch_flags) or 'none'}.\n\n" + (numpy_class.__doc__ or "")
    )
    namespace = {"__init__": __init__, "_rule": rule, "__doc__": doc, "__module__": "fastoptim.torch"}
    # Behaviour the NumPy class mixes in (Schedule-Free's train() and eval()) works on the twin too.
    mixins = tuple(c for c in numpy_class.__bases__ if not issubclass(c, NumpyOptimizer))
    return type(numpy_class.__name__, (*mixins, Optimizer), namespace)


def twins() -> Dict[str, Type[Optimizer]]:
    """A twin of every NumPy optimizer class with an update rule, under the same name."""
    classes = [c for c in vars(rules).values() if isinstance(c, type) and issubclass(c, NumpyOptimizer) and getattr(c, "_rule", None)]
    return {c.__name__: twin_class(c) for c in classes}


def state_dict_with_hooks(opt: torch.optim.Optimizer, build: Callable[[], Dict[str, Any]]) -> Dict[str, Any]:
    """``build()``'s state dict with ``opt``'s state-dict hooks around it, as ``torch.optim.Optimizer``
    runs them: each pre-hook with the optimizer, then each post-hook, whose result (if not None)
    replaces the dict."""
    for pre_hook in opt._optimizer_state_dict_pre_hooks.values():
        pre_hook(opt)
    state_dict = build()
    for post_hook in opt._optimizer_state_dict_post_hooks.values():
        result = post_hook(opt, state_dict)
        if result is not None:
            state_dict = result
    return state_dict


def load_state_dict_with_hooks(opt: torch.optim.Optimizer, state_dict: Mapping[str, Any], load: Callable[[Any], None]) -> None:
    """``load`` of a shallow copy of ``state_dict`` with ``opt``'s load hooks around it, as
    ``torch.optim.Optimizer`` runs them (a pre-hook's result, if not None, replaces the dict)."""
    state_dict = dict(state_dict) if isinstance(state_dict, Mapping) else state_dict
    for pre_hook in opt._optimizer_load_state_dict_pre_hooks.values():
        result = pre_hook(opt, state_dict)
        if result is not None:
            state_dict = result
    load(state_dict)
    for post_hook in opt._optimizer_load_state_dict_post_hooks.values():
        post_hook(opt)
