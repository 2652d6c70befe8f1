"""``fastoptim bench --precision``: Adam steps with float32, bfloat16 and 8-bit state, each against
float32 Adam, its own roofline, and bitsandbytes' 8-bit Adam.

One float32 tensor of ``--elements`` (default 64M), Adam, ``nonfinite="ignore"``, interleaved:

* ``float32 state``, ``bfloat16 state``, ``int8 state``: fastoptim's Adam with that ``state_dtype``;
* ``roofline, <state>``: a loop moving the bytes that state type's step moves (float32 parameter
  and gradient, state read and written in its size), with no arithmetic: how fast that step could
  be if it were bound by memory alone;
* ``bitsandbytes Adam8bit``: ``bnb.optim.Adam8bit`` on a CPU torch tensor, when bitsandbytes runs
  on ``--bnb-elements`` (default 4M: it is two orders of magnitude slower), beside fastoptim's int8
  Adam on a tensor of that size.

Each row's ratio is its time over float32 Adam's, and the roofline rows say how far each step is
from its own bandwidth bound.
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import _core
from ._progress import Progress
from .bench import machine, optional_torch, race, result_rows

__all__ = ["STATES", "contenders", "run", "main"]

# label -> (state_dtype, bytes per element of one state slot)
STATES: Dict[str, Tuple[Optional[str], int]] = {
    "float32 state": (None, 4),
    "bfloat16 state": ("bfloat16", 2),
    "int8 state": ("int8", 1),
}


def _timed(step: Callable[[], None]) -> Callable[[], float]:
    def run() -> float:
        t0 = time.perf_counter()
        step()
        return time.perf_counter() - t0

    return run


def roofline(elements: int, state_bytes: int) -> Callable[[], None]:
    """A copy loop moving an Adam step's bytes with state of ``state_bytes`` per slot: reading p, g,
    m, v and writing p, m, v, i.e. ``12 + 4 * state_bytes`` bytes per element (int8 adds its absmax,
    1/64 byte per element per slot, left out). It streams float32 arrays of ``elements * unit / 4``
    floats in passes of (reads, writes) arrays adding up to those bytes."""
    unit = 4 // state_bytes if state_bytes < 4 else 1  # elements per float32 of the state arrays
    n = elements // unit
    # reads p, g (4 bytes each), m, v; writes p, m, v -- as arrays of n floats
    reads, writes = 2 * unit + 2, unit + 2
    passes: List[Tuple[int, int]] = []
    while reads:
        r = min(reads, 6)
        w = min(writes, r - 1)
        passes.append((r, w))
        reads, writes = reads - r, writes - w
    assert writes == 0, "the passes must write every byte the step writes"
    arrays = [[np.ones(n, np.float32) for _ in range(6)]]
    runner = _core.Roofline(arrays)

    def step() -> None:
        for r, w in passes:
            runner.run(r, w)

    return step


def contenders(elements: int, bnb_elements: int, seed: int = 0) -> Dict[str, Callable[[], float]]:
    """Each contender's step (returning its seconds), one step in."""
    import fastoptim

    rng = np.random.default_rng(seed)
    init = rng.standard_normal(elements, dtype=np.float32) * 0.01
    grad = rng.standard_normal(elements, dtype=np.float32) * 1e-3
    out: Dict[str, Callable[[], float]] = {}
    for label, (state_dtype, _) in STATES.items():
        opt = fastoptim.Adam([init.copy()], lr=1e-3, state_dtype=state_dtype, nonfinite="ignore")
        out[label] = _timed(partial(opt.step, [grad]))
        out[label]()
    for label, (_, size) in STATES.items():
        out[f"roofline, {label}"] = _timed(roofline(elements, size))
    bnb = _bitsandbytes(bnb_elements, seed) if bnb_elements else None
    if bnb is not None:
        small = fastoptim.Adam([init[:bnb_elements].copy()], lr=1e-3, state_dtype="int8", nonfinite="ignore")
        out[f"int8 state ({bnb_elements / 2**20:g}M)"] = _timed(partial(small.step, [grad[:bnb_elements]]))
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
    step = _timed(opt.step)
    step()
    return step


def run(elements: int = 64 << 20, bnb_elements: int = 4 << 20, repeats: int = 7, progress: bool = False) -> Dict[str, Any]:
    """Race the contenders; return the results as a dict (as fastoptim.bench's run)."""
    from .runtime import get_num_threads

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
    base = rows["float32 state"]["median_s"]
    for label, (_, size) in STATES.items():
        r, roof = rows[label], rows[f"roofline, {label}"]
        lines.append(f"| {label} | {12 + 4 * size} | {r['median_s'] * 1e3:.1f} ms | {base / r['median_s']:.2f}x | "
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
