"""Every ```python block of the README and of docs/*.md runs as written, each in a fresh interpreter
(in a temporary folder). Blocks that need torch, mpi4py or DeepSpeed run when those are importable,
and skip with the reason otherwise."""

from __future__ import annotations

import importlib.util
import os
import pathlib
import re
import socket
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
NEEDS = {"deepspeed": "deepspeed", "torch": "torch", "mpi4py": "mpi4py", "ml_dtypes": "ml_dtypes"}


def blocks():
    for page in PAGES:
        for i, m in enumerate(re.finditer(r"```python\n(.*?)```", page.read_text(), re.S)):
            code = m.group(1)
            needs = sorted({mod for word, mod in NEEDS.items() if re.search(rf"\b(import|from) {word}\b|\b{word}\.", code)})
            # DeepSpeed's blocks carry its name in the id, so that `-k "not deepspeed"` leaves them out too.
            name = f"{page.relative_to(ROOT)}:{i}" + (":deepspeed" if "deepspeed" in needs else "")
            yield pytest.param(code, needs, id=name)


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def test_the_pages_have_blocks():
    assert sum(1 for _ in blocks()) >= 10


@pytest.mark.parametrize("code, needs", list(blocks()))
def test_block_runs(code, needs, tmp_path):
    missing = [m for m in needs if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    import fastoptim

    # The fastoptim under test, wherever the blocks run from.
    here = str(pathlib.Path(fastoptim.__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([here] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    if "deepspeed" in needs:  # one process, as DeepSpeed's launcher would start it
        env.update(DS_ACCELERATOR="cpu", RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=_free_port(), OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"the block failed:\n{code}\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"
