"""Torch tensors as NumPy arrays on the same memory: how every ``fastoptim.torch`` class hands tensors to the engine."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..rules.sparse import RowSparse

__all__ = ["FLOATS", "view_of", "torch_array", "numpy_array"]

#: The tensor dtypes the engine steps.
FLOATS = (torch.float32, torch.float64, torch.bfloat16, torch.float16)


def view_of(t: torch.Tensor, what: str, index: int) -> Any:
    """A NumPy array on the tensor's own memory, or an error that names it (``what index``, as
    "gradient of parameter 3") and says why not. TensorViews calls it for every new tensor. A
    sparse COO gradient over rows (``nn.Embedding(sparse=True)``'s) becomes a :class:`RowSparse`
    of views of its indices and values, coalesced or not."""
    label = f"{what} {index}"
    rows = t.layout == torch.sparse_coo and what.startswith("gradient")  # a row-sparse gradient
    if t.layout != torch.strided and not rows:
        raise ValueError(f"{label} is a {t.layout} tensor; fastoptim.torch steps dense CPU tensors")
    if rows and t.sparse_dim() != 1:
        raise ValueError(f"{label} is sparse in {t.sparse_dim()} dimensions; fastoptim.torch takes sparse gradients over rows only")
    if t.device.type != "cpu":
        raise ValueError(f"{label} is on {t.device}; fastoptim.torch steps CPU tensors (move the optimizer's copy to the CPU)")
    if t.dtype not in FLOATS:
        raise TypeError(f"{label} has dtype {t.dtype}; fastoptim.torch steps float32, float64, bfloat16 and float16 tensors")
    if rows:
        return RowSparse(t._indices()[0].numpy(), t._values().contiguous().numpy())
    if not t.is_contiguous():
        raise ValueError(f"{label} is not contiguous; it cannot be updated in place")
    return numpy_array(t)


def torch_array(a: np.ndarray) -> torch.Tensor:
    """A tensor sharing a state array's memory (a bfloat16 one through its bits: NumPy's bfloat16
    is ml_dtypes', which torch.from_numpy does not know)."""
    if a.dtype.name == "bfloat16":
        return torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(a)


def numpy_array(t: torch.Tensor) -> np.ndarray:
    """A NumPy array on a tensor's memory (the inverse of :func:`torch_array`: a bfloat16 one
    through its bits); a copy only for a tensor not on the CPU or not contiguous."""
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:
        import ml_dtypes

        return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return t.numpy()
