"""The optimizer base class: parameter groups, the step, state_dict and checkpoints.

An optimizer updates the user's NumPy arrays in place. Each subclass names a compiled update rule
(``_rule``) and gives its signature, defaults and docstring; the rule's setting names and their
order come from the rule's C++ header (``_core.rules``, read by :func:`settings_reader`). All
checking, state and stepping happens in one compiled engine per optimizer.
"""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Mapping
from typing import Any, Callable, ClassVar, Dict, List, Optional, Tuple, Union

import numpy as np

from .. import _core
from . import checkpoint
from .access import EngineAccess
from .params import NOT_SETTINGS, Grad, Grads, Key, Params, as_groups, group_lists, group_settings, split_grads
from .settings import StepOptions, settings_reader

__all__ = ["Optimizer", "EngineAccess"]

# What Engine.step() returns.
_SKIPPED, _STEPPED, _CHANGED = 0, 1, 2


class Optimizer(StepOptions, EngineAccess):
    """Base class of fastoptim's optimizers; it follows ``torch.optim.Optimizer``.

    ``params`` is one of:

    * a list of arrays, keyed ``0, 1, ...`` in the state;
    * a dict ``name -> array``, keyed by name, so ``step()`` also takes gradients by name;
    * a list of group dicts ``{"params": <list or dict>, "lr": ..., ...}`` whose missing settings
      take the constructor's values.

    Arrays must be float32, float64, bfloat16 (``ml_dtypes.bfloat16``) or float16, C-contiguous,
    aligned and writeable: they are updated in place and never copied. Their state (moments, buffers) has their dtype, unless ``state_dtype``
    says otherwise.

    ``state_dtype`` (rules whose state is moments, buffers or accumulators) keeps the state of
    float32 parameters smaller: ``"bfloat16"`` (2 bytes, rounded to nearest even), ``"int8"``
    (1 byte plus a float32 absmax per block of 256: blockwise dynamic quantization as Dettmers et
    al. 2022 and bitsandbytes), or ``"int4"`` (half a byte plus a float32 absmax per block of 128,
    as Li et al. 2023: a dynamic map for first moments, a linear map without zero for second
    moments; see :mod:`fastoptim.quantize`). Parameters under 4096 elements keep float32 state
    under ``"int8"`` and ``"int4"``. The rule's loop still computes in float32: bfloat16 converts
    in registers (Adam, AdamW, SGD, Lion) or, like the codes, a block of 256 elements at a time in L1, within the
    one pass over memory. ``state_dict()`` holds bfloat16 slots as ``ml_dtypes.bfloat16`` arrays, an
    8-bit slot as ``"<slot>"`` (the uint8 codes, shaped like the parameter) and ``"<slot>.absmax"``
    (float32, one per block in C order), and a 4-bit slot likewise, its codes a flat uint8 vector
    of ``ceil(size / 2)`` bytes (element ``2j`` in byte ``j``'s low 4 bits). A state dict or file
    records its ``state_dtype``, and loading refuses another one.

    A 16-bit parameter takes a gradient of its dtype or a float32 one (as from a mixed-precision
    backward), and its update is computed in float32. With ``master_weights=True`` (the default)
    the optimizer keeps float32 master weights: the parameter is the master rounded to nearest. A
    bfloat16 parameter's master is its remaining 16 bits, kept beside it (``"master_low_bits"``,
    uint16, in the state; the rounding takes ties away from zero, so that the two make the float32
    value exactly, at 2 bytes per parameter); a float16 one's is its float32 difference from the
    parameter (``"master_delta"``). After any number of steps the parameter is, bit for bit, the
    float32 run's parameter rounded. With
    ``master_weights=False`` each update is rounded into the parameter: ``rounding="nearest"`` (ties
    to even) or ``"stochastic"`` (up with probability of the dropped fraction, so unbiased; the
    random bits come from a counter-based hash of ``seed``, the parameter and its step, so runs
    repeat exactly on any SIMD tier and thread count). Its state is float32 unless ``state_dtype``
    says otherwise.

    ``param_groups`` is live, as in torch: a step reads every group's settings, and its ``"params"``
    list may be edited between steps (arrays swapped in or out, groups reordered; with names, edit
    ``"param_names"`` alongside). State belongs to each array, so it follows the array across groups;
    an array new to the optimizer starts with fresh state and a step count of 0, and an array taken
    out loses its state. Each parameter counts its own steps; a group's schedules are evaluated at the
    largest count among its parameters.

    ``lr``, ``weight_decay`` and the momentum-like settings (``momentum``, ``betas[0]``) take a
    schedule from :mod:`fastoptim.schedules` (evaluated once per step, per group, inside the
    compiled step) or any callable ``t -> float`` (the slow path), as well as a number. Every
    setting must be finite; a schedule that yields inf or NaN raises FloatingPointError at that
    step, with nothing updated.

    ``nonfinite`` says what a step does when a gradient holds inf or NaN: ``"raise"`` (default)
    raises FloatingPointError naming the parameter and updates nothing; ``"skip"`` skips the whole
    step and counts it in ``skipped_steps``; ``"ignore"`` does not check (one read of the gradients
    fewer per step).

    ``max_grad_norm`` clips the gradients' global L2 norm inside the step, as
    ``clip_grad_norm(grads, max_norm)`` before it would (torch's semantics), without touching the
    gradient arrays: the norm comes from the finiteness check's read, and the rules scale each
    gradient element as they read it. ``last_grad_norm`` holds the norm before clipping.

    For code written for torch, the subclasses take torch's ``foreach`` and ``fused`` flags, and ignore
    them (every step is one fused multi-tensor call), and ``capturable`` and ``differentiable``, which
    must be False.

    One optimizer may be used from several threads: a step while another thread is inside a step
    raises RuntimeError, and ``state_dict``, ``load_state_dict``, ``save`` and ``load`` wait for a
    step in progress, so a checkpoint is never torn. ``copy.deepcopy`` copies the optimizer with its
    state (and the parameters, unless they are in the memo already, as when a model and its
    optimizer are copied together).
    """

    _rule: ClassVar[str]
    #: For LAMB and LARS, which need each parameter's norms: None, or a callable that each step
    #: calls once, between the rule's two passes, as ``reduce_sums(sums, index)``, where row ``j`` of
    #: the float64 array ``sums`` holds the sums of squares (of the parameter and of its update, or
    #: of its gradient for LARS) of the parameter at flat position ``index[j]`` over all groups. It
    #: may change them in place: :class:`fastoptim.distributed.ZeroOptimizer` sums them over the
    #: processes that each hold part of a parameter. Other rules never call it.
    reduce_sums: Optional[Callable[[np.ndarray, np.ndarray], None]] = None

    def __init__(
        self,
        params: Params,
        defaults: Dict[str, Any],
        *,
        nonfinite: str = "raise",
        max_grad_norm: float | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        state_dtype: str | None = None,
        master_weights: bool = True,
        rounding: str = "nearest",
        seed: int = 0,
    ) -> None:
        self._init_step_options(nonfinite, max_grad_norm, capturable, differentiable)
        self.defaults: Dict[str, Any] = dict(defaults)
        self.param_groups: List[Dict[str, Any]] = []
        self.last_lr: List[float] = []
        if state_dtype is not None and not isinstance(state_dtype, str):
            raise TypeError(f"state_dtype must be None or a string, got {state_dtype!r}")
        if state_dtype == "":  # the engine's own code for "the parameters' dtype": None says that
            raise ValueError("state_dtype must be None (the parameters' dtype), 'float32', 'float64', 'bfloat16', 'int8' or 'int4', got ''")
        if not isinstance(master_weights, (bool, np.bool_)):
            raise TypeError(f"master_weights must be True or False, got {master_weights!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**64:
            raise ValueError(f"seed must be an integer in [0, 2**64), got {seed!r}")
        self._precision: Tuple[str | None, bool, str, int] = (state_dtype, bool(master_weights), rounding, int(seed))
        self._engine = _core.Engine(self._rule, *self._precision)
        self._slots: Tuple[str, ...] = tuple(_core.rules[self._rule]["state"])
        self._scalars: Tuple[str, ...] = tuple(_core.rules[self._rule]["scalars"])
        self._keys: List[List[Key]] = []
        self._named: bool | None = None
        for group in as_groups(params):
            self.add_param_group(group)

    # -- parameter groups -------------------------------------------------------------------------

    def add_param_group(self, param_group: Dict[str, Any]) -> None:
        """Add a group of parameters with its own settings; missing settings take the defaults.

        The new group counts its own steps from 0, so its schedules start from the beginning.
        """
        if not isinstance(param_group, Mapping) or "params" not in param_group:
            raise TypeError("a param group must be a dict with a 'params' entry")
        group = dict(param_group)
        index = len(self.param_groups)
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        try:
            hyper = self._hyper(group)
        except (KeyError, TypeError, ValueError) as exc:
            raise type(exc)(f"param group {index}: {exc}") from None
        self._engine.validate(index, hyper)
        with self._engine.hold():
            self._register(self.param_groups + [group], new=index)
        self.param_groups.append(group)

    def _hyper(self, group: Dict[str, Any]) -> Tuple[Any, ...]:
        """The rule's settings for one group, in the order of ``_core.rules[rule]["hyper"]``."""
        return settings_reader(self._rule)(group)

    def _register(self, groups: List[Dict[str, Any]], new: int = -1) -> None:
        """Check ``groups``' parameters and hand them to the engine, keeping the state of arrays it
        already holds. Normalises each ``"params"`` to a list (and a dict to ``"param_names"``)."""
        keys, lists, named = group_lists(groups, new)
        labels = [[f"parameter {k!r}" if named else f"parameter {k}" for k in ks] for ks in keys]
        self._engine.set_groups(lists, labels)
        for group, params, ks in zip(groups, lists, keys):
            group["params"] = params
            if named:
                group["param_names"] = list(ks)
        self._keys, self._named = keys, named

    def _sync(self) -> List[List[np.ndarray]]:
        """The groups' parameter lists, re-registered first if ``param_groups`` was edited."""
        lists = [g["params"] for g in self.param_groups]
        if not self._engine.matches(lists):
            with self._engine.hold():
                self._register(self.param_groups)
            lists = [g["params"] for g in self.param_groups]
        return lists

    # -- the step ---------------------------------------------------------------------------------

    def step(self, grads: Grads) -> None:
        """Update every parameter in place from its gradient.

        ``grads`` is a list in parameter order (all groups, in order) or, when the parameters were
        given by name, a dict ``name -> array``. Each gradient has its parameter's shape and dtype
        and is only read. A gradient of ``None`` skips its parameter for this step, as in torch: it
        is not updated, gets no state, and its step count does not advance (so its bias
        corrections count only the steps it took part in). A :class:`~fastoptim.RowSparse` gradient
        gives some rows of a parameter (an embedding table's): the rules that take one update only
        those rows (see RowSparse). One compiled call checks every
        parameter (still the array it was: same data, shape and dtype, writeable) and gradient,
        then (unless ``nonfinite`` is ``"ignore"``) that all are finite, then updates all groups
        with the GIL released. Any error leaves every
        parameter and state array untouched, and allocates no state.
        """
        lists = [g["params"] for g in self.param_groups]
        hypers = [self._hyper(g) for g in self.param_groups]
        outcome = self._step(lists, grads, hypers)
        if outcome == _CHANGED:  # param_groups were edited: register the change, then step
            outcome = self._step(self._sync(), grads, hypers)
        if outcome == _STEPPED:
            self.last_lr = self._engine.last_lr()
        else:
            self.skipped_steps += 1

    def _step(self, lists: List[List[np.ndarray]], grads: Grads, hypers: List[Tuple[float, ...]]) -> int:
        try:
            per_group = self._split(grads)
        except (TypeError, ValueError):
            if not self._engine.matches(lists):
                return _CHANGED  # the gradients may fit the edited groups
            raise
        return self._engine.step(lists, per_group, hypers, self._nonfinite, self._max_grad_norm, self.reduce_sums)

    @property
    def rule(self) -> str:
        """The name of the compiled update rule this optimizer runs (``"adam"``, ``"lamb"``, ...)."""
        return self._rule

    def traffic(self, group: int = 0) -> List[Tuple[int, int]]:
        """Memory traffic of a step of param group ``group``, with its latest settings: per pass over
        the data, how many arrays it reads and writes per element (Adam: ``[(4, 3)]``, reading
        p, g, m, v and writing p, m, v; LAMB: ``[(4, 2), (3, 1)]``, its norm-and-moments pass, then
        its update). The sum times the element size is the bytes per parameter per step that
        bound a step by memory bandwidth; the benchmark's roofline moves exactly these."""
        if not 0 <= group < len(self.param_groups):
            raise IndexError(f"no param group {group}; this optimizer has {len(self.param_groups)}")
        return self._engine.traffic(group)

    @property
    def state_dtype(self) -> str | None:
        """How state is kept: None (as the parameters), ``"float32"``, ``"float64"``, ``"bfloat16"``, ``"int8"`` or ``"int4"``."""
        return self._engine.state_dtype or None

    def state_nbytes(self) -> int:
        """Bytes of the state arrays this optimizer holds (moments, buffers), over all parameters."""
        with self._engine.hold():
            return sum(a.nbytes for group in self._engine.snapshot(False) for e in group if e for a in e[2].values())

    @property
    def last_grad_norm(self) -> float | None:
        """The gradients' global L2 norm at the latest step, before clipping (with ``max_grad_norm``)."""
        value = self._engine.last_grad_norm()
        return None if self.max_grad_norm is None or value != value else value

    def _split(self, grads: Grads) -> List[List[Grad]]:
        """Gradients per group. The arrays themselves are checked in C++, in one call."""
        return split_grads(grads, self._keys, self._named)

    # -- state ------------------------------------------------------------------------------------

    def state_dict(self) -> Dict[str, Any]:
        """A snapshot of the optimizer: ``{"state", "param_groups", "skipped_steps", "optimizer"}``.

        ``state`` maps every parameter's key (its name, or its index over all groups) to
        ``{"step": int, <scalar state>: float, <slot>: array}``: its step count, the rule's scalar
        state (NAdam's ``mu_product``) and every state array the rule has allocated for it, as
        copies, so the snapshot does not change as training goes on. ``param_groups`` holds each
        group's settings with ``"params"`` replaced by the keys; ``optimizer`` is the class name. It
        round-trips through ``load_state_dict`` and through ``save``/``load`` bit for bit.
        """
        with self._engine.hold():
            self._sync()
            snapshot = self._engine.snapshot()
            state: Dict[Key, Dict[str, Any]] = {}
            for keys, entries in zip(self._keys, snapshot):
                for key, entry in zip(keys, entries):
                    state[key] = {"step": 0} if entry is None else {"step": entry[0], **entry[1], **entry[2]}
            groups = []
            for group, keys in zip(self.param_groups, self._keys):
                saved = {k: checkpoint.encode(v) for k, v in group_settings(group).items()}
                saved["params"] = list(keys)
                groups.append(saved)
            out = {"state": state, "param_groups": groups, "skipped_steps": self.skipped_steps, "optimizer": type(self).__name__}
            if self.state_dtype is not None:
                out["state_dtype"] = self.state_dtype
            return out

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> None:
        """Restore a snapshot from ``state_dict()``.

        Everything is checked before anything changes: the optimizer class, the number of groups and
        parameters, names, settings, every state entry's keys, step and scalars, and the shape and
        dtype of every state array. On any mismatch a ValueError names it and the optimizer is left
        exactly as it was.

        A group setting saved as a schedule is restored into the optimizer's own schedule object
        when they describe the same schedule (so a ``ReduceOnPlateau`` the caller holds keeps
        working). With ``strict=True`` (the default) a different schedule, or state keys that do not
        match the parameters' keys, are refused; with ``strict=False`` (``nn.Module``'s convention)
        the optimizer keeps its own schedule, parameters without saved state start fresh, and state
        for unknown keys is ignored, each with a warning.
        """
        with self._engine.hold():
            self._sync()
            plan = checkpoint.plan_load(
                state_dict,
                type(self).__name__,
                self._keys,
                bool(self._named),
                self.param_groups,
                self._slots,
                self._scalars,
                strict,
                self.state_dtype,
            )
            for g, group in enumerate(plan.groups):
                try:
                    self._engine.validate(g, self._hyper(group))
                except (KeyError, TypeError, ValueError) as exc:
                    raise ValueError(f"param group {g}: {exc}") from exc
            for message in plan.warnings:
                warnings.warn(message, stacklevel=2)
            self._engine.load(plan.entries)
            for schedule, saved_state in plan.restores:
                schedule.set_state(saved_state)
            for current, new in zip(self.param_groups, plan.groups):
                settings = {k: v for k, v in current.items() if k in NOT_SETTINGS}
                current.clear()
                current.update(new)
                current.update(settings)
            self.skipped_steps = plan.skipped_steps

    def save(self, path: Union[str, os.PathLike]) -> None:
        """Write ``state_dict()`` to one ``.npz`` file, atomically (a temporary file, then a rename).

        The file records the optimizer class, the rule and the format version; arrays are stored as
        they are and settings as JSON, so ``load`` restores the optimizer bit for bit: a run resumed
        from the file continues exactly as one that never stopped.
        """
        checkpoint.write(path, self.state_dict(), self._rule)

    def load(self, path: Union[str, os.PathLike], strict: bool = True) -> None:
        """Restore a file written by ``save``; checked as ``load_state_dict`` checks.

        A file that is not a readable fastoptim checkpoint raises ValueError("not a fastoptim
        checkpoint: ..."); one written by another optimizer raises ValueError naming both.
        """
        self.load_state_dict(checkpoint.read(path, type(self).__name__, self._rule), strict=strict)

    def __deepcopy__(self, memo: Dict[int, Any]) -> "Optimizer":
        new = copy.copy(self)
        memo[id(self)] = new
        new.defaults = copy.deepcopy(self.defaults, memo)
        new.param_groups = copy.deepcopy(self.param_groups, memo)
        new.last_lr = list(self.last_lr)
        new._engine = _core.Engine(self._rule, *self._precision)
        new._register(new.param_groups)
        new.load_state_dict(self.state_dict())
        return new

    def __getstate__(self) -> Dict[str, Any]:
        """For pickle: everything but the compiled engine, which is rebuilt from the state dict."""
        saved = {k: v for k, v in self.__dict__.items() if k != "_engine"}
        saved["_engine_state"] = self.state_dict()
        return saved

    def __setstate__(self, saved: Dict[str, Any]) -> None:
        state = saved.pop("_engine_state")
        self.__dict__.update(saved)
        self._engine = _core.Engine(self._rule, *self._precision)
        self._register(self.param_groups)
        self.load_state_dict(state)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key not in NOT_SETTINGS:
                    lines.append(f"    {key}: {group[key]}")
        return "\n".join(lines) + "\n)"
