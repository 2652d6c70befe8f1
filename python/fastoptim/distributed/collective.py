"""Errors under MPI: a call that fails on one rank fails on every rank, never leaving the others
waiting in a collective that the failed rank will not reach."""

from __future__ import annotations

import builtins
from typing import Any, Callable, Optional, Tuple, TypeVar

__all__ = ["raise_together", "on_root"]

T = TypeVar("T")


def _alike(name: str, message: str) -> BaseException:
    """An exception of the built-in class ``name`` (RuntimeError for any other) with ``message``."""
    cls = getattr(builtins, name, None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            return cls(message)
        except Exception:  # a built-in that takes other arguments
            pass
    return RuntimeError(f"{name}: {message}")


def raise_together(comm: Any, error: Optional[BaseException], payload: Any = None) -> list:
    """Collective: every rank passes its error (or None) and a payload; if any rank has an error,
    every rank raises: the failing rank its own, the others the same class saying which rank failed.
    Returns every rank's payload otherwise."""
    report: Optional[Tuple[str, str]] = None if error is None else (type(error).__name__, str(error))
    gathered = comm.allgather((report, payload))
    if error is not None:
        raise error
    for rank, (other, _) in enumerate(gathered):
        if other is not None:
            raise _alike(other[0], f"rank {rank}: {other[1]}")
    return [p for _, p in gathered]


def on_root(comm: Any, work: Callable[[], T], root: int = 0) -> Optional[T]:
    """Collective: ``work()`` on ``root`` alone; whatever it raises (any exception), every rank
    raises (the same class and message). Returns its result on ``root``, None elsewhere."""
    result, error = None, None
    if comm.Get_rank() == root:
        try:
            result = work()
        except Exception as exc:
            error = exc
    report = comm.bcast(None if error is None else (type(error).__name__, str(error)), root=root)
    if error is not None:
        raise error
    if report is not None:
        raise _alike(report[0], report[1])  # the same error as on the root, whose argument it is
    return result
