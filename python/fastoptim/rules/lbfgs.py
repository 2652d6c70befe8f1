"""L-BFGS, with torch's algorithm and its strong-Wolfe line search, on flat NumPy vectors."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .. import _core

__all__ = ["LBFGS"]

Evaluate = Callable[[], Tuple[float, np.ndarray]]  # the loss and the flat gradient at the current point


def _cubic_interpolate(x1: float, f1: float, g1: float, x2: float, f2: float, g2: float, bounds: Optional[Tuple[float, float]] = None) -> float:
    """The minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), within ``bounds`` (by
    default the interval between x1 and x2); their midpoint when the cubic has none."""
    lo, hi = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if d2_square >= 0:
        d2 = np.sqrt(d2_square)
        if x1 <= x2:
            pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return float(min(max(pos, lo), hi))
    return (lo + hi) / 2.0


def _strong_wolfe(
    move: Callable[[float], Tuple[float, np.ndarray]], t: float, d: np.ndarray, f: float, g: np.ndarray, gtd: float,
    c1: float = 1e-4, c2: float = 0.9, tolerance_change: float = 1e-9, max_ls: int = 25,
) -> Tuple[float, np.ndarray, float, int]:
    """A step t along d that satisfies the strong Wolfe conditions (bracketing, then zooming with
    cubic interpolation), as torch's; ``move(t)`` is the loss and gradient at x + t d. Returns the
    loss, gradient and step found, and how many evaluations it took."""
    d_norm = float(np.abs(d).max())
    g = g.copy()
    f_new, g_new = move(t)
    evals = 1
    gtd_new = float(g_new.dot(d))
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    ls_iter = 0
    bracket: List[float] = []
    bracket_f: List[float] = []
    bracket_g: List[np.ndarray] = []
    bracket_gtd: List[float] = []
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f, bracket_g, bracket_gtd = [t_prev, t], [f_prev, f_new], [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f, bracket_g, bracket_gtd = [t_prev, t], [f_prev, f_new], [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        min_step, max_step = t + 0.01 * (t - t_prev), t * 10
        previous = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = previous, f_new, g_new.copy(), gtd_new
        f_new, g_new = move(t)
        evals += 1
        gtd_new = float(g_new.dot(d))
        ls_iter += 1
    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g = [0.0, t], [f, f_new], [g, g_new]
    insufficient = False
    low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1])
        # Keep t away from the bracket's ends, where progress would stall.
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insufficient or t >= max(bracket) or t <= min(bracket):
                t = max(bracket) - eps if abs(t - max(bracket)) < abs(t - min(bracket)) else min(bracket) + eps
                insufficient = False
            else:
                insufficient = True
        else:
            insufficient = False
        f_new, g_new = move(t)
        evals += 1
        gtd_new = float(g_new.dot(d))
        ls_iter += 1
        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low]:
            bracket[high], bracket_f[high], bracket_g[high], bracket_gtd[high] = t, f_new, g_new.copy(), gtd_new
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                bracket[high], bracket_f[high], bracket_g[high], bracket_gtd[high] = (
                    bracket[low], bracket_f[low], bracket_g[low], bracket_gtd[low])
            bracket[low], bracket_f[low], bracket_g[low], bracket_gtd[low] = t, f_new, g_new.copy(), gtd_new
    return bracket_f[low], bracket_g[low], bracket[low], evals


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
        """One ``step()``: up to max_iter iterations from the current point. Returns the first loss."""
        group = self.param_groups[0]
        lr, max_iter, max_eval = float(group["lr"]), group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        history_size, line_search_fn = group["history_size"], group["line_search_fn"]
        state = self._history()
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        first_loss, flat_grad = evaluate()
        loss = first_loss
        current_evals = 1
        state["func_evals"] += 1
        if np.abs(flat_grad).max() <= tolerance_grad:  # already optimal
            return first_loss
        # The history, absent before the first iteration (which sets it).
        d: Any = state.get("d")
        t: Any = state.get("t")
        old_dirs: Any = state.get("old_dirs")
        old_stps: Any = state.get("old_stps")
        ro: Any = state.get("ro")
        h_diag: Any = state.get("H_diag")
        prev_flat_grad: Any = state.get("prev_flat_grad")
        prev_loss: Any = state.get("prev_loss")
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:  # steepest descent
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
            t = min(1.0, 1.0 / float(np.abs(flat_grad).sum())) * lr if state["n_iter"] == 1 else lr
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

                loss, flat_grad, t, evals = _strong_wolfe(move, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals)
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
            state["func_evals"] += evals
            if n_iter == max_iter or current_evals >= max_eval or optimal:
                break
            if np.abs(d * d.dtype.type(t)).max() <= tolerance_change or abs(loss - prev_loss) < tolerance_change:
                break
        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=h_diag,
                     prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        return first_loss


def _copied(state: Mapping[str, Any]) -> Dict[str, Any]:
    """The history with every vector copied (in lists too), so saved and live state never share memory."""

    def copy(value: Any) -> Any:
        return np.array(value, copy=True) if isinstance(value, np.ndarray) else value

    return {k: ([copy(x) for x in v] if isinstance(v, list) else copy(v)) for k, v in state.items()}


def lbfgs_defaults(lr: float = 1, max_iter: int = 20, max_eval: Optional[int] = None, tolerance_grad: float = 1e-7,
                   tolerance_change: float = 1e-9, history_size: int = 100, line_search_fn: Optional[str] = None) -> Dict[str, Any]:
    """The settings of both LBFGS classes, checked, max_eval's default (max_iter * 5 // 4) filled in."""
    max_eval = check_settings(lr, max_iter, max_eval, history_size, line_search_fn)
    return dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                tolerance_change=tolerance_change, history_size=history_size, line_search_fn=line_search_fn)


def check_settings(lr: float, max_iter: int, max_eval: Optional[int], history_size: int, line_search_fn: Optional[str]) -> int:
    """torch's checks, and max_eval's default (max_iter * 5 // 4)."""
    if not lr >= 0:
        raise ValueError(f"invalid lr={lr!r}: must be >= 0")
    for name, value in (("max_iter", max_iter), ("history_size", history_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if line_search_fn not in (None, "strong_wolfe"):
        raise ValueError(f"line_search_fn must be None or 'strong_wolfe', got {line_search_fn!r}")
    return max_iter * 5 // 4 if max_eval is None else int(max_eval)


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
        if self._names is not None and isinstance(grads, Mapping):
            grads = [grads[n] for n in self._names]
        grads = list(grads)
        if len(grads) != len(arrays):
            raise ValueError(f"the closure returned {len(grads)} gradients for {len(arrays)} parameters")
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
            loss, grads = closure()
            return float(loss), self._flat(grads)

        return self._run(evaluate)

    def state_dict(self) -> Dict[str, Any]:
        """``{"state": {...}, "param_groups": [settings]}``: the history as copies of its vectors."""
        state = _copied(self.state)
        return {"state": state, "param_groups": [{k: v for k, v in self.param_groups[0].items() if k != "params"}]}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`; the vectors must have the parameters' total size and dtype."""
        n, dtype = sum(self._sizes), self._arrays()[0].dtype
        state = dict(state_dict["state"])
        for key, value in state.items():
            for v in value if isinstance(value, list) else [value]:
                if isinstance(v, np.ndarray) and (v.shape != (n,) or v.dtype != dtype):
                    raise ValueError(f"state {key!r} holds an array of shape {v.shape} and dtype {v.dtype}; "
                                     f"this optimizer's vectors are ({n},) {dtype}")
        settings = dict(state_dict["param_groups"][0])
        check_settings(settings["lr"], settings["max_iter"], settings["max_eval"], settings["history_size"], settings["line_search_fn"])
        self.state = _copied(state)
        self.param_groups[0].update(settings)
