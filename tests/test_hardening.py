"""Failures leave the optimizer whole: allocation faults, changed arrays, bad checkpoints, threads.

Each test names the hardening item it guards. "Unchanged" always means bit-identical: every
parameter and the whole ``state_dict()`` compared before and after the refused call.
"""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
import threading
import zipfile

import numpy as np
import pytest
import reference as ref
from cases import CASES

import fastoptim as fo
from fastoptim import _core
from fastoptim import schedules as S

SETTINGS = list({name: (getattr(fo, name), hyper) for name, _, hyper in CASES}.values())
SETTING_IDS = [c.__name__ for c, _ in SETTINGS]


def snapshot(opt, params):
    return [p.copy() for p in params], opt.state_dict()


def assert_same(a, b):
    """Two snapshots from ``snapshot`` are bit-identical."""
    (pa, sa), (pb, sb) = a, b
    for x, y in zip(pa, pb):
        assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=True)
    assert sa.keys() == sb.keys()
    assert sa["param_groups"] == sb["param_groups"] and sa["skipped_steps"] == sb["skipped_steps"]
    assert sa["state"].keys() == sb["state"].keys()
    for key in sa["state"]:
        ea, eb = sa["state"][key], sb["state"][key]
        assert ea.keys() == eb.keys(), key
        for name in ea:
            if isinstance(ea[name], np.ndarray):
                assert np.array_equal(ea[name], eb[name]), (key, name)
            else:
                assert ea[name] == eb[name], (key, name)


def two_groups(cls, hyper, dtype=np.float32):
    rng = np.random.default_rng(0)
    params = [rng.standard_normal(s).astype(dtype) for s in [(3, 4), (5,), (2,)]]
    opt = cls([{"params": params[:2]}, {"params": params[2:]}], **hyper)
    grads = [rng.standard_normal(p.shape).astype(dtype) for p in params]
    return opt, params, grads


# -- 1, 11: state is built aside and kept only when the step completes -------------------------------


@pytest.mark.parametrize("cls, hyper", SETTINGS, ids=SETTING_IDS)
def test_every_failing_state_allocation_leaves_the_optimizer_whole(cls, hyper):
    opt, params, grads = two_groups(cls, hyper)
    n = 1
    while True:
        before = snapshot(opt, params)
        _core._fail_allocation(n)
        try:
            opt.step(grads)
        except MemoryError:
            assert_same(before, snapshot(opt, params))
            n += 1
            continue
        finally:
            _core._fail_allocation(0)
        break
    assert n > 1, "the first step allocates state, so some allocation must have failed"
    # The survivor continues exactly as an optimizer that never failed.
    clean, clean_params, _ = two_groups(cls, hyper)
    clean.step(grads)
    for a, b in zip(params, clean_params):
        assert np.array_equal(a, b)
    opt.step(grads)
    clean.step(grads)
    for a, b in zip(params, clean_params):
        assert np.array_equal(a, b)


def test_a_failing_allocation_while_loading_leaves_the_state_as_it_was():
    opt, params, grads = two_groups(fo.Adam, dict(lr=0.1, amsgrad=True))
    opt.step(grads)
    saved = opt.state_dict()
    opt.step(grads)
    before = snapshot(opt, params)
    for n in (1, 2, 5, 9):
        _core._fail_allocation(n)
        try:
            with pytest.raises(MemoryError):
                opt.load_state_dict(saved)
        finally:
            _core._fail_allocation(0)
        assert_same(before, snapshot(opt, params))


@pytest.mark.parametrize("nonfinite", ["raise", "skip"])
def test_a_rejected_first_step_allocates_nothing(nonfinite):
    p = np.ones(3)
    opt = fo.SGD([p], lr=0.1, momentum=0.9, dampening=0.5, nonfinite=nonfinite)
    fresh = opt.state_dict()
    bad = np.array([1.0, np.nan, 1.0])
    if nonfinite == "raise":
        with pytest.raises(FloatingPointError):
            opt.step([bad])
    else:
        opt.step([bad])
        fresh["skipped_steps"] = 1
    assert_same(([np.ones(3)], fresh), snapshot(opt, [p]))
    # Resuming from a checkpoint taken now equals a run that never saw the bad step: the first
    # real step starts the buffer at the gradient (torch), not at dampening times it.
    resumed = fo.SGD([q := np.ones(3)], lr=0.1, momentum=0.9, dampening=0.5)
    resumed.load_state_dict(opt.state_dict())
    for o in (opt, resumed):
        o.step([np.ones(3)])
        o.step([np.ones(3)])
    straight = fo.SGD([r := np.ones(3)], lr=0.1, momentum=0.9, dampening=0.5)
    straight.step([np.ones(3)])
    straight.step([np.ones(3)])
    assert np.array_equal(p, r) and np.array_equal(q, r)


# -- 2: a parameter changed under the optimizer ----------------------------------------------------


def _resize(p):
    p.resize(50, refcheck=False)


def _retype(p):
    p.dtype = np.float64


def _reshape(p):
    p.shape = (4, 2)


def _readonly(p):
    p.flags.writeable = False


@pytest.mark.parametrize(
    "change, match",
    [(_resize, r"its shape is now \(50,\)"), (_retype, "its dtype is now float64"), (_reshape, r"its shape is now \(4, 2\)"), (_readonly, "it is now read-only")],
    ids=["resize", "retype", "reshape", "read-only"],
)
def test_a_parameter_changed_after_registration_is_refused(change, match):
    keep = np.zeros(3, np.float32)
    p = np.zeros(8, np.float32)
    opt = fo.Adam([keep, p], lr=0.1)
    opt.step([np.ones(3, np.float32), np.ones(8, np.float32)])
    before = opt.state_dict()
    change(p)
    g = np.ones(p.shape, p.dtype)
    with pytest.raises(ValueError, match=rf"parameter 1 changed after it was given to the optimizer: {match}"):
        opt.step([np.ones(3, np.float32), g])
    assert np.array_equal(keep, np.full(3, -0.1, np.float32))  # the first step only
    assert_same(([keep.copy()], before), ([keep], opt.state_dict()))


# -- 3, 14, 19: schedules ----------------------------------------------------------------------------


def test_join_nesting_is_capped_at_construction():
    s = S.constant(1.0)
    for _ in range(99):  # 100 levels with the constant at the bottom
        s = S.join([s, S.constant(2.0)], [5])
    assert s(0) == 1.0 and s(10) == 2.0
    opt = fo.SGD([np.zeros(2)], lr=s)
    opt.load_state_dict(opt.state_dict())  # the deepest allowed schedule round-trips
    with pytest.raises(ValueError, match="at most 100 are allowed"):
        S.join([s, S.constant(2.0)], [5])


@pytest.mark.parametrize("mult", [2, 3, 4, 5, 6, 7])
def test_cosine_restarts_at_every_restart_up_to_1e15(mult):
    period = 10
    s = S.cosine_restarts(1.0, period=period, period_mult=mult, min_value=0.0)
    start, length = 0, period
    while start <= 10**15:
        for t in (start - 1, start, start + 1):
            if t >= 0:
                assert s(t) == pytest.approx(ref.cosine_restarts(t, 1.0, period, mult), abs=1e-12), t
        assert s(start) == 1.0
        start, length = start + length, length * mult
    assert S.cosine_restarts(1, period=10, period_mult=3)(1210) == 1.0


def test_schedule_step_out_of_range_is_a_value_error():
    with pytest.raises(ValueError, match=r"< 2\*\*63"):
        S.constant(1.0)(2**64)
    with pytest.raises(ValueError, match=">= 0"):
        S.constant(1.0)(-1)


# -- 4: no tier left -------------------------------------------------------------------------------


def test_hiding_every_tier_fails_the_import_with_the_reason():
    env = dict(os.environ, FASTOPTIM_HIDE_TIERS=",".join(_core.compiled_tiers()))
    env.pop("FASTOPTIM_SIMD", None)
    out = subprocess.run([sys.executable, "-c", "import fastoptim"], env=env, capture_output=True, text=True)
    assert out.returncode == 1
    assert "ImportError: no SIMD tier can run: FASTOPTIM_HIDE_TIERS=" in out.stderr


# -- 5, 8, 13, 18: checkpoints that must be refused, leaving everything as it was --------------------


def nadam_at_step_3():
    params = {"w": np.ones((2, 2)), "b": np.ones(3)}
    opt = fo.NAdam(params, lr=S.ReduceOnPlateau(0.1), betas=(S.ReduceOnPlateau(0.9, patience=2), 0.999))
    for _ in range(3):
        opt.step({"w": np.ones((2, 2)), "b": np.ones(3)})
    return opt, list(params.values())


def _lr_state(sd):
    return sd["param_groups"][0]["lr"]["__schedule__"]["state"]


def _beta1_state(sd):
    return sd["param_groups"][0]["betas"][0]["__schedule__"]["state"]


REFUSED = {
    "negative step": (lambda sd: sd["state"]["w"].update(step=-1), r"'step' must be in \[0, 2\*\*53\]"),
    "step 2**63": (lambda sd: sd["state"]["w"].update(step=2**63), r"'step' must be in \[0, 2\*\*53\]"),
    "step None": (lambda sd: sd["state"]["w"].update(step=None), "'step' must be an integer"),
    "step 'x'": (lambda sd: sd["state"]["b"].update(step="x"), "'step' must be an integer"),
    "step missing": (lambda sd: sd["state"]["b"].pop("step"), "has no 'step'"),
    "skipped_steps None": (lambda sd: sd.update(skipped_steps=None), "'skipped_steps' must be an integer"),
    "skipped_steps 'x'": (lambda sd: sd.update(skipped_steps="x"), "'skipped_steps' must be an integer"),
    "mu_product missing": (lambda sd: sd["state"]["b"].pop("mu_product"), "'mu_product' is missing"),
    "mu_product nan": (lambda sd: sd["state"]["b"].update(mu_product=float("nan")), "'mu_product' must be a finite number"),
    "second plateau malformed": (lambda sd: _beta1_state(sd).__setitem__(2, -3.0), "bad_reports=-3 must be an integer"),
    "plateau value -5": (lambda sd: _lr_state(sd).__setitem__(0, -5.0), "value=-5 must be finite"),
    "plateau value nan": (lambda sd: _lr_state(sd).__setitem__(0, float("nan")), "value=nan must be finite"),
    "plateau state short": (lambda sd: _lr_state(sd).pop(), "a state of 4 values"),
    "state not a dict": (lambda sd: sd.update(state=[1, 2]), r"state_dict\['state'\] must be a dict"),
    "groups not a list": (lambda sd: sd.update(param_groups="x"), "must be a list of dicts"),
    "entry not a dict": (lambda sd: sd["state"].update(w=3), "state of parameter 'w' must be a dict"),
    "params not a list": (lambda sd: sd["param_groups"][0].update(params=None), "'params' must be the list"),
    "eps not a number": (lambda sd: sd["param_groups"][0].update(eps="tiny"), "param group 0: eps must be a number"),
    "betas not a pair": (lambda sd: sd["param_groups"][0].update(betas=0.9), "param group 0"),
    "another optimizer": (lambda sd: sd.update(optimizer="RAdam"), "written by RAdam; this optimizer is NAdam"),
}


@pytest.mark.parametrize("corrupt, match", REFUSED.values(), ids=REFUSED.keys())
def test_a_refused_load_changes_nothing(corrupt, match):
    opt, params = nadam_at_step_3()
    sd = opt.state_dict()
    corrupt(sd)
    before = snapshot(opt, params)
    with pytest.raises(ValueError, match=match):
        opt.load_state_dict(sd)
    assert_same(before, snapshot(opt, params))
    with pytest.raises(ValueError, match="a state_dict is a dict, got list"):
        opt.load_state_dict(["state", "param_groups"])  # type: ignore[arg-type]


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(path):
    path.write_bytes(os.urandom(300))


def _no_meta(path):
    np.savez(path, x=np.zeros(2))


def _bad_json(path):
    np.savez(path, meta=np.array("{not json"))


def _wrong_format(path):
    np.savez(path, meta=np.array(json.dumps({"format": "something-else"})))


def _pickled(path):
    np.save(path.with_suffix(""), np.array([object()], dtype=object), allow_pickle=True)
    path.with_suffix(".npy").replace(path)


def _flip_bytes(path):
    data = bytearray(path.read_bytes())
    for i in range(40, len(data), 97):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_truncate, _garbage, _no_meta, _bad_json, _wrong_format, _pickled, _flip_bytes])
def test_an_unreadable_file_is_not_a_fastoptim_checkpoint(damage, tmp_path):
    opt, params = nadam_at_step_3()
    path = tmp_path / "ckpt.npz"
    opt.save(path)
    damage(path)
    before = snapshot(opt, params)
    with pytest.raises(ValueError, match="not a fastoptim checkpoint") as info:
        opt.load(path)
    assert info.value.__cause__ is not None or "unknown format" in str(info.value)
    assert_same(before, snapshot(opt, params))
    with pytest.raises(FileNotFoundError):
        opt.load(tmp_path / "missing.npz")


# -- 6, 7: keys ------------------------------------------------------------------------------------


def test_state_keys_that_do_not_match_are_refused_or_start_fresh_with_a_warning():
    params = [np.ones(3), np.ones(2)]
    opt = fo.Adam(params, lr=0.1)
    opt.step([np.ones(3), np.ones(2)])
    sd = opt.state_dict()
    sd["state"] = {str(k): v for k, v in sd["state"].items()}  # what a JSON round trip does
    before = snapshot(opt, params)
    with pytest.raises(ValueError, match=r"missing keys \[0, 1\], unexpected keys \['0', '1'\]"):
        opt.load_state_dict(sd)
    assert_same(before, snapshot(opt, params))
    with pytest.warns(UserWarning, match=r"missing keys \[0, 1\].*start fresh"):
        opt.load_state_dict(sd, strict=False)
    assert opt.state_dict()["state"] == {0: {"step": 0}, 1: {"step": 0}}


def test_a_renamed_parameter_is_refused():
    opt = fo.Adam({"w": np.ones(2)})
    opt.step({"w": np.ones(2)})
    sd = opt.state_dict()
    sd["param_groups"][0]["params"] = ["weight"]
    sd["state"] = {"weight": sd["state"]["w"]}
    with pytest.raises(ValueError, match=r"state_dict names \['weight'\] but the parameters are named \['w'\]"):
        opt.load_state_dict(sd)


def test_names_that_collide_as_strings_are_refused():
    with pytest.raises(ValueError, match=r"names \['1'\] are used more than once"):
        fo.SGD({1: np.zeros(2), "1": np.zeros(2)})
    opt = fo.SGD({"a": np.zeros(2)})
    with pytest.raises(ValueError, match=r"names \['a'\] are used more than once"):
        opt.add_param_group({"params": {"a": np.zeros(3)}})
    assert len(opt.param_groups) == 1


# -- 9: another rule's file ------------------------------------------------------------------------


@pytest.mark.parametrize("writer, reader", [(fo.LAMB, fo.Adam), (fo.RAdam, fo.NAdam), (fo.Adam, fo.AdamW), (fo.AdamW, fo.Adam)])
def test_a_file_of_another_optimizer_is_refused(writer, reader, tmp_path):
    w = writer([np.ones(3)])
    w.step([np.ones(3)])
    w.save(tmp_path / "c.npz")
    r = reader([p := np.ones(3)])
    before = snapshot(r, [p])
    with pytest.raises(ValueError, match=f"written by {writer.__name__}; this optimizer is {reader.__name__}"):
        r.load(tmp_path / "c.npz")
    assert_same(before, snapshot(r, [p]))
    meta = json.loads(str(np.load(tmp_path / "c.npz")["meta"]))
    assert meta["format"] == "fastoptim-state-1" and meta["rule"] == w._rule


# -- 10: a checkpoint's schedule -------------------------------------------------------------------


def test_a_matching_schedule_is_restored_into_the_users_object():
    plateau = S.ReduceOnPlateau(1.0, patience=0)
    opt = fo.SGD([np.ones(2)], lr=plateau)
    plateau.report(1.0)
    plateau.report(2.0)  # reduced to 0.1
    sd = opt.state_dict()
    plateau.report(0.5)
    plateau.report(3.0)  # reduced to 0.01
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["lr"] is plateau and plateau.value == pytest.approx(0.1)
    plateau.report(5.0)  # the user's reports still reach the optimizer
    opt.step([np.ones(2)])
    assert opt.last_lr == [pytest.approx(0.01)]


def test_a_different_schedule_is_refused_or_kept_with_a_warning():
    saved = fo.SGD([np.ones(2)], lr=S.ReduceOnPlateau(1.0, patience=3)).state_dict()
    mine = S.ReduceOnPlateau(1.0, patience=5)
    opt = fo.SGD([p := np.ones(2)], lr=mine)
    before = snapshot(opt, [p])
    with pytest.raises(ValueError, match="param group 0: lr: the checkpoint has another schedule"):
        opt.load_state_dict(saved)
    assert_same(before, snapshot(opt, [p]))
    with pytest.warns(UserWarning, match="keeping the optimizer's schedule"):
        opt.load_state_dict(saved, strict=False)
    assert opt.param_groups[0]["lr"] is mine
    number = fo.SGD([np.ones(2)], lr=0.5).state_dict()
    with pytest.raises(ValueError, match="the checkpoint has the value 0.5"):
        opt.load_state_dict(number)


# -- 12: threads -----------------------------------------------------------------------------------


def test_state_dict_and_save_during_steps_in_another_thread_are_never_torn(tmp_path):
    n = 1 << 20
    params = [np.zeros(n, np.float32) for _ in range(4)]
    grads = [np.ones(n, np.float32) for _ in range(4)]
    opt = fo.Adam(params, lr=1e-3)
    stop = threading.Event()

    def train():
        while not stop.is_set():
            opt.step(grads)

    worker = threading.Thread(target=train)
    worker.start()
    try:
        snaps = []
        for i in range(12):
            snaps.append(opt.state_dict())
            if i % 4 == 0:
                opt.save(tmp_path / "c.npz")
                loaded = fo.Adam([np.zeros(n, np.float32) for _ in range(4)])
                loaded.load(tmp_path / "c.npz")
                snaps.append(loaded.state_dict())
    finally:
        stop.set()
        worker.join()
    for sd in snaps:
        steps = {e["step"] for e in sd["state"].values()}
        assert len(steps) == 1
        t = steps.pop()
        if t == 0:
            continue
        # Constant unit gradients: m = 1 - 0.9^t everywhere, in every parameter.
        expected = np.float32(1) - np.float32(0.9) ** t
        for e in sd["state"].values():
            assert np.all(e["exp_avg"] == e["exp_avg"][0]) and abs(e["exp_avg"][0] - expected) < 1e-5


def test_load_state_dict_waits_for_a_step_and_two_steps_still_collide():
    p = np.zeros(1 << 22, np.float32)
    opt = fo.Adam([p])
    opt.step([np.ones_like(p)])
    sd = opt.state_dict()
    errors = []

    def step_many():
        for _ in range(30):
            try:
                opt.step([np.ones_like(p)])
            except RuntimeError as exc:
                errors.append(str(exc))

    workers = [threading.Thread(target=step_many) for _ in range(2)]
    for w in workers:
        w.start()
    for _ in range(5):
        opt.load_state_dict(sd)  # never raises: it waits for the step in progress
    for w in workers:
        w.join()
    assert all("already inside step()" in e for e in errors)


# -- 15: param_groups edits --------------------------------------------------------------------------


def test_param_groups_edits_are_honoured_with_state_per_array():
    rng = np.random.default_rng(3)
    a, b, c, d = (rng.standard_normal(4) for _ in range(4))
    init = {k: v.copy() for k, v in zip("abcd", (a, b, c, d))}
    arrays = {"a": a, "b": b, "c": c, "d": d}
    opt = fo.Adam([{"params": [a, b], "lr": 0.1}, {"params": [c], "lr": 0.01}])
    # Reference: every array keeps its own state and step count; lr follows its current group.
    ref_p = {k: v.copy() for k, v in init.items()}
    ref_state = {k: {} for k in init}
    ref_t = {k: 0 for k in init}

    def step(layout):
        grads = []
        for group, names in zip(opt.param_groups, layout):
            for k in names:
                g = rng.standard_normal(4)
                grads.append(g)
                ref_t[k] += 1
                ref_p[k] = ref.adam(ref_p[k], g, ref_state[k], ref_t[k], lr=group["lr"])
        opt.step(grads)
        for k in init:
            assert np.allclose(arrays[k], ref_p[k], rtol=1e-12, atol=1e-14), k

    step([["a", "b"], ["c"]])
    step([["a", "b"], ["c"]])
    opt.param_groups[0]["params"][1] = d  # swap b out, d in: d starts fresh, b's state is dropped
    ref_state["b"], ref_t["b"] = {}, 0
    step([["a", "d"], ["c"]])
    opt.param_groups[1]["params"].append(b)  # b comes back fresh
    step([["a", "d"], ["c", "b"]])
    opt.param_groups.reverse()  # settings follow the dicts, state follows the arrays
    step([["c", "b"], ["a", "d"]])
    del opt.param_groups[0]["params"][1]
    opt.param_groups[1]["params"].insert(0, b)  # b moves between groups with its state
    step([["c"], ["b", "a", "d"]])
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1, 2, 3]]
    assert [sd["state"][k]["step"] for k in range(4)] == [ref_t["c"], ref_t["b"], ref_t["a"], ref_t["d"]]


def test_edits_that_break_the_rules_are_refused_at_the_next_step():
    a, b = np.zeros(2), np.zeros(3)
    opt = fo.SGD([a], lr=0.1)
    opt.param_groups[0]["params"].append(a)
    with pytest.raises(ValueError, match="parameter 0 is listed twice"):
        opt.step([np.ones(2), np.ones(2)])
    opt.param_groups[0]["params"][1] = np.zeros(2, np.int64)
    with pytest.raises(TypeError, match="parameter 1 has dtype int64"):
        opt.step([np.ones(2), np.ones(2)])
    opt.param_groups[0]["params"][1] = b
    opt.step([np.ones(2), np.ones(3)])
    assert a[0] == pytest.approx(-0.1) and b[0] == pytest.approx(-0.1)


def test_a_group_added_later_counts_its_own_steps():
    a, b = np.zeros(2), np.zeros(2)
    opt = fo.SGD([a], lr=S.step(1.0, step_size=2, gamma=0.5))
    for _ in range(3):
        opt.step([np.ones(2)])
    opt.add_param_group({"params": [b]})
    opt.step([np.ones(2), np.ones(2)])
    assert opt.last_lr == [0.5, 1.0]  # t = 3 for the first group, 0 for the new one


# -- 16: diagnostics -------------------------------------------------------------------------------


def test_diagnostics_refuse_nonfinite_input():
    from fastoptim.diagnostics import GradientMonitor, critical_point, hessian

    grad = lambda v: 2 * v  # noqa: E731
    with pytest.raises(ValueError, match="hessian holds inf or NaN"):
        critical_point(grad, np.zeros(2), hessian=np.array([[1.0, np.nan], [np.nan, 1.0]]))
    with pytest.raises(ValueError, match="eps must be finite and > 0"):
        hessian(grad, np.zeros(2), eps=0)
    with pytest.raises(ValueError, match="theta holds inf or NaN"):
        critical_point(grad, np.array([np.inf, 0.0]))
    with pytest.raises(ValueError, match="not finite near theta"):
        hessian(lambda v: np.full_like(v, np.nan), np.zeros(2))
    mon = GradientMonitor()
    mon.record({"w": np.full(3, np.nan), "b": np.full(2, np.nan)})
    assert list(mon.nonfinite) == ["w", "b"] and not mon.vanishing
    mon.record({"w": np.ones(3), "b": np.array([np.inf, 0.0])})
    assert list(mon.nonfinite) == ["b"] and list(mon.vanishing) == []


# -- 17: non-finite settings -----------------------------------------------------------------------


@pytest.mark.parametrize("kw", [dict(lr=math.inf), dict(weight_decay=math.inf), dict(lr=math.nan), dict(betas=(0.9, math.nan))])
def test_nonfinite_settings_are_refused_at_construction(kw):
    with pytest.raises(ValueError, match="must be finite"):
        fo.Adam([np.zeros(2)], **kw)


def test_a_schedule_that_reaches_inf_raises_at_that_step_with_nothing_updated():
    p = np.zeros(2)
    opt = fo.SGD([p], lr=S.exponential(1.0, 1e10), momentum=0.9)
    t = 31  # 1e10 ** 31 overflows
    for _ in range(t):
        opt.step([np.ones(2)])
    before = snapshot(opt, [p])
    with pytest.raises(FloatingPointError, match=f"lr is inf at step {t} \\(param group 0\\); nothing was updated"):
        opt.step([np.ones(2)])
    assert_same(before, snapshot(opt, [p]))
    callable_lr = fo.SGD([q := np.zeros(2)], lr=lambda t: float("nan") if t == 1 else 0.1)
    callable_lr.step([np.ones(2)])
    with pytest.raises(FloatingPointError, match="lr is nan at step 1"):
        callable_lr.step([np.ones(2)])
    assert np.array_equal(q, np.full(2, -0.1))


# -- 19: errors in Python's words ------------------------------------------------------------------


def test_settings_assigned_later_are_checked_in_pythons_words():
    opt = fo.SGD([np.zeros(2)])
    with pytest.raises(TypeError, match="max_grad_norm must be a number > 0 or None, got 'abc'"):
        opt.max_grad_norm = "abc"
    with pytest.raises(ValueError, match="max_grad_norm must be > 0 and finite"):
        opt.max_grad_norm = math.inf
    with pytest.raises(ValueError, match="nonfinite must be one of"):
        opt.nonfinite = "maybe"
    opt.step([np.ones(2)])


@pytest.mark.parametrize("cls, hyper", SETTINGS, ids=SETTING_IDS)
def test_deepcopy_copies_the_optimizer_with_its_state(cls, hyper):
    opt, params, grads = two_groups(cls, hyper)
    opt.step(grads)
    twin = copy.deepcopy(opt)
    twin_params = [p for g in twin.param_groups for p in g["params"]]
    assert all(a is not b and np.array_equal(a, b) for a, b in zip(params, twin_params))
    opt.step(grads)
    twin.step(grads)
    for a, b in zip(params, twin_params):
        assert np.array_equal(a, b)


def test_deepcopy_with_a_model_shares_the_copied_arrays_and_schedules():
    model = {"w": np.ones(3)}
    plateau = S.ReduceOnPlateau(0.1)
    opt = fo.SGD(model, lr=plateau)
    model2, opt2 = copy.deepcopy((model, opt))
    assert opt2.param_groups[0]["params"][0] is model2["w"]
    assert isinstance(opt2.param_groups[0]["lr"], S.ReduceOnPlateau) and opt2.param_groups[0]["lr"] is not plateau
    opt2.step({"w": np.ones(3)})
    assert np.array_equal(model["w"], np.ones(3)) and not np.array_equal(model2["w"], np.ones(3))


def test_pickled_arrays_are_never_loaded(tmp_path):
    path = tmp_path / "c.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("meta.npy", b"\x93NUMPY garbage")
    opt = fo.SGD([np.zeros(2)])
    with pytest.raises(ValueError, match="not a fastoptim checkpoint"):
        opt.load(path)
