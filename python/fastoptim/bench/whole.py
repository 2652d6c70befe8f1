"""``fastoptim bench --whole``: the optimizers that are more than one kernel call per step, each
against its peer in one process, interleaved.

* ``muon``: Muon on the matrices of a small transformer (``fastoptim.bench``'s, 2-D shapes only),
  ``ns_dtype`` float32 and bfloat16, against ``torch.optim.Muon``;
* ``lbfgs``: one L-BFGS step (``max_iter=20``, strong-Wolfe line search) on a least-squares problem
  ``0.5 |A w - b|^2`` (A 4000 x 1000, float64), the closure's loss and gradient computed by the same BLAS
  products for both, against ``torch.optim.LBFGS``;
* ``lookahead``: Lookahead(Adam) on the transformer's parameters against pytorch-optimizer's
  Lookahead around ``torch.optim.Adam(fused=True)``.

A contender's time is the whole ``step()``, closure calls included.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from functools import partial
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..core.progress import Progress
from .core import format_table, machine, optional_torch, race, result_rows, timed, transformer_shapes
from .. import rules
from ..core.runtime import get_num_threads

__all__ = ["KINDS", "contenders", "run", "main"]

Contenders = Dict[str, Tuple[Callable[[], float], Any]]


def _muon(torch: Any, seed: int, small: bool) -> Contenders:
    rng = np.random.default_rng(seed)
    shapes = [s for s in _shapes(small) if len(s) == 2]
    init = [rng.standard_normal(s, dtype=np.float32) for s in shapes]
    grads = [rng.standard_normal(s, dtype=np.float32) for s in shapes]
    out: Contenders = {}
    for label, ns in [("fastoptim", "float32"), ("fastoptim-bf16", "bfloat16")]:
        ps = [p.copy() for p in init]
        opt = rules.Muon(ps, lr=0.02, ns_dtype=ns)
        out[label] = (timed(partial(opt.step, grads)), ps)
    if torch is not None and hasattr(torch.optim, "Muon"):
        tps = [torch.tensor(p) for p in init]
        for t, g in zip(tps, grads):
            t.grad = torch.tensor(g)
        topt = torch.optim.Muon(tps, lr=0.02)
        out["torch"] = (timed(topt.step), [t.numpy() for t in tps])
    return out


def _lbfgs(torch: Any, seed: int, small: bool) -> Contenders:
    rng = np.random.default_rng(seed)
    rows, cols = (200, 50) if small else (4000, 1000)
    a = rng.standard_normal((rows, cols)) / np.sqrt(rows)
    b = rng.standard_normal(rows)
    w0 = np.zeros(cols)
    settings: Dict[str, Any] = dict(max_iter=20, line_search_fn="strong_wolfe")
    out: Contenders = {}

    def numpy_run() -> Tuple[Callable[[], float], np.ndarray]:
        w = w0.copy()
        opt = rules.LBFGS([w], **settings)

        def closure() -> Tuple[float, List[np.ndarray]]:
            r = a @ w - b
            return 0.5 * float(r @ r), [a.T @ r]

        return timed(lambda: opt.step(closure)), w

    out["fastoptim"] = numpy_run()
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        tw = torch.zeros(cols, dtype=torch.float64, requires_grad=True)
        topt = torch.optim.LBFGS([tw], **settings)

        def torch_closure() -> Any:
            with torch.no_grad():
                r = ta @ tw - tb
                tw.grad = ta.T @ r
                return 0.5 * (r @ r)

        out["torch"] = (timed(lambda: topt.step(torch_closure)), tw.detach().numpy())
    return out


def _lookahead(torch: Any, seed: int, small: bool) -> Contenders:
    rng = np.random.default_rng(seed)
    shapes = _shapes(small)
    init = [rng.standard_normal(s, dtype=np.float32) for s in shapes]
    grads = [rng.standard_normal(s, dtype=np.float32) * 1e-3 for s in shapes]
    ps = [p.copy() for p in init]
    opt = rules.Lookahead(rules.Adam(ps, lr=1e-3), k=5, alpha=0.5)
    out: Contenders = {"fastoptim": (timed(partial(opt.step, grads)), ps)}
    try:
        from pytorch_optimizer import Lookahead
    except ImportError:
        return out
    tps = [torch.tensor(p) for p in init]
    for t, g in zip(tps, grads):
        t.grad = torch.tensor(g)
    topt = Lookahead(torch.optim.Adam(tps, lr=1e-3, fused=True), k=5, alpha=0.5)
    out["torch-fused+pytorch-optimizer"] = (timed(topt.step), [t.numpy() for t in tps])
    return out


def _shapes(small: bool) -> List[Tuple[int, ...]]:
    return transformer_shapes(layers=1, width=32, vocab=64) if small else transformer_shapes()


KINDS: Dict[str, Callable[[Any, int, bool], Contenders]] = {"muon": _muon, "lbfgs": _lbfgs, "lookahead": _lookahead}


def contenders(kind: str, seed: int = 0, small: bool = False) -> Contenders:
    """Each contender's step (it returns its seconds) and the arrays it updates; ``small``: tiny
    sizes, for tests."""
    return KINDS[kind](optional_torch(), seed, small)


def run(kinds: Sequence[str] = tuple(KINDS), repeats: int = 7, progress: bool = False) -> Dict[str, Any]:
    """Race each kind's contenders; the results as fastoptim.bench's run gives them."""

    results: List[Dict[str, Any]] = []
    bar: Optional[Progress] = None
    for kind in kinds:
        steps = {c: step for c, (step, _) in contenders(kind).items()}
        if bar is None:
            bar = Progress(len(kinds) * 3 * (repeats + 2), progress)
        results += result_rows(kind, get_num_threads(), race(steps, repeats, bar, kind))
    return dict(
        rule="whole-step", mode="numpy", date=datetime.date.today().isoformat(), machine=machine(), repeats=repeats, results=results
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastoptim.bench --whole", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, from {','.join(KINDS)}")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    print(format_table(run(args.kinds.split(","), args.repeats, progress=not args.no_progress)))
    return 0
