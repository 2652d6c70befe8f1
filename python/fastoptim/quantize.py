r"""Blockwise 8- and 4-bit quantization, in C++: the building blocks of quantized optimizer state.

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

4 bits (Li et al. 2023, "Memory Efficient Optimizers with 4-bit States"): blocks of 128, two codes
per byte (element :math:`2j` in byte :math:`j`'s low nibble). The signed map is the 4-bit dynamic
map (``create_dynamic_map(True, 3, 4)``); the unsigned one is linear, :math:`1/16, 2/16, \dots, 1`,
with no zero: a second moment quantized to zero would make its update :math:`lr \cdot m / \epsilon`,
the failure the paper traces 4-bit training's instability to. Both equal torchao's 4-bit maps (tested).

>>> import numpy as np
>>> from fastoptim import quantize as Q
>>> x = np.array([1e-3, -0.5, 2.0, 0.0], np.float32)
>>> codes, absmax = Q.quantize_blockwise(x)
>>> absmax, np.abs(Q.dequantize_blockwise(codes, absmax) - x).max() < 0.01
(array([2.], dtype=float32), np.True_)
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from . import _core

__all__ = ["BLOCKSIZE", "BLOCKSIZE4", "dynamic_map", "quantize_blockwise", "dequantize_blockwise"]

BLOCKSIZE = 256
BLOCKSIZE4 = 128


def dynamic_map(signed: bool = True, bits: int = 8) -> np.ndarray:
    """The codes of the ``bits``-bit map (8: 256 codes, 4: 16), sorted, as float32: signed (in
    [-1, 1], 0 included) or unsigned (8 bits: in [0, 1]; 4 bits: 1/16 to 1, no zero).

    >>> m = dynamic_map(signed=False)
    >>> m.shape, m[0], m[-1], int((m < 1e-3).sum())  # zero, one, and plenty of room near zero
    ((256,), np.float32(0.0), np.float32(1.0), 31)
    >>> dynamic_map(signed=False, bits=4)[:3] * 16
    array([1., 2., 3.], dtype=float32)
    """
    return _core.dynamic_map(signed, bits)


def quantize_blockwise(x: np.ndarray, signed: bool = True, blocksize: Optional[int] = None, bits: int = 8) -> Tuple[np.ndarray, np.ndarray]:
    """``(codes, absmax)``: uint8 codes and one float32 absolute maximum per block of ``blocksize``
    elements of ``x`` (float32, C-contiguous) in C order (the last block may be shorter; default 256
    for 8 bits, 128 for 4). A code is the nearest of :func:`dynamic_map` to ``x / absmax``, a tie
    going to the lower one. 8 bits: codes shaped like ``x``; 4 bits: ``ceil(x.size / 2)`` bytes, two
    codes each. ``x`` must be finite (ValueError otherwise): a block's codes hold no inf or NaN."""
    if isinstance(x, np.ndarray) and x.dtype == np.float32 and not np.isfinite(x).all():
        bad = int(np.flatnonzero(~np.isfinite(x.ravel()))[0])
        raise ValueError(f"quantize_blockwise: x holds {x.ravel()[bad]} at flat index {bad}; quantized codes hold finite values only")
    return _core.quantize_blockwise(x, signed, _blocksize(blocksize, bits), bits)


def dequantize_blockwise(codes: np.ndarray, absmax: np.ndarray, signed: bool = True, blocksize: Optional[int] = None, bits: int = 8,
                         size: Optional[int] = None) -> np.ndarray:
    """``dynamic_map(signed, bits)[code] * absmax`` of each element's block, as float32: shaped like
    ``codes`` for 8 bits; for 4 bits a vector of ``size`` elements (default ``2 * codes.size``).

    >>> x = np.array([0.25, -1.0, 0.5], np.float32)
    >>> codes, absmax = quantize_blockwise(x, bits=4)
    >>> codes.shape, dequantize_blockwise(codes, absmax, bits=4, size=3).round(4)
    ((2,), array([ 0.2125, -0.8875,  0.4375], dtype=float32))
    """
    if size is None:
        size = 2 * int(np.size(codes)) if bits == 4 else 0
    return _core.dequantize_blockwise(codes, absmax, signed, _blocksize(blocksize, bits), bits, size)


def _blocksize(blocksize: Optional[int], bits: int) -> int:
    return (BLOCKSIZE4 if bits == 4 else BLOCKSIZE) if blocksize is None else blocksize
