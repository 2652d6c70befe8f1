"""fastoptim.torch.AdamW inside DeepSpeed ZeRO-Offload, on the CPU (DS_ACCELERATOR=cpu, gloo): ZeRO
stages 1, 2 and 3 with optimizer offload, fp32 and bf16 training, at world size 1 and 2 (two
processes over loopback), against DeepSpeed's own DeepSpeedCPUAdam; checkpoints resume."""

from __future__ import annotations

import importlib.util
import os
import pathlib
import socket
import subprocess
import sys

import pytest

if importlib.util.find_spec("deepspeed") is None or importlib.util.find_spec("torch") is None:
    pytest.skip("needs deepspeed and torch", allow_module_level=True)

import torch  # noqa: E402

WORKER = pathlib.Path(__file__).with_name("deepspeed_worker.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module", params=[1, 2], ids=["world-1", "world-2"])
def runs(request, tmp_path_factory):
    world = request.param
    out = tmp_path_factory.mktemp(f"deepspeed{world}")
    for _ in range(2):  # a second try on a new port: two processes once failed to meet (cause not found)
        port = str(_free_port())
        procs = []
        for rank in range(world):
            env = dict(os.environ, DS_ACCELERATOR="cpu", RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
                       MASTER_ADDR="127.0.0.1", MASTER_PORT=port, OMP_NUM_THREADS="1")
            procs.append(subprocess.Popen([sys.executable, str(WORKER), str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        logs = [p.communicate(timeout=600)[0] for p in procs]
        if all(p.returncode == 0 for p in procs):
            break
    assert all(p.returncode == 0 for p in procs), "\n".join(log[-3000:] for log in logs)
    return [torch.load(out / f"{rank}.pt") for rank in range(world)]


@pytest.mark.parametrize("stage", [1, 2, 3])
@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16"])
def test_matches_deepspeed_cpu_adam(runs, stage, bf16):
    ours, theirs = runs[0][stage, bf16, "fastoptim"], runs[0][stage, bf16, "deepspeed"]
    # fp32: the same AdamW to float32 rounding; bf16: the weights DeepSpeed casts to bfloat16 agree to
    # within one bfloat16 step of the largest weight.
    assert (ours - theirs).abs().max() <= (1e-6 if not bf16 else 2 ** -8) * theirs.abs().max()
    assert all(torch.equal(r[stage, bf16, "fastoptim"], ours) for r in runs)  # every rank holds the same model


@pytest.mark.parametrize("stage", [2, 3])
def test_checkpoint_resumes_bit_for_bit(runs, stage):
    assert torch.equal(runs[0][stage, False, "resumed"], runs[0][stage, False, "fastoptim"])


def test_bench_mode_races_the_step_inside_deepspeed():
    env = dict(os.environ, MASTER_PORT=str(_free_port()))
    out = subprocess.run(
        [sys.executable, "-m", "fastoptim.bench", "--deepspeed", "--width", "64", "--layers", "2", "--threads", "1", "--repeats", "1", "--no-progress"],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "| DeepSpeedCPUAdam | fastoptim | fastoptim, bf16 state | fastoptim, int8 state |" in out.stdout
    assert "DeepSpeedCPUAdam 8.00, fastoptim 8.00, fastoptim, bf16 state 4.00" in out.stdout
