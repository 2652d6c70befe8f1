"""Blockwise dynamic 8-bit quantization: the code maps against bitsandbytes', the codes against a
nearest-code reference, errors and refusals."""

from __future__ import annotations

import numpy as np
import pytest

from fastoptim import quantize as Q


def spread(n, seed=0, signed=True):
    """Values over many orders of magnitude, as optimizer moments are."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n) * np.exp(rng.uniform(-12, 3, n))
    return (x if signed else np.abs(x)).astype(np.float32)


def nearest_codes(x, signed, block):
    """The reference: per block, x * (1 / absmax) in float32, clamped, then the first code whose
    upper midpoint is not below it (a tie goes to the lower code)."""
    m = Q.dynamic_map(signed)
    mid = (m[:-1] + m[1:]) / np.float32(2)
    out = np.empty(x.size, np.uint8)
    for b in range(0, x.size, block):
        part = x[b : b + block]
        top = np.abs(part).max()
        inv = np.float32(1) / top if top > 0 else np.float32(0)
        out[b : b + block] = np.searchsorted(mid, np.clip(part * inv, -1, 1), side="left")
    return out


@pytest.mark.parametrize("signed", [True, False])
def test_maps_are_bitsandbytes_maps(signed):
    functional = pytest.importorskip("bitsandbytes.functional")
    m = Q.dynamic_map(signed)
    assert m.dtype == np.float32 and m.shape == (256,) and (np.diff(m) > 0).all()
    assert m[-1] == 1 and (m[0] == 0 if not signed else m[0] < -0.99) and 0 in m
    np.testing.assert_array_equal(m, functional.create_dynamic_map(signed=signed).numpy())


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("n, block", [(10_000, 256), (1000, 64), (7, 256), (256, 256)])
def test_codes_are_the_nearest(signed, n, block):
    x = spread(n, signed=signed)
    x[:block] = 0  # a block of zeros: absmax 0, the code of 0
    codes, absmax = Q.quantize_blockwise(x, signed, block)
    assert codes.dtype == np.uint8 and codes.shape == x.shape and absmax.shape == (-(-n // block),)
    np.testing.assert_array_equal(codes, nearest_codes(x, signed, block))
    assert absmax[0] == 0 and (Q.dequantize_blockwise(codes, absmax, signed, block)[:block] == 0).all()
    # Each value is within half a gap between its neighbouring codes, scaled by its block's maximum.
    m = Q.dynamic_map(signed)
    gap = np.diff(m).max() / 2 * np.repeat(absmax, block)[:n]
    assert (np.abs(Q.dequantize_blockwise(codes, absmax, signed, block) - x) <= gap * (1 + 1e-5)).all()  # + float32 rounding


def test_relative_precision_of_small_values():
    """The dynamic map keeps values four and five orders of magnitude below the block's maximum
    within 15% (its fraction has fewer bits there), where a linear map rounds them to 0."""
    x = np.array([1.0, 1e-2, -3e-3, 1e-4, 2e-5], np.float32)
    codes, absmax = Q.quantize_blockwise(x)
    back = Q.dequantize_blockwise(codes, absmax)
    np.testing.assert_allclose(back, x, rtol=0.15)
    linear = np.round(x / absmax * 127) / 127 * absmax
    assert (linear[3:] == 0).all()


def test_no_worse_than_bitsandbytes_cpu_kernel():
    """bitsandbytes' CPU kernel searches its map differently; fastoptim's codes are the nearest, so
    every element comes back at least as close."""
    torch = pytest.importorskip("torch")
    functional = pytest.importorskip("bitsandbytes.functional")
    x = spread(50_000, seed=3)
    codes, absmax = Q.quantize_blockwise(x)
    theirs, state = functional.quantize_blockwise(torch.from_numpy(x), code=functional.create_dynamic_map(signed=True), blocksize=256)
    np.testing.assert_array_equal(absmax, state.absmax.numpy())
    ours_err = np.abs(Q.dequantize_blockwise(codes, absmax) - x)
    theirs_err = np.abs(functional.dequantize_blockwise(theirs, state).numpy() - x)
    assert (ours_err <= theirs_err * (1 + 1e-6) + 1e-30).all()


def test_refusals():
    with pytest.raises(TypeError, match="x must be a C-contiguous float32 numpy array"):
        Q.quantize_blockwise(np.zeros(4))
    with pytest.raises(TypeError, match="x must be a C-contiguous float32"):
        Q.quantize_blockwise(np.zeros(8, np.float32)[::2])
    with pytest.raises(ValueError, match="blocksize must be > 0"):
        Q.quantize_blockwise(np.zeros(4, np.float32), blocksize=0)
    with pytest.raises(ValueError, match="absmax has 1 values; 300 codes in blocks of 256 need 2"):
        Q.dequantize_blockwise(np.zeros(300, np.uint8), np.ones(1, np.float32))
