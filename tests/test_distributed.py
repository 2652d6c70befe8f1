"""fastoptim.distributed.ZeroOptimizer under mpiexec on localhost: 1 rank (no communication), 2, and
3 (uneven shards).

Each rank count runs tests/mpi_worker.py once (every scenario, bounded in time); the tests below
read its results. Each run also resumes from the files the runs before it saved."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

from fastoptim.distributed import mpiexec

pytest.importorskip("mpi4py")
MPIEXEC = mpiexec()
if MPIEXEC is None:
    pytest.skip("no mpiexec", allow_module_level=True)

WORKER = pathlib.Path(__file__).with_name("mpi_worker.py")
ELEMENTWISE = [
    "sgd", "adagrad", "rmsprop", "adadelta", "adam", "amsgrad", "adamw", "adamax", "nadam", "radam", "lion", "rprop", "asgd",
    "adan", "ademamix",
]
RANKS = (1, 2, 3)
TOTAL = 7 * 5 + 3 + 11 + 4 * 4 * 2 + 1  # the worker's parameters


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checkpoints")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    results = {}
    for n in RANKS:  # in this order: each run resumes from the files of the runs before it
        out = subprocess.run(
            [MPIEXEC, "-n", str(n), sys.executable, str(WORKER), str(folder)],
            capture_output=True, text=True, timeout=300, env=env,
        )
        lines = [line for line in out.stdout.splitlines() if line.startswith("RESULTS ")]
        assert out.returncode == 0 and lines, out.stdout[-3000:] + out.stderr[-3000:]
        results[n] = json.loads(lines[0][len("RESULTS "):])
    return results


def case(runs, n, name):
    result = runs[n][name]
    assert "error" not in result, result.get("error")
    return result


@pytest.mark.parametrize("n", RANKS)
@pytest.mark.parametrize("rule", ELEMENTWISE + ["lamb", "lars", "prodigy", "dadapt_adam", "dadapt_sgd", "dadapt_adagrad"])
def test_every_rule_matches_one_process_on_the_averaged_gradients(runs, n, rule):
    r = case(runs, n, f"rule {rule} float64")
    assert r["agree"], "the ranks' parameters differ"
    if n == 2 and rule in ELEMENTWISE:
        assert r["exact"], r  # a sum of two numbers has one rounding, whatever the order
    assert r["max_diff"] <= 1e-12
    counts = r["local_numel"]
    assert sum(counts) == TOTAL and max(counts) - min(counts) <= 1


@pytest.mark.parametrize("n", RANKS)
@pytest.mark.parametrize("rule", ["adam", "lamb", "sgd"])
def test_float32(runs, n, rule):
    r = case(runs, n, f"rule {rule} float32")
    assert r["agree"] and r["max_diff"] <= 1e-6


@pytest.mark.parametrize("n", RANKS)
def test_a_nan_on_one_rank_raises_on_every_rank_with_nothing_changed(runs, n):
    r = case(runs, n, "nonfinite")
    assert len(r["raise_messages"]) == n
    for message in r["raise_messages"]:
        assert message.startswith("FloatingPointError: gradient of parameter 3 holds inf or NaN")
    assert r["raise_unchanged"]
    assert r["skip_messages"] == ["stepped, skipped_steps=1"] * n
    assert r["skip_unchanged"]


@pytest.mark.parametrize("n", RANKS)
def test_a_gradient_refused_on_one_rank_stops_every_rank(runs, n):
    r = case(runs, n, "refused")
    first, *others = r["messages"]
    assert first.startswith("ValueError: gradient of parameter 1 has shape (3,) and dtype float32")
    assert others == ["RuntimeError: ZeroOptimizer.step: another rank refused its gradients; nothing was updated"] * (n - 1)
    assert r["recovers"]


@pytest.mark.parametrize("n", RANKS)
@pytest.mark.parametrize("rule", ["adam", "lamb"])
def test_clipping_uses_the_global_norm(runs, n, rule):
    r = case(runs, n, "clip")[rule]
    assert r["agree"] and r["max_diff"] <= 1e-12 and r["norm_diff"] <= 1e-12


@pytest.mark.parametrize("n", RANKS)
def test_bad_arguments_get_clear_errors(runs, n):
    r = case(runs, n, "errors")
    assert r["mixed_dtypes"] == (
        "ValueError: parameter 1 is float64, parameter 0 is float32: "
        "ZeroOptimizer's parameters share one dtype (they travel in one flat buffer)"
    )
    assert r["not_an_optimizer"].startswith("TypeError: optimizer_class must be a fastoptim optimizer class")
    assert r["bad_setting"].startswith("ValueError: invalid lr=-1: must be >= 0")
    assert r["per_tensor"] == "ValueError: Adafactor needs whole tensors, which ZeRO-1 splits between ranks"
    assert r["state_dtype"].startswith("ValueError: ZeroOptimizer keeps state at the parameters' precision")
    assert r["edited"] == "ValueError: ZeroOptimizer's parameters are fixed at construction; param_groups' 'params' were edited"
    assert r["edited_unchanged"]


@pytest.mark.parametrize("n", RANKS)
def test_named_groups_and_live_settings(runs, n):
    r = case(runs, n, "named")
    assert r["agree"] and r["max_diff"] <= 1e-12 and r["last_lr"]


@pytest.mark.parametrize("n", RANKS)
def test_checkpoints_are_the_plain_optimizers_and_move_between_rank_counts(runs, n):
    r = case(runs, n, "checkpoint")
    assert r["plain_reads_file"]
    resumed = {k: v for k, v in r.items() if k.startswith("resume ")}
    expected = {f"resume plain-{k}.npz" for k in RANKS if k <= n} | {f"resume zero-{k}.npz" for k in RANKS if k < n}
    assert set(resumed) == expected
    for result in resumed.values():
        assert result["agree"] and result["max_diff"] <= 1e-12
    assert len(r["bad_messages"]) == n
    for message in r["bad_messages"]:
        assert message == "ValueError: state 'exp_avg' of parameter 2 is (4,) float64; the parameter is (11,) float64"
    assert r["bad_unchanged"]
    assert r["bad_lr_messages"] == ["ValueError: invalid lr=-1: must be >= 0 (param group 0)"] * n
    assert r["bad_lr_unchanged"]


def test_bench_reports_half_the_state_per_rank_on_two_ranks():
    from fastoptim.bench import mpi as bench_mpi

    results = bench_mpi.run("adam", 100_000, [1, 2], repeats=2)
    one, two = results
    assert one["state_bytes"] == [one["plain_state_bytes"]] == [2 * 4 * 100_000]  # m and v, float32
    assert two["state_bytes"] == [4 * 100_000, 4 * 100_000]  # 1/2 each: 50,000 elements' m and v
    table = bench_mpi.format_table("adam", 100_000, 2, results)
    assert "| plain Adam, no MPI |" in table and "| 0.500 |" in table
    for r in results:
        assert all(v >= 0 for v in r["median_s"].values())
