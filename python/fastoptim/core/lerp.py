"""torch's lerp on NumPy arrays, in place: Schedule-Free's train()/eval() and Lookahead's pull."""

from __future__ import annotations

import numpy as np


def lerp_(a: np.ndarray, b: np.ndarray, weight: float) -> None:
    """``a = a + weight (b - a)``, rounded as torch's ``lerp_``: for weight >= 0.5 it computes
    ``b - (b - a)(1 - weight)`` instead, which is exact at weight 1."""
    w = a.dtype.type(weight)
    if weight < 0.5:
        a += w * (b - a)
    else:
        a[...] = b - (b - a) * (1 - w)
