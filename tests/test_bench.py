"""The peer-comparison benchmark runs end to end and reports what it measured (no timing assertions)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fastoptim import _core, bench


def test_run_reports_every_contender(capsys):
    report = bench.run("adam", ["1x10", "10000x100"], threads=(1,), repeats=2)
    contenders = {r["contender"] for r in report["results"]}
    assert {"fastoptim", "fastoptim-nocheck", "roofline", "numpy"} <= contenders
    for r in report["results"]:
        assert r["median_s"] > 0 and len(r["times_s"]) == 2 and r["threads"] == 1
    fo_rows = [r for r in report["results"] if r["contender"] == "fastoptim"]
    assert all(r["ratio_to_fastoptim"] == 1.0 for r in fo_rows)
    table = bench.format_table(report)
    assert "| workload | threads | fastoptim | fastoptim-nocheck | roofline |" in table
    assert "| 1x10 | 1 | " in table and "(1.00x)" in table and report["machine"]["simd_tier"] in table


@pytest.mark.parametrize("rule", sorted(bench.RULES))
def test_every_rule_has_a_roofline(rule):
    report = bench.run(rule, ["1x10"], threads=(1,), repeats=1)
    assert "roofline" in {r["contender"] for r in report["results"]}


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
    """reads=4, writes=3: p takes g, s0 takes s1, and s1 takes the largest of the rest."""
    p, g, s0, s1, s2 = (np.full(40_000, v, np.float32) for v in (1.0, 2.0, 3.0, 4.0, 5.0))
    _core.Roofline([[p, g, s0, s1, s2]]).run(4, 3)
    assert (p == 2).all() and (s0 == 4).all() and (s1 == 3).all() and (s2 == 5).all()
    with pytest.raises(ValueError, match="2 <= reads <= 5"):
        _core.Roofline([[p, g, s0, s1, s2]]).run(6, 1)
