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

from ._core import __version__
from . import diagnostics, quantize, schedules
from .adadelta import Adadelta
from .adafactor import Adafactor
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adamax import Adamax
from .adan import Adan
from .ademamix import AdEMAMix
from .asgd import ASGD
from .clip import clip_grad_norm, clip_grad_value
from .lamb import LAMB
from .lars import LARS
from .lbfgs import LBFGS
from .lion import Lion
from .lookahead import Lookahead
from .muon import Muon
from .nadam import NAdam
from .optimizer import Optimizer
from .radam import RAdam
from .rmsprop import RMSprop
from .rprop import Rprop
from .runtime import available_tiers, get_num_threads, set_num_threads, simd_tier
from .schedulefree import ScheduleFreeAdamW, ScheduleFreeSGD
from .sgd import SGD
from .sparse import RowSparse, RowWiseAdagrad, SparseAdam

__all__ = [
    "ASGD",
    "Adadelta",
    "Adafactor",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Adan",
    "AdEMAMix",
    "LAMB",
    "LARS",
    "LBFGS",
    "Lion",
    "Lookahead",
    "Muon",
    "NAdam",
    "Optimizer",
    "RAdam",
    "RMSprop",
    "RowSparse",
    "RowWiseAdagrad",
    "Rprop",
    "SGD",
    "SparseAdam",
    "ScheduleFreeAdamW",
    "ScheduleFreeSGD",
    "__version__",
    "available_tiers",
    "clip_grad_norm",
    "clip_grad_value",
    "diagnostics",
    "quantize",
    "schedules",
    "get_num_threads",
    "set_num_threads",
    "simd_tier",
]
