"""Gradient clipping, multi-tensor and in place, in C++."""

from __future__ import annotations

from collections.abc import Mapping
from typing import List, Sequence, Union

import numpy as np

from .. import _core

__all__ = ["clip_grad_norm", "clip_grad_value"]

Grads = Union[np.ndarray, Sequence[np.ndarray], Mapping[str, np.ndarray]]


def _arrays(grads: Grads) -> List[np.ndarray]:
    if isinstance(grads, np.ndarray):
        return [grads]
    if isinstance(grads, Mapping):
        return list(grads.values())
    return list(grads)


def clip_grad_norm(grads: Grads, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False) -> float:
    r"""Rescale gradients in place so that their joint norm is at most ``max_norm``; torch's ``clip_grad_norm_``.

    All gradients are taken as one vector :math:`g`. With :math:`N = \lVert g \rVert_p`
    (``norm_type`` :math:`p`: 1, 2, any :math:`p > 0`, or ``inf`` for the largest magnitude):

    .. math::

        g \leftarrow g \cdot \min\left(1, \frac{\text{max\_norm}}{N + 10^{-6}}\right)

    Clipping keeps the direction and caps the length, so one exploding batch cannot throw the
    parameters far away (Pascanu, Mikolov & Bengio 2013). It returns :math:`N`, the norm *before*
    clipping, which is worth logging: a norm that keeps growing is the symptom of exploding gradients.

    One read pass computes the norm (in float64, the same on every SIMD tier and thread count); a
    second pass scales only when clipping is needed. ``grads`` (a list or dict of float32/float64
    arrays, or one array) is changed in place: the arrays must be writeable and C-contiguous. With
    ``error_if_nonfinite`` a norm of inf or NaN raises RuntimeError; otherwise, as in torch, a NaN
    norm turns every gradient into NaN. Optimizers can clip inside ``step()`` instead
    (``max_grad_norm=``), which reuses the finiteness check's pass and leaves the arrays untouched.

    Example:
        >>> import numpy as np, fastoptim as fo
        >>> g = [np.array([3.0, 0.0]), np.array([4.0])]
        >>> fo.clip_grad_norm(g, max_norm=1.0)
        5.0
        >>> np.round(np.concatenate(g), 6)
        array([0.6, 0. , 0.8])
    """
    return float(_core.clip_grad_norm(_arrays(grads), float(max_norm), float(norm_type), bool(error_if_nonfinite)))


def clip_grad_value(grads: Grads, clip_value: float) -> None:
    r"""Clamp every gradient element to :math:`[-c, c]` in place; torch's ``clip_grad_value_``.

    Unlike :func:`clip_grad_norm` this changes the gradient's direction; it bounds each coordinate's
    step independently. NaN stays NaN.

    Example:
        >>> import numpy as np, fastoptim as fo
        >>> g = np.array([-3.0, 0.5, 2.0])
        >>> fo.clip_grad_value(g, 1.0)
        >>> g
        array([-1. ,  0.5,  1. ])
    """
    _core.clip_grad_value(_arrays(grads), float(clip_value))
