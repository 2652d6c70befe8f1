"""fastoptim.torch under torch.distributed: ZeroRedundancyOptimizer with DDP over gloo on localhost
(world size 2), and DeepSpeed ZeRO-Offload's call pattern imitated in one process."""

from __future__ import annotations

import pathlib
import re
import socket
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
fot = pytest.importorskip("fastoptim.torch")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_zero_redundancy_optimizer_over_ddp_matches_torch_adam():
    script = pathlib.Path(__file__).with_name("torch_zero_worker.py")
    out = subprocess.run([sys.executable, str(script), str(free_port())], capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = re.findall(r"bucket=(True|False) diff=(\S+) steps=\[(\d+)\]", out.stdout)
    assert sorted(r[0] for r in rows) == ["False", "True"], out.stdout
    for _, diff, steps in rows:
        assert float(diff) < 1e-12 and int(steps) == 8


def test_deepspeed_offload_call_pattern():
    """DeepSpeed keeps one flat fp32 partition per group on the CPU, swaps it into
    param_groups[i]["params"] for the step, sets its .grad, calls step() with no arguments, and
    swaps the model's parameters back. The state must follow the partition across swaps."""
    results = []
    for cls in (fot.Adam, torch.optim.Adam):
        torch.manual_seed(0)
        model_params = [torch.nn.Parameter(torch.randn(5, dtype=torch.float64)), torch.nn.Parameter(torch.randn(3, 2, dtype=torch.float64))]
        opt = cls(model_params, lr=0.05)
        flat = torch.cat([p.detach().reshape(-1) for p in model_params]).clone()  # the fp32 partition
        grads = torch.Generator().manual_seed(1)
        for _ in range(6):
            opt.param_groups[0]["params"] = [flat]
            flat.grad = torch.randn(flat.numel(), generator=grads, dtype=torch.float64)
            opt.step()
            opt.param_groups[0]["params"] = model_params  # swapped back between steps
            offset = 0
            with torch.no_grad():
                for p in model_params:  # copy the updated partition into the model
                    p.copy_(flat[offset : offset + p.numel()].view_as(p))
                    offset += p.numel()
        opt.param_groups[0]["params"] = [flat]
        results.append((flat.detach().clone(), opt.state_dict()["state"][0]["step"].item()))
    np.testing.assert_allclose(results[0][0].numpy(), results[1][0].numpy(), rtol=1e-12, atol=1e-14)
    assert results[0][1] == results[1][1] == 6
