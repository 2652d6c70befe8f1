"""``fastoptim bench --torch``: ``fastoptim.torch`` against ``torch.optim`` on torch tensors.

Every contender owns a copy of the same parameters (float32 CPU tensors shaped as the workload) and
before each timed step runs ``zero_grad()`` and a real ``backward()`` of ``sum((p * c).sum())`` for
fixed random ``c``, untimed. So each step sees what it sees in training: caches holding the
backward's data and, with torch's default ``zero_grad(set_to_none=True)``, gradient tensors new
since the last step (``--keep-grads``: ``set_to_none=False`` for every contender, the gradients
then zeroed in place and kept).

Contenders: ``fastoptim.torch`` (default ``nonfinite="raise"``: it checks the gradients first),
``fastoptim.torch-nocheck`` (``nonfinite="ignore"``, the like-for-like peer of torch's kernels),
``roofline`` (the same-bytes copy loop, see :mod:`fastoptim.bench`, on parameters and gradients in
torch's memory) and
``torch-fused`` (``torch.optim``'s class with ``fused=True``; ``torch-foreach`` for a rule torch has
no fused path for), when torch has the rule.
"""

from __future__ import annotations

import inspect
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

from .. import rules, torch as fot
from .core import RULES, roofline_step, timed
from ..rules.schedulefree import in_train_mode

__all__ = ["contenders"]

Contenders = Dict[str, Tuple[Callable[[], float], Optional[List[torch.Tensor]]]]


def contenders(rule: str, shapes: Sequence[Tuple[int, ...]], keep_grads: bool = False, seed: int = 0) -> Contenders:
    """Each contender's step and the parameters it updates (None for the roofline), one step in
    (state allocated). A step runs the untimed ``zero_grad(set_to_none=not keep_grads)`` and
    backward, then times ``step()`` and returns its seconds."""
    name, settings = RULES[rule]
    gen = torch.Generator().manual_seed(seed)
    init = [torch.randn(s, generator=gen) for s in shapes]
    coefs = [torch.randn(s, generator=gen) * 1e-3 for s in shapes]

    def contender(
        make: Callable[[List[torch.Tensor]], torch.optim.Optimizer],
    ) -> Tuple[Callable[[], float], List[torch.Tensor]]:
        params = [p.clone().requires_grad_() for p in init]
        opt = make(params)

        def step() -> float:
            opt.zero_grad(set_to_none=not keep_grads)
            torch.stack([(p * c).sum() for p, c in zip(params, coefs)]).sum().backward()
            t0 = time.perf_counter()
            opt.step()
            return time.perf_counter() - t0

        step()
        return step, params

    cls = getattr(fot, name)
    out: Contenders = {
        "fastoptim.torch": contender(lambda ps: in_train_mode(cls(ps, **settings))),
        "fastoptim.torch-nocheck": contender(lambda ps: in_train_mode(cls(ps, **settings, nonfinite="ignore"))),
    }
    # The roofline's parameters and gradients are in torch's memory, as the adapter's are: NumPy asks
    # the kernel for huge pages for its large arrays, torch does not, and a copy loop on fewer TLB
    # misses would be no reference.
    grads = [c.numpy() for c in coefs]  # the gradients the backward gives
    numpy_opt = in_train_mode(getattr(rules, name)([p.clone().numpy() for p in init], **settings))
    numpy_opt.step(grads)
    out["roofline"] = (timed(roofline_step(numpy_opt, grads, copy=lambda a: torch.from_numpy(a).clone().numpy())), None)
    del numpy_opt
    torch_cls = getattr(torch.optim, name, None)
    if torch_cls is not None:  # its fused path, or its foreach path where it has no fused one
        fused = "fused" in inspect.signature(torch_cls).parameters
        label, flag = ("torch-fused", "fused") if fused else ("torch-foreach", "foreach")
        out[label] = contender(lambda ps: torch_cls(ps, **settings, **{flag: True}))
    return out
