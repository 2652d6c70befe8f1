"""The examples in examples/ run and print what they claim."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def _mpiexec():
    from fastoptim.distributed import mpiexec

    found = mpiexec()
    if found is None:
        pytest.skip("no mpiexec")
    return found


def _floats(pattern, text):
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in the output:\n{text}"
    return [float(x) for x in match.groups()]


def _linear_regression(out):
    loss, error = _floats(r"final loss ([-+.\de]+), \|w - true_w\| = ([-+.\de]+)", out)
    first = _floats(r"step   0  loss ([-+.\de]+)", out)[0]
    assert loss < 1e-8 < first and error < 1e-5


def _mlp(out):
    assert _floats(r"accuracy ([.\d]+)", out)[0] >= 0.9


def _checkpoint(out):
    assert "bit-identical: True" in out


def _torch_training(out):
    for name in ("fastoptim.torch.AdamW", r"torch AdamW\(fused\)"):
        first, last, step_us = _floats(name + r" +loss ([.\d]+) -> ([.\d]+) +step (\d+) us", out)
        assert last < 0.5 * first and step_us > 0
    assert _floats(r"largest loss difference over the run: ([-+.\de]+)", out)[0] < 1e-4  # the same training


def _low_precision(out):
    pattern = r"{} +loss ([.\d]+) -> ([.\d]+) +([.\d]+) bytes per parameter"
    first, full, full_bytes = _floats(pattern.format("float32 weights, float32 state"), out)
    _, low, low_bytes = _floats(pattern.format("bfloat16 weights \\+ master bits, int8 state"), out)
    floor = _floats(r"the float32 fit rounded to bfloat16 +loss ([.\d]+)", out)[0]
    assert full < 1e-5 * first and low < 1e-4 * first and low < 3 * floor  # near what bfloat16 weights can hold
    assert full_bytes == 12 and low_bytes < 0.55 * full_bytes


def _mpi_data_parallel(out):
    held = re.search(r"ranks 2: parameter elements each rank keeps AdamW state for: \[(\d+), (\d+)\] of (\d+)", out)
    assert held, out
    a, b, total = map(int, held.groups())
    assert a + b == total and abs(a - b) <= 1  # state for half the parameters each
    assert "the parameters are identical on every rank: True" in out
    assert _floats(r"validation accuracy ([.\d]+)", out)[0] >= 0.9
    assert _floats(r"largest difference from one process on the whole batches: ([-+.\de]+)", out)[0] < 1e-4


def _deepspeed_offload(out):
    ds = _floats(r"DeepSpeedCPUAdam +loss ([.\d]+) -> ([.\d]+) +state ([.\d]+) bytes", out)
    ours = _floats(r"fastoptim.torch.AdamW +loss ([.\d]+) -> ([.\d]+) +state ([.\d]+) bytes", out)
    low = _floats(r"fastoptim.torch.AdamW, int8 state +loss ([.\d]+) -> ([.\d]+) +state ([.\d]+) bytes", out)
    assert ours[1] < 0.1 * ours[0] and low[1] < 0.1 * low[0]  # it trains, with 8-bit state too
    assert ours[2] == ds[2] == 8 and low[2] <= 0.3 * ds[2]
    assert _floats(r"largest parameter difference, fastoptim vs DeepSpeedCPUAdam: ([-+.\de]+)", out)[0] < 1e-5


# What each example claims, checked from the figures it prints.
CLAIMS = {
    "checkpoint.py": _checkpoint,
    "deepspeed_offload.py": _deepspeed_offload,
    "linear_regression.py": _linear_regression,
    "low_precision.py": _low_precision,
    "mlp_with_schedule.py": _mlp,
    "mpi_data_parallel.py": _mpi_data_parallel,
    "torch_cpu_training.py": _torch_training,
}


@pytest.mark.parametrize("name", sorted(CLAIMS))
def test_example_runs(name):
    if name.startswith("torch"):
        pytest.importorskip("torch")
    if name.startswith("deepspeed"):
        pytest.importorskip("torch")
        pytest.importorskip("deepspeed")
    command = [sys.executable, str(EXAMPLES / name)]
    if name.startswith("mpi"):
        pytest.importorskip("mpi4py")
        command = [_mpiexec(), "-n", "2", *command]
    out = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    CLAIMS[name](out.stdout)


def test_every_example_is_covered():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(CLAIMS)
