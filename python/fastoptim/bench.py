"""Step time of fastoptim against its peers, measured side by side in one process.

    python -m fastoptim.bench [--rule adam] [--threads 1,2] [--quick] [--torch] [--json FILE]
    python -m fastoptim.bench --mpi [--elements N] [--ranks 1,2]
    python -m fastoptim.bench --sparse [--rule sparseadam] [--rows N] [--dim D] [--given K]
    python -m fastoptim.bench --whole [--kinds muon,lbfgs,lookahead]
    python -m fastoptim.bench --precision [--elements N] [--bnb-elements M]

For each workload (a set of float32 tensors) it times one optimizer step of every contender:

* ``fastoptim``: the default step, which checks the gradients for inf/NaN first;
* ``fastoptim-nocheck``: ``nonfinite="ignore"``, the like-for-like peer of torch's kernels, which
  do not check;
* ``roofline``: a same-bytes copy loop, reading and writing the arrays the rule reads and writes
  with no arithmetic, on the same tensors, threads and SIMD tier: a memory-bandwidth reference,
  not a strict bound (with interleaved runs, a step can find more of its data in cache than the
  loop did and beat it);
* ``numpy``: the rule written the obvious way in NumPy (SGD and Adam);
* ``torch-forloop``, ``torch-foreach``, ``torch-fused``: torch.optim's three CPU paths, when torch
  is installed and has the rule.

``--torch`` races ``fastoptim.torch`` against torch.optim on torch tensors instead, with gradients
from a real ``zero_grad()`` + ``backward()`` before every timed step (:mod:`fastoptim.bench_torch`).
``--mpi`` times :class:`fastoptim.distributed.ZeroOptimizer` on 1, 2, ... ranks (:mod:`fastoptim.bench_mpi`).
``--sparse`` times row-sparse steps on an embedding table against the dense step and torch's
sparse path (:mod:`fastoptim.bench_sparse`); ``--whole`` times Muon, L-BFGS and Lookahead, whose
steps are more than one kernel call, against their peers (:mod:`fastoptim.bench_whole`);
``--precision`` times Adam with float32, bfloat16 and 8-bit state against float32 Adam, their
rooflines and bitsandbytes (:mod:`fastoptim.bench_precision`).

Runs are interleaved (one step of each contender in turn, the order rotating) and the report gives
medians, and each contender's time over fastoptim's. Absolute times drift on a shared machine;
ratios measured in one run do not.
"""

from __future__ import annotations

import argparse
import datetime
from functools import partial
import json
import math
import os
import platform
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import _core
from .optimizer import Optimizer
from ._progress import Progress
from .schedulefree import in_train_mode
from .runtime import get_num_threads, set_num_threads, simd_tier

__all__ = ["WORKLOADS", "run", "main", "transformer_shapes"]

M = 1_000_000


def transformer_shapes(layers: int = 6, width: int = 512, vocab: int = 8192) -> List[Tuple[int, ...]]:
    """Shapes of a small decoder-only transformer: embedding, then per layer attention, MLP and norms."""
    shapes: List[Tuple[int, ...]] = [(vocab, width)]
    for _ in range(layers):
        shapes += [(width,), (width,), (width, 3 * width), (3 * width,), (width, width), (width,)]
        shapes += [(width,), (width,), (width, 4 * width), (4 * width,), (4 * width, width), (width,)]
    return shapes + [(width,), (width,)]


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

# Every optimizer class with an update rule, keyed by its lowercased name, at its defaults but where
# a setting below makes the bench more representative. torch's class of the same name is the peer.
SETTINGS: Dict[str, Dict[str, Any]] = {
    "SGD": dict(lr=1e-3, momentum=0.9),
    "LARS": dict(lr=0.1),
    "ScheduleFreeSGD": dict(lr=1e-3),
}


def _rules() -> Dict[str, Tuple[str, Dict[str, Any]]]:
    import fastoptim

    classes = [c for c in vars(fastoptim).values() if isinstance(c, type) and issubclass(c, Optimizer) and getattr(c, "_rule", None)]
    return {c.__name__.lower(): (c.__name__, SETTINGS.get(c.__name__, {})) for c in classes}


RULES: Dict[str, Tuple[str, Dict[str, Any]]] = _rules()


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
    """torch.optim's CPU paths for the rule, each with (zero-copy views of) its parameters."""
    torch = optional_torch()
    if torch is None:
        return {}
    name, settings = RULES[rule]
    cls = getattr(torch.optim, name, None)
    if cls is None:
        return {}
    steps: Dict[str, Tuple[Callable[[], None], List[np.ndarray]]] = {}
    for label, flags in [("torch-forloop", dict(foreach=False)), ("torch-foreach", dict(foreach=True)), ("torch-fused", dict(fused=True))]:
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
    import fastoptim

    name, settings = RULES[rule]
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s, dtype=np.float32) for s in shapes]
    grads = [rng.standard_normal(s, dtype=np.float32) * 1e-3 for s in shapes]
    out: Contenders = {}
    for label, nonfinite in [("fastoptim", "raise"), ("fastoptim-nocheck", "ignore")]:
        ps = [p.copy() for p in params]
        opt: Optimizer = in_train_mode(getattr(fastoptim, name)(ps, **settings, nonfinite=nonfinite))
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
    ``zero_grad(set_to_none=not keep_grads)`` and ``backward()`` (see :mod:`fastoptim.bench_torch`).
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
        from . import bench_torch

        contenders: Callable[..., Dict[str, Tuple[Callable[[], Any], Any]]] = partial(bench_torch.contenders, keep_grads=keep_grads)
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


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--mpi" in argv:  # ZeroOptimizer over MPI: its own runs and table
        from .bench_mpi import main as mpi_main

        return mpi_main([a for a in argv if a != "--mpi"])
    if "--precision" in argv:  # float32, bfloat16 and 8-bit state: their own runs and table
        from .bench_precision import main as precision_main

        return precision_main([a for a in argv if a != "--precision"])
    if "--sparse" in argv:  # row-sparse steps on an embedding table: their own runs and table
        from .bench_sparse import main as sparse_main

        return sparse_main([a for a in argv if a != "--sparse"])
    if "--whole" in argv:  # Muon, L-BFGS, Lookahead: more than one kernel call per step
        from .bench_whole import main as whole_main

        return whole_main([a for a in argv if a != "--whole"])
    parser = argparse.ArgumentParser(prog="python -m fastoptim.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rule", default="adam", choices=sorted(RULES))
    parser.add_argument("--workloads", default=None, help=f"comma-separated, from {','.join(WORKLOADS)}")
    parser.add_argument("--quick", action="store_true", help=f"only {','.join(QUICK)} (default: {','.join(DEFAULT)})")
    parser.add_argument(
        "--torch",
        action="store_true",
        help=f"fastoptim.torch against torch.optim, gradients from backward() (default workloads: {','.join(TORCH_DEFAULT)})",
    )
    parser.add_argument(
        "--keep-grads", action="store_true", help="with --torch: zero_grad(set_to_none=False) for every contender"
    )
    parser.add_argument("--threads", default="0", help="comma-separated thread counts; 0 = all (default)")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the results to FILE")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    default = TORCH_DEFAULT if args.torch else QUICK if args.quick else DEFAULT
    workloads = args.workloads.split(",") if args.workloads else default
    threads = [int(t) for t in args.threads.split(",")]
    report = run(
        args.rule,
        workloads,
        threads,
        args.repeats,
        progress=not args.no_progress,
        torch_mode=args.torch,
        keep_grads=args.keep_grads,
    )
    print(format_table(report))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
