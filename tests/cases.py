"""The rules and options every correctness test runs, as tests/reference.py registers them beside each
formula (``@cases``): (class name, reference, settings); and the subsets each peer package has."""

from __future__ import annotations

import reference as ref

CASES = ref.CASES
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in h.items()) or 'defaults'}" for name, _, h in CASES]

# Rules and options torch.optim has (SparseAdam only for sparse gradients: test_sparse.py), for the parity tests;
# the rules the pytorch-optimizer package has instead.
PYTORCH_OPTIMIZER = ("Adan", "AdEMAMix")
TORCH_CASES = [
    (i, case)
    for i, case in enumerate(CASES)
    if case[0] not in ("Lion", "LAMB", "LARS", "RowWiseAdagrad", "SparseAdam") + PYTORCH_OPTIMIZER and not case[2].get("average")
]
# pytorch-optimizer 4.1's Adan keeps its first "previous gradient" before negating for maximize, so
# its first gradient difference is -2g there, not 0; fastoptim's is 0 either way (see Adan's docstring).
PYTORCH_OPTIMIZER_CASES = [
    (i, case)
    for i, case in enumerate(CASES)
    if case[0] in PYTORCH_OPTIMIZER and not (case[0] == "Adan" and case[2].get("maximize"))
]
