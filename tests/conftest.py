from __future__ import annotations

import numpy as np
import pytest

import fastoptim as fo
from fastoptim import _core

SHAPES = [(1,), (7,), (1023,), (4099,), (33, 65)]
DTYPES = [np.float32, np.float64]


@pytest.fixture(params=fo.available_tiers())
def tier(request):
    """Run the test once per SIMD tier this CPU supports; restore the default tier afterwards."""
    before = fo.simd_tier()
    _core.select_tier(request.param)
    assert fo.simd_tier() == request.param
    yield request.param
    _core.select_tier(before)


def grad_stream(shapes, steps, dtype, seed=0, scale=1.0):
    """Reproducible gradients: a list per step, one array per shape."""
    rng = np.random.default_rng(seed)
    return [[(scale * rng.standard_normal(s)).astype(dtype) for s in shapes] for _ in range(steps)]


def init_params(shapes, dtype, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def tolerance(dtype):
    return {"rtol": 2e-5, "atol": 2e-6} if dtype == np.float32 else {"rtol": 1e-11, "atol": 1e-13}
