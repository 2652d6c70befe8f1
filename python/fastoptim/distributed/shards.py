"""A ZeRO-1 state dict in pieces: checking a full one, cutting it into the ranks' shards, and joining them again."""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from ..core.params import Key

__all__ = ["check_entries", "slice_entries", "join_entries"]


def check_entries(entries: List[List[Any]], params: List[np.ndarray], keys: List[Key]) -> None:
    """What the engine's load checks, checked on rank 0 before any rank loads its shard: every step an
    integer in [0, 2**53], every scalar finite, every state array of its parameter's shape and dtype."""
    flat = [e for group in entries for e in group]
    for entry, p, key in zip(flat, params, keys):
        if entry is None:
            continue
        step, scalars, slots = entry
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or not 0 <= step <= 2**53:
            raise ValueError(f"state of parameter {key!r}: 'step' must be an integer in [0, 2**53], got {step!r}")
        for name, v in scalars.items():
            if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not np.isfinite(v):
                raise ValueError(f"state of parameter {key!r}: {name!r} must be a finite number, got {v!r}")
        for name, v in slots.items():
            if not isinstance(v, np.ndarray) or v.shape != p.shape or v.dtype != p.dtype:
                what = f"{v.shape} {v.dtype}" if isinstance(v, np.ndarray) else type(v).__name__
                raise ValueError(f"state {name!r} of parameter {key!r} is {what}; the parameter is {p.shape} {p.dtype}")


def slice_entries(entries: List[Any], ranges: List[Tuple[int, int]]) -> List[Dict[str, Any]]:
    """One rank's pieces of the checked state entries, ``ranges`` being its ``[a, b)`` of each
parameter (an entry of None: no state yet)."""
    out = []
    for entry, (a, b) in zip(entries, ranges):
        if entry is None:
            out.append({"step": 0})
            continue
        step, scalar_values, slot_values = entry
        pieces = {name: v.reshape(-1)[a:b] for name, v in slot_values.items()}
        out.append({"step": step, **scalar_values, **pieces})
    return out


def join_entries(shards: Sequence[Sequence[Dict[str, Any]]], keys: List[Key], params: List[np.ndarray]) -> Dict[Key, Dict[str, Any]]:
    """The full state (by parameter key) from every rank's list of state entries: each state array
    assembled from the ranks' pieces in its parameter's shape, scalars taken from rank 0's."""
    state: Dict[Key, Dict[str, Any]] = {}
    for i, (key, p) in enumerate(zip(keys, params)):
        entries = [shard[i] for shard in shards]
        entry = {k: v for k, v in entries[0].items() if not isinstance(v, np.ndarray)}
        for slot in (k for k, v in entries[0].items() if isinstance(v, np.ndarray)):
            entry[slot] = np.concatenate([e[slot] for e in entries]).reshape(p.shape)
        state[key] = entry
    return state
