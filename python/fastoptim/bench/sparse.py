"""``fastoptim bench --sparse``: a row-sparse step on an embedding table, against the dense step on
the same table and torch's sparse path.

One float32 table of ``--rows`` x ``--dim`` (default 1M x 64: 256 MB) and, per step, a gradient of
``--given`` distinct rows (default 4096), sorted as torch's ``coalesce()`` leaves them; the steps
cycle through 4 such gradients, made before timing. Contenders, each on its own copy of the table,
interleaved:

* ``fastoptim-sparse``: the rule on :class:`fastoptim.RowSparse` gradients;
* ``fastoptim-dense``: the same rule's dense step on the whole table, its gradient zero outside the
  given rows (what the step costs without a sparse path);
* ``torch-sparse``: torch.optim's class on the coalesced ``torch.sparse_coo`` gradient, when torch
  is installed and has the rule (not RowWiseAdagrad).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import numpy as np

from ..core.progress import Progress
from .core import machine, optional_torch, race, result_rows
from .. import rules
from ..core.runtime import get_num_threads

__all__ = ["RULES", "contenders", "run", "main"]

# name -> (class, settings): the rules that take row-sparse gradients.
RULES: Dict[str, Tuple[str, Dict[str, Any]]] = {
    "sparseadam": ("SparseAdam", dict(lr=1e-3)),
    "adagrad": ("Adagrad", dict(lr=1e-2)),
    "rowwiseadagrad": ("RowWiseAdagrad", dict(lr=1e-2)),
    "sgd": ("SGD", dict(lr=1e-2)),
}

Contenders = Dict[str, Tuple[Callable[[], float], Any]]


def contenders(rule: str, rows: int, dim: int, given: int, seed: int = 0) -> Contenders:
    """Each contender's step (it returns its seconds) and its table, one step in."""
    name, settings = RULES[rule]
    rng = np.random.default_rng(seed)
    init = rng.standard_normal((rows, dim), dtype=np.float32)
    grads = [
        (np.sort(rng.choice(rows, given, replace=False)).astype(np.int64), rng.standard_normal((given, dim), dtype=np.float32))
        for _ in range(4)
    ]
    out: Contenders = {}

    def cycling(step: Callable[[int], None], prepare: Callable[[int], None] = lambda k: None) -> Callable[[], float]:
        """Steps on gradient 0, 1, 2, 3, 0, ...; `prepare(k)` (untimed) sets gradient k up."""
        count = [0]

        def run() -> float:
            count[0] += 1
            k = count[0] % len(grads)
            prepare(k)
            t0 = time.perf_counter()
            step(k)
            return time.perf_counter() - t0

        run()
        return run

    table = init.copy()
    sparse_opt = getattr(rules, name)([table], **settings)
    sparse = [rules.RowSparse(i, v) for i, v in grads]
    out["fastoptim-sparse"] = (cycling(lambda k: sparse_opt.step([sparse[k]])), table)
    dense_table, dense = init.copy(), np.zeros_like(init)
    dense_opt = getattr(rules, name)([dense_table], **settings)
    previous = [grads[0][0]]

    def scatter(k: int) -> None:
        dense[previous[0]] = 0
        idx, values = grads[k]
        dense[idx] = values
        previous[0] = idx

    out["fastoptim-dense"] = (cycling(lambda k: dense_opt.step([dense]), scatter), dense_table)
    torch = optional_torch()
    if torch is None:
        return out
    torch_cls = getattr(torch.optim, name, None)
    if torch_cls is not None:
        weight = torch.from_numpy(init.copy()).requires_grad_()
        torch_opt = torch_cls([weight], **settings)
        coalesced = [  # unchecked: the indices are sorted and distinct
            torch.sparse_coo_tensor(torch.from_numpy(i)[None], torch.from_numpy(v), (rows, dim), is_coalesced=True, check_invariants=False)
            for i, v in grads
        ]

        def torch_step(k: int) -> None:
            weight.grad = coalesced[k]
            with torch.sparse.check_sparse_tensor_invariants(enable=False):  # as above, for torch's own sparse tensors
                torch_opt.step()

        out["torch-sparse"] = (cycling(torch_step), weight.detach().numpy())
    return out


def run(
    rule: str = "sparseadam", rows: int = 1_000_000, dim: int = 64, given: int = 4096, repeats: int = 15, progress: bool = False
) -> Dict[str, Any]:
    """Race the contenders on one table; return the results as a dict (as fastoptim.bench's run)."""
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; choose from {sorted(RULES)}")
    if not 0 < given <= rows:
        raise ValueError(f"given must be in [1, rows], got {given}")
    steps = {c: step for c, (step, _) in contenders(rule, rows, dim, given).items()}
    bar = Progress(len(steps) * (repeats + 2), progress)
    workload = f"{rows} x {dim}, {given} rows"
    return dict(
        rule=rule,
        machine=machine(),
        repeats=repeats,
        results=result_rows(workload, _threads(), race(steps, repeats, bar, workload)),
    )


def _threads() -> int:

    return get_num_threads()


def format_table(report: Dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"{report['rule']} step on a float32 table, row-sparse gradients, median of {report['repeats']} interleaved runs; "
        f"{m['processor']}, {m['cores']} cores, tier {m['simd_tier']}, torch {m['torch']}",
        "",
        "| workload | threads | contender | median | over fastoptim-sparse |",
        "|---|---|---|---|---|",
    ]
    for r in report["results"]:
        lines.append(f"| {r['workload']} | {r['threads']} | {r['contender']} | {r['median_s'] * 1e3:.3f} ms | {r['ratio_to_fastoptim']:.1f}x |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastoptim.bench --sparse", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rule", default="sparseadam", choices=sorted(RULES))
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--given", type=int, default=4096, help="distinct rows per gradient")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    report = run(args.rule, args.rows, args.dim, args.given, args.repeats, progress=not args.no_progress)
    print(format_table(report))
    return 0

