r"""Blockwise dynamic 8-bit quantization, in C++: the building block of 8-bit optimizer state.

Dettmers et al. 2022 ("8-bit Optimizers via Block-wise Quantization") keep optimizer state in
uint8: the array is cut into blocks (256 elements); each block keeps its absolute maximum in
float32, and each element the index of the code nearest to :math:`x / \max|x|`. The 256 codes are
the *dynamic map*: after the sign (signed map only), a run of :math:`k` zero bits scales by
:math:`10^{-k}`, an indicator bit ends the run, and the remaining bits are a linear fraction in
[0.1, 1]. Small magnitudes therefore keep their relative precision, which a linear map would lose:
an Adam second moment spans many orders of magnitude within one block.

The signed map (first moments) and the unsigned map (second moments, accumulators) are built as
bitsandbytes' ``create_dynamic_map`` builds them, and quantization rounds to the nearest code as its
``quantize_blockwise`` does (both tested against bitsandbytes).

>>> import numpy as np
>>> from fastoptim import quantize as Q
>>> x = np.array([1e-3, -0.5, 2.0, 0.0], np.float32)
>>> codes, absmax = Q.quantize_blockwise(x)
>>> absmax, np.abs(Q.dequantize_blockwise(codes, absmax) - x).max() < 0.01
(array([2.], dtype=float32), np.True_)
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

from . import _core

__all__ = ["BLOCKSIZE", "dynamic_map", "quantize_blockwise", "dequantize_blockwise"]

BLOCKSIZE = 256


def dynamic_map(signed: bool = True) -> np.ndarray:
    """The 256 codes of the dynamic map, sorted, as float32: signed (in [-1, 1], 0 included) or
    unsigned (in [0, 1]).

    >>> m = dynamic_map(signed=False)
    >>> m.shape, m[0], m[-1], int((m < 1e-3).sum())  # zero, one, and plenty of room near zero
    ((256,), np.float32(0.0), np.float32(1.0), 31)
    """
    return _core.dynamic_map(signed)


def quantize_blockwise(x: np.ndarray, signed: bool = True, blocksize: int = BLOCKSIZE) -> Tuple[np.ndarray, np.ndarray]:
    """``(codes, absmax)``: uint8 codes shaped like ``x`` (float32, C-contiguous) and one float32
    absolute maximum per block of ``blocksize`` elements in C order (the last block may be shorter).
    A code is the nearest of :func:`dynamic_map` to ``x / absmax``, a tie going to the lower one.
    ``x`` must be finite (ValueError otherwise): a block's codes hold no inf or NaN."""
    if isinstance(x, np.ndarray) and x.dtype == np.float32 and not np.isfinite(x).all():
        bad = int(np.flatnonzero(~np.isfinite(x.ravel()))[0])
        raise ValueError(f"quantize_blockwise: x holds {x.ravel()[bad]} at flat index {bad}; 8-bit codes hold finite values only")
    return _core.quantize_blockwise(x, signed, blocksize)


def dequantize_blockwise(codes: np.ndarray, absmax: np.ndarray, signed: bool = True, blocksize: int = BLOCKSIZE) -> np.ndarray:
    """``dynamic_map(signed)[codes] * absmax`` of each element's block, as float32."""
    return _core.dequantize_blockwise(codes, absmax, signed, blocksize)
