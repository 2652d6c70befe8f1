"""Stepping inside backward: each parameter is updated as soon as its gradient is final, and its
gradient freed, instead of every gradient living until ``optimizer.step()`` after backward."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, List, Optional

import torch

from .. import _core
from .optimizer import Optimizer

__all__ = ["BackwardStep", "step_in_backward"]


class BackwardStep:
    """The handle :func:`step_in_backward` returns: ``remove()`` (or leaving a ``with`` block)
    detaches the hooks. ``micro_batches``: backward passes seen since the last update."""

    def __init__(self, optimizer: Optimizer, accumulate: int, keep_grads: bool, bucket_bytes: int, overlap: bool) -> None:
        self.optimizer, self.accumulate, self.keep_grads, self.bucket_bytes = optimizer, accumulate, keep_grads, bucket_bytes
        self.micro_batches = 0
        # overlap: buckets update on one worker thread (the engine releases the GIL) while autograd
        # goes on; the end of backward waits for them, so the next forward sees every update.
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="fastoptim-step") if overlap else None
        self._pending: List["Future[None]"] = []
        self._ready: List[torch.Tensor] = []
        self._ready_bytes = 0
        self._queued = False
        self._handles = [
            p.register_post_accumulate_grad_hook(self._hook)
            for group in optimizer.param_groups
            for p in group["params"]
            if p.requires_grad
        ]

    def _hook(self, p: torch.Tensor) -> None:
        if not self._queued:  # the end of this backward pass: the last update, the count
            torch.autograd.Variable._execution_engine.queue_callback(self._end_of_backward)
            self._queued = True
        if self.micro_batches + 1 < self.accumulate:
            return  # an earlier micro-batch: the gradient keeps accumulating
        self._ready.append(p)
        self._ready_bytes += p.numel() * p.element_size()
        if self._ready_bytes >= self.bucket_bytes:
            try:
                self._flush()
            except BaseException:
                self._queued = False  # this backward ends here, and its end-of-backward callback never runs
                raise

    def _end_of_backward(self) -> None:
        self._queued = False
        self.micro_batches += 1
        if self.micro_batches >= self.accumulate:
            self.micro_batches = 0
            self._flush()
        pending, self._pending = self._pending, []
        for future in pending:  # every update done (the first error raised) before backward returns
            future.result()

    def _flush(self) -> None:
        ready, self._ready, self._ready_bytes = self._ready, [], 0
        if not ready:
            return
        if self._worker is not None:
            self._pending.append(self._worker.submit(self._update, ready))
        else:
            self._update(ready)

    def _update(self, ready: List[torch.Tensor]) -> None:
        try:
            self.optimizer._step_only(ready)
        finally:
            if not self.keep_grads:
                for p in ready:
                    p.grad = None
        self.optimizer._opt_called = True  # type: ignore[attr-defined]  # lr_scheduler's "step() came first" check

    def remove(self) -> None:
        """Detach the hooks; gradients of a micro-batch already seen stay in ``.grad``."""
        for h in self._handles:
            h.remove()
        self._handles = []
        if self._worker is not None:
            self._worker.shutdown()

    def __enter__(self) -> "BackwardStep":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


def step_in_backward(
    optimizer: Optimizer, *, accumulate: int = 1, keep_grads: bool = False, bucket_bytes: Optional[int] = 4 << 20,
    overlap: bool = False,
) -> BackwardStep:
    r"""Update each parameter during ``loss.backward()``, as soon as its gradient is final.

    A ``register_post_accumulate_grad_hook`` on every parameter that requires grad collects the
    parameters whose gradient is final; every ``bucket_bytes`` of them (and at the end of backward,
    the rest) go through the same engine call ``optimizer.step()`` makes, with the other parameters'
    gradients left out, and then their ``.grad`` is set to None (unless ``keep_grads``). So a
    gradient lives from its layer's backward to its bucket's update, not to the end of backward:
    peak memory drops by about the gradients' bytes. Do not call ``optimizer.step()`` in the loop
    (the updates have happened); ``optimizer.zero_grad()`` is harmless.

    Semantics, against stepping after backward:

    * Each parameter gets the same update, bit for bit: the rules that take it (every elementwise
      or per-tensor rule) update a parameter from its own gradient and state only. Refused: the
      rules whose update needs sums over all parameters (Prodigy, D-Adaptation) and
      ``max_grad_norm`` (the global norm is known only after the last gradient): clip by value, or
      step after backward.
    * ``accumulate=k``: the gradients of k backward passes accumulate in ``.grad`` as usual; the
      k-th pass updates. Step counts and schedules advance once per update, so an lr_scheduler's
      ``step()`` after each update works as in a normal loop.
    * ``nonfinite``: checked per bucket. ``"raise"`` raises FloatingPointError naming the parameter
      out of ``backward()``, at the latest at its end; that bucket is not updated, but buckets
      before it were. ``"skip"`` skips the buckets that hold one (``skipped_steps`` counts them).
    * A parameter used twice in the graph updates once (the hook fires after accumulation); a
      frozen parameter or one that gets no gradient is not updated; a backward with
      ``retain_graph=True`` run twice updates twice. Evaluation under ``torch.no_grad()`` runs no
      backward and updates nothing.

    ``overlap=True`` updates the buckets on a worker thread while autograd computes the next
    gradients (the engine releases the GIL); the end of backward waits for every update, so the
    next forward, ``zero_grad`` and ``state_dict`` see them all. Whether it pays depends on spare
    cores: ``fastoptim bench --train`` measures it.

    Returns a handle whose ``remove()`` detaches the hooks (also usable as a context manager).

    Example:
        >>> import torch, fastoptim.torch as fot
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = fot.AdamW(model.parameters(), lr=0.1)
        >>> handle = fot.step_in_backward(opt)
        >>> before = model.weight.detach().clone()
        >>> model(torch.ones(2, 4)).sum().backward()   # updates as the gradients arrive
        >>> bool((model.weight != before).all()), model.weight.grad is None
        (True, True)
        >>> handle.remove()
    """
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"step_in_backward takes a fastoptim.torch optimizer with a compiled rule, got {type(optimizer).__name__}")
    if optimizer.max_grad_norm is not None:
        raise ValueError(
            "step_in_backward cannot clip by the global gradient norm (max_grad_norm): it is known only after the last "
            "gradient, when most parameters have stepped; clip by value, or step after backward"
        )
    if _core.rules[optimizer._rule]["global_sums"]:
        raise ValueError(
            f"{type(optimizer).__name__} estimates its step from sums over all parameters, which exist only after the "
            "last gradient: step it after backward"
        )
    if isinstance(accumulate, bool) or not isinstance(accumulate, int) or accumulate < 1:
        raise ValueError(f"accumulate must be an integer >= 1, got {accumulate!r}")
    if bucket_bytes is not None and (isinstance(bucket_bytes, bool) or not isinstance(bucket_bytes, int) or bucket_bytes < 0):
        raise ValueError(f"bucket_bytes must be an integer >= 0 or None, got {bucket_bytes!r}")
    return BackwardStep(optimizer, accumulate, keep_grads, 2**62 if bucket_bytes is None else bucket_bytes, bool(overlap))
