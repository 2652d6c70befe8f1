"""Step time of fastoptim against its peers, measured side by side in one process.

One module per mode, on a shared core (:mod:`fastoptim.bench.core`): the default step race
(:mod:`~fastoptim.bench.step`), ``--torch``, ``--mpi``, ``--sparse``, ``--whole`` and ``--precision``;
:mod:`fastoptim.bench.cli` is the command line (``python -m fastoptim.bench --help``).
"""

from __future__ import annotations

from .core import RULES, format_table, machine, race, result_rows, timed, transformer_shapes
from .step import DEFAULT, QUICK, TORCH_DEFAULT, WORKLOADS, run
from .cli import main


__all__ = [
    "DEFAULT", "QUICK", "RULES", "TORCH_DEFAULT", "WORKLOADS", "format_table", "machine", "main", "race", "result_rows",
    "run", "timed", "transformer_shapes",
]
