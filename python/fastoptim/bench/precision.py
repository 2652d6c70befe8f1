"""``fastoptim bench --precision``: Adam steps with 32- and 16-bit parameters and float32, bfloat16,
8-bit and 4-bit state, each against float32 Adam, its own roofline, and bitsandbytes' 8-bit Adam.

One tensor of ``--elements`` (default 64M), Adam, ``nonfinite="ignore"``, interleaved:

* each row of :data:`CONFIGS`: float32 parameters with float32, bfloat16, int8 or int4 state;
  bfloat16 parameters (and gradients) with master weights in their low bits, or stochastic
  rounding, and bfloat16, int8 or int4 state;
* ``roofline, <row>``: a loop moving the bytes that row's step moves, with no arithmetic: how fast
  that step could be if it were bound by memory alone;
* ``bitsandbytes Adam8bit``: ``bnb.optim.Adam8bit`` on a CPU torch tensor, when bitsandbytes runs
  on ``--bnb-elements`` (default 4M: it is two orders of magnitude slower), beside fastoptim's int8
  Adam on a tensor of that size.

Each row's ratio is its time over float32 Adam's, and the roofline rows say how far each step is
from its own bandwidth bound.
"""

from __future__ import annotations

import argparse
import math
import sys
from functools import partial
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from .. import _core
from ..core.progress import Progress
from .core import machine, optional_torch, race, result_rows, timed
from .. import rules
from ..core.runtime import get_num_threads

__all__ = ["CONFIGS", "Config", "contenders", "roofline", "run", "main"]

class Config(NamedTuple):
    params: str  # "float32" or "bfloat16" (then the gradients too)
    state_dtype: Optional[str]
    options: Dict[str, Any]  # master_weights, rounding
    reads: int  # bytes per element a step reads: parameter (and master bits), gradient, m, v
    writes: int  # ... and writes: parameter (and master bits), m, v


CONFIGS: Dict[str, Config] = {
    "float32 params, float32 state": Config("float32", None, {}, 16, 12),
    "float32 params, bfloat16 state": Config("float32", "bfloat16", {}, 12, 8),
    "float32 params, int8 state": Config("float32", "int8", {}, 10, 6),
    "float32 params, int4 state": Config("float32", "int4", {}, 9, 5),
    "bfloat16 params + master bits, bfloat16 state": Config("bfloat16", "bfloat16", {}, 10, 8),
    "bfloat16 params, stochastic rounding, bfloat16 state": Config("bfloat16", "bfloat16", dict(master_weights=False, rounding="stochastic"), 8, 6),
    "bfloat16 params + master bits, int8 state": Config("bfloat16", "int8", {}, 8, 6),
    "bfloat16 params, stochastic rounding, int8 state": Config("bfloat16", "int8", dict(master_weights=False, rounding="stochastic"), 6, 4),
    "bfloat16 params, stochastic rounding, int4 state": Config("bfloat16", "int4", dict(master_weights=False, rounding="stochastic"), 5, 3),
}
BASE = "float32 params, float32 state"


def roofline(elements: int, reads: int, writes: int) -> Callable[[], None]:
    """A copy loop reading ``reads`` and writing ``writes`` bytes per element (quantized state's
    absmax, 1/64 or 1/32 byte per element per slot, left out): float32 arrays of ``elements * unit / 4`` floats,
    ``unit`` bytes of each element per array, in passes of (reads, writes) arrays."""
    unit = math.gcd(reads, writes, 4)
    n = elements * unit // 4
    r, w = reads // unit, writes // unit
    passes: List[Tuple[int, int]] = []
    while r:
        pr = min(r, 6)
        pw = min(w, pr - 1)
        passes.append((pr, pw))
        r, w = r - pr, w - pw
    assert w == 0, "the passes must write every byte the step writes"
    runner = _core.Roofline([[np.ones(n, np.float32) for _ in range(6)]])

    def step() -> None:
        for pr, pw in passes:
            runner.run(pr, pw)

    return step


def contenders(elements: int, bnb_elements: int, seed: int = 0) -> Dict[str, Callable[[], float]]:
    """Each contender's step (returning its seconds), one step in."""
    import ml_dtypes
    rng = np.random.default_rng(seed)
    init = rng.standard_normal(elements, dtype=np.float32) * 0.01
    grad = rng.standard_normal(elements, dtype=np.float32) * 1e-3
    out: Dict[str, Callable[[], float]] = {}
    for label, c in CONFIGS.items():
        dtype = ml_dtypes.bfloat16 if c.params == "bfloat16" else np.float32
        opt = rules.Adam([init.astype(dtype)], lr=1e-3, state_dtype=c.state_dtype, nonfinite="ignore", **c.options)
        out[label] = timed(partial(opt.step, [grad.astype(dtype)]))
        out[label]()
    for label, c in CONFIGS.items():
        out[f"roofline, {label}"] = timed(roofline(elements, c.reads, c.writes))
    bnb = _bitsandbytes(bnb_elements, seed) if bnb_elements else None
    if bnb is not None:
        small = rules.Adam([init[:bnb_elements].copy()], lr=1e-3, state_dtype="int8", nonfinite="ignore")
        out[f"int8 state ({bnb_elements / 2**20:g}M)"] = timed(partial(small.step, [grad[:bnb_elements]]))
        out[f"bitsandbytes Adam8bit ({bnb_elements / 2**20:g}M)"] = bnb
    return out


def _bitsandbytes(elements: int, seed: int) -> Optional[Callable[[], float]]:
    """bitsandbytes' 8-bit Adam on a CPU tensor of ``elements`` (None where it does not run)."""
    torch = optional_torch()
    if torch is None:
        return None
    try:
        import bitsandbytes as bnb
    except Exception:  # not installed, or no CPU backend
        return None
    rng = np.random.default_rng(seed)
    weight = torch.from_numpy(rng.standard_normal(elements, dtype=np.float32) * 0.01).requires_grad_()
    weight.grad = torch.from_numpy(rng.standard_normal(elements, dtype=np.float32) * 1e-3)
    opt = bnb.optim.Adam8bit([weight], lr=1e-3)
    step = timed(opt.step)
    step()
    return step


def run(elements: int = 64 << 20, bnb_elements: int = 4 << 20, repeats: int = 7, progress: bool = False) -> Dict[str, Any]:
    """Race the contenders; return the results as a dict (as fastoptim.bench's run)."""

    steps = contenders(elements, bnb_elements)
    bar = Progress(len(steps) * (repeats + 2), progress)
    workload = f"Adam, 1 x {elements / 2**20:g}M float32"
    return dict(machine=machine(), repeats=repeats, elements=elements,
                results=result_rows(workload, get_num_threads(), race(steps, repeats, bar, workload)))


def format_table(report: Dict[str, Any]) -> str:
    m = report["machine"]
    rows = {r["contender"]: r for r in report["results"]}
    lines = [
        f"Adam step on one float32 tensor of {report['elements']:,} elements, nonfinite='ignore', median of "
        f"{report['repeats']} interleaved runs; {m['processor']}, {m['cores']} cores, tier {m['simd_tier']}",
        "",
        "| contender | bytes/param | median | speed vs float32 Adam | share of its roofline |",
        "|---|---|---|---|---|",
    ]
    base = rows[BASE]["median_s"]
    for label, c in CONFIGS.items():
        r, roof = rows[label], rows[f"roofline, {label}"]
        lines.append(f"| {label} | {c.reads + c.writes} | {r['median_s'] * 1e3:.1f} ms | {base / r['median_s']:.2f}x | "
                     f"{roof['median_s'] / r['median_s']:.2f} (roofline {roof['median_s'] * 1e3:.1f} ms) |")
    small = [c for c in rows if c.startswith("int8 state (")]
    for c in small + [c for c in rows if c.startswith("bitsandbytes")]:
        ratio = rows[c]["median_s"] / rows[small[0]]["median_s"]
        lines.append(f"| {c} | 16 | {rows[c]['median_s'] * 1e3:.2f} ms | {ratio:.1f}x fastoptim's time | - |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastoptim.bench --precision", description=__doc__.split("\n\n")[0])
    parser.add_argument("--elements", type=int, default=64 << 20)
    parser.add_argument("--bnb-elements", type=int, default=4 << 20, help="bitsandbytes' tensor (0: leave it out)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    print(format_table(run(args.elements, args.bnb_elements, args.repeats, progress=not args.no_progress)))
    return 0
