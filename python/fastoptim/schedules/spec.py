"""Schedules as JSON-able descriptions, state included: how checkpoints store them."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Tuple

from .. import _core
from .._core import Schedule
from .plateau import ReduceOnPlateau

__all__ = ["to_spec", "from_spec", "same_schedule", "state_updates"]


def to_spec(schedule: Schedule) -> Dict[str, Any]:
    """A JSON-able description of a schedule with its state (ReduceOnPlateau's counters); the inverse of
    :func:`from_spec`. Checkpoints store schedules this way.

    >>> from fastoptim.schedules import cosine, exponential
    >>> to_spec(exponential(1.0, 0.5))
    {'schedule': 'exponential', 'args': {'init': 1.0, 'gamma': 0.5}, 'ints': [], 'children': [], 'state': []}
    """
    return {
        "schedule": schedule.kind,
        "args": dict(schedule.args),
        "ints": list(schedule.ints),
        "children": [to_spec(c) for c in schedule.children],
        "state": list(schedule.state()),
    }


def from_spec(spec: Mapping[str, Any]) -> Schedule:
    """Build the schedule :func:`to_spec` described, state included; ValueError if ``spec`` is malformed.
    Its ``args`` are by name, or a list in the kind's order (as checkpoints before named
    arguments stored them).

    >>> from fastoptim.schedules import cosine
    >>> from_spec(to_spec(cosine(1.0, 10)))(5)
    0.5
    """
    try:
        kind, args, ints, children, state = (spec[k] for k in ("schedule", "args", "ints", "children", "state"))
        if isinstance(args, (list, tuple)):
            names = dict(_core.schedule_kinds).get(kind, [])
            if len(args) != len(names):
                raise ValueError(f"{kind}: {len(args)} arguments, it takes {len(names)} ({', '.join(names)})")
            args = dict(zip(names, args))
        built = [from_spec(c) for c in children]
        if kind == "plateau":
            s: Schedule = ReduceOnPlateau.__new__(ReduceOnPlateau)
            Schedule.__init__(s, "plateau", args, ints, built)
        else:
            s = Schedule(kind, args, ints, built)
        if state:
            s.set_state(state)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a schedule description: {exc!r}") from None
    return s


def same_schedule(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two :func:`to_spec` descriptions are the same schedule, whatever their state.

    >>> from fastoptim.schedules import cosine
    >>> same_schedule(to_spec(cosine(1.0, 10)), to_spec(cosine(1.0, 10))), same_schedule(to_spec(cosine(1.0, 10)), to_spec(cosine(1.0, 20)))
    (True, False)
    """
    return (
        a["schedule"] == b["schedule"]
        and a["args"] == b["args"]
        and a["ints"] == b["ints"]
        and len(a["children"]) == len(b["children"])
        and all(same_schedule(x, y) for x, y in zip(a["children"], b["children"]))
    )


def state_updates(current: Schedule, spec: Mapping[str, Any]) -> List[Tuple[Schedule, List[float]]]:
    """The ``(schedule, state)`` pairs that load ``spec``'s state into ``current`` (the same schedule,
    see :func:`same_schedule`), children included, each state checked first (ValueError) so that
    applying them with ``set_state`` cannot fail halfway.

    >>> s = ReduceOnPlateau(1.0, patience=0)
    >>> saved = to_spec(s); saved["state"][0] = 0.5  # a checkpoint taken after one reduction
    >>> [(target is s, state[0]) for target, state in state_updates(s, saved)]
    [(True, 0.5)]
    """
    out: List[Tuple[Schedule, List[float]]] = []
    if spec["state"]:
        try:
            state = [float(v) for v in spec["state"]]
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{current.kind}: state {spec['state']!r} is not a list of numbers") from exc
        current.check_state(state)
        out.append((current, state))
    for c, s in zip(current.children, spec["children"]):
        out.extend(state_updates(c, s))
    return out
