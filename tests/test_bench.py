"""The peer-comparison benchmark runs end to end and reports what it measured (no timing assertions)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fastoptim import _core, bench
from fastoptim.bench import sparse as bench_sparse, whole as bench_whole


def test_run_reports_every_contender(capsys):
    report = bench.run("adam", ["1x10", "10000x100"], threads=(1,), repeats=2)
    contenders = {r["contender"] for r in report["results"]}
    assert {"fastoptim", "fastoptim-nocheck", "roofline", "numpy"} <= contenders
    for r in report["results"]:
        assert r["median_s"] > 0 and len(r["times_s"]) == 2 and r["threads"] == 1
    for r in report["results"]:
        base = next(b for b in report["results"] if b["contender"] == "fastoptim" and b["workload"] == r["workload"])
        assert r["ratio_to_fastoptim"] == pytest.approx(r["median_s"] / base["median_s"])
        assert r["median_s"] == pytest.approx(float(np.median(r["times_s"])))
    table = bench.format_table(report)
    assert "| workload | threads | fastoptim | fastoptim-nocheck | roofline |" in table
    assert "| 1x10 | 1 | " in table and "(1.00x)" in table and report["machine"]["simd_tier"] in table


@pytest.mark.parametrize("rule", sorted(bench.RULES))
def test_every_contender_does_the_same_work(rule):
    """After the same steps, every contender holds the same parameters as fastoptim."""
    contenders = bench.step._contenders(rule, [(7,), (3, 5)])
    assert contenders["roofline"][1] is None and len(contenders) >= 3
    for _ in range(3):
        for step, _params in contenders.values():
            step()
    reference = contenders["fastoptim"][1]
    for label, (_step, params) in contenders.items():
        if params is not None:
            for p, q in zip(params, reference):
                np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-6, err_msg=label)


# (class, settings, bytes per float32 parameter, the words of its docstring that give that figure)
TRAFFIC = [
    ("SGD", {}, 12, "12 bytes without momentum"),
    ("SGD", {"momentum": 0.9}, 20, "20 with it"),
    ("Adam", {}, 28, "28 bytes"),
    ("Adam", {"amsgrad": True}, 36, "36 with amsgrad"),
    ("AdamW", {}, 28, "28 bytes"),
    ("Adagrad", {}, 20, "20 bytes"),
    ("RMSprop", {}, 20, "20 bytes"),
    ("RMSprop", {"momentum": 0.9, "centered": True}, 36, "plus 8 with momentum and 8 when centered"),
    ("Adadelta", {}, 28, "28 bytes"),
    ("Adamax", {}, 28, "28 bytes"),
    ("NAdam", {}, 28, "28 bytes"),
    ("RAdam", {}, 28, "28 bytes"),
    ("Lion", {}, 20, "20 bytes"),
    ("LAMB", {}, 40, "40 bytes"),
    ("Adafactor", {}, 24, "24 bytes"),
    ("LARS", {"lr": 0.1}, 28, "28 bytes"),
    ("LARS", {"lr": 0.1, "momentum": 0.0}, 20, "20 without momentum"),
]


@pytest.mark.parametrize("name, settings, nbytes, words", TRAFFIC)
def test_engine_traffic_is_the_docstrings_bytes(name, settings, nbytes, words):
    import fastoptim as fo

    cls = getattr(fo, name)
    opt = cls([np.zeros(3, np.float32)], **settings)
    opt.step([np.ones(3, np.float32)])
    assert sum(r + w for r, w in opt.traffic()) * 4 == nbytes
    with pytest.raises(IndexError, match="no param group 1"):
        opt.traffic(1)
    assert words in " ".join(cls.__doc__.split())


def test_command_line_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench.main(["--workloads", "1x10", "--repeats", "2", "--threads", "1", "--json", str(out), "--no-progress"]) == 0
    data = json.loads(out.read_text())
    assert data["rule"] == "adam" and data["results"]
    assert "| workload |" in capsys.readouterr().out


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown rule"):
        bench.run("adamz")
    with pytest.raises(ValueError, match="unknown workload"):
        bench.run("adam", ["2x2"])


def test_roofline_moves_values_without_arithmetic():
    """reads=4, writes=3: p takes g, s0 takes s1, and s1 takes the largest of the rest; reads=6,
    writes=5 (Adan's pass): each of p, s0, s1, s2 takes the next array, s3 the largest of the rest."""
    p, g, s0, s1, s2, s3 = (np.full(40_000, v, np.float32) for v in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0))
    _core.Roofline([[p, g, s0, s1, s2, s3]]).run(4, 3)
    assert (p == 2).all() and (s0 == 4).all() and (s1 == 3).all() and (s2 == 5).all() and (s3 == 6).all()
    p, g, s0, s1, s2, s3 = (np.full(40_000, v, np.float32) for v in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0))
    _core.Roofline([[p, g, s0, s1, s2, s3]]).run(6, 5)
    assert (p == 2).all() and (s0 == 4).all() and (s1 == 5).all() and (s2 == 6).all() and (s3 == 3).all()
    with pytest.raises(ValueError, match="1 <= reads <= 6"):
        _core.Roofline([[p, g, s0, s1, s2, s3]]).run(7, 1)


@pytest.mark.parametrize("reads, writes", [(r, w) for r in range(1, 7) for w in range(1, r)])
def test_every_pass_the_roofline_takes_writes(reads, writes):
    """A pass the roofline accepts moves data (an unlisted one once returned at once: Prodigy's
    (6, 3) pass measured free)."""
    arrays = [np.full(40_000, v, np.float32) for v in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0)]
    _core.Roofline([arrays]).run(reads, writes)
    assert not (arrays[0] == 1).all()


@pytest.mark.parametrize("keep_grads", [False, True])
def test_torch_mode_reports_every_contender(keep_grads):
    pytest.importorskip("torch")
    report = bench.run("adam", ["1x10"], threads=(1,), repeats=2, torch_mode=True, keep_grads=keep_grads)
    assert [r["contender"] for r in report["results"]] == [
        "fastoptim.torch",
        "fastoptim.torch-nocheck",
        "roofline",
        "torch-fused",
    ]
    assert report["mode"] == ("torch-keep-grads" if keep_grads else "torch")
    assert all(r["median_s"] > 0 and len(r["times_s"]) == 2 for r in report["results"])
    assert ("zero_grad(set_to_none=False)" in bench.format_table(report)) == keep_grads


@pytest.mark.parametrize("rule", ["adam", "sgd", "nadam", "lamb"])
def test_every_torch_mode_contender_does_the_same_work(rule):
    """Through the same backward passes, every contender holds the same parameters."""
    pytest.importorskip("torch")
    from fastoptim.bench import torch as bench_torch

    contenders = bench_torch.contenders(rule, [(7,), (3, 5)])
    assert contenders["roofline"][1] is None
    assert ("torch-fused" in contenders) == (rule in ("adam", "sgd")) and ("torch-foreach" in contenders) == (
        rule == "nadam"
    )
    for _ in range(3):
        for step, _params in contenders.values():
            assert step() > 0
    reference = contenders["fastoptim.torch"][1]
    for label, (_step, params) in contenders.items():
        for p, q in zip(params or [], reference):
            np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=label)


@pytest.mark.parametrize("rule", sorted(bench_sparse.RULES))
def test_sparse_contenders_do_the_same_work(rule):
    """After the same steps the row-sparse table equals torch's sparse path's, and for plain SGD
    (where rows without gradient do not move either way) the dense step's."""
    contenders = bench_sparse.contenders(rule, rows=500, dim=8, given=40)
    for _ in range(3):
        for step, _table in contenders.values():
            assert step() > 0
    ours = contenders["fastoptim-sparse"][1]
    if "torch-sparse" in contenders:
        np.testing.assert_allclose(contenders["torch-sparse"][1], ours, rtol=1e-5, atol=1e-6)
    if rule == "sgd":
        np.testing.assert_allclose(contenders["fastoptim-dense"][1], ours, rtol=1e-6, atol=1e-7)
    report = bench_sparse.run(rule, rows=500, dim=8, given=40, repeats=2)
    table = bench_sparse.format_table(report)
    assert "| 500 x 8, 40 rows |" in table and "fastoptim-dense" in table


@pytest.mark.parametrize("kind", sorted(bench_whole.KINDS))
def test_whole_step_contenders_do_the_same_work(kind):
    """Muon, L-BFGS and Lookahead against their peers: after the same steps, the same parameters."""
    pytest.importorskip("torch")
    if kind == "lookahead":
        pytest.importorskip("pytorch_optimizer")
    contenders = bench_whole.contenders(kind, small=True)
    assert len(contenders) >= 2
    for _ in range(6):  # past Lookahead's first pull (k = 5)
        for step, _params in contenders.values():
            assert step() > 0
    ours = contenders["fastoptim"][1]
    for label, (_step, params) in contenders.items():
        bf16 = label == "fastoptim-bf16" or (kind == "muon" and label == "torch")  # torch's Newton-Schulz runs in bfloat16
        tol = dict(rtol=0.05, atol=2e-3) if bf16 else dict(rtol=2e-4, atol=1e-5)
        for p, q in zip(params if isinstance(params, list) else [params], ours if isinstance(ours, list) else [ours]):
            np.testing.assert_allclose(p, q, err_msg=label, **tol)


def test_precision_bench_rows_and_rooflines():
    """Every configuration races float32 Adam and a roofline moving its bytes; the table shows them."""
    from fastoptim.bench import precision as bench_precision

    report = bench_precision.run(elements=1 << 16, bnb_elements=1 << 12, repeats=2)
    names = {r["contender"] for r in report["results"]}
    for label in bench_precision.CONFIGS:
        assert {label, f"roofline, {label}"} <= names
    table = bench_precision.format_table(report)
    for row in ("| float32 params, int8 state | 16 |", "| float32 params, bfloat16 state | 20 |",
                "| float32 params, float32 state | 28 |", "| bfloat16 params + master bits, int8 state | 14 |",
                "| bfloat16 params, stochastic rounding, int8 state | 10 |", "| float32 params, int4 state | 14 |",
                "| bfloat16 params, stochastic rounding, int4 state | 8 |"):
        assert row in table
    # The roofline's passes read and write what the step does.
    seen = []
    runner = bench_precision._core.Roofline

    class Spy:
        def __init__(self, arrays):
            self.n = arrays[0][0].size

        def run(self, r, w):
            seen.append((self.n, r, w))

    bench_precision._core.Roofline = Spy
    try:
        for label, c in bench_precision.CONFIGS.items():
            seen.clear()
            bench_precision.roofline(4096, c.reads, c.writes)()
            assert sum(n * 4 * r for n, r, w in seen) == 4096 * c.reads, label
            assert sum(n * 4 * w for n, r, w in seen) == 4096 * c.writes, label
    finally:
        bench_precision._core.Roofline = runner


def test_cli_lists_the_modes_and_names_a_missing_peer(monkeypatch, capsys):
    from fastoptim.bench import cli

    with pytest.raises(SystemExit):
        cli.main(["--help"])
    shown = capsys.readouterr().out
    assert all(f"--{mode}" in shown for mode in ("torch", "mpi", "sparse", "whole", "precision"))
    monkeypatch.setattr(cli, "optional_torch", lambda: None)  # as where torch is not installed
    assert cli.main(["--torch"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs torch" in err and "--index-url https://download.pytorch.org/whl/cpu" in err


def test_train_mode_reports_every_contender_and_the_gradients_peak():
    pytest.importorskip("torch")
    from fastoptim.bench import train

    report = train.run(threads=[1], repeats=1, small=True)
    assert {r["contender"] for r in report["results"]} == {"torch-fused", "fastoptim", "in-backward", "in-backward, overlap"}
    rows = {r["contender"]: r for r in report["results"]}
    assert 0 < rows["fastoptim"]["step_share"] < 1 and np.isnan(rows["in-backward"]["step_share"])
    assert report["gradient_bytes"] > 0 and "peak extra MiB" in train.format_extra(report)
    assert {r["workload"] for r in report["results"]} == {"transformer, 2x8 tokens"}


def test_train_mode_takes_the_batch_shape():
    pytest.importorskip("torch")
    from fastoptim.bench import train

    report = train.run(threads=[1], repeats=1, small=True, batch=1, seq=3)
    assert {r["workload"] for r in report["results"]} == {"transformer, 1x3 tokens"}
    assert all(np.isfinite(r["median_s"]) and r["median_s"] > 0 for r in report["results"])
