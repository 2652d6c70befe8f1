"""Run under mpiexec by test_distributed_faults.py: every collective entry point of ZeroOptimizer with
a fault injected on one rank (each rank in turn) must raise on every rank, never hang. Rank 0 prints
``RESULTS <json>``: per scenario and faulty rank, each rank's exception as "Type: message"."""

from __future__ import annotations

import json
import sys
import tempfile
from typing import Any, Callable, Dict, List

import numpy as np
from mpi4py import MPI

import fastoptim as fo
from fastoptim.distributed import ZeroOptimizer

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()


def outcome(run: Callable[[], Any]) -> str:
    try:
        run()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return "no error"


def construct(faulty: int, fault: str) -> Callable[[], Any]:
    here = rank == faulty
    shapes = [(6, 4) if here and fault == "shape" else (4, 6), (3,)] + ([(2,)] if here and fault == "count" else [])
    dtype = np.float32 if here and fault == "dtype" else np.float64
    params = [np.zeros(s, dtype) for s in shapes]
    cls = fo.SGD if here and fault == "class" else fo.Adam
    lr = -1.0 if here and fault == "setting" else 0.1
    return lambda: ZeroOptimizer(cls, params, lr=lr)


def checkpoint_fault(fault: str) -> Callable[[], Any]:
    opt = ZeroOptimizer(fo.Adam, [np.zeros((4, 6)), np.zeros(3)], lr=0.1)
    opt.step([np.ones((4, 6)), np.ones(3)])
    if fault == "load":
        good = opt.state_dict()
        bad = None if rank else {**good, "param_groups": [{**good["param_groups"][0], "lr": "abc"}]}
        return lambda: opt.load_state_dict(bad)
    opt.param_groups[0]["note"] = {1, 2}  # a set: JSON cannot hold it
    path = comm.bcast(tempfile.mkdtemp() if rank == 0 else None) + "/ckpt.npz"
    return lambda: opt.save(path)


def schedule_free() -> float:
    """ZeroOptimizer(ScheduleFreeAdamW) with train() and eval() against one process; the largest difference."""
    rng = np.random.default_rng(0)
    start = [rng.standard_normal((5, 7)), rng.standard_normal(3)]
    grads = [[rng.standard_normal(p.shape) for p in start] for _ in range(4)]
    ours, plain = [p.copy() for p in start], [p.copy() for p in start]
    zero, alone = ZeroOptimizer(fo.ScheduleFreeAdamW, ours, lr=0.1), fo.ScheduleFreeAdamW(plain, lr=0.1)
    for opt in (zero, alone):
        opt.train()
        for gs in grads:
            opt.step(gs)  # the same gradients on every rank: their average
        opt.eval()
    return max(float(np.abs(a - b).max()) for a, b in zip(ours, plain))


def random_programs(count: int = 12) -> List[str]:
    """Random programs (the same on every rank: one seed) of steps, steps with a fault on a drawn rank,
    state-dict round trips and refused loads; after each, the parameters must equal one process's
    run on the averaged gradients, and a refused call must change nothing. Returns the failures."""
    failures = []
    for program in range(count):
        rng = np.random.default_rng(program)
        cls, hyper = [(fo.Adam, dict(lr=0.05)), (fo.SGD, dict(lr=0.05, momentum=0.9)), (fo.LAMB, dict(lr=0.05))][program % 3]
        start = [rng.standard_normal((5, 3)), rng.standard_normal(7)]
        ours, plain = [p.copy() for p in start], [p.copy() for p in start]
        zero, alone = ZeroOptimizer(cls, ours, **hyper), cls(plain, **hyper)
        for t, op in enumerate(rng.choice(["step", "step", "fault", "round_trip", "bad_load"], size=8)):
            grads = [[rng.standard_normal(p.shape) for p in start] for _ in range(size)]  # every rank's, drawn alike
            before = [p.copy() for p in ours]
            if op == "step":
                zero.step(grads[rank])
                alone.step([sum(g[i] for g in grads) / size for i in range(len(start))])
            elif op == "fault":
                faulty = int(rng.integers(size))
                mine = [np.ones(3)] + grads[rank][1:] if rank == faulty else grads[rank]
                if outcome(lambda z=zero, m=mine: z.step(m)) == "no error" or any(not np.array_equal(a, b) for a, b in zip(before, ours)):
                    failures.append(f"program {program} op {t}: a fault on rank {faulty} was not refused everywhere")
            elif op == "round_trip":
                zero.load_state_dict(zero.state_dict())
            else:
                sd = zero.state_dict()
                bad = sd and {**sd, "param_groups": [{**sd["param_groups"][0], "lr": "abc"}]}
                if outcome(lambda z=zero, b=bad: z.load_state_dict(b)) == "no error":
                    failures.append(f"program {program} op {t}: a bad load was accepted")
            if max(float(np.abs(a - b).max()) for a, b in zip(ours, plain)) > 1e-12:
                failures.append(f"program {program} op {t} ({op}): the parameters left one process's run")
                break
    return failures


def main() -> None:
    results: Dict[str, List[str]] = {}
    for fault in ("shape", "count", "dtype", "class", "setting"):
        for faulty in range(size):
            results[f"{fault} on rank {faulty}"] = comm.gather(outcome(construct(faulty, fault)), root=0)
    results["16-bit"] = comm.gather(outcome(lambda: ZeroOptimizer(fo.Adam, [np.zeros(4, np.float16)])), root=0)
    for fault in ("load", "save"):
        results[fault] = comm.gather(outcome(checkpoint_fault(fault)), root=0)
    results["programs"] = comm.gather(random_programs(), root=0)
    results["schedule-free"] = comm.gather(outcome(lambda: results.setdefault("sf-diff", [schedule_free()])), root=0)
    if rank == 0:
        print("RESULTS " + json.dumps(results), flush=True)


if __name__ == "__main__":
    main()
    sys.exit(0)
