"""The optimizer base class: parameter groups, the step, state_dict and checkpoints.

An optimizer updates the user's NumPy arrays in place. Each subclass names a compiled update rule
(``_rule``) and says how a parameter group's settings become the rule's scalars (``_hyper``); all
checking, state and stepping happens in one compiled engine per optimizer.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Dict, List, Sequence, Set, Tuple, Union

import numpy as np

from . import _core
from .schedules import Schedule, _from_spec, _restore, _same_shape, _to_spec

__all__ = ["Optimizer"]

Key = Union[int, str]
Params = Union[Iterable[np.ndarray], Mapping[str, np.ndarray], Iterable[Dict[str, Any]]]
Grads = Union[Sequence[np.ndarray], Mapping[str, np.ndarray]]

_NONFINITE = ("raise", "skip", "ignore")
_FORMAT = "fastoptim-state-1"


class Optimizer:
    """Base class of fastoptim's optimizers; it follows ``torch.optim.Optimizer``.

    ``params`` is one of:

    * a list of arrays, keyed ``0, 1, ...`` in the state;
    * a dict ``name -> array``, keyed by name, so ``step()`` also takes gradients by name;
    * a list of group dicts ``{"params": <list or dict>, "lr": ..., ...}`` whose missing settings
      take the constructor's values.

    Arrays must be float32 or float64, C-contiguous, aligned and writeable: they are updated in
    place and never copied. Their state (moments, buffers) has their dtype.

    ``lr``, ``weight_decay`` and the momentum-like settings (``momentum``, ``betas[0]``) take a
    schedule from :mod:`fastoptim.schedules` (evaluated once per step, per group, inside the
    compiled step) or any callable ``t -> float`` (the slow path), as well as a number.

    ``nonfinite`` says what a step does when a gradient holds inf or NaN: ``"raise"`` (default)
    raises FloatingPointError naming the parameter and updates nothing; ``"skip"`` skips the whole
    step and counts it in ``skipped_steps``; ``"ignore"`` does not check (one read of the gradients
    fewer per step).

    ``max_grad_norm`` clips the gradients' global L2 norm inside the step, as
    ``clip_grad_norm(grads, max_norm)`` before it would (torch's semantics), without touching the
    gradient arrays: the norm comes from the finiteness check's read, and the rules scale each
    gradient element as they read it. ``last_grad_norm`` holds the norm before clipping.
    """

    _rule: ClassVar[str]

    def __init__(
        self, params: Params, defaults: Dict[str, Any], *, nonfinite: str = "raise", max_grad_norm: float | None = None
    ) -> None:
        if nonfinite not in _NONFINITE:
            raise ValueError(f"nonfinite must be one of {_NONFINITE}, got {nonfinite!r}")
        if max_grad_norm is not None and not max_grad_norm > 0:
            raise ValueError(f"max_grad_norm must be > 0 or None, got {max_grad_norm!r}")
        self.max_grad_norm = max_grad_norm
        self.defaults: Dict[str, Any] = dict(defaults)
        self.nonfinite = nonfinite
        self.skipped_steps = 0
        self.param_groups: List[Dict[str, Any]] = []
        self.last_lr: List[float] = []
        self._engine = _core.Engine(self._rule)
        self._slots: Tuple[str, ...] = tuple(_core.rules[self._rule]["state"])
        self._scalars: Tuple[str, ...] = tuple(_core.rules[self._rule]["scalars"])
        self._keys: List[List[Key]] = []
        self._total = 0  # parameters over all groups
        self._named: bool | None = None
        for group in _as_groups(params):
            self.add_param_group(group)

    # -- construction -----------------------------------------------------------------------------

    def add_param_group(self, param_group: Dict[str, Any]) -> None:
        """Add a group of parameters with its own settings; missing settings take the defaults."""
        if not isinstance(param_group, Mapping) or "params" not in param_group:
            raise TypeError("a param group must be a dict with a 'params' entry")
        group = dict(param_group)
        params = group.pop("params")
        if isinstance(params, np.ndarray):
            params = [params]
        if isinstance(params, (set, frozenset)):
            raise TypeError("params must be an ordered collection (list or dict), not a set")
        named = isinstance(params, Mapping)
        names = [str(k) for k in params] if named else None
        arrays = list(params.values()) if named else list(params)
        if self._named is not None and named != self._named:
            raise ValueError("either every param group names its parameters (dict) or none does (list)")
        index = len(self.param_groups)
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        try:
            hyper = self._hyper(group)
        except (KeyError, TypeError, ValueError) as exc:
            raise type(exc)(f"param group {index}: {exc}") from None
        self._engine.validate(index, hyper)
        keys: List[Key] = list(names) if names is not None else list(range(self._total, self._total + len(arrays)))
        labels = [f"parameter {k!r}" if named else f"parameter {k}" for k in keys]
        reused = set(keys) & self._all_keys() if named else set()
        if reused:
            raise ValueError(f"param group {index}: names {sorted(reused)} are already used by another group")
        self._engine.add_group(arrays, labels)
        group["params"] = arrays
        if named:
            group["param_names"] = names
        self._named = named
        self._keys.append(keys)
        self._total += len(keys)
        self.param_groups.append(group)

    def _hyper(self, group: Dict[str, Any]) -> Tuple[float, ...]:
        """The rule's scalars for one group, in the order of ``_core.rules[rule]["hyper"]``."""
        raise NotImplementedError

    def _all_keys(self) -> Set[Key]:
        return {k for keys in self._keys for k in keys}

    # -- the step ---------------------------------------------------------------------------------

    def step(self, grads: Grads) -> None:
        """Update every parameter in place from its gradient.

        ``grads`` is a list in parameter order (all groups, in order) or, when the parameters were
        given by name, a dict ``name -> array``. Each gradient has its parameter's shape and dtype
        and is only read. One compiled call checks every gradient, then (unless ``nonfinite`` is
        ``"ignore"``) that all are finite, then updates all groups with the GIL released. Any error
        leaves every parameter and state array untouched.
        """
        per_group = self._split(grads)
        hypers = [self._hyper(g) for g in self.param_groups]
        if self._engine.step(per_group, hypers, self.nonfinite, self.max_grad_norm):
            self.last_lr = self._engine.last_lr()
        else:
            self.skipped_steps += 1

    @property
    def last_grad_norm(self) -> float | None:
        """The gradients' global L2 norm at the latest step, before clipping (with ``max_grad_norm``)."""
        value = self._engine.last_grad_norm()
        return None if self.max_grad_norm is None or value != value else value

    def _split(self, grads: Grads) -> List[List[np.ndarray]]:
        """Gradients per group. The arrays themselves are checked in C++, in one call."""
        cls = type(grads)
        if (cls is list or cls is tuple) and len(self._keys) == 1 and len(grads) == self._total:
            return [grads]  # type: ignore[list-item]  # the common case
        if cls is dict or isinstance(grads, Mapping):
            if not self._named:
                raise TypeError("gradients by name need parameters given by name (a dict)")
            try:
                out = [[grads[k] for k in keys] for keys in self._keys]  # type: ignore[index]
            except KeyError as exc:
                raise ValueError(f"no gradient for parameter {exc.args[0]!r}") from None
            if len(grads) != self._total:
                unknown = sorted(set(grads) - self._all_keys(), key=str)
                raise ValueError(f"gradients for unknown parameters {unknown}")
            return out
        if isinstance(grads, np.ndarray):
            raise TypeError("grads must be a list of arrays in parameter order (or a dict by name), not one array")
        if cls is not list and cls is not tuple:
            grads = list(grads)
        if len(grads) != self._total:
            raise ValueError(f"expected {self._total} gradients, one per parameter, got {len(grads)}")
        out, start = [], 0
        for keys in self._keys:
            out.append(list(grads[start : start + len(keys)]))
            start += len(keys)
        return out

    # -- state ------------------------------------------------------------------------------------

    def state_dict(self) -> Dict[str, Any]:
        """A snapshot of the optimizer: ``{"state", "param_groups", "skipped_steps"}``.

        ``state`` maps each parameter's key (its name, or its index) to ``{"step": int, <slot>: array}``
        for every state array the rule has allocated, plus the rule's scalar state (NAdam's
        ``mu_product``); the arrays are copies, so the snapshot does not change as training goes on. ``param_groups`` holds each group's settings with ``"params"``
        replaced by the keys. It round-trips through ``load_state_dict`` and through ``save``/``load``
        bit for bit.
        """
        state: Dict[Key, Dict[str, Any]] = {}
        for g, keys in enumerate(self._keys):
            step = self._engine.get_step(g)
            slots: Dict[str, List[np.ndarray]] = {}
            for s, n in enumerate(self._slots):
                arrs = self._engine.state(g, s)
                if arrs is not None:
                    slots[n] = arrs
            if step == 0 and not slots:
                continue
            scalars = self._engine.scalars(g)
            for i, key in enumerate(keys):
                entry: Dict[str, Any] = {"step": step, **scalars}
                entry.update({n: arrs[i].copy() for n, arrs in slots.items()})
                state[key] = entry
        groups = []
        for group, keys in zip(self.param_groups, self._keys):
            saved = {k: _encode(v) for k, v in group.items() if k not in ("params", "param_names")}
            saved["params"] = list(keys)
            groups.append(saved)
        return {"state": state, "param_groups": groups, "skipped_steps": self.skipped_steps}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a snapshot from ``state_dict()``.

        Everything is checked first (the number of groups and parameters, names, settings, and the
        shape and dtype of every state array, named in the error); on any mismatch a ValueError is
        raised and the optimizer is left unchanged.
        """
        for field in ("state", "param_groups"):
            if field not in state_dict:
                raise ValueError(f"state_dict has no {field!r} entry")
        groups, state = state_dict["param_groups"], state_dict["state"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"state_dict has {len(groups)} param groups, this optimizer has {len(self.param_groups)}")
        new_groups, plans, restores = [], [], []  # type: ignore[var-annotated]
        for g, (saved, keys) in enumerate(zip(groups, self._keys)):
            saved_keys = list(saved["params"])
            if len(saved_keys) != len(keys):
                raise ValueError(f"param group {g}: state_dict has {len(saved_keys)} parameters, this optimizer has {len(keys)}")
            if self._named and saved_keys != keys:
                raise ValueError(f"param group {g}: state_dict names {saved_keys} but the parameters are named {keys}")
            group = dict(self.param_groups[g])
            for k, v in saved.items():
                if k not in ("params", "param_names"):
                    group[k] = _decode(v, self.param_groups[g].get(k), restores, f"param group {g}: {k}")
            self._engine.validate(g, self._hyper(group))
            new_groups.append(group)
            plans.append(self._plan_group_state(g, [state.get(k) for k in saved_keys], saved_keys))
        for schedule, spec in restores:
            _restore(schedule, spec)
        for g, (step, scalars, slots) in enumerate(plans):
            for s, arrays in enumerate(slots):
                self._engine.set_state(g, s, arrays)
            self._engine.set_step(g, step)
            self._engine.set_scalars(g, scalars)
            keep = self.param_groups[g]
            new_groups[g]["params"] = keep["params"]
            if "param_names" in keep:
                new_groups[g]["param_names"] = keep["param_names"]
            self.param_groups[g].clear()
            self.param_groups[g].update(new_groups[g])
        self.skipped_steps = int(state_dict.get("skipped_steps", 0))

    def _plan_group_state(self, g: int, entries: List[Any], keys: List[Key]) -> Tuple[int, Dict[str, float], List[Any]]:
        """Check one group's saved entries; return its step, scalar state and per-slot arrays (None: no state)."""
        present = [e for e in entries if e is not None]
        if not present:
            initial: List[float] = list(_core.rules[self._rule]["scalar_init"])
            return 0, dict(zip(self._scalars, initial)), [None] * len(self._slots)
        if len(present) != len(entries):
            missing = [k for k, e in zip(keys, entries) if e is None]
            raise ValueError(f"param group {g}: state_dict has no state for {missing}")
        steps = {int(e.get("step", 0)) for e in present}
        if len(steps) != 1:
            raise ValueError(f"param group {g}: parameters saved at different steps {sorted(steps)}")
        for k, e in zip(keys, entries):
            unknown = set(e) - set(self._slots) - set(self._scalars) - {"step"}
            if unknown:
                raise ValueError(f"state of parameter {k!r} has unknown entries {sorted(unknown)} for {type(self).__name__}")
        scalars = {}
        for name in self._scalars:
            values = {float(e[name]) for e in entries if name in e}
            if len(values) > 1 or (values and not all(name in e for e in entries)):
                raise ValueError(f"param group {g}: {name!r} differs between parameters of one group")
            if values:
                scalars[name] = values.pop()
        slots: List[Any] = []
        for s, name in enumerate(self._slots):
            have = [name in e for e in entries]
            if any(have) and not all(have):
                raise ValueError(f"param group {g}: state {name!r} is saved for some parameters only")
            arrays = [e[name] for e in entries] if all(have) else None
            if arrays is not None:
                self._engine.check_state(g, s, arrays)
            slots.append(arrays)
        return steps.pop(), scalars, slots

    def save(self, path: Union[str, os.PathLike]) -> None:
        """Write ``state_dict()`` to one ``.npz`` file, atomically (a temporary file, then a rename).

        Arrays are stored as they are and settings as JSON, so ``load`` restores the optimizer bit for
        bit: a run resumed from the file continues exactly as one that never stopped.
        """
        sd = self.state_dict()
        arrays: Dict[str, np.ndarray] = {}
        entries = []
        for i, (key, entry) in enumerate(sd["state"].items()):
            slots = [n for n in entry if n in self._slots]
            scalars = {n: entry[n] for n in self._scalars if n in entry}
            entries.append([key, entry["step"], slots, scalars])
            arrays.update({f"state/{i}/{n}": entry[n] for n in slots})
        meta = {
            "format": _FORMAT,
            "optimizer": type(self).__name__,
            "param_groups": sd["param_groups"],
            "skipped_steps": sd["skipped_steps"],
            "state": entries,
        }
        arrays["meta"] = np.array(json.dumps(meta, default=_json_default))
        path = os.fspath(path)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".fastoptim-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)  # type: ignore[arg-type]
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise

    def load(self, path: Union[str, os.PathLike]) -> None:
        """Restore a file written by ``save``; checked as ``load_state_dict`` checks."""
        with np.load(os.fspath(path), allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("format") != _FORMAT:
                raise ValueError(f"{os.fspath(path)!r} is not a fastoptim checkpoint")
            state = {}
            for i, (key, step, slots, scalars) in enumerate(meta["state"]):
                state[key] = {"step": step, **scalars, **{n: z[f"state/{i}/{n}"] for n in slots}}
        # JSON turned tuples (betas) into lists; load_state_dict's decoding turns them back.
        self.load_state_dict({"state": state, "param_groups": meta["param_groups"], "skipped_steps": meta["skipped_steps"]})

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key not in ("params", "param_names"):
                    lines.append(f"    {key}: {group[key]}")
        return "\n".join(lines) + "\n)"


def _as_groups(params: Params) -> List[Dict[str, Any]]:
    if isinstance(params, np.ndarray):
        raise TypeError("params must be a list or dict of arrays, or a list of param group dicts; got one array")
    if isinstance(params, Mapping):
        return [{"params": params}]
    if isinstance(params, (set, frozenset)):
        raise TypeError("params must be an ordered collection (list or dict), not a set")
    items: List[Any] = list(params)
    if not items:
        raise ValueError("optimizer got an empty parameter list")
    if all(isinstance(p, Mapping) for p in items):
        return [dict(p) for p in items]
    if any(isinstance(p, Mapping) for p in items):
        raise TypeError("params mixes arrays and param group dicts")
    return [{"params": items}]


def _encode(value: Any) -> Any:
    """A group setting as state_dict() holds it: schedules become JSON-able specs with their state."""
    if isinstance(value, Schedule):
        return {"__schedule__": _to_spec(value)}
    if isinstance(value, tuple):
        return tuple(_encode(v) for v in value)
    if callable(value):
        return {"__callable__": repr(value)}
    return value


def _decode(saved: Any, current: Any, restores: List[Any], where: str) -> Any:
    """The inverse of _encode. A saved schedule of the same shape as the current one is kept as the
    same object (the caller may hold it, as with ReduceOnPlateau) and its state queued in
    ``restores``, to be loaded once every check has passed."""
    if isinstance(saved, Mapping) and "__schedule__" in saved:
        spec = saved["__schedule__"]
        if isinstance(current, Schedule) and _same_shape(_to_spec(current), spec):
            restores.append((current, spec))
            return current
        try:
            return _from_spec(spec)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: cannot rebuild the saved schedule: {exc}") from None
    if isinstance(saved, Mapping) and "__callable__" in saved:
        if callable(current) and not isinstance(current, Schedule):
            return current
        raise ValueError(
            f"{where} was a Python callable ({saved['__callable__']}), which a checkpoint cannot hold; "
            "give the optimizer the same callable before loading"
        )
    if isinstance(saved, (tuple, list)):
        cur = list(current) if isinstance(current, (tuple, list)) and len(current) == len(saved) else [None] * len(saved)
        return tuple(_decode(s, c, restores, where) for s, c in zip(saved, cur))
    return saved


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot save a setting of type {type(value).__name__}")
