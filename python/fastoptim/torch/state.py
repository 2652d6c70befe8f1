"""Engine state in torch's ``state_dict`` format and back: ``step`` and scalars as 0-d tensors, slots as tensors."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Tuple

import numpy as np
import torch

from .views import numpy_array, torch_array

__all__ = ["torch_entry", "torch_parts", "engine_entry"]


CODES = ".codes"  # an 8-bit slot's codes: not the slot's own name, which torch.optim would adopt as moments


def torch_entry(entry: Tuple[int, Dict[str, float], Dict[str, np.ndarray]]) -> Dict[str, Any]:
    """One parameter's engine state as torch keeps it: ``step`` and scalars as 0-d tensors (the
    scalars in float64, as the engine keeps them, so that a state_dict loads back bit for bit); an
    8-bit slot's codes as ``<slot>.codes`` beside ``<slot>.absmax``, so that ``torch.optim`` finds
    no moment of its own name in them (it would cast the codes to floats and step with garbage)."""
    step, scalars, slots = entry
    out: Dict[str, Any] = {"step": torch.tensor(float(step), dtype=torch.float32)}
    out.update({name: torch.tensor(value, dtype=torch.float64) for name, value in scalars.items()})
    out.update({name + (CODES if f"{name}.absmax" in slots else ""): torch_array(array) for name, array in slots.items()})
    return out


def torch_parts(state_dict: Any, n_groups: int) -> Tuple[List[Mapping[str, Any]], Mapping[Any, Any]]:
    """A torch-format state dict's param groups and state, checked for shape (ValueError)."""
    if not isinstance(state_dict, Mapping) or not isinstance(state_dict.get("state"), Mapping):
        raise ValueError("a state_dict is a dict with a 'state' dict and a 'param_groups' list")
    groups = state_dict.get("param_groups")
    if not isinstance(groups, (list, tuple)) or not all(isinstance(g, Mapping) and isinstance(g.get("params"), (list, tuple)) for g in groups):
        raise ValueError("state_dict['param_groups'] must be a list of dicts, each with its 'params' list")
    if len(groups) != n_groups:
        raise ValueError(f"state_dict has {len(groups)} param groups, this optimizer has {n_groups}")
    ids = {i for g in groups for i in g["params"]}
    unknown = [k for k in state_dict["state"] if k not in ids]
    if unknown:  # e.g. string keys after a trip through JSON: every moment would be dropped
        raise ValueError(
            f"state_dict['state'] has keys {sorted(map(repr, unknown))[:5]} that are no parameter id of its "
            f"param_groups ({sorted(ids)[:5]}...): the keys must be those ids, as integers"
        )
    return list(groups), state_dict["state"]


def engine_entry(entry: Any, index: Any, slots: Tuple[str, ...], scalars: Tuple[str, ...]) -> Any:
    """A torch-format parameter state as the engine loads it: None or (step, scalars, slots)."""
    if entry is None:
        return None
    where = f"state of parameter {index!r}"
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where} must be a dict, got {type(entry).__name__}")
    # 8-bit codes come as <slot>.codes (and, from files of earlier versions, as <slot>).
    entry = {k[: -len(CODES)] if k.endswith(CODES) and k[: -len(CODES)] in slots else k: v for k, v in entry.items()}
    unknown = set(entry) - {"step", *slots, *scalars}
    if unknown:
        raise ValueError(f"{where} has unknown entries {sorted(unknown)}")
    step = entry.get("step", 0)  # torch's SGD keeps no step
    if isinstance(step, torch.Tensor):
        if step.numel() != 1 or step.is_meta:
            raise ValueError(f"{where}: 'step' must be one number, got a tensor of shape {tuple(step.shape)} on {step.device}")
        step = step.item()
    if isinstance(step, float):
        if not (step >= 0 and step == int(step)):
            raise ValueError(f"{where}: 'step' must be a whole number >= 0, got {step!r}")
        step = int(step)
    values = {}
    for name in scalars:
        if name in entry:
            v = entry[name]
            if isinstance(v, torch.Tensor) and (v.numel() != 1 or v.is_meta):
                raise ValueError(f"{where}: {name!r} must be one number, got a tensor of shape {tuple(v.shape)} on {v.device}")
            values[name] = float(v.item() if isinstance(v, torch.Tensor) else v)
    arrays = {}
    for name in slots:
        v = entry.get(name)
        if v is None:
            continue
        if not isinstance(v, torch.Tensor):
            raise ValueError(f"{where}: {name!r} must be a tensor, got {type(v).__name__}")
        if v.layout != torch.strided or v.is_meta:
            raise ValueError(f"{where}: {name!r} must be a dense tensor with data, got a {v.layout} tensor on {v.device}")
        arrays[name] = numpy_array(v)
    return (step, values, arrays)
