"""``fastoptim bench --train``: whole training iterations (forward, backward, step) of a small CPU
transformer, float32, interleaved in one process, per thread count. Contenders:

* ``torch-fused``: ``torch.optim.AdamW(fused=True)``, stepped after backward;
* ``fastoptim``: ``fastoptim.torch.AdamW``, stepped after backward;
* ``in-backward``: ``fastoptim.torch.AdamW`` stepping inside backward
  (:func:`fastoptim.torch.step_in_backward`, buckets of 4 MiB), each gradient freed after its update;
* ``in-backward, overlap``: the same, the buckets updated on a worker thread while autograd goes on.

Each contender trains its own copy of the model from the same weights on the same batches. Besides
the iteration's median time, the table gives the step's share of the iteration (after-backward
contenders, timed apart) and the peak bytes the C allocator had in use during the iteration, above
those in use before it (glibc's own counters, ``mallinfo2``: heap plus mmapped blocks), against the
gradients' bytes.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import datetime
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..core.progress import Progress
from ..core.runtime import get_num_threads, set_num_threads
from .core import format_table, machine, optional_torch, race, result_rows

__all__ = ["run", "main"]


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def _allocated() -> Callable[[], int]:
    """Bytes the C allocator has in use (heap blocks in use plus mmapped ones), or -1 where glibc's
    mallinfo2 is missing."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    if not hasattr(libc, "mallinfo2"):
        return lambda: -1
    libc.mallinfo2.restype = _Mallinfo2

    def allocated() -> int:
        m = libc.mallinfo2()
        return int(m.uordblks + m.hblkhd)

    return allocated


def _model(torch: Any, small: bool) -> Any:
    layers, width, heads, vocab = (1, 32, 2, 64) if small else (6, 256, 4, 2048)
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, batch_first=True)
    return torch.nn.Sequential(
        torch.nn.Embedding(vocab, width), torch.nn.TransformerEncoder(layer, layers, enable_nested_tensor=False), torch.nn.Linear(width, vocab)
    )


def _tokens(small: bool, batch: int, seq: int) -> Tuple[int, int]:
    """Sequences per batch and their length: as given, or (0) the default, 16 x 64, or 2 x 8 for
    the small model."""
    return batch or (2 if small else 16), seq or (8 if small else 64)


def contenders(small: bool = False, seed: int = 0, batch: int = 0, seq: int = 0) -> Dict[str, Any]:
    """Each contender: (iteration returning (seconds, step seconds or NaN, peak extra bytes, bytes held
    after backward), its model). ``batch``, ``seq``: see :func:`_tokens`."""
    torch = optional_torch()
    import fastoptim.torch as fot

    vocab = 64 if small else 2048
    batch, seq = _tokens(small, batch, seq)
    gen = torch.Generator().manual_seed(seed)
    batches = [torch.randint(0, vocab, (batch, seq + 1), generator=gen) for _ in range(4)]
    loss_fn = torch.nn.CrossEntropyLoss()
    allocated = _allocated()
    base = _model(torch, small)
    out: Dict[str, Any] = {}

    def make(label: str, opt_of: Callable[[Any], Any], inside: bool, overlap: bool = False) -> None:
        model = _model(torch, small)
        model.load_state_dict(base.state_dict())
        opt = opt_of(model)
        if inside:
            fot.step_in_backward(opt, overlap=overlap)
        peak = [0]
        for p in model.parameters():  # sample the allocator as gradients arrive
            p.register_post_accumulate_grad_hook(lambda _p: peak.__setitem__(0, max(peak[0], allocated())))
        count = [0]

        def iteration() -> Any:
            tokens = batches[count[0] % len(batches)]
            count[0] += 1
            before = allocated()
            peak[0] = before
            t0 = time.perf_counter()
            logits = model(tokens[:, :-1])
            loss = loss_fn(logits.reshape(-1, vocab), tokens[:, 1:].reshape(-1))
            loss.backward()
            held = allocated() - before  # what outlives backward: the gradients, unless they stepped and went
            peak[0] = max(peak[0], allocated())
            step = float("nan")
            if not inside:
                t1 = time.perf_counter()
                opt.step()
                step = time.perf_counter() - t1
                peak[0] = max(peak[0], allocated())
                opt.zero_grad(set_to_none=True)
            return time.perf_counter() - t0, step, peak[0] - before, held

        out[label] = (iteration, model)

    make("torch-fused", lambda m: torch.optim.AdamW(m.parameters(), lr=1e-4, fused=True), False)
    adamw = vars(fot)["AdamW"]  # made at import (fastoptim.torch.twins), unseen by type checkers
    make("fastoptim", lambda m: adamw(m.parameters(), lr=1e-4), False)
    make("in-backward", lambda m: adamw(m.parameters(), lr=1e-4), True)
    make("in-backward, overlap", lambda m: adamw(m.parameters(), lr=1e-4), True, overlap=True)
    return out


def run(
    threads: Sequence[int] = (1, 2), repeats: int = 10, progress: bool = False, small: bool = False, batch: int = 0, seq: int = 0
) -> Dict[str, Any]:
    """Race the contenders at each thread count; results as fastoptim.bench's, plus each
    contender's median step share and peak extra bytes, and the gradients' bytes. ``batch``,
    ``seq``: as for :func:`contenders`."""
    torch = optional_torch()
    if torch is None:
        raise ImportError("the train mode needs torch (pip install 'fastoptim[torch]')")
    all_threads = get_num_threads()
    torch_threads = torch.get_num_threads()
    results: List[Dict[str, Any]] = []
    bar: Optional[Progress] = None
    grad_bytes = 0
    for n in threads:
        set_num_threads(n or all_threads)
        torch.set_num_threads(n or all_threads)
        entries = contenders(small, batch=batch, seq=seq)
        grad_bytes = sum(p.numel() * p.element_size() for p in next(iter(entries.values()))[1].parameters())
        extra: Dict[str, Dict[str, List[float]]] = {c: {"step": [], "peak": [], "held": []} for c in entries}

        def timed_iteration(iteration: Callable[[], Any], record: Dict[str, List[float]]) -> Callable[[], float]:
            def go() -> float:
                seconds, step, peak, held = iteration()
                record["step"].append(step / seconds)
                record["peak"].append(peak)
                record["held"].append(held)
                return float(seconds)

            return go

        if bar is None:
            bar = Progress(len(threads) * len(entries) * (repeats + 2), progress)
        workload = "transformer, {}x{} tokens".format(*_tokens(small, batch, seq))
        rows = result_rows(workload, n or all_threads, race({c: timed_iteration(entries[c][0], extra[c]) for c in entries}, repeats, bar, "train"))
        for row in rows:
            row["step_share"] = float(np.median(extra[row["contender"]]["step"][2:]))
            row["peak_extra_bytes"] = float(np.median(extra[row["contender"]]["peak"][2:]))
            row["held_after_backward_bytes"] = float(np.median(extra[row["contender"]]["held"][2:]))
        results += rows
    set_num_threads(all_threads)
    torch.set_num_threads(torch_threads)
    return dict(
        rule="adamw training iteration", mode="torch", date=datetime.date.today().isoformat(), machine=machine(),
        repeats=repeats, gradient_bytes=grad_bytes, results=results,
    )


def format_extra(report: Dict[str, Any]) -> str:
    """The step's share and the peak allocator bytes per contender, against the gradients' bytes."""
    lines = [
        f"gradients: {report['gradient_bytes'] / 2**20:.1f} MiB",
        "",
        "| threads | contender | step share | peak extra MiB | MiB held after backward |",
        "|---|---|---|---|---|",
    ]
    for r in report["results"]:
        share = "-" if np.isnan(r["step_share"]) else f"{100 * r['step_share']:.0f}%"
        lines.append(
            f"| {r['threads']} | {r['contender']} | {share} | {r['peak_extra_bytes'] / 2**20:.1f} | {r['held_after_backward_bytes'] / 2**20:.1f} |"
        )
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastoptim.bench --train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (0 = all)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--small", action="store_true", help="a tiny model (for tests)")
    parser.add_argument("--batch", type=int, default=0, help="sequences per batch (default 16)")
    parser.add_argument("--seq", type=int, default=0, help="tokens per sequence (default 64)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    report = run(
        [int(t) for t in args.threads.split(",")], args.repeats, progress=not args.no_progress, small=args.small, batch=args.batch, seq=args.seq
    )
    print(format_table(report))
    print()
    print(format_extra(report))
    return 0
