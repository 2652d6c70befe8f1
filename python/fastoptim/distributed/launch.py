"""Finding MPI: the ``mpiexec`` launcher and mpi4py, imported only when a collective needs it."""

from __future__ import annotations

import os
import pathlib
import shutil
import sys
from typing import Any, Optional

__all__ = ["mpiexec", "mpi"]


def mpiexec() -> Optional[str]:
    """The path of ``mpiexec``: the one installed beside this Python (the ``mpich`` wheel's), else the
    first on PATH; None if there is none."""
    here = str(pathlib.Path(sys.executable).parent)
    return shutil.which("mpiexec", path=os.pathsep.join([here, os.environ.get("PATH", "")]))


def mpi() -> Any:
    """mpi4py's ``MPI`` module (importing it starts MPI); ImportError with the install advice."""
    try:
        from mpi4py import MPI
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError("fastoptim.distributed needs mpi4py and an MPI library: pip install 'fastoptim[mpi]'") from exc
    return MPI
