"""Blockwise dynamic 8- and 4-bit quantization: the code maps against bitsandbytes' and torchao's, the codes against a
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


def nearest_codes(x, signed, block, bits=8):
    """The reference: per block, x * (1 / absmax) in float32, clamped, then the first code whose
    upper midpoint is not below it (a tie goes to the lower code); 4-bit codes unpacked."""
    m = Q.dynamic_map(signed, bits=bits)
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
def test_codes_are_the_nearest(signed, n, block, tier):
    """quantize_blockwise runs the active tier's codec (each tier here)."""
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


def on_the_midpoints(signed, absmax):
    """Values whose scaled value ``x * (1 / absmax)`` (float32, as the codec computes it) is exactly
    a midpoint between neighbouring codes, or one ulp below or above one, in blocks of 256 that each
    start with ``absmax`` itself (so every block's absmax is ``absmax``). Returns the values and, for
    each, the code the rule gives: the lower code at or below a midpoint, the upper one above."""
    m = Q.dynamic_map(signed)
    mid = (m[:-1] + m[1:]) / np.float32(2)
    k = np.arange(mid.size)
    targets = np.concatenate([mid, np.nextafter(mid, np.float32(-2)), np.nextafter(mid, np.float32(2))])
    expected = np.concatenate([k, k, k + 1])
    inv = np.float32(1) / np.float32(absmax)
    values, codes = [], []
    for t, code in zip(targets, expected):
        x = np.float32(np.float64(t) / np.float64(inv))
        for _ in range(4):  # the nearest float32 whose scaled value is exactly t, if there is one
            if np.float32(x * inv) == t:
                values.append(x)
                codes.append(code)
                break
            x = np.nextafter(x, np.float32(np.inf) if np.float32(x * inv) < t else np.float32(-np.inf))
    # Not every float32 is x * inv for some x (inv < 1 skips some); most are.
    assert len(values) > 0.75 * targets.size, "most midpoints are reachable from this absmax"
    per_block = 255
    while len(values) % per_block:  # whole blocks of 256, so that repeating them keeps each block's absmax
        values.append(values[len(values) % per_block])
        codes.append(codes[len(codes) % per_block])
    out_x, out_codes = [], []
    for b in range(0, len(values), per_block):
        out_x += [np.float32(absmax)] + values[b : b + per_block]
        out_codes += [255] + codes[b : b + per_block]
    return np.array(out_x, np.float32), np.array(out_codes, np.uint8)


@pytest.mark.parametrize("absmax", [1.0, 3.0], ids=["absmax-1", "absmax-3"])
@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
def test_exact_ties_go_to_the_lower_code(signed, absmax):
    """Every midpoint of both maps, and its float32 neighbours: random inputs never land on one."""
    x, expected = on_the_midpoints(signed, absmax)
    codes, got_absmax = Q.quantize_blockwise(x, signed, 256)
    assert (got_absmax == np.float32(absmax)).all()
    np.testing.assert_array_equal(codes, expected)
    np.testing.assert_array_equal(codes, nearest_codes(x, signed, 256))


@pytest.mark.parametrize("absmax", [1.0, 3.0], ids=["absmax-1", "absmax-3"])
def test_exact_ties_in_8bit_optimizer_state(absmax, tier):
    """The 8-bit state a step writes (each tier's own encoder): SGD's first momentum buffer is the
    gradient itself, so gradients on the midpoints put the stored moments on them."""
    import fastoptim as fo

    g, expected = on_the_midpoints(True, absmax)
    g = np.resize(g, 4096 * 2)  # 8-bit state starts at 4096 elements; the blocks of 256 repeat whole
    expected = np.resize(expected, g.size)
    opt = fo.SGD([np.zeros_like(g)], lr=0.1, momentum=0.9, state_dtype="int8")
    opt.step([g])
    np.testing.assert_array_equal(opt.state_dict()["state"][0]["momentum_buffer"], expected)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_quantize_refuses_non_finite_input(bad):
    """[1, NaN, 2] once came back as [1.0016, 2, 2]: the NaN encoded as the block's maximum."""
    x = np.array([1.0, bad, 2.0], np.float32)
    with pytest.raises(ValueError, match="flat index 1"):
        Q.quantize_blockwise(x)


# 4 bits (state_dtype="int4"): Li et al. 2023's maps, torchao's.


def _torchao_maps():
    try:
        from torchao.optim import subclass_4bit as ao
    except Exception:  # not installed, or its build does not load here
        pytest.skip("torchao is not importable")
    if hasattr(ao, "get_qmap_signed"):
        return np.array(ao.get_qmap_signed(), np.float32), np.array(ao.get_qmap_unsigned(), np.float32)
    return np.array(ao.QMAP_SIGNED, np.float32), np.array(ao.QMAP_UNSIGNED, np.float32)


def test_4bit_maps_are_torchaos():
    signed, unsigned = Q.dynamic_map(True, bits=4), Q.dynamic_map(False, bits=4)
    assert signed.shape == unsigned.shape == (16,) and (np.diff(signed) > 0).all() and (np.diff(unsigned) > 0).all()
    assert 0 in signed and signed[-1] == 1 and 0 not in unsigned  # no zero code for second moments
    np.testing.assert_array_equal(unsigned, np.arange(1, 17, dtype=np.float32) / 16)
    theirs_signed, theirs_unsigned = _torchao_maps()
    np.testing.assert_array_equal(signed, theirs_signed)
    np.testing.assert_array_equal(unsigned, theirs_unsigned)


def unpack4(codes, n):
    return np.stack([codes & 15, codes >> 4], axis=1).ravel()[:n]


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("n, block", [(10_001, 128), (1000, 64), (7, 128), (128, 128)])
def test_4bit_codes_are_the_nearest_two_per_byte(signed, n, block, tier):
    x = spread(n, signed=signed)
    x[:block] = 0  # a block of zeros: absmax 0 (the unsigned map's lowest code then decodes to 0 too)
    codes, absmax = Q.quantize_blockwise(x, signed, block, bits=4)
    assert codes.dtype == np.uint8 and codes.shape == ((n + 1) // 2,) and absmax.shape == (-(-n // block),)
    np.testing.assert_array_equal(unpack4(codes, n), nearest_codes(x, signed, block, bits=4))
    if n % 2:
        assert codes[-1] >> 4 == 0  # an odd last element leaves its byte's high nibble 0
    back = Q.dequantize_blockwise(codes, absmax, signed, block, bits=4, size=n)
    assert back.shape == (n,) and (back[:block] == 0).all()
    np.testing.assert_array_equal(back, Q.dynamic_map(signed, bits=4)[unpack4(codes, n)] * np.repeat(absmax, block)[:n])


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
def test_4bit_codes_on_a_million_patterns_and_every_midpoint(signed, tier):
    """Every float32 whose low 11 bits are zero in [-1, 1] (a million patterns, every binade), and
    every midpoint with its float32 neighbours: the code is the number of midpoints below (a tie goes
    to the lower code). A block of 128 led by 1.0 keeps the values as they are."""
    pattern = np.arange(0, 1 << 21, dtype=np.uint32) << np.uint32(11)
    x = pattern.view(np.float32)
    x = x[np.isfinite(x) & (np.abs(x) <= 1)]
    m = Q.dynamic_map(signed, bits=4)
    mid = (m[:-1] + m[1:]) / np.float32(2)
    x = np.concatenate([x, mid, np.nextafter(mid, np.float32(-2)), np.nextafter(mid, np.float32(2))]).astype(np.float32)
    if not signed:
        x = x[x >= 0]
    blocks = np.resize(x, -(-x.size // 127) * 127).reshape(-1, 127)
    x = np.concatenate([np.ones((blocks.shape[0], 1), np.float32), blocks], axis=1).ravel()  # absmax 1 everywhere
    codes, absmax = Q.quantize_blockwise(x, signed, 128, bits=4)
    assert (absmax == 1).all()
    np.testing.assert_array_equal(unpack4(codes, x.size), np.searchsorted(mid, x, side="left"))


def test_4bit_state_in_every_tier_packs_as_the_reference(tier):
    """SGD's momentum buffer after one step is the gradient: each tier's 4-bit encoder must store
    the reference codes for it."""
    import fastoptim as fo

    g = spread(8191)
    opt = fo.SGD([np.zeros_like(g)], lr=0.1, momentum=0.9, state_dtype="int4")
    opt.step([g])
    state = opt.state_dict()["state"][0]
    codes, absmax = Q.quantize_blockwise(g, True, 128, bits=4)
    np.testing.assert_array_equal(state["momentum_buffer"], codes)
    np.testing.assert_array_equal(state["momentum_buffer.absmax"], absmax)
    np.testing.assert_array_equal(unpack4(codes, g.size), nearest_codes(g, True, 128, bits=4))


def test_4bit_refusals():
    x = np.ones(10, np.float32)
    with pytest.raises(ValueError, match="bits must be 8 or 4, got 3"):
        Q.quantize_blockwise(x, bits=3)
    with pytest.raises(ValueError, match="blocksize must be even"):
        Q.quantize_blockwise(x, blocksize=5, bits=4)
    codes, absmax = Q.quantize_blockwise(x, bits=4)
    with pytest.raises(ValueError, match="11 elements need 6 bytes of 4-bit codes, got 5"):
        Q.dequantize_blockwise(codes, absmax, bits=4, size=11)
