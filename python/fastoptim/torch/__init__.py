r"""fastoptim for PyTorch: ``torch.optim`` optimizers whose step is fastoptim's compiled engine.

For CPU training and CPU offload. Each class subclasses ``torch.optim.Optimizer``, under torch's name,
with torch's signature and defaults (and fastoptim's extras, keyword-only: ``nonfinite``,
``max_grad_norm``, schedules for the schedulable settings), so step hooks, ``add_param_group``,
``torch.optim.lr_scheduler``, the profiler and ``torch.save`` work as with torch's own::

    import fastoptim.torch as fot
    opt = fot.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    for x, y in batches:
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

The step runs on the tensors' own memory (zero-copy; CPU; float32, float64, bfloat16 or float16; contiguous), every
parameter of every group in one compiled call with the GIL released, and bumps each updated
tensor's autograd version, as torch's in-place updates do.

Semantics follow torch's: ``step(closure)`` runs the closure with grad enabled and returns its loss;
a parameter whose ``.grad`` is None is skipped (no state, no step counted); settings are read from
``param_groups`` at every step, so every lr_scheduler works, those that write momentum or betas
included; a parameter whose memory is replaced (``p.data = ...``) keeps its state, and parameters
swapped into ``param_groups[i]["params"]`` are picked up at the next step. ``state_dict()`` is in
torch's format, so a ``torch.optim.Adam`` checkpoint loads into ``fastoptim.torch.Adam`` and back;
unlike torch, a state dict that does not fit is refused with a ValueError and changes nothing.

Differences: ``nonfinite="raise"`` (the default) makes a step with an inf or NaN gradient raise
FloatingPointError and update nothing, where torch would write NaN into the parameters
(``nonfinite="skip"`` skips such steps, ``"ignore"`` behaves as torch). ``foreach`` and ``fused``
are accepted and ignored (every step is one fused multi-tensor call); ``capturable=True`` and
``differentiable=True`` raise ValueError. The fastest steps come with ``zero_grad(set_to_none=False)``:
gradient tensors then live across steps and their views are reused.
"""

from __future__ import annotations

from ..rules.lookahead import Lookahead
from .backward import BackwardStep, step_in_backward
from .lbfgs import LBFGS
from .muon import Muon
from .optimizer import Optimizer, twins

_TWINS = twins()
globals().update(_TWINS)

__all__ = ["Optimizer", *_TWINS, "Lookahead", "LBFGS", "Muon", "BackwardStep", "step_in_backward"]
