"""Checkpoints: how an optimizer's ``state_dict()`` is checked before loading, and its ``.npz`` file.

:meth:`Optimizer.load_state_dict` calls :func:`plan_load`, which checks a state dict against the
optimizer and turns it into a :class:`LoadPlan`: nothing in the plan can fail to apply, so a refused
load changes nothing. :meth:`Optimizer.save` and :meth:`Optimizer.load` use :func:`write` and
:func:`read`. A file holds the arrays as they are and the rest as JSON in the entry ``meta``::

    {"format": "fastoptim-state-1", "optimizer": "Adam", "rule": "adam", "param_groups": [...],
     "skipped_steps": 0, "state": [[key, step, [slot names], {scalar: value}], ...]}

with the state arrays in entries ``state/<i>/<slot>``, and ``"state_dtype": "bfloat16"``,
``"int8"`` or ``"int4"`` when the state is kept so (bfloat16 arrays are stored as their uint16 bits;
a quantized slot is two entries, ``<slot>`` and ``<slot>.absmax``).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Dict, List, Sequence, Tuple, Union

import numpy as np

from ..schedules import Schedule, from_spec, same_schedule, state_updates, to_spec

__all__ = ["FORMAT", "LoadPlan", "encode", "plan_load", "read", "state_arrays", "write"]

FORMAT = "fastoptim-state-1"
MASTER_LOW_BITS = "master_low_bits"  # a bfloat16 parameter's low 16 bits: uint16 whatever the state's dtype
Key = Union[int, str]


def encode(value: Any) -> Any:
    """A group setting as ``state_dict()`` holds it: schedules become JSON-able specs with their state."""
    if isinstance(value, Schedule):
        return {"__schedule__": to_spec(value)}
    if isinstance(value, tuple):
        return tuple(encode(v) for v in value)
    if callable(value):
        return {"__callable__": repr(value)}
    return value


@dataclass
class LoadPlan:
    """A checked state dict, ready to apply."""

    groups: List[Dict[str, Any]] = field(default_factory=list)  # every group's settings
    entries: List[List[Any]] = field(default_factory=list)  # per group, per parameter: None or (step, scalars, slots)
    restores: List[Tuple[Schedule, List[float]]] = field(default_factory=list)  # schedule states to set
    warnings: List[str] = field(default_factory=list)
    skipped_steps: int = 0


def plan_load(
    state_dict: Any,
    optimizer: str,
    keys: List[List[Key]],
    named: bool,
    groups: List[Dict[str, Any]],
    slots: Sequence[str],
    scalars: Sequence[str],
    strict: bool,
    state_dtype: str | None = None,
) -> LoadPlan:
    """Check ``state_dict`` against an optimizer (its class name, parameter keys per group, named or
    not, current groups, state slots, scalar names and state_dtype); ValueError names the first problem."""
    if not isinstance(state_dict, Mapping):
        raise ValueError(f"a state_dict is a dict, got {type(state_dict).__name__}")
    for name in ("state", "param_groups"):
        if name not in state_dict:
            raise ValueError(f"state_dict has no {name!r} entry")
    saved_by = state_dict.get("optimizer", optimizer)
    if saved_by != optimizer:
        raise ValueError(f"state_dict was written by {saved_by}; this optimizer is {optimizer}")
    saved_dtype = state_dict.get("state_dtype")
    if saved_dtype != state_dtype:
        raise ValueError(f"state_dict's state was kept with state_dtype={saved_dtype!r}; this optimizer has state_dtype={state_dtype!r}")
    state, saved_groups = state_dict["state"], state_dict["param_groups"]
    if not isinstance(state, Mapping):
        raise ValueError(f"state_dict['state'] must be a dict, got {type(state).__name__}")
    if not isinstance(saved_groups, (list, tuple)) or not all(isinstance(g, Mapping) for g in saved_groups):
        raise ValueError("state_dict['param_groups'] must be a list of dicts")
    if len(saved_groups) != len(groups):
        raise ValueError(f"state_dict has {len(saved_groups)} param groups, this optimizer has {len(groups)}")
    plan = LoadPlan(skipped_steps=_skipped_steps(state_dict.get("skipped_steps", 0)))
    saved_keys: List[List[Key]] = []
    for g, (saved, own) in enumerate(zip(saved_groups, keys)):
        ks = saved.get("params")
        if not isinstance(ks, (list, tuple)):
            raise ValueError(f"param group {g}: 'params' must be the list of parameter keys")
        if len(ks) != len(own):
            raise ValueError(f"param group {g}: state_dict has {len(ks)} parameters, this optimizer has {len(own)}")
        if named and list(ks) != own:
            raise ValueError(f"param group {g}: state_dict names {list(ks)} but the parameters are named {own}")
        saved_keys.append(list(ks))
    _match_keys(state, [k for ks in saved_keys for k in ks], strict, plan)
    arrays = state_arrays(slots, state_dtype)
    allowed = {"step", *arrays, *scalars}
    for ks in saved_keys:
        plan.entries.append([_entry(state.get(k), k, allowed, arrays, scalars) for k in ks])
    for g, (saved, current) in enumerate(zip(saved_groups, groups)):
        group = dict(current)
        for name, value in saved.items():
            if name not in ("params", "param_names"):
                group[name] = _decode(value, current.get(name), f"param group {g}: {name}", strict, plan)
        plan.groups.append(group)
    return plan


def state_arrays(slots: Sequence[str], state_dtype: str | None) -> Tuple[str, ...]:
    """The names of the arrays a parameter's saved state may hold: the rule's slots (with their
    ``.absmax`` under ``state_dtype="int8"`` or ``"int4"``) and a 16-bit parameter's master weights (which of
    them fit a parameter, the engine checks)."""
    absmax = tuple(f"{n}.absmax" for n in slots) if state_dtype in ("int8", "int4") else ()
    return (*slots, *absmax, MASTER_LOW_BITS, "master_delta")


def _skipped_steps(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"state_dict's 'skipped_steps' must be an integer >= 0, got {value!r}")
    return int(value)


def _match_keys(state: Mapping[Key, Any], expected: List[Key], strict: bool, plan: LoadPlan) -> None:
    known = set(expected)
    unexpected = sorted((k for k in state if k not in known), key=repr)
    missing = [k for k in expected if k not in state]
    if not unexpected and not missing:
        return
    what = f"state_dict's state does not match the parameters: missing keys {missing}, unexpected keys {unexpected}"
    if strict:
        raise ValueError(what + " (load_state_dict(..., strict=False) starts the missing ones fresh)")
    plan.warnings.append(what + "; the missing ones start fresh, the unexpected ones are ignored")


def _entry(entry: Any, key: Key, allowed: set, slots: Sequence[str], scalars: Sequence[str]) -> Any:
    """One parameter's saved state as the engine takes it: None, or (step, scalars, slots)."""
    if entry is None:
        return None
    where = f"state of parameter {key!r}"
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where} must be a dict, got {type(entry).__name__}")
    unknown = set(entry) - allowed
    if unknown:
        raise ValueError(f"{where} has unknown entries {sorted(unknown, key=str)} (this rule keeps {sorted(allowed)})")
    if "step" not in entry:
        raise ValueError(f"{where} has no 'step'")
    return (
        entry["step"],
        {n: entry[n] for n in scalars if n in entry},
        {n: entry[n] for n in slots if n in entry},
    )


def _decode(saved: Any, current: Any, where: str, strict: bool, plan: LoadPlan) -> Any:
    """The inverse of :func:`encode`. A saved schedule the same as the current one keeps the current
    object (the caller may hold it, as with ReduceOnPlateau), its state queued in ``plan.restores``."""
    if isinstance(saved, Mapping) and "__callable__" in saved:
        if callable(current) and not isinstance(current, Schedule):
            return current
        raise ValueError(
            f"{where} was a Python callable ({saved['__callable__']}), which a checkpoint cannot hold; "
            "give the optimizer the same callable before loading"
        )
    spec = saved["__schedule__"] if isinstance(saved, Mapping) and "__schedule__" in saved else None
    if isinstance(current, Schedule):
        if spec is not None and _same(to_spec(current), spec, where):
            plan.restores.extend(state_updates(current, spec))
            return current
        what = f"{where}: the checkpoint has {_describe(saved)}, the optimizer has {current!r}"
        if strict:
            raise ValueError(what + " (load_state_dict(..., strict=False) keeps the optimizer's schedule)")
        plan.warnings.append(what + "; keeping the optimizer's schedule")
        return current
    if spec is not None:
        try:
            return from_spec(spec)
        except ValueError as exc:
            raise ValueError(f"{where}: cannot rebuild the saved schedule: {exc}") from exc
    if isinstance(saved, (tuple, list)):
        cur = list(current) if isinstance(current, (tuple, list)) and len(current) == len(saved) else [None] * len(saved)
        return tuple(_decode(s, c, where, strict, plan) for s, c in zip(saved, cur))
    return saved


def _same(current: Mapping[str, Any], spec: Any, where: str) -> bool:
    try:
        return same_schedule(current, spec)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{where}: malformed schedule description ({exc!r})") from None


def _describe(saved: Any) -> str:
    if isinstance(saved, Mapping) and "__schedule__" in saved:
        return f"another schedule ({saved['__schedule__'].get('schedule')!r})"
    return f"the value {saved!r}"


# -- files ----------------------------------------------------------------------------------------


def write(path: Union[str, os.PathLike], state_dict: Dict[str, Any], rule: str) -> None:
    """Write ``state_dict`` to one ``.npz`` file, atomically (a temporary file, then a rename)."""
    path = os.fsdecode(path)  # a str, bytes or os.PathLike path
    arrays: Dict[str, np.ndarray] = {}
    entries = []
    for i, (key, entry) in enumerate(state_dict["state"].items()):
        slots = [n for n, v in entry.items() if isinstance(v, np.ndarray)]
        scalars = {n: v for n, v in entry.items() if n != "step" and n not in slots}
        entries.append([key, entry["step"], slots, scalars])
        # .npz knows no bfloat16: such slots are stored as their bits, read back by state_dtype.
        arrays.update({f"state/{i}/{n}": _storable(entry[n]) for n in slots})
    meta = {
        "format": FORMAT,
        "optimizer": state_dict["optimizer"],
        "rule": rule,
        "param_groups": state_dict["param_groups"],
        "skipped_steps": state_dict["skipped_steps"],
        "state": entries,
    }
    if state_dict.get("state_dtype") is not None:
        meta["state_dtype"] = state_dict["state_dtype"]
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


def read(path: Union[str, os.PathLike], optimizer: str, rule: str) -> Dict[str, Any]:
    """The state dict in a file written by :func:`write`, for ``optimizer`` (class name) and ``rule``.

    A file that cannot be read as one raises ValueError("not a fastoptim checkpoint: ...") with the
    cause chained; one written for another optimizer raises ValueError naming both. A missing or
    unreadable file raises the OSError as it is.
    """
    path = os.fsdecode(path)
    name = os.fspath(path)
    try:
        with open(name, "rb") as f, np.load(f, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"][()]))
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                raise ValueError(f"unknown format {meta.get('format') if isinstance(meta, dict) else meta!r}")
            if meta.get("optimizer") != optimizer or meta.get("rule", rule) != rule:
                raise _Foreign(f"{name!r} was written by {meta.get('optimizer')}; this optimizer is {optimizer}")
            state_dtype = meta.get("state_dtype")
            state = {}
            for i, (key, step, slots, scalars) in enumerate(meta["state"]):
                state[key] = {"step": step, **scalars, **{n: _stored(z[f"state/{i}/{n}"], state_dtype, n) for n in slots}}
            out = {
                "state": state,
                "param_groups": meta["param_groups"],
                "skipped_steps": meta["skipped_steps"],
                "optimizer": optimizer,
            }
            if state_dtype is not None:
                out["state_dtype"] = state_dtype
            return out
    except _Foreign as exc:
        raise ValueError(str(exc)) from None
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except Exception as exc:  # a damaged file fails in zipfile, numpy or json, with many exception types
        raise ValueError(f"not a fastoptim checkpoint: {name!r} ({type(exc).__name__}: {exc})") from exc


def _storable(a: np.ndarray) -> np.ndarray:
    """An array as .npz keeps it: a bfloat16 one as its uint16 bits."""
    return a.view(np.uint16) if a.dtype.name == "bfloat16" else a


def _stored(a: np.ndarray, state_dtype: str | None, slot: str) -> np.ndarray:
    """The inverse of :func:`_storable`, for slot ``slot`` of a file written with ``state_dtype``:
    a bfloat16 parameter's master bits are uint16 whatever the state's dtype."""
    if state_dtype == "bfloat16" and a.dtype == np.uint16 and slot != MASTER_LOW_BITS:
        import ml_dtypes

        return a.view(ml_dtypes.bfloat16)
    return a


class _Foreign(Exception):
    """A readable checkpoint of another optimizer."""


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot save a setting of type {type(value).__name__}")
