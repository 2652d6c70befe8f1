"""ZeroOptimizer: ZeRO stage 1, a fastoptim optimizer's state sharded over the ranks of an MPI communicator."""

from __future__ import annotations

import os
import time
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple, Type, Union

import numpy as np

from .. import _core
from ..core import checkpoint
from ..core.optimizer import Optimizer
from ..core.params import NOT_SETTINGS, Grads, Key, Params, group_settings, split_grads
from ..core.settings import StepOptions
from ..rules.schedulefree import ScheduleFreeMode
from .collective import on_root, raise_together
from .launch import mpi
from .layout import first_mismatch, owned_ranges, signature
from .shards import check_entries, join_entries, slice_entries

__all__ = ["ZeroOptimizer"]


class ZeroOptimizer(StepOptions):
    r"""Shard a fastoptim optimizer's state over the ranks of an MPI communicator (ZeRO stage 1).

    Construct it on every rank with the same arguments, as ``optimizer_class(params, **kwargs)``
    would be constructed in one process; ``comm`` is an mpi4py communicator (default
    ``MPI.COMM_WORLD``). Every method below is collective: every rank calls it, in the same order.

    :meth:`step` takes this rank's gradients (in ``step()``'s usual form: a list in parameter order,
    or a dict by name) and updates every rank's parameters in place to the result of one step of
    the wrapped optimizer on the gradients averaged over ranks:

    1. the gradients are copied into one flat buffer and reduce-scattered (summed, then divided by
       the number of ranks :math:`n`), so this rank holds the average of its own shard;
    2. the wrapped rule updates this rank's shard: the parts of the user's arrays it owns, in place;
    3. every rank's updated shard is all-gathered into the flat buffer and copied into the parameters.

    The flat buffer (one parameter's worth of elements in all) is the only full-size memory the
    wrapper adds; this rank's state covers :attr:`local_numel` elements.

    Decisions are global, so a step means what it means in one process: the finiteness check looks at
    the averaged gradients (a NaN on any rank raises FloatingPointError on every rank, or skips the
    step on every rank with ``nonfinite="skip"``, with nothing updated), ``max_grad_norm`` clips by
    the global norm of the averaged gradients, and LAMB and LARS sum each parameter's partial sums
    of squares over the ranks before their trust ratios. A gradient that one rank refuses (wrong
    shape or dtype, missing) raises on that rank, and RuntimeError on the others, before any
    communication of gradients, with nothing changed.

    Results equal one process running ``optimizer_class`` on the averaged gradients, to float
    tolerance. With 2 ranks and no clipping they are bit for bit the same for every elementwise rule:
    a sum of two numbers does not depend on the order, the average is that sum divided by 2, and
    every element is then updated by the same loop. With 3 or more ranks, MPI's reduction order may
    round differently from the reference's sum; the norms of clipping, LAMB and LARS are summed in
    another order than in one process, so they agree to rounding.

    Checkpoints are full: :meth:`state_dict` gathers the wrapped optimizer's own ``state_dict()``
    format on rank 0 (None elsewhere), and :meth:`save` writes the wrapped optimizer's own file, so a
    run can resume on another number of ranks, or in one process with the plain optimizer, and the
    reverse. All parameters must share one dtype (the flat buffer's); they are fixed at construction
    (``param_groups``' settings stay live, as in torch, but not their ``"params"``).

    Example (``mpiexec -n 2 python example.py``)::

        import numpy as np, fastoptim as fo
        from fastoptim.distributed import ZeroOptimizer

        w = np.zeros(1000, np.float32)
        opt = ZeroOptimizer(fo.AdamW, [w], lr=1e-3)
        opt.step([local_gradient(w)])  # every rank ends with the same w
    """

    def __init__(self, optimizer_class: Type[Optimizer], params: Params, comm: Any = None, **kwargs: Any) -> None:
        MPI = mpi()
        self.comm = MPI.COMM_WORLD if comm is None else comm
        if not isinstance(self.comm, MPI.Intracomm):
            raise TypeError(f"comm must be an mpi4py intracommunicator, got {type(self.comm).__name__}")
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        # Collective from here: an error on any rank is raised on every rank, and the ranks must
        # agree on the parameters (shapes, dtypes, groups, names) and the optimizer.
        error: Optional[Exception] = None
        try:
            self._setup(optimizer_class, params, kwargs)
        except Exception as exc:
            error = exc
        mine = None if error else signature(optimizer_class.__name__, self._group_keys, self._params)
        theirs = raise_together(self.comm, error, mine)
        differs = first_mismatch(theirs)
        if differs:
            raise ValueError(f"the ranks disagree on the parameters or the optimizer: {differs}")

    def _setup(self, optimizer_class: Type[Optimizer], params: Params, kwargs: Dict[str, Any]) -> None:
        """Everything this rank sets up without communicating (checks included)."""
        MPI = mpi()
        if not (isinstance(optimizer_class, type) and issubclass(optimizer_class, Optimizer)):
            raise TypeError(f"optimizer_class must be a fastoptim optimizer class, got {optimizer_class!r}")
        if _core.rules[optimizer_class._rule]["per_tensor"]:
            raise ValueError(f"{optimizer_class.__name__} needs whole tensors, which ZeRO-1 splits between ranks")
        if kwargs.get("state_dtype") in ("bfloat16", "int8", "int4"):
            raise ValueError(
                f"ZeroOptimizer keeps state at the parameters' precision: its shards and checkpoints move state "
                f"in the parameters' dtype, so state_dtype={kwargs['state_dtype']!r} is not supported"
            )
        self._init_step_options(kwargs.pop("nonfinite", "raise"), kwargs.pop("max_grad_norm", None), False, False)
        self.optimizer_class = optimizer_class
        # The whole model as one process would hold it: it checks and normalises the arguments, keeps
        # the live param_groups and never steps (so it never allocates state).
        self._full = optimizer_class(params, **kwargs)
        self.param_groups = self._full.param_groups
        self.defaults = self._full.defaults
        self._params = [p for g in self.param_groups for p in g["params"]]
        self._named = "param_names" in self.param_groups[0]
        self._group_keys: List[List[Key]] = []  # per group, as the state dict keys its parameters
        for g in self.param_groups:
            at = sum(len(k) for k in self._group_keys)
            self._group_keys.append(list(g["param_names"]) if self._named else list(range(at, at + len(g["params"]))))
        self._keys = [k for ks in self._group_keys for k in ks]
        self.dtype = self._params[0].dtype
        for key, p in zip(self._keys, self._params):
            if p.dtype != self.dtype:
                raise ValueError(
                    f"parameter {key!r} is {p.dtype}, parameter {self._keys[0]!r} is {self.dtype}: "
                    "ZeroOptimizer's parameters share one dtype (they travel in one flat buffer)"
                )
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"ZeroOptimizer moves float32 or float64 parameters; these are {self.dtype}")
        self._mpi_type = MPI.FLOAT if self.dtype == np.float32 else MPI.DOUBLE
        self._offsets = np.cumsum([0] + [p.size for p in self._params])
        total = int(self._offsets[-1])
        self._counts = [total // self.size + (r < total % self.size) for r in range(self.size)]
        self._displs = [sum(self._counts[:r]) for r in range(self.size)]
        # One rank owns everything: no flat buffer, the wrapped optimizer steps on the gradients as given.
        self._flat = np.empty(total if self.size > 1 else 0, self.dtype)
        self._shard = np.empty(self.local_numel if self.size > 1 else 0, self.dtype)  # this rank's averaged gradient
        # Every rank holds one piece per parameter, empty where it owns none of it, so that every
        # rank's wrapped optimizer has the same groups and parameters (and LAMB's sums line up). The
        # pieces lie end to end in the flat space, as their gradients do in the shard.
        self._owned = self._ranges(self.rank)
        self._pieces = [p.reshape(-1)[a:b] for p, (a, b) in zip(self._params, self._owned)]
        self._grad_pieces = np.split(self._shard, np.cumsum([b - a for a, b in self._owned])[:-1])
        inner_groups, at = [], 0
        for g, keys in zip(self.param_groups, self._group_keys):
            mine = self._pieces[at : at + len(keys)]
            inner_groups.append({**group_settings(g), "params": dict(zip(keys, mine)) if self._named else mine})
            at += len(keys)
        # Its checks are global, so made here; on one rank, _step_alone lends it the step options.
        self._inner = optimizer_class(inner_groups, nonfinite="ignore", **kwargs)
        self._inner.reduce_sums = self._reduce_sums
        self.last_lr: List[float] = []
        self._last_grad_norm: Optional[float] = None
        #: Seconds the latest step spent in each phase: ``flatten`` (gradients into the flat buffer),
        #: ``reduce_scatter``, ``update`` (checks, averaging and the rule on this shard), ``all_gather``
        #: and ``unflatten`` (the flat buffer into the parameters).
        self.timings: Dict[str, float] = {}

    # -- what this rank holds ---------------------------------------------------------------------

    @property
    def local_numel(self) -> int:
        """The number of parameter elements this rank owns (and keeps optimizer state for)."""
        return self._counts[self.rank]

    def _ranges(self, rank: int) -> List[Tuple[int, int]]:
        """Per parameter, the range ``[a, b)`` of its flattened elements that ``rank`` owns."""
        return owned_ranges(self._params, self._offsets, self._displs[rank], self._displs[rank] + self._counts[rank])

    def local_state_nbytes(self) -> int:
        """Bytes of optimizer state arrays this rank holds."""
        return self._inner.state_nbytes()

    @property
    def last_grad_norm(self) -> float | None:
        """The global L2 norm of the averaged gradients at the latest step, before clipping (with
        ``max_grad_norm``)."""
        return self._last_grad_norm if self.max_grad_norm is not None else None

    # -- the step ---------------------------------------------------------------------------------

    def step(self, grads: Grads) -> None:
        """One data-parallel step from this rank's gradients; see the class docstring."""
        MPI = mpi()
        tick = time.perf_counter()
        listed, error = self._check(grads)
        refused = np.array([error is not None], np.int32)
        self.comm.Allreduce(MPI.IN_PLACE, refused, op=MPI.SUM)
        if error is not None:
            raise error
        if refused[0]:
            raise RuntimeError("ZeroOptimizer.step: another rank refused its gradients; nothing was updated")
        if self.size == 1:
            self._step_alone(listed)
            self.timings = {p: 0.0 for p in ("flatten", "reduce_scatter", "all_gather", "unflatten")}
            self.timings["update"] = time.perf_counter() - tick
            return
        flat = self._flat
        for g, p, start in zip(listed, self._params, self._offsets[:-1]):
            flat[start : start + p.size].reshape(p.shape)[...] = g
        t_flat = time.perf_counter()
        self.comm.Reduce_scatter(flat, [self._shard, self._mpi_type], recvcounts=self._counts, op=MPI.SUM)
        t_rs = time.perf_counter()

        clip = self.max_grad_norm is not None
        if self.nonfinite != "ignore" or clip:
            first_bad, sum_squares = _core.grad_stats(self._grad_pieces)  # first_bad: a parameter's index
            stats = np.array([sum_squares, first_bad >= 0], np.float64)
            self.comm.Allreduce(MPI.IN_PLACE, stats, op=MPI.SUM)
            if stats[1] and self.nonfinite != "ignore":
                self._refuse_nonfinite(first_bad)
                return
            norm = float(np.sqrt(stats[0])) / self.size  # the norm of the average
            self._last_grad_norm = norm
        np.divide(self._shard, self.size, out=self._shard)
        if clip:
            factor = min(1.0, self.max_grad_norm / (norm + 1e-6))  # type: ignore[operator]  # torch's clip
            if factor < 1.0:
                np.multiply(self._shard, self.dtype.type(factor), out=self._shard)
        self._sync_settings()
        self._inner.step(self._grad_pieces)
        self.last_lr = list(self._inner.last_lr)
        t_update = time.perf_counter()

        t_gather = self._all_gather()
        done = time.perf_counter()
        self.timings = {
            "flatten": t_flat - tick,
            "reduce_scatter": t_rs - t_flat,
            "update": t_update - t_rs,
            "all_gather": t_gather - t_update,
            "unflatten": done - t_gather,
        }

    def _all_gather(self) -> float:
        """Every rank's updated pieces into every rank's parameters; returns when the exchange ended."""
        MPI, flat = mpi(), self._flat
        lo = self._displs[self.rank]
        np.concatenate(self._pieces, out=flat[lo : lo + self.local_numel])
        self.comm.Allgatherv(MPI.IN_PLACE, [flat, self._counts, self._displs, self._mpi_type])
        exchanged = time.perf_counter()
        for p, (a, b), start in zip(self._params, self._owned, self._offsets[:-1]):
            view = p.reshape(-1)  # all but this rank's own piece came from the other ranks
            view[:a] = flat[start : start + a]
            view[b:] = flat[start + b : start + p.size]
        return exchanged

    def train(self) -> None:
        """Schedule-Free's ``train()`` (collective): the parameters to y on every rank."""
        self._mode(True)

    def eval(self) -> None:
        """Schedule-Free's ``eval()`` (collective): the parameters to x on every rank."""
        self._mode(False)

    def _mode(self, train: bool) -> None:
        if not isinstance(self._inner, ScheduleFreeMode):
            raise TypeError(f"{self.optimizer_class.__name__} has no train() or eval(); the Schedule-Free optimizers do")
        self._sync_settings()
        self._inner.train() if train else self._inner.eval()  # each rank moves its own pieces
        for group in self.param_groups:
            group["train_mode"] = train
        if self.size > 1:
            self._all_gather()

    def _step_alone(self, grads: Sequence[np.ndarray]) -> None:
        """The step on one rank: the wrapped optimizer's own, on the gradients as given."""
        inner = self._inner
        inner.nonfinite, inner.max_grad_norm = self.nonfinite, self.max_grad_norm
        self._sync_settings()
        skipped = inner.skipped_steps
        try:
            inner.step([g.reshape(-1) for g in grads])
            self._last_grad_norm = inner.last_grad_norm
        finally:
            inner.nonfinite, inner.max_grad_norm = "ignore", None
        self.skipped_steps += inner.skipped_steps - skipped
        self.last_lr = list(inner.last_lr)

    def _check(self, grads: Grads) -> Tuple[Sequence[np.ndarray], Optional[Exception]]:
        """This rank's gradients in parameter order, or the error refusing them."""
        now = [p for g in self.param_groups for p in g["params"]]
        if len(now) != len(self._params) or any(a is not b for a, b in zip(now, self._params)):
            return [], ValueError("ZeroOptimizer's parameters are fixed at construction; param_groups' 'params' were edited")
        try:
            listed: Sequence[Any] = [g for gs in split_grads(grads, self._group_keys, self._named) for g in gs]
            for key, p, g in zip(self._keys, self._params, listed):
                if g is None:
                    raise ValueError(f"gradient of parameter {key!r} is None: every rank needs every gradient, to reduce them")
                if not isinstance(g, np.ndarray):
                    raise TypeError(f"gradient of parameter {key!r} must be a NumPy array, got {type(g).__name__}")
                if g.shape != p.shape or g.dtype != p.dtype:
                    raise ValueError(
                        f"gradient of parameter {key!r} has shape {g.shape} and dtype {g.dtype}; "
                        f"the parameter has {p.shape} and {p.dtype}"
                    )
        except (TypeError, ValueError) as exc:
            return [], exc
        return listed, None

    def _refuse_nonfinite(self, first_bad: int) -> None:
        """The averaged gradients hold inf or NaN: skip the step on every rank, or raise naming the
        first such parameter (this rank's first is ``first_bad``, -1 if none)."""
        MPI = mpi()
        if self.nonfinite == "skip":
            self.skipped_steps += 1
            return
        first = self.comm.allreduce(first_bad if first_bad >= 0 else len(self._params), op=MPI.MIN)
        raise FloatingPointError(
            f"gradient of parameter {self._keys[first]!r} holds inf or NaN on some rank; nothing was updated "
            "(pass nonfinite='skip' to skip such steps)"
        )

    def _reduce_sums(self, sums: np.ndarray, index: np.ndarray) -> None:
        """LAMB's and LARS's per-parameter sums of squares, summed over the ranks (every rank holds
        a piece of every parameter, possibly empty, so every rank passes the same rows)."""
        MPI = mpi()
        self.comm.Allreduce(MPI.IN_PLACE, sums, op=MPI.SUM)

    def _sync_settings(self) -> None:
        """param_groups' settings are live: the wrapped optimizer takes them before each step."""
        for full, inner in zip(self.param_groups, self._inner.param_groups):
            for key, value in full.items():
                if key not in NOT_SETTINGS:
                    inner[key] = value

    # -- checkpoints ------------------------------------------------------------------------------

    def state_dict(self) -> Optional[Dict[str, Any]]:
        """The wrapped optimizer's ``state_dict()`` for the whole model, gathered on rank 0; None on
        the other ranks. Each state array is assembled from the ranks' shards in the parameter's shape."""
        self._sync_settings()
        local = self._inner.state_dict()["state"]
        shards = self.comm.gather([local[k] for k in self._keys], root=0)
        if self.rank != 0:
            return None
        out = self._full.state_dict()
        out["state"] = join_entries(shards, self._keys, self._params)
        out["skipped_steps"] = self.skipped_steps
        return out

    def load_state_dict(self, state_dict: Optional[Dict[str, Any]], strict: bool = True) -> None:
        """Restore a full ``state_dict`` (from this wrapper, or from the plain optimizer on any number
        of processes). Only rank 0's argument is read (the others may pass None); it is checked there
        as ``Optimizer.load_state_dict`` checks it, and on any mismatch every rank raises ValueError
        with nothing changed. Rank 0 then sends each rank its shard of the state."""
        slots = tuple(_core.rules[self._full.rule]["state"])
        scalars = tuple(_core.rules[self._full.rule]["scalars"])

        def check() -> Any:
            plan = checkpoint.plan_load(
                state_dict, self._full.__class__.__name__, self._group_keys, self._named, self.param_groups, slots, scalars, strict
            )
            check_entries(plan.entries, self._params, self._keys)
            # Settings in range: a stand-in optimizer with one empty array per group checks them.
            self.optimizer_class([{**g, "params": [np.empty(0, self.dtype)]} for g in plan.groups])  # type: ignore[call-arg]
            for message in plan.warnings:
                warnings.warn(message, stacklevel=3)
            return plan

        plan = on_root(self.comm, check)
        meta, shards = None, None
        if self.rank == 0:
            assert plan is not None and state_dict is not None
            meta = {"param_groups": state_dict["param_groups"], "skipped_steps": plan.skipped_steps}
            entries = [e for group in plan.entries for e in group]
            shards = [slice_entries(entries, self._ranges(r)) for r in range(self.size)]
        meta = self.comm.bcast(meta, root=0)
        mine = self.comm.scatter(shards, root=0)
        # Rank 0 checked everything either load below checks, so neither fails on any rank.
        self._sync_settings()
        inner = self._inner.state_dict()
        inner["state"] = dict(zip(self._keys, mine))
        self._inner.load_state_dict(inner)
        # Settings (and schedules' state) into param_groups, as the plain optimizer loads them.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # rank 0 has warned
            self._full.load_state_dict(
                {**meta, "state": {k: {"step": 0} for k in self._keys}, "optimizer": self._full.__class__.__name__},
                strict=strict,
            )
        self.skipped_steps = meta["skipped_steps"]

    def save(self, path: Union[str, os.PathLike]) -> None:
        """Write the full checkpoint from rank 0, in the wrapped optimizer's own file format (so
        ``optimizer_class(...).load(path)`` reads it in one process). Every rank returns once the
        file is in place, or raises the error rank 0 met."""
        state = self.state_dict()
        on_root(self.comm, lambda: checkpoint.write(path, state, self._full.rule))  # type: ignore[arg-type]

    def load(self, path: Union[str, os.PathLike], strict: bool = True) -> None:
        """Restore a file written by ``save`` (this wrapper's or the plain optimizer's); only rank 0
        reads it. Checked as ``load_state_dict`` checks; any error is raised on every rank."""
        state = on_root(self.comm, lambda: checkpoint.read(path, self._full.__class__.__name__, self._full.rule))
        self.load_state_dict(state, strict=strict)

    def __repr__(self) -> str:
        return f"ZeroOptimizer(rank {self.rank} of {self.size}, {self.local_numel} elements) over {self._full!r}"
