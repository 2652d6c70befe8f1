"""What every bench mode shares: the rules and their bench settings, the interleaved race, timing,
result rows, the same-bytes roofline, the machine's description and the Markdown table."""

from __future__ import annotations

import os
import platform
import time
from typing import Any, Callable, Dict, List, Sequence, Tuple

import numpy as np

from .. import _core, rules
from ..core.optimizer import Optimizer
from ..core.progress import Progress
from ..core.runtime import simd_tier

__all__ = [
    "RULES", "PACKAGE_PEERS", "M", "transformer_shapes", "race", "timed", "result_rows", "optional_torch", "machine", "roofline_step",
    "format_table",
]

M = 1_000_000


def transformer_shapes(layers: int = 6, width: int = 512, vocab: int = 8192) -> List[Tuple[int, ...]]:
    """Shapes of a small decoder-only transformer: embedding, then per layer attention, MLP and norms."""
    shapes: List[Tuple[int, ...]] = [(vocab, width)]
    for _ in range(layers):
        shapes += [(width,), (width,), (width, 3 * width), (3 * width,), (width, width), (width,)]
        shapes += [(width,), (width,), (width, 4 * width), (4 * width,), (4 * width, width), (width,)]
    return shapes + [(width,), (width,)]


# Every optimizer class with an update rule, keyed by its lowercased name, at its defaults but where
# a setting below makes the bench more representative. torch's class of the same name is the peer.
SETTINGS: Dict[str, Dict[str, Any]] = {
    "SGD": dict(lr=1e-3, momentum=0.9),
    "LARS": dict(lr=0.1),
    "ScheduleFreeSGD": dict(lr=1e-3),
}


def _rules() -> Dict[str, Tuple[str, Dict[str, Any]]]:
    classes = [c for c in vars(rules).values() if isinstance(c, type) and issubclass(c, Optimizer) and getattr(c, "_rule", None)]
    return {c.__name__.lower(): (c.__name__, SETTINGS.get(c.__name__, {})) for c in classes}


RULES: Dict[str, Tuple[str, Dict[str, Any]]] = _rules()
# Peers outside torch.optim, on torch tensors: the bench rule -> (package, class), raced when installed.
PACKAGE_PEERS: Dict[str, Tuple[str, str]] = {
    "prodigy": ("prodigyopt", "Prodigy"),
    "dadaptadam": ("dadaptation", "DAdaptAdam"),
    "dadaptsgd": ("dadaptation", "DAdaptSGD"),
    "dadaptadagrad": ("dadaptation", "DAdaptAdaGrad"),
}


def roofline_step(
    opt: Optimizer, grads: Sequence[np.ndarray], copy: Callable[[np.ndarray], np.ndarray] = np.copy
) -> Callable[[], None]:
    """The same-bytes copy loop for one step of ``opt`` (one group, stepped once, so its state
    exists), on copies of its parameters (made by ``copy``) and state (``state_dict()`` copies
    them) and on ``grads``."""
    passes = opt.traffic(0)
    state = opt.state_dict()["state"]
    params = opt.param_groups[0]["params"]
    tensors = [
        [copy(p), g] + [v for v in state[i].values() if isinstance(v, np.ndarray) and v.shape == p.shape]
        for i, (p, g) in enumerate(zip(params, grads))
    ]
    for t in tensors:
        while len(t) < 6:  # the roofline takes p, g and four state arrays, used or not
            t.append(np.ones_like(t[0]))
    runner = _core.Roofline(tensors)

    def roofline() -> None:
        for reads, writes in passes:
            runner.run(reads, writes)

    return roofline


def race(steps: Dict[str, Callable[[], float]], repeats: int, bar: Progress, label: str) -> Dict[str, List[float]]:
    """Run each contender's step ``repeats + 2`` times, interleaved (one of each in turn, the order
    rotating), and return the times of all but the first two. A step returns the seconds it took
    (so a contender can leave work out of its timing, as the backward pass before a step)."""
    names = list(steps)
    times: Dict[str, List[float]] = {c: [] for c in names}
    for r in range(repeats + 2):
        for c in names[r % len(names) :] + names[: r % len(names)]:
            elapsed = steps[c]()
            if r >= 2:
                times[c].append(elapsed)
            bar.advance(f"{label} {c}")
    return times


def timed(step: Callable[[], Any]) -> Callable[[], float]:
    """``step`` as a race contender: it returns the seconds the call took."""

    def run() -> float:
        t0 = time.perf_counter()
        step()
        return time.perf_counter() - t0

    return run


def result_rows(workload: str, threads: int, times: Dict[str, List[float]]) -> List[Dict[str, Any]]:
    """One result per contender: its median and its median over the first contender's."""
    base = float(np.median(next(iter(times.values()))))
    return [
        dict(
            workload=workload,
            threads=threads,
            contender=c,
            median_s=float(np.median(t)),
            ratio_to_fastoptim=float(np.median(t)) / base,
            times_s=t,
        )
        for c, t in times.items()
    ]


def optional_torch() -> Any:
    """torch, or None where it is not installed (then the bench has no torch contenders)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def machine() -> Dict[str, Any]:
    """What the figures were measured on."""
    torch = optional_torch()
    return dict(
        platform=platform.platform(),
        processor=_cpu_name(),
        cores=os.cpu_count(),
        simd_tier=simd_tier(),
        numpy=np.__version__,
        torch=getattr(torch, "__version__", None),
    )

def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    return f"{seconds * 1e3:.2f} ms"


def format_table(report: Dict[str, Any]) -> str:
    """The report as a Markdown table: a row per workload and thread count, a column per contender,
    each cell the median step time and, in brackets, how many times fastoptim's it is."""
    m = report["machine"]
    contenders: List[str] = []
    rows: Dict[Tuple[str, int], Dict[str, Dict[str, Any]]] = {}
    for r in report["results"]:
        if r["contender"] not in contenders:
            contenders.append(r["contender"])
        rows.setdefault((r["workload"], r["threads"]), {})[r["contender"]] = r
    source = {
        "torch": "torch tensors, gradients from zero_grad() + backward()",
        "torch-keep-grads": "torch tensors, gradients from zero_grad(set_to_none=False) + backward()",
    }.get(report.get("mode", ""), "NumPy arrays")
    lines = [
        f"{report['rule']} step, float32 {source}, median of {report['repeats']} interleaved runs; {report['date']}, "
        f"{m['processor']}, {m['cores']} cores, tier {m['simd_tier']}, numpy {m['numpy']}, torch {m['torch']}",
        "",
        "| workload | threads | " + " | ".join(contenders) + " |",
        "|---|---|" + "---|" * len(contenders),
    ]
    for (workload, threads), cells in rows.items():
        row = [
            f"{_fmt_time(cells[c]['median_s'])} ({cells[c]['ratio_to_fastoptim']:.2f}x)" if c in cells else "-"
            for c in contenders
        ]
        lines.append(f"| {workload} | {threads} | " + " | ".join(row) + " |")
    return "\n".join(lines)
