"""The default mode: one optimizer step of a rule on NumPy arrays, against NumPy and torch.optim's
CPU paths (``--torch``: :mod:`fastoptim.bench.torch`), per workload and thread count."""

from __future__ import annotations

import datetime
import importlib
from functools import partial
import math
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .. import rules
from ..core.optimizer import Optimizer
from ..core.progress import Progress
from ..core.runtime import get_num_threads, set_num_threads
from ..rules.schedulefree import in_train_mode
from .core import PACKAGE_PEERS, RULES, M, machine, optional_torch, race, result_rows, roofline_step, timed, transformer_shapes

__all__ = ["WORKLOADS", "DEFAULT", "QUICK", "TORCH_DEFAULT", "run"]


WORKLOADS: Dict[str, List[Tuple[int, ...]]] = {
    "1x10": [(10,)],
    "10000x100": [(100,)] * 10_000,
    "1000x1000": [(1000,)] * 1000,
    "1x1M": [(M,)],
    "transformer": transformer_shapes(),
    "1x64M": [(64 * 2**20,)],
    "1x10M": [(10 * M,)],
}
DEFAULT = ["1x10", "10000x100", "1000x1000", "1x1M", "transformer", "1x64M"]
QUICK = ["1x10", "10000x100", "1000x1000", "1x1M"]
TORCH_DEFAULT = ["1000x1000", "transformer", "1x64M"]

def _numpy_step(rule: str, params: List[np.ndarray], grads: List[np.ndarray]) -> Optional[Callable[[], None]]:
    """The rule as a NumPy user would write it, or None for rules without such a peer here."""
    if rule == "sgd":
        bufs = [np.zeros_like(p) for p in params]

        def sgd() -> None:
            for p, g, b in zip(params, grads, bufs):
                b *= 0.9
                b += g
                p -= 1e-3 * b

        return sgd
    if rule == "adam":
        ms = [np.zeros_like(p) for p in params]
        vs = [np.zeros_like(p) for p in params]
        t = [0]

        def adam() -> None:
            t[0] += 1
            step_size = 1e-3 / (1 - 0.9 ** t[0])
            root_bc2 = math.sqrt(1 - 0.999 ** t[0])
            for p, g, m, v in zip(params, grads, ms, vs):
                m *= 0.9
                m += 0.1 * g
                v *= 0.999
                v += 0.001 * g * g
                p -= step_size * m / (np.sqrt(v) / root_bc2 + 1e-8)

        return adam
    return None


def _torch_steps(rule: str, params: List[np.ndarray], grads: List[np.ndarray]) -> Dict[str, Tuple[Callable[[], None], List[np.ndarray]]]:
    """torch.optim's CPU paths for the rule (or the package that defines it, see PACKAGE_PEERS), each
    with (zero-copy views of) its parameters."""
    torch = optional_torch()
    if torch is None:
        return {}
    name, settings = RULES[rule]
    cls = getattr(torch.optim, name, None)
    paths: List[Tuple[str, Dict[str, Any]]] = [("torch-forloop", dict(foreach=False)), ("torch-foreach", dict(foreach=True)), ("torch-fused", dict(fused=True))]
    if rule in PACKAGE_PEERS:
        package, class_name = PACKAGE_PEERS[rule]
        try:
            cls = getattr(importlib.import_module(package), class_name)
        except ImportError:
            return {}
        paths = [(package, {})]
    if cls is None:
        return {}
    steps: Dict[str, Tuple[Callable[[], None], List[np.ndarray]]] = {}
    for label, flags in paths:
        tparams = [torch.tensor(p) for p in params]
        for p, g in zip(tparams, grads):
            p.grad = torch.tensor(g)
        try:
            opt = cls(tparams, **settings, **flags)
            opt.step()
        except (RuntimeError, TypeError, ValueError):
            continue  # this path does not exist for this rule
        steps[label] = (opt.step, [t.detach().numpy() for t in tparams])
    return steps


Contenders = Dict[str, Tuple[Callable[[], None], Optional[List[np.ndarray]]]]


def _contenders(rule: str, shapes: Sequence[Tuple[int, ...]], seed: int = 0) -> Contenders:
    """Each contender's step and the parameters it updates (None for the roofline), every one of
    them one step in (state allocated), so that after the same number of steps they hold the same
    values: the benchmark compares the same work."""
    name, settings = RULES[rule]
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s, dtype=np.float32) for s in shapes]
    grads = [rng.standard_normal(s, dtype=np.float32) * 1e-3 for s in shapes]
    out: Contenders = {}
    for label, nonfinite in [("fastoptim", "raise"), ("fastoptim-nocheck", "ignore")]:
        ps = [p.copy() for p in params]
        opt: Optimizer = in_train_mode(getattr(rules, name)(ps, **settings, nonfinite=nonfinite))
        opt.step(grads)
        out[label] = (partial(opt.step, grads), ps)
    # The roofline runs on copies of the last optimizer's parameters and state: the same sizes,
    # tensors and threads, and it leaves the contenders' arrays alone.
    roofline = roofline_step(opt, grads)
    out["roofline"] = (roofline, None)
    numpy_params = [p.copy() for p in params]
    numpy_step = _numpy_step(rule, numpy_params, grads)
    if numpy_step is not None:
        numpy_step()
        out["numpy"] = (numpy_step, numpy_params)
    out.update(_torch_steps(rule, params, grads))
    return out


def run(
    rule: str = "adam",
    workloads: Sequence[str] = QUICK,
    threads: Sequence[int] = (0,),
    repeats: int = 15,
    progress: bool = False,
    torch_mode: bool = False,
    keep_grads: bool = False,
) -> Dict[str, Any]:
    """Measure every contender on every workload and thread count; return the results as a dict.

    ``threads`` of 0 means all of OpenMP's threads. Each contender takes 2 warm-up steps, then
    ``repeats`` timed steps interleaved with the others'. ``torch_mode`` races
    :mod:`fastoptim.torch` against torch.optim on torch tensors instead, each step after a real
    ``zero_grad(set_to_none=not keep_grads)`` and ``backward()`` (see :mod:`fastoptim.bench.torch`).
    """
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; choose from {sorted(RULES)}")
    for w in workloads:
        if w not in WORKLOADS:
            raise ValueError(f"unknown workload {w!r}; choose from {list(WORKLOADS)}")
    all_threads = get_num_threads()
    torch = optional_torch()
    if torch is None and torch_mode:
        raise ImportError("the torch mode needs torch (pip install 'fastoptim[torch]')")
    # A torch-mode step times itself (it leaves the backward before it out); a NumPy one is timed here.
    if torch_mode:
        from . import torch as torch_mode_steps

        contenders: Callable[..., Dict[str, Tuple[Callable[[], Any], Any]]] = partial(torch_mode_steps.contenders, keep_grads=keep_grads)
        as_timed: Callable[[Callable[[], Any]], Callable[[], float]] = lambda step: step
    else:
        contenders, as_timed = _contenders, timed
    results: List[Dict[str, Any]] = []
    bar: Optional[Progress] = None
    for n_threads in threads:
        n = n_threads or all_threads
        set_num_threads(n)
        if torch is not None:
            torch.set_num_threads(n)
        for w in workloads:
            steps = {c: as_timed(step) for c, (step, _) in contenders(rule, WORKLOADS[w]).items()}
            if bar is None:
                bar = Progress(len(threads) * len(workloads) * len(steps) * (repeats + 2), progress)
            results += result_rows(w, n, race(steps, repeats, bar, w))
            del steps
    set_num_threads(all_threads)
    if torch is not None:
        torch.set_num_threads(all_threads)
    return dict(
        rule=rule,
        mode=("torch-keep-grads" if keep_grads else "torch") if torch_mode else "numpy",
        date=datetime.date.today().isoformat(),
        machine=machine(),
        repeats=repeats,
        results=results,
    )
