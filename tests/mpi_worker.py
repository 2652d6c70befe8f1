"""Run under mpiexec by tests/test_distributed.py: every ZeroOptimizer scenario, checked against a
plain optimizer stepping on the averaged gradients. Rank 0 prints one JSON line of results."""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any, Callable, Dict, List

import numpy as np
from mpi4py import MPI

import fastoptim as fo
from fastoptim.distributed import ZeroOptimizer

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
SHAPES = [(7, 5), (3,), (11,), (4, 4, 2), (1,)]

RULES: Dict[str, Any] = {
    "sgd": (fo.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    "adagrad": (fo.Adagrad, dict(lr=0.05, lr_decay=0.01)),
    "rmsprop": (fo.RMSprop, dict(lr=0.01, momentum=0.5, centered=True)),
    "adadelta": (fo.Adadelta, dict(lr=1.0)),
    "adam": (fo.Adam, dict(lr=fo.schedules.cosine(0.01, total_steps=20))),
    "amsgrad": (fo.Adam, dict(lr=0.01, amsgrad=True)),
    "adamw": (fo.AdamW, dict(lr=0.01, weight_decay=0.1)),
    "adamax": (fo.Adamax, dict(lr=0.01)),
    "nadam": (fo.NAdam, dict(lr=0.01)),
    "radam": (fo.RAdam, dict(lr=0.01)),
    "lion": (fo.Lion, dict(lr=0.001, weight_decay=0.1)),
    "lamb": (fo.LAMB, dict(lr=0.01, weight_decay=0.01)),
    "lars": (fo.LARS, dict(lr=0.1, momentum=0.9)),
    "rprop": (fo.Rprop, dict(lr=0.01)),
    "asgd": (fo.ASGD, dict(lr=0.05, t0=5)),
    "adan": (fo.Adan, dict(lr=0.01, weight_decay=0.01)),
    "ademamix": (fo.AdEMAMix, dict(lr=0.01, t_alpha_beta3=10)),
    "prodigy": (fo.Prodigy, dict(weight_decay=0.01)),  # one d over all ranks' shards
    "dadapt_adam": (fo.DAdaptAdam, dict()),
    "dadapt_sgd": (fo.DAdaptSGD, dict(momentum=0.9)),
    "dadapt_adagrad": (fo.DAdaptAdaGrad, dict()),
}
TWO_PASS = {"lamb", "lars"}


def params(dtype: Any = np.float64, seed: int = 0) -> List[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in SHAPES]


def grads_of(r: int, step: int, dtype: Any = np.float64) -> List[np.ndarray]:
    rng = np.random.default_rng(1000 * step + r + 1)
    return [rng.standard_normal(s).astype(dtype) for s in SHAPES]


def averaged(step: int, dtype: Any = np.float64) -> List[np.ndarray]:
    """The reference's averaged gradients: the ranks' gradients summed in rank order, then / size."""
    per_rank = [grads_of(r, step, dtype) for r in range(size)]
    out = []
    for i in range(len(SHAPES)):
        total = per_rank[0][i].copy()
        for r in range(1, size):
            total += per_rank[r][i]
        out.append(total / dtype(size))
    return out


def agree(arrays: List[np.ndarray]) -> bool:
    """Every rank holds the same arrays, bit for bit."""
    mine = np.concatenate([a.ravel() for a in arrays]).view(np.uint8)
    return bool(comm.allreduce(bytes(mine) == bytes(comm.bcast(mine, root=0)), op=MPI.LAND))


def compare(a: List[np.ndarray], b: List[np.ndarray]) -> Dict[str, Any]:
    diff = max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))
    return {"max_diff": diff, "exact": all(np.array_equal(x, y) for x, y in zip(a, b)), "agree": agree(a)}


def rule_case(name: str, dtype: Any, steps: int = 6) -> Dict[str, Any]:
    cls, kwargs = RULES[name]
    ws, ref = params(dtype), params(dtype)
    opt, plain = ZeroOptimizer(cls, ws, **kwargs), cls(ref, **kwargs)
    for t in range(steps):
        opt.step(grads_of(rank, t, dtype))
        plain.step(averaged(t, dtype))
    out = compare(ws, ref)
    out["local_numel"] = comm.allgather(opt.local_numel)
    return out


def nonfinite_case() -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for mode in ("raise", "skip"):
        ws = params()
        opt = ZeroOptimizer(fo.Adam, ws, lr=0.01, nonfinite=mode)
        opt.step(grads_of(rank, 0))
        before, state = [w.copy() for w in ws], opt.state_dict()
        g = grads_of(rank, 1)
        if rank == size - 1:
            g[3][1, 2, 0] = np.nan
        try:
            opt.step(g)
            out[mode] = f"stepped, skipped_steps={opt.skipped_steps}"
        except FloatingPointError as exc:
            out[mode] = f"FloatingPointError: {exc}"
        unchanged = all(np.array_equal(a, b) for a, b in zip(before, ws)) and same_state(state, opt.state_dict(), mode == "raise")
        out[mode + "_unchanged"] = bool(comm.allreduce(unchanged, op=MPI.LAND))
        out[mode + "_messages"] = comm.allgather(out[mode])
    return out


def same_state(a: Any, b: Any, same_skips: bool = True) -> bool:
    """The state arrays of two gathered state dicts are equal (and the skipped-step counts)."""
    if rank != 0:
        return True
    arrays = all(all(np.array_equal(a["state"][k][s], b["state"][k][s]) for s in a["state"][k]) for k in a["state"])
    return arrays and (not same_skips or a["skipped_steps"] == b["skipped_steps"])


def refused_case() -> Dict[str, Any]:
    ws = params()
    opt = ZeroOptimizer(fo.Adam, ws, lr=0.01)
    before = [w.copy() for w in ws]
    g = grads_of(rank, 0)
    if rank == 0:
        g[1] = g[1].astype(np.float32)
    try:
        opt.step(g)
        message = "stepped"
    except (ValueError, RuntimeError) as exc:
        message = f"{type(exc).__name__}: {exc}"
    opt.step(grads_of(rank, 0))  # the ranks are still in step with each other
    unchanged_then_stepped = not any(np.array_equal(a, b) for a, b in zip(before, ws))
    return {"messages": comm.allgather(message), "recovers": bool(comm.allreduce(unchanged_then_stepped, op=MPI.LAND))}


def clip_case() -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for name in ("adam", "lamb"):
        cls, kwargs = RULES[name]
        ws, ref = params(), params()
        opt = ZeroOptimizer(cls, ws, max_grad_norm=0.5, **kwargs)
        plain = cls(ref, max_grad_norm=0.5, **kwargs)
        norms = []
        for t in range(4):
            opt.step(grads_of(rank, t))
            plain.step(averaged(t))
            norms.append(abs(opt.last_grad_norm - plain.last_grad_norm))  # type: ignore[operator]
        out[name] = {**compare(ws, ref), "norm_diff": max(norms)}
    return out


def errors_case() -> Dict[str, Any]:
    """Bad construction and edited parameters: clear errors on every rank."""
    out: Dict[str, Any] = {}
    attempts = {
        "mixed_dtypes": lambda: ZeroOptimizer(fo.Adam, [np.zeros(3, np.float32), np.zeros(2)]),
        "not_an_optimizer": lambda: ZeroOptimizer(dict, [np.zeros(3)]),  # type: ignore[arg-type]
        "bad_setting": lambda: ZeroOptimizer(fo.Adam, [np.zeros(3)], lr=-1.0),
        "per_tensor": lambda: ZeroOptimizer(fo.Adafactor, [np.zeros((3, 4))]),
        "state_dtype": lambda: ZeroOptimizer(fo.Adam, [np.zeros(5000, np.float32)], state_dtype="int8"),
    }
    for name, make in attempts.items():
        try:
            make()
            out[name] = "constructed"
        except (TypeError, ValueError) as exc:
            out[name] = f"{type(exc).__name__}: {exc}"
    ws = params()
    opt = ZeroOptimizer(fo.SGD, ws, lr=0.1)
    opt.param_groups[0]["params"] = ws[:2]
    try:
        opt.step(grads_of(rank, 0))
        out["edited"] = "stepped"
    except ValueError as exc:
        out["edited"] = f"ValueError: {exc}"
    out["edited_unchanged"] = all(np.array_equal(a, b) for a, b in zip(ws, params()))
    return out


def named_case() -> Dict[str, Any]:
    ws, ref = params(), params()
    names = [f"w{i}" for i in range(len(ws))]
    groups = [{"params": dict(zip(names[:2], ws[:2])), "lr": 0.02}, {"params": dict(zip(names[2:], ws[2:]))}]
    ref_groups = [{"params": dict(zip(names[:2], ref[:2])), "lr": 0.02}, {"params": dict(zip(names[2:], ref[2:]))}]
    opt, plain = ZeroOptimizer(fo.AdamW, groups, lr=0.01), fo.AdamW(ref_groups, lr=0.01)
    for t in range(3):
        opt.param_groups[1]["lr"] = 0.01 / (t + 1)  # settings stay live
        plain.param_groups[1]["lr"] = 0.01 / (t + 1)
        opt.step(dict(zip(names, grads_of(rank, t))))
        plain.step(dict(zip(names, averaged(t))))
    return {**compare(ws, ref), "last_lr": opt.last_lr == plain.last_lr}


def checkpoint_case(folder: str) -> Dict[str, Any]:
    """Save under this many ranks; load a file another rank count (or one process) wrote."""
    out: Dict[str, Any] = {}
    mine = os.path.join(folder, f"zero-{size}.npz")
    ws, ref = params(), params()
    opt, plain = ZeroOptimizer(fo.NAdam, ws, lr=0.01), fo.NAdam(ref, lr=0.01)
    for t in range(3):
        opt.step(grads_of(rank, t))
        plain.step(averaged(t))
    opt.save(mine)
    state = opt.state_dict()
    if rank == 0:  # the file is the plain optimizer's own format, equal to the plain run's state
        loaded = fo.NAdam(params(), lr=0.01)
        loaded.load(mine)
        expect = plain.state_dict()
        got = loaded.state_dict()
        out["plain_reads_file"] = all(
            np.allclose(got["state"][k][s], expect["state"][k][s], rtol=1e-12, atol=1e-14) for k in expect["state"] for s in ("exp_avg", "exp_avg_sq")
        ) and all(got["state"][k]["step"] == 3 for k in got["state"]) and state["state"][0]["mu_product"] == expect["state"][0]["mu_product"]
        plain.save(os.path.join(folder, f"plain-{size}.npz"))
    comm.Barrier()
    # Resume from every file present: other rank counts' and the plain optimizer's.
    for path in sorted(os.listdir(folder)):
        if not path.endswith(".npz") or path == f"zero-{size}.npz":
            continue
        ws2, ref2 = params(seed=5), params(seed=5)
        opt2, plain2 = ZeroOptimizer(fo.NAdam, ws2, lr=0.01), fo.NAdam(ref2, lr=0.01)
        opt2.load(os.path.join(folder, path))
        plain2.load(os.path.join(folder, path))
        for t in range(3, 5):
            opt2.step(grads_of(rank, t))
            plain2.step(averaged(t))
        out[f"resume {path}"] = compare(ws2, ref2)
    # A bad checkpoint is refused on every rank with nothing changed.
    bad = state
    if rank == 0:
        bad = dict(state)
        bad["state"] = dict(state["state"])
        bad["state"][2] = dict(state["state"][2], exp_avg=np.zeros(4))
    # So is one whose settings are out of range.
    bad_lr = state
    if rank == 0:
        bad_lr = dict(state, param_groups=[dict(state["param_groups"][0], lr=-1.0)])
    before = [w.copy() for w in ws]
    for name, offered in (("bad", bad), ("bad_lr", bad_lr)):
        try:
            opt.load_state_dict(offered)
            message = "loaded"
        except ValueError as exc:
            message = f"ValueError: {exc}"
        out[name + "_messages"] = comm.allgather(message)
        out[name + "_unchanged"] = (
            same_state(state, opt.state_dict()) and all(np.array_equal(a, b) for a, b in zip(before, ws)) and opt.param_groups[0]["lr"] == 0.01
        )
    return out


def main() -> None:
    folder = sys.argv[1]
    results: Dict[str, Any] = {"size": size}
    cases: Dict[str, Callable[[], Any]] = {}
    for name in RULES:
        cases[f"rule {name} float64"] = lambda name=name: rule_case(name, np.float64)
    for name in ("adam", "lamb", "sgd"):
        cases[f"rule {name} float32"] = lambda name=name: rule_case(name, np.float32)
    cases.update(nonfinite=nonfinite_case, refused=refused_case, clip=clip_case, named=named_case, errors=errors_case)
    cases["checkpoint"] = lambda: checkpoint_case(folder)
    for key, case in cases.items():
        try:
            results[key] = case()
        except Exception:  # reported, so one broken case does not hide the others
            results[key] = {"error": traceback.format_exc()}
    if rank == 0:
        print("RESULTS " + json.dumps(results, default=str), flush=True)


if __name__ == "__main__":
    main()
