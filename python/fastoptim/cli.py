"""The ``fastoptim`` command: ``demo`` runs the lab's experiments, ``info`` describes the build,
``bench`` compares step times against peers."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from typing import List, Optional, Sequence

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    from .core.progress import Progress
    from .lab import EXPERIMENTS, to_json
    from .lab.page import Shown, draw, summary, write_index

    if args.list:
        for name, module in EXPERIMENTS.items():
            print(f"{name:<15} {summary(module)}")
        return 0
    names = list(EXPERIMENTS) if args.name == "all" else [args.name]
    os.makedirs(args.out, exist_ok=True)
    tty = sys.stderr.isatty() and not args.no_progress
    # One experiment shows its own fine-grained bar; several share one bar, two ticks each.
    bar = Progress(2 * len(names), tty and len(names) > 1)
    shown = []
    for name in names:
        module = EXPERIMENTS[name]
        start = time.perf_counter()
        bar.advance(f"{name}: running", 0)
        result = module.run(steps=args.steps, seed=args.seed, progress=tty and len(names) == 1)
        bar.advance(f"{name}: drawing")
        pictures = draw(module, result, args.out)
        seconds = time.perf_counter() - start
        shown.append(Shown(module, module.table_of(result), pictures, seconds))
        lines = [f"== {name} ({seconds:.1f} s) ==", shown[-1].table]
        lines += [f"picture: {os.path.join(args.out, p)}" for p in pictures]
        if args.json:
            path = os.path.join(args.out, f"{name}.json")
            with open(path, "w") as f:
                f.write(to_json(result))
            lines.append(f"figures: {path}")
        bar.advance(name)
        bar.write("\n".join(lines) + "\n")
    if len(names) > 1:
        print(f"page: {write_index(args.out, shown)}")
    return 0


def _info(args: argparse.Namespace) -> int:
    import numpy

    from . import _core
    from ._core import __version__
    from .core.runtime import available_tiers, get_num_threads, has_openmp, simd_tier

    print(f"fastoptim {__version__} (numpy {numpy.__version__}, python {sys.version.split()[0]})")
    print(f"CPU: {platform.machine()}, features: {' '.join(cpu_features()) or 'unknown'}")
    print(f"SIMD tier: {simd_tier()} (this CPU runs: {', '.join(available_tiers())})")
    print(f"threads: {get_num_threads()} ({'OpenMP' if has_openmp() else 'no OpenMP: one thread'})")
    print("tiers compiled, with their flags:")
    for tier in _core.compiled_tiers():
        print(f"  {tier:<9} {_core.tier_flags(tier)}")
    print(f"update rules: {', '.join(_core.rules)}")
    return 0


# The CPU features the tiers use, as Linux's /proc/cpuinfo names them (x86 "flags", aarch64 "Features").
_FEATURES = ("sse4_2", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512vbmi", "avx512_bf16", "asimd", "sve", "sve2", "bf16")


def cpu_features() -> List[str]:
    """Which of the features the SIMD tiers use this CPU reports (Linux; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            words = {w for line in f if line.split(":")[0].strip() in ("flags", "Features") for w in line.split(":", 1)[1].split()}
    except OSError:
        return []
    return [f for f in _FEATURES if f in words]


def main(argv: Optional[Sequence[str]] = None) -> int:
    from .lab import EXPERIMENTS

    parser = argparse.ArgumentParser(prog="fastoptim", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run a lab experiment (default: error-surface) and draw its picture; all: every one, and an index.html")
    demo.add_argument("name", nargs="?", default="error-surface", choices=list(EXPERIMENTS) + ["all"])
    demo.add_argument("--out", default="fastoptim-demo", help="folder for the pictures (and JSON files, and index.html)")
    demo.add_argument("--json", action="store_true", help="also write the figures as JSON")
    demo.add_argument("--steps", type=int, default=None, help="override the experiment's step count")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--no-progress", action="store_true")
    demo.add_argument("--list", action="store_true", help="name each experiment with one line, and stop")
    demo.set_defaults(run=_demo)
    info = sub.add_parser("info", help="version, SIMD tier, threads and compiler flags")
    info.set_defaults(run=_info)
    bench = sub.add_parser("bench", help="step time against NumPy and torch (python -m fastoptim.bench)", add_help=False)
    bench.set_defaults(run=None)
    args, rest = parser.parse_known_args(argv)
    if args.command == "bench":
        from .bench import main as bench_main

        return bench_main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
