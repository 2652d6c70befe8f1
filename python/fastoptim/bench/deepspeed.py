"""``fastoptim bench --deepspeed``: the optimizer step inside DeepSpeed ZeRO-Offload (stage 2,
``offload_optimizer: cpu``; DS_ACCELERATOR=cpu, gloo, one process), DeepSpeedCPUAdam against
``fastoptim.torch.AdamW`` with float32, bfloat16 and 8-bit state, interleaved, per thread count. A
contender's time is ``engine.step()`` (the offloaded update and the copy back), its backward left
out; the table also gives the optimizer state's bytes per parameter.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

from ..core.progress import Progress
from ..core.runtime import get_num_threads, set_num_threads
from .core import format_table, machine, optional_torch, race, result_rows

__all__ = ["run", "main"]


def _engines(torch: Any, width: int, layers: int) -> Dict[str, Any]:
    for key, value in dict(DS_ACCELERATOR="cpu", RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT="29537").items():
        os.environ.setdefault(key, value)
    import deepspeed
    from deepspeed.ops.adam import DeepSpeedCPUAdam

    import fastoptim.torch as fot

    if not torch.distributed.is_initialized():
        deepspeed.init_distributed(dist_backend="gloo")
    adamw = vars(fot)["AdamW"]
    makers: Dict[str, Callable[[Any], Any]] = {
        "DeepSpeedCPUAdam": lambda p: DeepSpeedCPUAdam(p, lr=1e-4, weight_decay=0.01, adamw_mode=True),
        "fastoptim": lambda p: adamw(p, lr=1e-4, weight_decay=0.01),
        "fastoptim, bf16 state": lambda p: adamw(p, lr=1e-4, weight_decay=0.01, state_dtype="bfloat16"),
        "fastoptim, int8 state": lambda p: adamw(p, lr=1e-4, weight_decay=0.01, state_dtype="int8"),
        "fastoptim, int4 state": lambda p: adamw(p, lr=1e-4, weight_decay=0.01, state_dtype="int4"),
        # Like for like: DeepSpeedCPUAdam does not check the gradients for inf and NaN.
        "fastoptim, nonfinite=ignore": lambda p: adamw(p, lr=1e-4, weight_decay=0.01, nonfinite="ignore"),
    }
    config = {
        "train_micro_batch_size_per_gpu": 4,
        "zero_optimization": {"stage": 2, "offload_optimizer": {"device": "cpu"}},
        "zero_force_ds_cpu_optimizer": False,
        "zero_allow_untested_optimizer": True,
    }
    out: Dict[str, Any] = {}
    for label, make in makers.items():
        torch.manual_seed(0)
        model = torch.nn.Sequential(*[torch.nn.Linear(width, width) for _ in range(layers)])
        engine, optimizer, _, _ = deepspeed.initialize(model=model, optimizer=make(model.parameters()), config=config)
        out[label] = (engine, getattr(optimizer, "optimizer", optimizer))
    return out


def run(threads: Sequence[int] = (1, 2), repeats: int = 5, width: int = 3200, layers: int = 10, progress: bool = False) -> Dict[str, Any]:
    """Race the step of each contender; ``width`` x ``width`` x ``layers`` parameters (about 100M)."""
    torch = optional_torch()
    if torch is None:
        raise ImportError("the deepspeed mode needs torch and deepspeed")
    engines = _engines(torch, width, layers)
    x = torch.randn(4, width)

    def step_of(engine: Any) -> Callable[[], float]:
        def go() -> float:
            engine.backward(engine(x).square().mean())
            t0 = time.perf_counter()
            engine.step()
            return time.perf_counter() - t0

        return go

    n_params = width * (width + 1) * layers
    state_bytes: Dict[str, float] = {}
    all_threads, torch_threads = get_num_threads(), torch.get_num_threads()
    results: List[Dict[str, Any]] = []
    bar = Progress(len(threads) * len(engines) * (repeats + 2), progress)
    for n in threads:
        set_num_threads(n or all_threads)
        torch.set_num_threads(n or all_threads)
        results += result_rows(f"{n_params / 1e6:.3g}M params", n or all_threads, race({c: step_of(e) for c, (e, _) in engines.items()}, repeats, bar, "deepspeed"))
    set_num_threads(all_threads)
    torch.set_num_threads(torch_threads)
    for label, (_, inner) in engines.items():
        total = sum(t.numel() * t.element_size() for s in inner.state.values() for t in s.values() if torch.is_tensor(t) and t.dim() > 0)
        state_bytes[label] = total / n_params
    return dict(
        rule="AdamW step inside DeepSpeed ZeRO-2 offload", mode="torch", date=datetime.date.today().isoformat(), machine=machine(),
        repeats=repeats, state_bytes_per_param=state_bytes, results=results,
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastoptim.bench --deepspeed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (0 = all)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--width", type=int, default=3200, help="the layers' width (default 3200: 10 layers, ~100M parameters)")
    parser.add_argument("--layers", type=int, default=10)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    report = run([int(t) for t in args.threads.split(",")], args.repeats, args.width, args.layers, progress=not args.no_progress)
    print(format_table(report))
    print()
    print("optimizer state, bytes per parameter: " + ", ".join(f"{k} {v:.2f}" for k, v in report["state_bytes_per_param"].items()))
    return 0
