"""The examples in examples/ run and print what they claim."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
CLAIMS = {
    "checkpoint.py": "bit-identical: True",
    "linear_regression.py": "final loss",
    "mlp_with_schedule.py": "accuracy 0.9",
}


@pytest.mark.parametrize("name", sorted(CLAIMS))
def test_example_runs(name):
    out = subprocess.run([sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert CLAIMS[name] in out.stdout


def test_every_example_is_covered():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(CLAIMS)
