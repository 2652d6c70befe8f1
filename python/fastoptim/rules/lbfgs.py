"""L-BFGS, with torch's algorithm and its strong-Wolfe line search, on flat NumPy vectors."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import math

import numpy as np

from .. import _core
from ..core.params import Key, split_grads
from .line_search import strong_wolfe

__all__ = ["LBFGS"]

Evaluate = Callable[[], Tuple[float, np.ndarray]]  # the loss and the flat gradient at the current point


class LBFGSCore:
    """The algorithm, shared by :class:`LBFGS` and ``fastoptim.torch.LBFGS``: the parameters as a
    list of arrays updated in place, the rest on flat vectors."""

    param_groups: List[Dict[str, Any]]

    def _arrays(self) -> List[np.ndarray]:
        """The parameters, as arrays on their own memory."""
        raise NotImplementedError

    def _history(self) -> Dict[str, Any]:
        """Where the algorithm keeps its state (torch keeps it as the first parameter's state)."""
        raise NotImplementedError

    def _add(self, t: float, d: np.ndarray) -> None:
        """x = x + t d, in place on the parameters, in one compiled pass."""
        _core.add_flat(self._arrays(), d, t)

    def _run(self, evaluate: Evaluate) -> float:
        """One ``step()``: up to max_iter iterations from the current point; returns the first loss.
        Transactional: if anything raises (the closure, a refused gradient), the parameters and the
        history are restored to what they were before this step, so the next step works."""
        start = [a.copy() for a in self._arrays()]
        try:
            return self._iterate(evaluate)
        except BaseException:
            for a, x in zip(self._arrays(), start):
                a[...] = x
            raise

    def _iterate(self, evaluate: Evaluate) -> float:
        group = self.param_groups[0]
        lr, max_iter, max_eval = float(group["lr"]), group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        history_size, line_search_fn = group["history_size"], group["line_search_fn"]
        state = self._history()
        func_evals, total_iter = state.get("func_evals", 0), state.get("n_iter", 0)
        first_loss, flat_grad = evaluate()
        loss = first_loss
        current_evals = 1
        func_evals += 1
        if np.abs(flat_grad).max() <= tolerance_grad:  # already optimal
            state.update(func_evals=func_evals, n_iter=total_iter)
            return first_loss
        # The history, absent before the first iteration (which sets it).
        d: Any = state.get("d")
        t: Any = state.get("t")
        old_dirs: Any = list(state.get("old_dirs", []))  # copies of the lists: the state's change only at the end
        old_stps: Any = list(state.get("old_stps", []))
        ro: Any = list(state.get("ro", []))
        h_diag: Any = state.get("H_diag")
        prev_flat_grad: Any = state.get("prev_flat_grad")
        prev_loss: Any = state.get("prev_loss")
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            total_iter += 1
            if total_iter == 1:  # steepest descent
                d, old_dirs, old_stps, ro, h_diag = -flat_grad, [], [], [], 1.0
            else:
                assert d is not None and t is not None and prev_flat_grad is not None
                y = flat_grad - prev_flat_grad
                s = d * d.dtype.type(t)
                ys = float(y.dot(s))
                if ys > 1e-10:  # a curvature pair worth keeping
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    h_diag = ys / float(y.dot(y))
                # The two-loop recursion: d = -H g, with H the inverse-Hessian approximation.
                al = [0.0] * len(old_dirs)
                q = -flat_grad
                for i in range(len(old_dirs) - 1, -1, -1):
                    al[i] = float(old_stps[i].dot(q)) * ro[i]
                    q -= q.dtype.type(al[i]) * old_dirs[i]
                d = r = q * q.dtype.type(h_diag)
                for i in range(len(old_dirs)):
                    be_i = float(old_dirs[i].dot(r)) * ro[i]
                    r += r.dtype.type(al[i] - be_i) * old_stps[i]
            prev_flat_grad = flat_grad.copy()
            prev_loss = loss
            t = min(1.0, 1.0 / float(np.abs(flat_grad).sum())) * lr if total_iter == 1 else lr
            gtd = float(flat_grad.dot(d))
            if gtd > -tolerance_change:  # not a descent direction
                break
            evals = 0
            if line_search_fn is not None:
                x_init = [a.copy() for a in self._arrays()]

                def move(step: float, d: np.ndarray = d, x_init: List[np.ndarray] = x_init) -> Tuple[float, np.ndarray]:
                    self._add(step, d)
                    f, g = evaluate()
                    for a, x in zip(self._arrays(), x_init):
                        a[...] = x
                    return f, g

                loss, flat_grad, t, evals = strong_wolfe(move, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals)
                self._add(t, d)
                optimal = np.abs(flat_grad).max() <= tolerance_grad
            else:
                self._add(t, d)
                optimal = False
                if n_iter != max_iter:  # a fixed step: re-evaluate unless this was the last iteration
                    loss, flat_grad = evaluate()
                    optimal = np.abs(flat_grad).max() <= tolerance_grad
                    evals = 1
            current_evals += evals
            func_evals += evals
            if n_iter == max_iter or current_evals >= max_eval or optimal:
                break
            if np.abs(d * d.dtype.type(t)).max() <= tolerance_change or abs(loss - prev_loss) < tolerance_change:
                break
        state.update(func_evals=func_evals, n_iter=total_iter, d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro,
                     H_diag=h_diag, prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        return first_loss


def _copied(state: Mapping[str, Any]) -> Dict[str, Any]:
    """The history with every vector copied (in lists too), so saved and live state never share memory."""

    def copy(value: Any) -> Any:
        return np.array(value, copy=True) if isinstance(value, np.ndarray) else value

    return {k: ([copy(x) for x in v] if isinstance(v, list) else copy(v)) for k, v in state.items()}


def lbfgs_defaults(lr: float = 1, max_iter: int = 20, max_eval: Optional[int] = None, tolerance_grad: float = 1e-7,
                   tolerance_change: float = 1e-9, history_size: int = 100, line_search_fn: Optional[str] = None) -> Dict[str, Any]:
    """The settings of both LBFGS classes, checked, max_eval's default (max_iter * 5 // 4) filled in."""
    settings = dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                    tolerance_change=tolerance_change, history_size=history_size, line_search_fn=line_search_fn)
    return check_settings(settings)


def check_settings(settings: Mapping[str, Any]) -> Dict[str, Any]:
    """torch's checks and more (every setting, so that a step cannot fail on one), with max_eval's
    default (max_iter * 5 // 4); ValueError naming the setting."""
    missing = [k for k in ("lr", "max_iter", "max_eval", "tolerance_grad", "tolerance_change", "history_size", "line_search_fn")
               if k not in settings]
    if missing:
        raise ValueError(f"L-BFGS settings {missing} are missing")
    out = dict(settings)
    if out["max_eval"] is None and isinstance(out["max_iter"], (int, np.integer)):
        out["max_eval"] = out["max_iter"] * 5 // 4
    for name in ("lr", "tolerance_grad", "tolerance_change"):
        v = out[name]
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not (0 <= v < math.inf):
            raise ValueError(f"invalid {name}={v!r}: must be a finite number >= 0")
    for name in ("max_iter", "max_eval", "history_size"):
        v = out[name]
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    if out["line_search_fn"] not in (None, "strong_wolfe"):
        raise ValueError(f"line_search_fn must be None or 'strong_wolfe', got {out['line_search_fn']!r}")
    return out


#: What the history holds: vectors of the parameters' total size, lists of them, and numbers.
_VECTORS, _LISTS, _NUMBERS = ("d", "prev_flat_grad"), ("old_dirs", "old_stps"), ("t", "H_diag", "prev_loss")


def check_history(state: Mapping[str, Any], n: int, dtype: Any, history_size: int, as_array: Callable[[Any], Any] = np.asarray) -> Dict[str, Any]:
    """A saved L-BFGS history, checked and copied (``as_array`` turns a saved vector into a NumPy array),
    or ValueError naming the entry: counters integers >= 0, vectors of shape (n,) and this dtype, as
    many curvature pairs as ``ro`` values and at most ``history_size``, and, past the first
    iteration, everything the next one needs. torch's scratch list ``al`` is dropped."""
    if not isinstance(state, Mapping):
        raise ValueError(f"the L-BFGS state must be a dict, got {type(state).__name__}")
    unknown = set(state) - {"func_evals", "n_iter", "al", "ro", *_VECTORS, *_LISTS, *_NUMBERS}
    if unknown:
        raise ValueError(f"the L-BFGS state has unknown entries {sorted(map(str, unknown))}")
    out: Dict[str, Any] = {}
    for name in ("func_evals", "n_iter"):
        v = state.get(name, 0)
        v = v.item() if hasattr(v, "item") and np.ndim(v) == 0 else v
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"the L-BFGS state's {name!r} must be an integer >= 0, got {v!r}")
        out[name] = int(v)

    def vector(value: Any, where: str) -> np.ndarray:
        a = as_array(value) if value is not None and not isinstance(value, (str, bytes, list, dict)) else None
        if not isinstance(a, np.ndarray) or a.shape != (n,) or a.dtype != dtype:
            what = f"{a.shape} {a.dtype}" if isinstance(a, np.ndarray) else type(value).__name__
            raise ValueError(f"the L-BFGS state's {where} is {what}; this optimizer's vectors are ({n},) {dtype}")
        return np.array(a, copy=True)

    def number(value: Any, where: str) -> float:
        v = value.item() if hasattr(value, "item") and np.ndim(value) == 0 else value
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v):
            raise ValueError(f"the L-BFGS state's {where} must be a finite number, got {value!r}")
        return float(v)

    for name in _VECTORS:
        if name in state:
            out[name] = vector(state[name], repr(name))
    for name in _NUMBERS:
        if name in state:
            out[name] = number(state[name], repr(name))
    for name in (*_LISTS, "ro"):
        if name in state:
            items = state[name]
            if not isinstance(items, (list, tuple)):
                raise ValueError(f"the L-BFGS state's {name!r} must be a list, got {type(items).__name__}")
            out[name] = [number(x, f"{name}[{i}]") if name == "ro" else vector(x, f"{name}[{i}]") for i, x in enumerate(items)]
    pairs = {len(out.get(k, [])) for k in (*_LISTS, "ro")}
    if len(pairs) != 1 or max(pairs) > history_size:
        raise ValueError(f"the L-BFGS state holds {[len(out.get(k, [])) for k in (*_LISTS, 'ro')]} old_dirs, old_stps "
                         f"and ro: they must be equal in number and at most history_size={history_size}")
    if out["n_iter"] > 0:
        needed = [k for k in (*_VECTORS, *_LISTS, "ro", *_NUMBERS) if k not in out]
        if needed:
            raise ValueError(f"the L-BFGS state at iteration {out['n_iter']} has no {needed} (the next iteration needs them)")
    return out


class LBFGS(LBFGSCore):
    r"""L-BFGS with torch's algorithm, defaults and strong-Wolfe line search; ``torch.optim.LBFGS``
    for NumPy arrays.

    Each iteration moves along :math:`d = -H g`, where :math:`H` approximates the inverse Hessian
    from the last ``history_size`` pairs :math:`s_i = x_{i+1} - x_i`, :math:`y_i = g_{i+1} - g_i`
    (kept only when :math:`y_i^\top s_i > 10^{-10}`), by the two-loop recursion:

    .. math::

        q &= -g; \quad \text{for } i = m, \dots, 1:\ \ a_i = \rho_i s_i^\top q,\ q \leftarrow q - a_i y_i \\
        r &= \gamma q, \quad \gamma = \frac{s_m^\top y_m}{y_m^\top y_m}; \quad
              \text{for } i = 1, \dots, m:\ \ b = \rho_i y_i^\top r,\ r \leftarrow r + (a_i - b) s_i \\
        d &= r, \qquad \rho_i = 1 / (y_i^\top s_i)

    The step is ``lr`` (the first iteration's ``min(1, 1/|g|_1) lr``), or, with
    ``line_search_fn="strong_wolfe"``, one that satisfies the strong Wolfe conditions (sufficient
    decrease :math:`c_1 = 10^{-4}`, curvature :math:`c_2 = 0.9`). A ``step()`` runs up to
    ``max_iter`` iterations and ``max_eval`` evaluations of the closure, and stops early when the
    gradient's largest element is at most ``tolerance_grad`` or the step or the loss changes by less
    than ``tolerance_change``. The recursion works on flat vectors (one concatenation of the
    gradients per evaluation); the moves of the parameters run in C++ in one pass; the history
    costs ``2 * history_size`` vectors of the parameters' size.

    Args:
        params: arrays to optimize (a list, or a dict by name). One group only, as torch's.
        lr: learning rate, >= 0. Default 1.
        max_iter: iterations per ``step()``. Default 20.
        max_eval: closure evaluations per ``step()``. Default ``max_iter * 5 // 4``.
        tolerance_grad: stop when the gradient's largest element is at most this. Default 1e-7.
        tolerance_change: stop when the step or the loss changes by less than this. Default 1e-9.
        history_size: curvature pairs kept. Default 100.
        line_search_fn: None or ``"strong_wolfe"``. Default None.

    ``step(closure)`` calls ``closure()``, which evaluates the model at the current parameters and
    returns ``(loss, grads)``, the gradients as ``step()`` of the other optimizers takes them (a
    list in the order of ``params``, or a dict by name). All parameters share one dtype.

    Example:
        >>> import numpy as np, fastoptim as fo
        >>> A, b = np.array([[3.0, 1.0], [1.0, 2.0]]), np.array([1.0, -1.0])
        >>> x = np.zeros(2)
        >>> opt = fo.LBFGS([x], line_search_fn="strong_wolfe")
        >>> _ = opt.step(lambda: (0.5 * x @ A @ x - b @ x, [A @ x - b]))
        >>> x.round(6), np.linalg.solve(A, b).round(6)  # a quadratic: solved in one step()
        (array([ 0.6, -0.8]), array([ 0.6, -0.8]))

    References:
        Nocedal, "Updating Quasi-Newton Matrices with Limited Storage", Mathematics of Computation
        35, 1980; Nocedal & Wright, "Numerical Optimization", 2nd ed., 2006, Algorithms 7.4 and 3.5.
    """

    def __init__(
        self,
        params: Union[Sequence[np.ndarray], Mapping[str, np.ndarray]],
        lr: float = 1,
        max_iter: int = 20,
        max_eval: Optional[int] = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: Optional[str] = None,
    ) -> None:
        self.defaults = lbfgs_defaults(lr, max_iter, max_eval, tolerance_grad, tolerance_change, history_size, line_search_fn)
        self._names: Optional[List[str]] = list(params) if isinstance(params, Mapping) else None
        arrays = list(params.values()) if isinstance(params, Mapping) else list(params)
        if not arrays:
            raise ValueError("LBFGS got no parameters")
        for i, a in enumerate(arrays):
            label = f"parameter {self._names[i]!r}" if self._names else f"parameter {i}"
            if not isinstance(a, np.ndarray) or a.dtype not in (np.float32, np.float64):
                raise TypeError(f"{label} must be a float32 or float64 ndarray, got {type(a).__name__}")
            if a.dtype != arrays[0].dtype:
                raise ValueError(f"{label} is {a.dtype}, parameter 0 is {arrays[0].dtype}: L-BFGS needs one dtype")
            if not (a.flags.c_contiguous and a.flags.writeable):
                raise ValueError(f"{label} must be C-contiguous and writeable: L-BFGS updates it in place")
        self.param_groups = [dict(self.defaults, params=arrays)]
        self.state: Dict[str, Any] = {}
        self._sizes = [a.size for a in arrays]

    def _arrays(self) -> List[np.ndarray]:
        return self.param_groups[0]["params"]  # type: ignore[no-any-return]

    def _history(self) -> Dict[str, Any]:
        return self.state

    def _flat(self, grads: Any) -> np.ndarray:
        arrays = self._arrays()
        keys: List[Key] = list(self._names) if self._names is not None else list(range(len(arrays)))
        grads = split_grads(grads, [keys], self._names is not None)[0]  # the contract every optimizer shares
        out = np.empty(sum(self._sizes), arrays[0].dtype)
        offset = 0
        for i, (g, a) in enumerate(zip(grads, arrays)):
            if g is None:
                out[offset : offset + a.size] = 0  # as torch: no gradient counts as zero
            else:
                g = np.asarray(g)
                if g.shape != a.shape:
                    raise ValueError(f"gradient of parameter {i} has shape {g.shape}, the parameter {a.shape}")
                out[offset : offset + a.size] = g.reshape(-1)
            offset += a.size
        return out

    def step(self, closure: Callable[[], Tuple[Any, Any]]) -> float:
        """Up to ``max_iter`` iterations; returns the loss the first closure call gave."""
        if not callable(closure):
            raise TypeError("LBFGS.step needs a closure: () -> (loss, grads)")

        def evaluate() -> Tuple[float, np.ndarray]:
            out = closure()
            if not isinstance(out, (tuple, list)) or len(out) != 2:
                raise TypeError(f"the LBFGS closure must return (loss, grads), got {type(out).__name__}"
                                + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else ""))
            return float(out[0]), self._flat(out[1])

        return self._run(evaluate)

    def state_dict(self) -> Dict[str, Any]:
        """``{"state": {...}, "param_groups": [settings]}``: the history as copies of its vectors."""
        state = _copied(self.state)
        return {"state": state, "param_groups": [{k: v for k, v in self.param_groups[0].items() if k != "params"}]}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`; everything is checked first (see :func:`check_history`), and a
        ValueError names what does not fit, with nothing changed."""
        history, settings = parse_state_dict(state_dict, sum(self._sizes), self._arrays()[0].dtype)
        self.state = history
        self.param_groups[0].update(settings)


def parse_state_dict(state_dict: Any, n: int, dtype: Any, as_array: Callable[[Any], Any] = np.asarray,
                     history: Callable[[Mapping[str, Any]], Any] = lambda s: s) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """``(history, settings)`` of an L-BFGS state dict, checked; ``history(state)`` finds the history
    in its ``state`` entry (torch keeps it under the first parameter's id)."""
    if not isinstance(state_dict, Mapping) or not isinstance(state_dict.get("state"), Mapping):
        raise ValueError("an L-BFGS state_dict is a dict with a 'state' dict and a 'param_groups' list")
    groups = state_dict.get("param_groups")
    if not isinstance(groups, (list, tuple)) or len(groups) != 1 or not isinstance(groups[0], Mapping):
        raise ValueError("an L-BFGS state_dict's 'param_groups' is a list of one dict (L-BFGS has one group)")
    settings = check_settings({k: v for k, v in groups[0].items() if k not in ("params", "param_names")})
    return check_history(history(state_dict["state"]), n, dtype, settings["history_size"], as_array), settings
