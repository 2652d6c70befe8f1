"""state_dict, checkpoints and resuming; steps from several Python threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from cases import CASES
from conftest import grad_stream, init_params

import fastoptim as fo

SHAPES = [(5, 7), (130,), (1,)]
# The last (richest) option set of every rule in the correctness cases.
SETTINGS = list({name: (getattr(fo, name), hyper) for name, _, hyper in CASES}.values())


def make(cls, kw, params, named):
    return cls({f"p{i}": p for i, p in enumerate(params)} if named else params, **kw)


def feed(opt, grads, named):
    for gs in grads:
        opt.step({f"p{i}": g for i, g in enumerate(gs)} if named else gs)


@pytest.mark.parametrize("named", [False, True])
@pytest.mark.parametrize("cls, kw", SETTINGS, ids=[c.__name__ for c, _ in SETTINGS])
def test_resume_from_a_checkpoint_is_bit_exact(cls, kw, named, tmp_path):
    grads = grad_stream(SHAPES, 20, np.float32)
    straight = init_params(SHAPES, np.float32)
    opt = make(cls, kw, straight, named)
    feed(opt, grads, named)

    first = init_params(SHAPES, np.float32)
    opt = make(cls, kw, first, named)
    feed(opt, grads[:10], named)
    opt.save(tmp_path / "ckpt.npz")
    resumed_params = [p.copy() for p in first]
    del opt
    resumed = make(cls, kw, resumed_params, named)
    resumed.load(tmp_path / "ckpt.npz")
    feed(resumed, grads[10:], named)
    for a, b in zip(straight, resumed_params):
        assert np.array_equal(a, b)


def test_state_dict_round_trip_and_copies():
    params = init_params(SHAPES, np.float64)
    opt = fo.Adam(params, lr=1e-2, amsgrad=True)
    feed(opt, grad_stream(SHAPES, 3, np.float64), False)
    sd = opt.state_dict()
    assert sorted(sd["state"][0]) == ["exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"]
    assert sd["param_groups"][0]["params"] == [0, 1, 2]
    before = sd["state"][0]["exp_avg"].copy()
    feed(opt, grad_stream(SHAPES, 1, np.float64, seed=5), False)
    assert np.array_equal(sd["state"][0]["exp_avg"], before)  # a snapshot, not a live view
    other = fo.Adam([p.copy() for p in params], lr=1.0)
    other.load_state_dict(sd)
    assert other.param_groups[0]["lr"] == 1e-2 and other.param_groups[0]["amsgrad"]
    sd2 = other.state_dict()
    for key, entry in sd["state"].items():
        for slot, value in entry.items():
            assert np.array_equal(sd2["state"][key][slot], value)


def test_fresh_optimizer_has_only_step_counts():
    opt = fo.Adam([np.zeros(3), np.zeros(2)])
    assert opt.state_dict()["state"] == {0: {"step": 0}, 1: {"step": 0}}


@pytest.mark.parametrize(
    "corrupt, match",
    [
        (lambda sd: sd["state"]["b"].update(exp_avg=np.zeros(4, np.float32)), r"state 'exp_avg' of parameter 'b' has shape \(4,\)"),
        (lambda sd: sd["state"]["w"].update(exp_avg_sq=np.zeros((2, 2))), "state 'exp_avg_sq' of parameter 'w' has dtype float64"),
        (lambda sd: sd["state"]["w"].update(momentum_buffer=np.zeros((2, 2), np.float32)), "unknown entries"),
        (lambda sd: sd["state"].pop("b"), r"missing keys \['b'\], unexpected keys \[\]"),
        (lambda sd: sd["param_groups"][0].update(params=["w", "c"]), "state_dict names"),
        (lambda sd: sd["param_groups"][0].update(betas=(2.0, 0.9)), "invalid beta1=2"),
        (lambda sd: sd["param_groups"].append({}), "has 2 param groups"),
        (lambda sd: sd.pop("state"), "no 'state' entry"),
    ],
)
def test_load_mismatch_names_it_and_changes_nothing(corrupt, match):
    params = {"w": np.ones((2, 2), np.float32), "b": np.ones(3, np.float32)}
    opt = fo.Adam(params, lr=0.1)
    opt.step({"w": np.ones((2, 2), np.float32), "b": np.ones(3, np.float32)})
    sd = opt.state_dict()
    corrupt(sd)
    before = opt.state_dict()
    with pytest.raises(ValueError, match=match):
        opt.load_state_dict(sd)
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]
    for key, entry in before["state"].items():
        for slot, value in entry.items():
            assert np.array_equal(after["state"][key][slot], value)


def test_save_is_atomic_and_load_refuses_other_files(tmp_path):
    opt = fo.SGD([np.zeros(3)], momentum=0.9)
    opt.step([np.ones(3)])
    path = tmp_path / "opt.npz"
    opt.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["opt.npz"]  # no temporary file left behind
    np.savez(tmp_path / "other.npz", meta=np.array("{}"))
    with pytest.raises(ValueError, match="not a fastoptim checkpoint"):
        opt.load(tmp_path / "other.npz")


def test_two_optimizers_step_from_two_threads_at_once():
    shapes = [(400_000,), (1000,)]
    grads = grad_stream(shapes, 10, np.float32)

    def train(params):
        opt = fo.Adam(params, lr=1e-3)
        for gs in grads:
            opt.step(gs)

    expected = init_params(shapes, np.float32)
    train(expected)
    runs = [init_params(shapes, np.float32) for _ in range(2)]
    threads = [threading.Thread(target=train, args=(p,)) for p in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for params in runs:
        for a, b in zip(params, expected):
            assert np.array_equal(a, b)
