"""Step time of fastoptim against its peers, measured side by side in one process.

    python -m fastoptim.bench [--rule adam] [--threads 1,2] [--quick] [--torch] [--json FILE]
    python -m fastoptim.bench --mpi [--elements N] [--ranks 1,2]
    python -m fastoptim.bench --sparse [--rule sparseadam] [--rows N] [--dim D] [--given K]
    python -m fastoptim.bench --whole [--kinds muon,lbfgs,lookahead]
    python -m fastoptim.bench --train [--threads 1,2]
    python -m fastoptim.bench --deepspeed [--threads 1,2] [--width 3200 --layers 10]
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
from a real ``zero_grad()`` + ``backward()`` before every timed step (:mod:`fastoptim.bench.torch`).
``--mpi`` times :class:`fastoptim.distributed.ZeroOptimizer` on 1, 2, ... ranks (:mod:`fastoptim.bench.mpi`).
``--sparse`` times row-sparse steps on an embedding table against the dense step and torch's
sparse path (:mod:`fastoptim.bench.sparse`); ``--whole`` times Muon, L-BFGS and Lookahead, whose
steps are more than one kernel call, against their peers (:mod:`fastoptim.bench.whole`);
``--precision`` times Adam with float32, bfloat16 and 8-bit state against float32 Adam, their
rooflines and bitsandbytes (:mod:`fastoptim.bench.precision`); ``--train`` times whole training
iterations of a CPU transformer with torch's fused AdamW and fastoptim's, stepped after or inside
backward, with the step's share and the allocator's peak (:mod:`fastoptim.bench.train`);
``--deepspeed`` times the step inside DeepSpeed ZeRO-Offload against DeepSpeedCPUAdam
(:mod:`fastoptim.bench.deepspeed`).

Runs are interleaved (one step of each contender in turn, the order rotating) and the report gives
medians, and each contender's time over fastoptim's. Absolute times drift on a shared machine;
ratios measured in one run do not.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional, Sequence

from .core import RULES, format_table, optional_torch
from .step import DEFAULT, QUICK, TORCH_DEFAULT, WORKLOADS, run

__all__ = ["main"]


# How to install a peer a mode needs (the README's advice).
INSTALL = {
    "torch": "install PyTorch's CPU wheel: pip install torch --index-url https://download.pytorch.org/whl/cpu",
    "mpi4py": "pip install 'fastoptim[mpi]'",
}


def missing(peer: str) -> int:
    """One line on stderr for a mode whose peer is not installed, and the exit status 2."""
    print(f"fastoptim bench: this mode needs {peer}, which is not installed; {INSTALL.get(peer, f'pip install {peer}')}",
          file=sys.stderr)
    return 2


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        return _main(argv)
    except ModuleNotFoundError as exc:
        if exc.name in INSTALL:
            return missing(exc.name)
        raise


def _main(argv: List[str]) -> int:
    if "--mpi" in argv:  # ZeroOptimizer over MPI: its own runs and table
        from .mpi import main as mpi_main

        return mpi_main([a for a in argv if a != "--mpi"])
    if "--precision" in argv:  # float32, bfloat16 and 8-bit state: their own runs and table
        from .precision import main as precision_main

        return precision_main([a for a in argv if a != "--precision"])
    if "--sparse" in argv:  # row-sparse steps on an embedding table: their own runs and table
        from .sparse import main as sparse_main

        return sparse_main([a for a in argv if a != "--sparse"])
    if "--deepspeed" in argv:  # the step inside DeepSpeed ZeRO-Offload, against DeepSpeedCPUAdam
        from .deepspeed import main as deepspeed_main

        return deepspeed_main([a for a in argv if a != "--deepspeed"])
    if "--train" in argv:  # whole training iterations of a CPU transformer, stepping after or inside backward
        from .train import main as train_main

        return train_main([a for a in argv if a != "--train"])
    if "--whole" in argv:  # Muon, L-BFGS, Lookahead: more than one kernel call per step
        from .whole import main as whole_main

        return whole_main([a for a in argv if a != "--whole"])
    parser = argparse.ArgumentParser(prog="python -m fastoptim.bench", description=__doc__.split("\n\n")[0])
    modes = parser.add_argument_group("other modes", "each has its own runs, table and options (see --MODE --help)")
    modes.add_argument("--mpi", action="store_true", help="ZeroOptimizer over MPI on 1, 2, ... ranks")
    modes.add_argument("--sparse", action="store_true", help="row-sparse steps on an embedding table, against the dense step and torch's sparse path")
    modes.add_argument("--whole", action="store_true", help="Muon, L-BFGS and Lookahead, against their peers")
    modes.add_argument("--deepspeed", action="store_true", help="AdamW's step inside DeepSpeed ZeRO-Offload: DeepSpeedCPUAdam against fastoptim")
    modes.add_argument("--train", action="store_true", help="training iterations of a CPU transformer: torch fused AdamW, fastoptim after and inside backward")
    modes.add_argument("--precision", action="store_true", help="Adam with float32, bfloat16 and 8-bit state, against float32 Adam and bitsandbytes")
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
    if args.torch and optional_torch() is None:
        return missing("torch")
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
