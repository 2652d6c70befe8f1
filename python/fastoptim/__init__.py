"""fastoptim: deep-learning optimizers for NumPy arrays, with a compiled SIMD, multi-tensor core.

Optimizers update the user's float32/float64 arrays in place, in one C++ call per step that releases
the GIL and spreads the work over OpenMP threads; names, defaults and semantics follow torch.optim.

>>> import numpy as np, fastoptim as fo
>>> w = np.zeros(3, np.float32)
>>> opt = fo.AdamW({"w": w}, lr=1e-3)
>>> opt.step({"w": np.ones(3, np.float32)})

Learning-rate schedules are in ``fastoptim.schedules`` and evaluated inside the step:

>>> opt = fo.SGD([w], lr=fo.schedules.cosine(0.1, total_steps=1000), momentum=0.9)
"""

from __future__ import annotations

import importlib
from typing import Any

from ._core import __version__
from . import diagnostics, quantize, rules, schedules
from .core.clip import clip_grad_norm, clip_grad_value
from .core.optimizer import Optimizer
from .diagnostics.lr_range import lr_range_test
from .core.runtime import available_tiers, get_num_threads, set_num_threads, simd_tier
from .rules import *  # noqa: F403  (every rule class: see rules/__init__.py)

__all__ = [
    "Optimizer",
    "__version__",
    "available_tiers",
    "clip_grad_norm",
    "clip_grad_value",
    "diagnostics",
    "lr_range_test",
    "quantize",
    "schedules",
    "get_num_threads",
    "set_num_threads",
    "simd_tier",
]
__all__ += rules.__all__

# Subpackages with heavier dependencies (torch, mpi4py) or that only tools use load on first
# attribute access, so that ``import fastoptim as fo; fo.distributed.ZeroOptimizer`` works.
_LAZY = ("torch", "distributed", "bench", "lab")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list:
    return sorted(set(globals()) | set(_LAZY))
