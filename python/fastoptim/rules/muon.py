"""Muon: momentum, orthogonalised by a Newton-Schulz iteration, for 2-D parameters."""

from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..core.lerp import lerp_
from ..core.params import as_groups, group_lists, split_grads

__all__ = ["Muon"]

# torch.optim.Muon's quintic coefficients and step count (Keller Jordan's Muon).
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
NS_STEPS = 5
_NS_DTYPES = ("float32", "bfloat16")


def _bf16(x: np.ndarray) -> np.ndarray:
    """float32 values rounded to bfloat16 (to nearest, ties to even), kept as float32."""
    u = np.ascontiguousarray(x, np.float32).view(np.uint32)
    rounded = (u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) & np.uint32(0xFFFF0000)
    return np.where(np.isfinite(x), rounded.view(np.float32), x).astype(np.float32)


def newton_schulz(g: np.ndarray, coefficients: Sequence[float] = NS_COEFFICIENTS, steps: int = NS_STEPS, eps: float = 1e-7,
                  ns_dtype: str = "float32") -> np.ndarray:
    r"""The orthogonalisation torch.optim.Muon applies to its update: ``steps`` rounds of the quintic
    :math:`X \leftarrow aX + (bA + cA^2)X`, :math:`A = XX^\top`, from :math:`X = G / \max(\|G\|_F, \epsilon)`
    (on the wide orientation). It pushes the singular values of G towards 1 (to about 0.7-1.2 with
    these coefficients) without an SVD; the matrix products are NumPy's (BLAS). ``ns_dtype="bfloat16"``
    rounds every intermediate to bfloat16, as torch does; ``"float32"`` keeps float32."""
    a, b, c = coefficients
    rnd = _bf16 if ns_dtype == "bfloat16" else (lambda x: x)
    x = rnd(np.asarray(g, np.float32))
    wide = x.shape[0] <= x.shape[1]
    x = x if wide else np.ascontiguousarray(x.T)  # a C-ordered copy: BLAS runs 2.4x slower on the transposed view
    x = rnd(x / rnd(np.array(max(float(np.linalg.norm(x)), eps), np.float32)))
    for _ in range(steps):
        gram = rnd(x @ x.T)
        update = rnd(np.float32(b) * gram + np.float32(c) * (gram @ gram))
        x = rnd(np.float32(a) * x + update @ x)
    return x if wide else x.T


def _adjusted_lr(lr: float, adjust_lr_fn: Optional[str], shape: Tuple[int, ...]) -> float:
    """torch's: sqrt(max(1, rows/cols)) ("original", the default), or 0.2 sqrt(max(rows, cols))
    ("match_rms_adamw", which matches the update's RMS to AdamW's)."""
    rows, cols = shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        return lr * math.sqrt(max(1, rows / cols))
    return lr * 0.2 * math.sqrt(max(rows, cols))


def muon_defaults(lr: float, weight_decay: float, momentum: float, nesterov: bool, ns_coefficients: Tuple[float, float, float],
                  eps: float, ns_steps: int, adjust_lr_fn: Optional[str], ns_dtype: str) -> Dict[str, Any]:
    """The settings of both Muon classes (the NumPy one and fastoptim.torch's), by name."""
    return dict(lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov, ns_coefficients=ns_coefficients,
                eps=eps, ns_steps=ns_steps, adjust_lr_fn=adjust_lr_fn, ns_dtype=ns_dtype)


class Muon:
    r"""Muon, momentum orthogonalised by Newton-Schulz, for 2-D parameters; ``torch.optim.Muon``.

    For each parameter :math:`W` (a matrix) with gradient :math:`G`, momentum :math:`\mu`:

    .. math::

        B &\leftarrow \mu B + (1 - \mu) G \\
        U &= (1 - \mu) G + \mu B \ \text{(nesterov)}, \quad U = B \ \text{(otherwise)} \\
        O &= \operatorname{NS}_5(U) \approx \text{the orthogonal factor of } U \\
        W &\leftarrow W (1 - \eta\lambda) - \eta \sqrt{\max(1, m/n)} \, O

    :func:`newton_schulz` computes :math:`O`. Orthogonalising gives every direction of the update
    the same size, so rare directions move as fast as common ones. Parameters that are not 2-D
    (biases, gains, embeddings' rows are fine) belong to another optimizer, as with torch's Muon,
    which refuses them; so does this class, naming them.

    ``ns_dtype``: torch runs the iteration in bfloat16; ``"float32"`` (the default here) keeps
    float32, ``"bfloat16"`` rounds every intermediate to bfloat16 as torch does. The two differ by
    bfloat16's rounding: on random 64 x 32 matrices the orthogonalised updates differ by 1-2%
    relative (the test suite measures it), while the iteration itself only maps the singular values
    into about [0.7, 1.2]; after 20 steps at lr 0.02 the parameters differ from torch's by up to 3e-3
    of their largest value in float32 mode, and 1e-3 in bfloat16 mode (whose matrix products still
    sum in another order than torch's).

    Args:
        params: 2-D arrays (a list or a dict by name), or a list of param group dicts.
        lr: learning rate :math:`\eta`, >= 0. Default 1e-3.
        weight_decay: :math:`\lambda`, >= 0 (decoupled). Default 0.1.
        momentum: :math:`\mu`, >= 0. Default 0.95.
        nesterov: use the Nesterov form of the update. Default True.
        ns_coefficients: the quintic's :math:`(a, b, c)`. Default (3.4445, -4.7750, 2.0315).
        eps: floor of the Frobenius norm the iteration starts by dividing by. Default 1e-7.
        ns_steps: Newton-Schulz rounds, < 100. Default 5.
        adjust_lr_fn: ``None`` or ``"original"`` (lr times :math:`\sqrt{\max(1, m/n)}`), or
            ``"match_rms_adamw"`` (lr times :math:`0.2\sqrt{\max(m, n)}`). Default None.
        ns_dtype: ``"float32"`` or ``"bfloat16"``. Default ``"float32"``.

    State per parameter: ``momentum_buffer`` (B). Each step costs ``ns_steps`` rounds of three
    matrix products on the smaller side: :math:`O(m n \min(m, n))`.

    Example:
        >>> import numpy as np, fastoptim as fo
        >>> W = np.zeros((4, 4), np.float32)
        >>> opt = fo.Muon([W], lr=0.1, weight_decay=0.0)
        >>> opt.step([np.diag([4.0, 1.0, 0.25, 0.01]).astype(np.float32)])
        >>> np.round(-np.diag(W) / 0.1, 1)  # gradients 4 to 0.01: every direction moves 0.7 to 1 lr
        array([0.7, 0.7, 1. , 1. ], dtype=float32)

    References:
        Jordan et al., "Muon: An optimizer for hidden layers in neural networks", 2024,
        https://kellerjordan.github.io/posts/muon/.
    """

    def __init__(
        self,
        params: Union[Sequence[Any], Mapping[str, np.ndarray]],
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: Tuple[float, float, float] = NS_COEFFICIENTS,
        eps: float = 1e-7,
        ns_steps: int = NS_STEPS,
        adjust_lr_fn: Optional[str] = None,
        ns_dtype: str = "float32",
    ) -> None:
        self.defaults = muon_defaults(lr, weight_decay, momentum, nesterov, ns_coefficients, eps, ns_steps, adjust_lr_fn, ns_dtype)
        self.param_groups: List[Dict[str, Any]] = []
        self.state: Dict[int, Dict[str, Any]] = {}
        for group in as_groups(params):
            self.add_param_group(group)

    def add_param_group(self, group: Dict[str, Any]) -> None:
        """Add a group: its missing settings from the defaults; everything checked first."""
        groups = self.param_groups + [{**self.defaults, **group}]
        _, lists, _ = group_lists(groups, new=len(self.param_groups))  # a dict's names to "param_names"
        check_params([p for ps in lists for p in ps])
        check_group(groups[-1], len(self.param_groups))
        groups[-1]["params"] = lists[-1]
        if isinstance(group["params"], Mapping):
            groups[-1]["param_names"] = list(group["params"])
        self.param_groups.append(groups[-1])

    def step(self, grads: Any) -> None:
        """One step: ``grads`` as the other optimizers take them (a list over all groups' parameters,
        or a dict by name; None skips a parameter). Everything (parameters, settings, gradients) is
        checked before anything changes."""
        keys, lists, named = group_lists(self.param_groups)
        flat = [p for ps in lists for p in ps]
        check_params(flat)
        for index, group in enumerate(self.param_groups):
            check_group(group, index)
        labels = [f"parameter {k!r}" if named else f"parameter {k}" for ks in keys for k in ks]
        given = [g for gs in split_grads(grads, keys, named) for g in gs]
        for label, p, grad in zip(labels, flat, given):
            check_grad(label, p, grad)
        index = 0
        for group, params in zip(self.param_groups, lists):
            for p in params:
                grad, state = given[index], self.state.setdefault(index, {})
                index += 1
                if grad is not None:
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = np.zeros_like(p)
                    muon_update(p, grad, state["momentum_buffer"], group)  # type: ignore[arg-type]  # checked above
                    state["step"] = state.get("step", 0) + 1

    def state_dict(self) -> Dict[str, Any]:
        """``{"state": {index: {"step", "momentum_buffer"}}, "param_groups": [settings]}`` (copies)."""
        state = {i: {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()} for i, s in self.state.items() if s}
        groups = [{k: v for k, v in g.items() if k != "params"} for g in self.param_groups]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`; everything is checked first (settings, the entries' keys and
        types, buffers of their parameter's shape and dtype), and a ValueError names what does not
        fit, with nothing changed."""
        if not isinstance(state_dict, Mapping) or not isinstance(state_dict.get("state"), Mapping):
            raise ValueError("a Muon state_dict is a dict with a 'state' dict and a 'param_groups' list")
        flat = [p for g in self.param_groups for p in g["params"]]
        groups = state_dict.get("param_groups")
        if not isinstance(groups, (list, tuple)) or len(groups) != len(self.param_groups) or not all(isinstance(g, Mapping) for g in groups):
            raise ValueError(f"a Muon state_dict's param_groups must be a list of {len(self.param_groups)} dicts")
        new_groups = []
        for k, (saved, current) in enumerate(zip(groups, self.param_groups)):
            new = {**current, **{key: v for key, v in saved.items() if key != "params"}}
            check_group(new, k)
            new_groups.append(new)
        state: Dict[int, Dict[str, Any]] = {}
        for i, entry in state_dict["state"].items():
            if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < len(flat):
                raise ValueError(f"state for unknown parameter {i!r} (the keys are parameter positions, as integers)")
            state[int(i)] = check_entry(entry, flat[int(i)], f"state of parameter {i}")
        self.state = state
        for current, new in zip(self.param_groups, new_groups):
            current.update(new)


def muon_update(p: np.ndarray, g: np.ndarray, buf: np.ndarray, group: Mapping[str, Any]) -> None:
    """One parameter's step, in place on ``p`` and its momentum buffer ``buf`` (both APIs use it)."""
    mu, lr, wd = float(group["momentum"]), float(group["lr"]), float(group["weight_decay"])
    lerp_(buf, g, 1 - mu)
    update = buf
    if group["nesterov"]:  # lerp(g, buf, mu)
        update = g.copy()
        lerp_(update, buf, mu)
    o = newton_schulz(update, group["ns_coefficients"], group["ns_steps"], group["eps"], group["ns_dtype"])
    p *= p.dtype.type(1 - lr * wd)
    p -= p.dtype.type(_adjusted_lr(lr, group["adjust_lr_fn"], p.shape)) * o.astype(p.dtype)


def check_params(params: Sequence[Any]) -> None:
    """Every parameter a 2-D float32/float64 C-contiguous writeable array, each given once."""
    seen: Dict[int, int] = {}
    for i, p in enumerate(params):
        label = f"parameter {i}"
        if not isinstance(p, np.ndarray) or p.dtype not in (np.float32, np.float64):
            raise TypeError(f"{label} must be a float32 or float64 ndarray, got {type(p).__name__}")
        if p.ndim != 2:
            raise ValueError(f"Muon updates 2-D parameters; {label} has shape {p.shape}: give it to another optimizer "
                             "(AdamW, as Muon's authors do for biases, norms and embeddings)")
        if not (p.flags.c_contiguous and p.flags.writeable):
            raise ValueError(f"{label} must be C-contiguous and writeable: Muon updates it in place")
        if id(p) in seen:
            raise ValueError(f"{label} is parameter {seen[id(p)]} again: each parameter is given once")
        seen[id(p)] = i


def check_grad(label: str, p: np.ndarray, g: Any) -> None:
    """A gradient of ``p``'s shape and dtype, all finite (or None)."""
    if g is None:
        return
    if not isinstance(g, np.ndarray) or g.shape != p.shape or g.dtype != p.dtype:
        raise ValueError(f"gradient of {label} must be a {p.dtype} array of shape {p.shape}, got "
                         f"{getattr(g, 'dtype', type(g).__name__)} {getattr(g, 'shape', '')}")
    if not np.isfinite(g).all():
        raise FloatingPointError(f"gradient of {label} holds inf or NaN; nothing was updated")


def check_entry(entry: Any, p: Any, where: str) -> Dict[str, Any]:
    """A saved state entry (``step`` and ``momentum_buffer``, both optional), checked and copied."""
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where} must be a dict, got {type(entry).__name__}")
    unknown = set(entry) - {"step", "momentum_buffer"}
    if unknown:
        raise ValueError(f"{where} has unknown entries {sorted(map(str, unknown))}")
    out: Dict[str, Any] = {}
    if "step" in entry:
        step = entry["step"]
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
            raise ValueError(f"{where}: 'step' must be an integer >= 0, got {step!r}")
        out["step"] = int(step)
    if entry.get("momentum_buffer") is not None:
        buf = entry["momentum_buffer"]
        if not isinstance(buf, np.ndarray):
            raise ValueError(f"{where}: 'momentum_buffer' must be a NumPy array, got {type(buf).__name__} (a torch.optim.Muon "
                             "state dict loads into fastoptim.torch.Muon)")
        if buf.shape != p.shape or buf.dtype != p.dtype:
            raise ValueError(f"{where}: 'momentum_buffer' is {buf.shape} {buf.dtype}, the parameter {p.shape} {p.dtype}")
        out["momentum_buffer"] = buf.copy()
    return out


def check_group(group: Mapping[str, Any], index: int) -> None:
    """A group's settings, or a ValueError naming the group and the setting."""
    where = f"param group {index}"
    missing = [k for k in ("lr", "weight_decay", "momentum", "nesterov", "ns_coefficients", "eps", "ns_steps", "adjust_lr_fn", "ns_dtype")
               if k not in group]
    if missing:
        raise ValueError(f"{where}: settings {missing} are missing")
    for name in ("lr", "weight_decay", "momentum", "eps"):
        if not (isinstance(group[name], (int, float, np.floating)) and group[name] >= 0 and math.isfinite(group[name])):
            raise ValueError(f"{where}: {name} must be a finite number >= 0, got {group[name]!r}")
    steps = group["ns_steps"]
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 0 <= steps < 100:
        raise ValueError(f"{where}: ns_steps must be an integer in [0, 100), got {steps!r}")
    if len(tuple(group["ns_coefficients"])) != 3:
        raise ValueError(f"{where}: ns_coefficients must be three numbers (a, b, c)")
    if group["adjust_lr_fn"] not in (None, "original", "match_rms_adamw"):
        raise ValueError(f"{where}: adjust_lr_fn must be None, 'original' or 'match_rms_adamw', got {group['adjust_lr_fn']!r}")
    if group["ns_dtype"] not in _NS_DTYPES:
        raise ValueError(f"{where}: ns_dtype must be one of {_NS_DTYPES}, got {group['ns_dtype']!r}")
