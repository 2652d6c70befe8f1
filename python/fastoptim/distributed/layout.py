"""The flat parameter space the ranks share: who owns which elements, and what the ranks must agree
on (each rank's description of the parameters and the optimizer, and the first difference)."""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from ..core.params import Key

__all__ = ["owned_ranges", "signature", "first_mismatch"]


def signature(optimizer: str, group_keys: List[List[Key]], params: Sequence[np.ndarray]) -> Any:
    """The optimizer's name, each group's parameter keys, and each parameter's shape and dtype."""
    return optimizer, group_keys, [(tuple(p.shape), str(p.dtype)) for p in params]


def first_mismatch(signatures: List[Any]) -> Optional[str]:
    """A sentence on the first rank whose signature differs from rank 0's, or None."""
    base = signatures[0]
    for rank, other in enumerate(signatures[1:], start=1):
        if other == base:
            continue
        if other[0] != base[0]:
            return f"rank {rank} wraps {other[0]}, rank 0 {base[0]}"
        if other[1] != base[1]:
            return f"rank {rank}'s param groups hold {other[1]}, rank 0's {base[1]}"
        for key, mine, theirs in zip([k for ks in base[1] for k in ks], base[2], other[2]):
            if mine != theirs:
                return f"parameter {key!r} is {theirs[0]} {theirs[1]} on rank {rank}, {mine[0]} {mine[1]} on rank 0"
    return None


def owned_ranges(params: Sequence[np.ndarray], offsets: Any, lo: int, hi: int) -> List[Tuple[int, int]]:
    """Per parameter (starting at ``offsets[i]`` in the flat space), the range ``[a, b)`` of its
    flattened elements within ``[lo, hi)``; ``(0, 0)`` where there are none."""
    out = []
    for p, start in zip(params, offsets[:-1]):
        a, b = max(lo, int(start)) - int(start), min(hi, int(start) + p.size) - int(start)
        out.append((a, b) if a < b else (0, 0))
    return out
