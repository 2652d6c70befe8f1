"""SIMD tier selection and thread controls."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import fastoptim as fo
from fastoptim import _core


def run_python(code, **env):
    return subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )


def test_best_tier_is_active_by_default():
    assert fo.simd_tier() == fo.available_tiers()[-1]
    assert fo.available_tiers()[0] == "baseline"
    assert set(fo.available_tiers()) <= set(_core.compiled_tiers())


@pytest.mark.parametrize("tier", fo.available_tiers())
def test_environment_forces_a_tier(tier):
    out = run_python("import fastoptim; print(fastoptim.simd_tier())", FASTOPTIM_SIMD=tier)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == tier


def test_unknown_tier_fails_the_import_clearly():
    out = run_python("import fastoptim", FASTOPTIM_SIMD="sse9")
    assert out.returncode != 0
    assert "FASTOPTIM_SIMD=sse9: unknown SIMD tier 'sse9'" in out.stderr


@pytest.mark.skipif(len(_core.compiled_tiers()) < 2, reason="only one tier compiled")
def test_tier_the_cpu_lacks_is_refused():
    top = _core.compiled_tiers()[-1]
    hide = {"FASTOPTIM_HIDE_TIERS": top}
    out = run_python("import fastoptim; print(fastoptim.simd_tier())", **hide)
    assert out.returncode == 0 and out.stdout.strip() == _core.compiled_tiers()[-2]
    out = run_python("import fastoptim", FASTOPTIM_SIMD=top, **hide)
    assert out.returncode != 0
    assert f"SIMD tier '{top}' needs instructions this CPU lacks" in out.stderr


def test_tier_flags_are_recorded():
    assert "-march=x86-64" in _core.tier_flags("baseline") or _core.compiled_tiers() == ["baseline"]
    for tier in _core.compiled_tiers():
        assert "native" not in _core.tier_flags(tier)


def test_threads():
    before = fo.get_num_threads()
    try:
        fo.set_num_threads(1)
        assert fo.get_num_threads() == 1
        with pytest.raises(ValueError, match="num_threads must be >= 1"):
            fo.set_num_threads(0)
        with pytest.raises(TypeError):
            fo.set_num_threads(1.5)  # type: ignore[arg-type]
    finally:
        fo.set_num_threads(before)


def test_omp_num_threads_is_honoured():
    out = run_python("import fastoptim; print(fastoptim.get_num_threads())", OMP_NUM_THREADS="1")
    assert out.stdout.strip() == "1", out.stderr


def test_without_openmp_more_threads_warn_once(monkeypatch):
    from fastoptim.core import runtime

    monkeypatch.setattr(fo._core, "openmp", False)  # as a build without OpenMP reports
    monkeypatch.setattr(runtime, "_warned", False)
    with pytest.warns(RuntimeWarning, match="built without OpenMP: steps run on one thread"):
        fo.set_num_threads(2)
    fo.set_num_threads(2)  # once per process: no second warning (warnings are errors here)
    fo.set_num_threads(fo._core.get_num_threads())
    assert fo.core.runtime.has_openmp() is False


def test_info_names_the_cpu_the_tier_and_openmp(capsys):
    from fastoptim.cli import main

    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"SIMD tier: {fo.simd_tier()}" in out and "features:" in out and ("OpenMP" in out)
