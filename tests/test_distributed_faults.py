"""ZeroOptimizer's collective errors (hardening item 2-4): a fault on any one rank makes every rank
raise a clear error, under mpiexec -n 2 and -n 3, each run bounded in time so that a hang fails."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("mpi4py")
from fastoptim.distributed import mpiexec  # noqa: E402

MPIEXEC = mpiexec()
if MPIEXEC is None:
    pytest.skip("no mpiexec", allow_module_level=True)

WORKER = pathlib.Path(__file__).with_name("mpi_faults.py")


@pytest.fixture(scope="module", params=[2, 3], ids=["2-ranks", "3-ranks"])
def run(request):
    n = request.param
    out = subprocess.run([MPIEXEC, "-n", str(n), sys.executable, str(WORKER)], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, OMP_NUM_THREADS="1"))
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULTS ")]
    assert out.returncode == 0 and lines, out.stdout[-3000:] + out.stderr[-3000:]
    return n, json.loads(lines[0][len("RESULTS "):])


@pytest.mark.parametrize("fault, expected", [
    ("shape", "ValueError: the ranks disagree on the parameters or the optimizer: parameter 0 is ("),
    ("count", "ValueError: the ranks disagree on the parameters or the optimizer: rank"),
    ("dtype", "ValueError: "),
    ("class", "ValueError: the ranks disagree on the parameters or the optimizer: rank"),
    ("setting", "ValueError: "),
])
def test_a_construction_fault_on_any_rank_is_raised_on_every_rank(run, fault, expected):
    n, results = run
    for faulty in range(n):
        outcomes = results[f"{fault} on rank {faulty}"]
        assert len(outcomes) == n and all(o.startswith(expected) for o in outcomes), outcomes
        if fault == "setting":  # the rank that failed says why; the others say which rank failed
            assert "invalid lr=-1" in outcomes[faulty]
            assert all(o.startswith(f"ValueError: rank {faulty}: invalid lr=-1") for r, o in enumerate(outcomes) if r != faulty)


def test_16bit_parameters_are_refused_on_every_rank(run):
    n, results = run
    assert results["16-bit"] == ["ValueError: ZeroOptimizer moves float32 or float64 parameters; these are float16"] * n


@pytest.mark.parametrize("what", ["load", "save"])
def test_any_error_on_the_root_is_raised_on_every_rank(run, what):
    n, results = run
    outcomes = results[what]
    assert len(set(outcomes)) == 1 and outcomes[0] != "no error", outcomes
    assert ("lr" in outcomes[0]) if what == "load" else ("set" in outcomes[0]), outcomes


def test_schedule_free_modes_work_under_zero(run):
    n, results = run
    assert results["schedule-free"] == ["no error"] * n
    assert results["sf-diff"][0] < 1e-12


def test_random_programs_with_faults_match_one_process(run):
    n, results = run
    assert results["programs"] == [[]] * n, results["programs"]
