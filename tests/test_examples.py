"""The examples in examples/ run and print what they claim."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"

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


# What each example claims, checked from the figures it prints.
CLAIMS = {"checkpoint.py": _checkpoint, "linear_regression.py": _linear_regression, "mlp_with_schedule.py": _mlp}


@pytest.mark.parametrize("name", sorted(CLAIMS))
def test_example_runs(name):
    out = subprocess.run([sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    CLAIMS[name](out.stdout)


def test_every_example_is_covered():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(CLAIMS)
