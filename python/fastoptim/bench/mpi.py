"""``fastoptim bench --mpi``: ZeroOptimizer's step and per-rank state on 1, 2, ... ranks.

Each rank count is one ``mpiexec -n <ranks>`` run of this module's worker, on one model of
``--elements`` float32 parameters (16 tensors, so shards cut through tensors), every rank with
``cores // ranks`` OpenMP threads. A step is timed as a whole and by phase: ``update`` (the checks,
the averaging and the rule on this rank's shard) apart from communication (reduce-scatter and
all-gather) and the copies into and out of the flat buffer. The 1-rank run also times the plain
optimizer in the same process, interleaved, as the reference. State is the bytes of the state
arrays each rank holds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from .core import RULES
from .. import rules
from ..distributed import mpiexec
from ..core.runtime import get_num_threads

__all__ = ["main"]

PHASES = ("flatten", "reduce_scatter", "update", "all_gather", "unflatten")


def _worker(rule: str, elements: int, repeats: int) -> None:
    from mpi4py import MPI
    from ..distributed import ZeroOptimizer  # after mpi4py: MPI starts here

    comm = MPI.COMM_WORLD
    name, settings = RULES[rule]
    cls = getattr(rules, name)
    sizes = [elements // 16 + (i < elements % 16) for i in range(16)]
    rng = np.random.default_rng(comm.Get_rank())
    params = [rng.standard_normal(n, dtype=np.float32) for n in sizes]
    grads = [rng.standard_normal(n, dtype=np.float32) for n in sizes]
    zero = ZeroOptimizer(cls, params, **settings)
    plain = cls([p.copy() for p in params], **settings) if comm.Get_size() == 1 else None
    times: Dict[str, List[float]] = {"zero": [], "plain": [], **{p: [] for p in PHASES}}
    for r in range(repeats + 2):
        comm.Barrier()
        t0 = time.perf_counter()
        zero.step(grads)
        elapsed = time.perf_counter() - t0
        if plain is not None:
            t1 = time.perf_counter()
            plain.step(grads)
            times["plain"].append(time.perf_counter() - t1)
        if r >= 2:
            times["zero"].append(elapsed)
            for phase in PHASES:
                times[phase].append(zero.timings[phase])
    slowest = {k: comm.allreduce(float(np.median(v)), op=MPI.MAX) for k, v in times.items() if v}
    state = comm.allgather(zero.local_state_nbytes())
    if comm.Get_rank() == 0:
        result = dict(
            ranks=comm.Get_size(),
            threads=get_num_threads(),
            median_s=slowest,
            state_bytes=state,
            plain_state_bytes=plain.state_nbytes() if plain is not None else None,
        )
        print("RESULT " + json.dumps(result), flush=True)


def run(rule: str, elements: int, ranks: Sequence[int], repeats: int) -> List[Dict[str, Any]]:
    """One worker run per rank count; their results, in order."""
    launcher = mpiexec()
    if launcher is None:
        raise SystemExit("no mpiexec: pip install 'fastoptim[mpi]'")
    cores = os.cpu_count() or 1
    results = []
    for n in ranks:
        env = dict(os.environ, OMP_NUM_THREADS=str(max(1, cores // n)))
        cmd = [launcher, "-n", str(n), sys.executable, "-m", "fastoptim.bench.mpi", "--worker"]
        cmd += ["--rule", rule, "--elements", str(elements), "--repeats", str(repeats)]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env)
        lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
        if out.returncode != 0 or not lines:
            raise RuntimeError(f"mpiexec -n {n} failed:\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
        results.append(json.loads(lines[0][len("RESULT ") :]))
    return results


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def format_table(rule: str, elements: int, repeats: int, results: List[Dict[str, Any]]) -> str:
    single = next((r["plain_state_bytes"] for r in results if r["plain_state_bytes"]), None)
    lines = [
        f"ZeroOptimizer({RULES[rule][0]}), {elements:,} float32 parameters in 16 tensors, median of {repeats} steps "
        "(per phase: the slowest rank's median)",
        "",
        "| ranks | threads/rank | step | update | communication | copies | state per rank | of one process's |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        m = r["median_s"]
        comm = m["reduce_scatter"] + m["all_gather"]
        copies = m["flatten"] + m["unflatten"]
        state = max(r["state_bytes"])
        share = f"{state / single:.3f}" if single else "-"
        lines.append(
            f"| {r['ranks']} | {r['threads']} | {_ms(m['zero'])} | {_ms(m['update'])} | {_ms(comm)} | {_ms(copies)} "
            f"| {state / 2**20:.1f} MiB | {share} |"
        )
        if "plain" in m:
            lines.append(f"| plain {RULES[rule][0]}, no MPI | {r['threads']} | {_ms(m['plain'])} | | | | {r['plain_state_bytes'] / 2**20:.1f} MiB | 1 |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="fastoptim bench --mpi", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rule", default="adam", choices=sorted(RULES))
    parser.add_argument("--elements", type=int, default=64 * 2**20)
    parser.add_argument("--ranks", default="1,2", help="comma-separated rank counts")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args.rule, args.elements, args.repeats)
        return 0
    results = run(args.rule, args.elements, [int(n) for n in args.ranks.split(",")], args.repeats)
    print(format_table(args.rule, args.elements, args.repeats, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
