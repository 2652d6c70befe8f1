"""What a ``params`` and a ``grads`` argument may be: the one contract every optimizer shares.

``params``: a list of arrays (keyed ``0, 1, ...``), a dict ``name -> array`` (keyed by name), or a
list of param group dicts whose ``"params"`` is either. ``grads``: a list in parameter order (all
groups, in order) or, when the parameters have names, a dict by name; an entry may be ``None``
(the parameter sits this step out) or a :class:`~fastoptim.RowSparse`. The arrays themselves
(dtype, shape, layout, aliasing, finiteness) are checked by the engine in C++, in one call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .. import _core

__all__ = ["Key", "Params", "Grad", "Grads", "NOT_SETTINGS", "as_groups", "group_lists", "group_settings", "split_grads"]

Key = Union[int, str]
Params = Union[Iterable[np.ndarray], Mapping[str, np.ndarray], Iterable[Dict[str, Any]]]
Grad = Union[np.ndarray, _core.RowSparse, None]
Grads = Union[Sequence[Grad], Mapping[str, Grad]]

#: A param group's entries that are not the rule's settings.
NOT_SETTINGS = ("params", "param_names")


def as_groups(params: Params) -> List[Dict[str, Any]]:
    """The constructor's params as a list of group dicts (TypeError or ValueError for what it cannot be)."""
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


def group_lists(groups: List[Dict[str, Any]], new: int = -1) -> Tuple[List[List[Key]], List[List[np.ndarray]], bool]:
    """Each group's keys and parameter list, and whether the parameters are named; ``new`` is the
    index of a group being added (it must not be empty). A group's ``"params"`` may be a dict (its
    keys are the names), a list with ``"param_names"`` beside it, a list, or one array."""
    keys: List[List[Key]] = []
    lists: List[List[np.ndarray]] = []
    named = None
    for g, group in enumerate(groups):
        where = f"param group {g}"
        params, names = group["params"], group.get("param_names")
        if isinstance(params, Mapping):
            names, params = list(params), list(params.values())
        if isinstance(params, np.ndarray):
            params = [params]
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{where}: params must be an ordered collection (list or dict), not a set")
        params = list(params)
        if g == new and not params:
            raise ValueError(f"{where}: a parameter group needs at least one parameter")
        if named is not None and (names is not None) != named:
            raise ValueError("either every param group names its parameters (dict) or none does (list)")
        named = names is not None
        if names is not None:
            names = [str(k) for k in names]
            if len(names) != len(params):
                raise ValueError(f"{where}: {len(names)} param_names for {len(params)} params")
            keys.append(names)
        else:
            start = sum(len(k) for k in keys)
            keys.append(list(range(start, start + len(params))))
        lists.append(params)
    flat = [k for ks in keys for k in ks]
    if len(set(flat)) != len(flat):
        seen: set = set()
        twice = sorted({k for k in flat if k in seen or seen.add(k)}, key=str)  # type: ignore[func-returns-value]
        raise ValueError(f"parameter names {twice} are used more than once (names are compared as strings)")
    return keys, lists, bool(named)


def split_grads(grads: Any, keys: List[List[Key]], named: Optional[bool]) -> List[List[Grad]]:
    """``grads`` cut into one list per group, matched to the parameters' ``keys``; TypeError or
    ValueError saying what does not match."""
    cls = type(grads)
    if (cls is list or cls is tuple) and len(keys) == 1 and len(grads) == len(keys[0]):
        return [grads]  # the common case
    total = sum(len(k) for k in keys)
    if cls is dict or isinstance(grads, Mapping):
        if not named:
            raise TypeError("gradients by name need parameters given by name (a dict)")
        try:
            out = [[grads[k] for k in ks] for ks in keys]  # type: ignore[index]
        except KeyError as exc:
            raise ValueError(f"no gradient for parameter {exc.args[0]!r}") from None
        if len(grads) != total:
            unknown = sorted(set(grads) - {k for ks in keys for k in ks}, key=str)
            raise ValueError(f"gradients for unknown parameters {unknown}")
        return out
    if isinstance(grads, np.ndarray):
        raise TypeError("grads must be a list of arrays in parameter order (or a dict by name), not one array")
    if cls is not list and cls is not tuple:
        grads = list(grads)
    if len(grads) != total:
        groups = f" ({' + '.join(str(len(k)) for k in keys)} in the groups)" if len(keys) > 1 else ""
        raise ValueError(f"expected {total} gradients, one per parameter{groups}, got {len(grads)}")
    out, start = [], 0
    for ks in keys:
        out.append(list(grads[start : start + len(ks)]))
        start += len(ks)
    return out


def group_settings(group: Mapping[str, Any]) -> Dict[str, Any]:
    """A param group's settings: every entry but its parameters and their names."""
    return {k: v for k, v in group.items() if k not in NOT_SETTINGS}
