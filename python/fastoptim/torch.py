r"""fastoptim for PyTorch: ``torch.optim`` optimizers whose step is fastoptim's compiled engine.

For CPU training and CPU offload. Each class subclasses ``torch.optim.Optimizer``, under torch's name,
with torch's signature and defaults (and fastoptim's extras, keyword-only: ``nonfinite``,
``max_grad_norm``, schedules for the schedulable settings), so step hooks, ``add_param_group``,
``torch.optim.lr_scheduler``, the profiler and ``torch.save`` work as with torch's own::

    import fastoptim.torch as fot
    opt = fot.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    for x, y in batches:
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

The step runs on the tensors' own memory (zero-copy; CPU, float32 or float64, contiguous), every
parameter of every group in one compiled call with the GIL released, and bumps each updated
tensor's autograd version, as torch's in-place updates do.

Semantics follow torch's: ``step(closure)`` runs the closure with grad enabled and returns its loss;
a parameter whose ``.grad`` is None is skipped (no state, no step counted); settings are read from
``param_groups`` at every step, so every lr_scheduler works, those that write momentum or betas
included; a parameter whose memory is replaced (``p.data = ...``) keeps its state, and parameters
swapped into ``param_groups[i]["params"]`` are picked up at the next step. ``state_dict()`` is in
torch's format, so a ``torch.optim.Adam`` checkpoint loads into ``fastoptim.torch.Adam`` and back;
unlike torch, a state dict that does not fit is refused with a ValueError and changes nothing.

Differences: ``nonfinite="raise"`` (the default) makes a step with an inf or NaN gradient raise
FloatingPointError and update nothing, where torch would write NaN into the parameters
(``nonfinite="skip"`` skips such steps, ``"ignore"`` behaves as torch). ``foreach`` and ``fused``
are accepted and ignored (every step is one fused multi-tensor call); ``capturable=True`` and
``differentiable=True`` raise ValueError. The fastest steps come with ``zero_grad(set_to_none=False)``:
gradient tensors then live across steps and their views are reused.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, ClassVar, Dict, List, Mapping, Optional, Tuple, Type

import numpy as np
import torch

from . import _core
from . import muon as _muon
from .checkpoint import state_arrays
from .lbfgs import LBFGSCore, lbfgs_defaults
from .lookahead import Lookahead
from .optimizer import EngineAccess, Optimizer as NumpyOptimizer
from .settings import StepOptions, settings_reader
from .sparse import RowSparse


_STEPPED, _CHANGED = 1, 2  # what Engine.step() returns
_FLOATS = (torch.float32, torch.float64, torch.bfloat16, torch.float16)


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
        self._engine = _core.Engine(self._rule, state_dtype, master_weights, rounding, seed)
        self._settings = settings_reader(self._rule)
        self._views = _core.TensorViews(_view_of, torch.Tensor.data_ptr, torch.Tensor.is_contiguous)
        super().__init__(params, defaults)

    # -- torch.optim.Optimizer's interface --------------------------------------------------------

    @property  # type: ignore[override]
    def state(self) -> Dict[torch.Tensor, Dict[str, Any]]:
        """Each parameter's state as torch tensors that share the engine's memory (built on access)."""
        out: Dict[torch.Tensor, Dict[str, Any]] = {}
        with self._engine.hold():
            self._sync()
            for group, entries in zip(self.param_groups, self._engine.snapshot(copy=False)):
                for p, entry in zip(group["params"], entries):
                    if entry is not None:
                        out[p] = _torch_entry(entry)
        return out

    @state.setter
    def state(self, value: Any) -> None:
        """torch.optim.Optimizer.__init__ assigns an empty dict: the engine holds the state instead."""
        if value:
            raise ValueError("fastoptim.torch keeps its state in the engine; use load_state_dict()")

    def add_param_group(self, param_group: Dict[str, Any]) -> None:
        """torch's add_param_group, with fastoptim's checks of the settings (ValueError names the group)."""
        super().add_param_group(param_group)
        index = len(self.param_groups) - 1
        try:
            self._engine.validate(index, self._settings(self.param_groups[index]))
            first = sum(len(g["params"]) for g in self.param_groups[:index])
            for i, p in enumerate(self.param_groups[index]["params"]):
                _view_of(p, "parameter", first + i)
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

    def state_dict(self) -> Dict[str, Any]:
        """torch's format: ``{"state": {index: {"step": tensor, <slot>: tensor}}, "param_groups": [...]}``,
        the state tensors sharing the engine's memory (as torch's share the optimizer's)."""
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
                        state[index] = _torch_entry(entry)
                    ids.append(index)
                    index += 1
                groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load a state dict in torch's format (from this class or from torch's optimizer of the same
        rule). Everything is checked first; a ValueError names what does not fit, and nothing changes."""
        groups, state = _torch_parts(state_dict, len(self.param_groups))
        slots = state_arrays(_core.rules[self._rule]["state"], self._engine.state_dtype or None)
        scalars = tuple(_core.rules[self._rule]["scalars"])
        with self._engine.hold():
            self._sync()
            entries, settings = [], []
            for g, (saved, current) in enumerate(zip(groups, self.param_groups)):
                ids = saved["params"]
                if len(ids) != len(current["params"]):
                    raise ValueError(f"param group {g}: state_dict has {len(ids)} parameters, this optimizer has {len(current['params'])}")
                entries.append([_engine_entry(state.get(i), i, slots, scalars) for i in ids])
                new = {**current, **{k: v for k, v in saved.items() if k not in ("params", "param_names")}}
                try:
                    self._engine.validate(g, self._settings(new))
                except (KeyError, TypeError, ValueError) as exc:
                    raise ValueError(f"param group {g}: {exc}") from exc
                settings.append(new)
            self._engine.load(entries)
            for current, new in zip(self.param_groups, settings):
                current.update(new)

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


def _view_of(t: torch.Tensor, what: str, index: int) -> Any:
    """A NumPy array on the tensor's own memory, or an error that names it (``what index``, as
    "gradient of parameter 3") and says why not. TensorViews calls it for every new tensor. A
    sparse COO gradient over rows (``nn.Embedding(sparse=True)``'s) becomes a :class:`RowSparse`
    of views of its indices and values, coalesced or not."""
    label = f"{what} {index}"
    rows = t.layout == torch.sparse_coo and what.startswith("gradient")  # a row-sparse gradient
    if t.layout != torch.strided and not rows:
        raise ValueError(f"{label} is a {t.layout} tensor; fastoptim.torch steps dense CPU tensors")
    if rows and t.sparse_dim() != 1:
        raise ValueError(f"{label} is sparse in {t.sparse_dim()} dimensions; fastoptim.torch takes sparse gradients over rows only")
    if t.device.type != "cpu":
        raise ValueError(f"{label} is on {t.device}; fastoptim.torch steps CPU tensors (move the optimizer's copy to the CPU)")
    if t.dtype not in _FLOATS:
        raise TypeError(f"{label} has dtype {t.dtype}; fastoptim.torch steps float32, float64, bfloat16 and float16 tensors")
    if rows:
        return RowSparse(t._indices()[0].numpy(), t._values().contiguous().numpy())
    if not t.is_contiguous():
        raise ValueError(f"{label} is not contiguous; it cannot be updated in place")
    return _numpy_array(t)


def _torch_entry(entry: Tuple[int, Dict[str, float], Dict[str, np.ndarray]]) -> Dict[str, Any]:
    """One parameter's engine state as torch keeps it: ``step`` and scalars as 0-d tensors (the
    scalars in float64, as the engine keeps them, so that a state_dict loads back bit for bit)."""
    step, scalars, slots = entry
    out: Dict[str, Any] = {"step": torch.tensor(float(step), dtype=torch.float32)}
    out.update({name: torch.tensor(value, dtype=torch.float64) for name, value in scalars.items()})
    out.update({name: _torch_array(array) for name, array in slots.items()})
    return out


def _torch_array(a: np.ndarray) -> torch.Tensor:
    """A tensor sharing a state array's memory (a bfloat16 one through its bits: NumPy's bfloat16
    is ml_dtypes', which torch.from_numpy does not know)."""
    if a.dtype.name == "bfloat16":
        return torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(a)


def _numpy_array(t: torch.Tensor) -> np.ndarray:
    """A NumPy array on a tensor's memory (the inverse of :func:`_torch_array`: a bfloat16 one
    through its bits); a copy only for a tensor not on the CPU or not contiguous."""
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:
        import ml_dtypes

        return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return t.numpy()


def _torch_parts(state_dict: Any, n_groups: int) -> Tuple[List[Mapping[str, Any]], Mapping[Any, Any]]:
    if not isinstance(state_dict, Mapping) or not isinstance(state_dict.get("state"), Mapping):
        raise ValueError("a state_dict is a dict with a 'state' dict and a 'param_groups' list")
    groups = state_dict.get("param_groups")
    if not isinstance(groups, (list, tuple)) or not all(isinstance(g, Mapping) and isinstance(g.get("params"), (list, tuple)) for g in groups):
        raise ValueError("state_dict['param_groups'] must be a list of dicts, each with its 'params' list")
    if len(groups) != n_groups:
        raise ValueError(f"state_dict has {len(groups)} param groups, this optimizer has {n_groups}")
    return list(groups), state_dict["state"]


def _engine_entry(entry: Any, index: Any, slots: Tuple[str, ...], scalars: Tuple[str, ...]) -> Any:
    """A torch-format parameter state as the engine loads it: None or (step, scalars, slots)."""
    if entry is None:
        return None
    where = f"state of parameter {index!r}"
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where} must be a dict, got {type(entry).__name__}")
    unknown = set(entry) - {"step", *slots, *scalars}
    if unknown:
        raise ValueError(f"{where} has unknown entries {sorted(unknown)}")
    step = entry.get("step", 0)  # torch's SGD keeps no step
    if isinstance(step, torch.Tensor):
        step = step.item()
    if isinstance(step, float):
        if not (step >= 0 and step == int(step)):
            raise ValueError(f"{where}: 'step' must be a whole number >= 0, got {step!r}")
        step = int(step)
    values = {}
    for name in scalars:
        if name in entry:
            v = entry[name]
            values[name] = float(v.item() if isinstance(v, torch.Tensor) else v)
    arrays = {}
    for name in slots:
        v = entry.get(name)
        if v is None:
            continue
        if not isinstance(v, torch.Tensor):
            raise ValueError(f"{where}: {name!r} must be a tensor, got {type(v).__name__}")
        arrays[name] = _numpy_array(v)
    return (step, values, arrays)


def _torch_class(numpy_class: Type[NumpyOptimizer]) -> Type[Optimizer]:
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
    namespace = {"__init__": __init__, "_rule": rule, "__doc__": doc, "__module__": __name__}
    # Behaviour the NumPy class mixes in (Schedule-Free's train() and eval()) works on the twin too.
    mixins = tuple(c for c in numpy_class.__bases__ if not issubclass(c, NumpyOptimizer))
    return type(numpy_class.__name__, (*mixins, Optimizer), namespace)


def _twins() -> Dict[str, Type[Optimizer]]:
    """A twin of every NumPy optimizer class with an update rule, under the same name."""
    import fastoptim

    classes = [c for c in vars(fastoptim).values() if isinstance(c, type) and issubclass(c, NumpyOptimizer) and getattr(c, "_rule", None)]
    return {c.__name__: _torch_class(c) for c in classes}


_TWINS = _twins()
globals().update(_TWINS)


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
            _view_of(p, "parameter", i)
            if p.dtype != self._params[0].dtype:
                raise ValueError(f"parameter {i} is {p.dtype}, parameter 0 is {self._params[0].dtype}: L-BFGS needs one dtype")

    def _arrays(self) -> List[np.ndarray]:
        return [_view_of(p, "parameter", i) for i, p in enumerate(self._params)]

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
            grads = [np.zeros(p.numel(), _view_of(p, "parameter", i).dtype) if p.grad is None
                     else _view_of(p.grad, "gradient of parameter", i).reshape(-1) for i, p in enumerate(self._params)]
            return float(loss.detach() if isinstance(loss, torch.Tensor) else loss), np.concatenate(grads)

        self._run(evaluate)
        torch.autograd.graph.increment_version(self._params)  # the parameters changed under autograd
        return first[0]


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
        ns_coefficients: Tuple[float, float, float] = _muon.NS_COEFFICIENTS,
        eps: float = 1e-7,
        ns_steps: int = _muon.NS_STEPS,
        adjust_lr_fn: Optional[str] = None,
        ns_dtype: str = "float32",
    ) -> None:
        defaults = _muon.muon_defaults(lr, weight_decay, momentum, nesterov, ns_coefficients, eps, ns_steps, adjust_lr_fn, ns_dtype)
        torch.optim.Optimizer.__init__(self, params, defaults)
        self._params: List[torch.Tensor] = [p for g in self.param_groups for p in g["params"]]
        views = iter([_view_of(p, "parameter", i) for i, p in enumerate(self._params)])
        self._numpy = _muon.Muon([{**self._settings(g), "params": [next(views) for _ in g["params"]]} for g in self.param_groups])

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
        grads = [None if p.grad is None else _view_of(p.grad, "gradient of parameter", i) for i, p in enumerate(self._params)]
        self._numpy.step(grads)
        torch.autograd.graph.increment_version(self._params)
        return loss

    def state_dict(self) -> Dict[str, Any]:
        return self._numpy.state_dict()

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:  # type: ignore[override]
        self._numpy.load_state_dict(state_dict)


__all__ = ["Optimizer", *_TWINS, "Lookahead", "LBFGS", "Muon"]
