"""Schedules against their closed forms and torch's schedulers; inside the step; resumed exactly."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import grad_stream, init_params

import fastoptim as fo
import reference as ref
from fastoptim import _core, schedules as S

T = 300
CASES = [
    ("constant", dict(value=0.3)),
    ("step", dict(init=0.5, step_size=7)),
    ("step", dict(init=0.5, step_size=3, gamma=0.5)),
    ("multistep", dict(init=1.0, milestones=[10, 50, 51, 200], gamma=0.3)),
    ("exponential", dict(init=2.0, gamma=0.99)),
    ("inverse_time", dict(init=1.0, decay_rate=0.5)),
    ("inverse_time", dict(init=1.0, decay_rate=0.5, decay_steps=10, staircase=True)),
    ("inverse_sqrt", dict(init=0.1)),
    ("inverse_sqrt", dict(init=0.1, timescale=25.0)),
    ("polynomial", dict(init=1.0, end=0.0, total_steps=100)),
    ("polynomial", dict(init=1.0, end=0.1, total_steps=150, power=2.0)),
    ("linear", dict(start=0.0, end=1.0, steps=40)),
    ("linear", dict(start=1.0, end=0.25, steps=7)),
    ("cosine", dict(init=0.1, total_steps=200)),
    ("cosine", dict(init=0.1, total_steps=50, min_value=0.01)),
    ("cosine_restarts", dict(init=0.1, period=17)),
    ("cosine_restarts", dict(init=0.1, period=10, period_mult=2, min_value=1e-3)),
    ("one_cycle", dict(max_value=1.0, total_steps=T)),
    ("one_cycle", dict(max_value=0.5, total_steps=T, pct_start=0.25, div_factor=10, final_div_factor=100, anneal="linear")),
    ("one_cycle", dict(max_value=0.5, total_steps=T, three_phase=True)),
    ("one_cycle_momentum", dict(total_steps=T)),
    ("one_cycle_momentum", dict(total_steps=T, base=0.8, max_value=0.9, anneal="linear", three_phase=True)),
    ("cyclic", dict(base=0.01, max_value=0.1, step_size_up=20)),
    ("cyclic", dict(base=0.01, max_value=0.1, step_size_up=10, step_size_down=30, mode="triangular2")),
    ("cyclic", dict(base=0.01, max_value=0.1, step_size_up=15, mode="exp_range", gamma=0.995)),
    ("noam", dict(d_model=512, warmup_steps=40)),
    ("noam", dict(d_model=64, warmup_steps=10, scale=2.0)),
    ("warmup_stable_decay", dict(peak=1.0, warmup_steps=20, stable_steps=100, decay_steps=50)),
    ("warmup_stable_decay", dict(peak=1.0, warmup_steps=0, stable_steps=10, decay_steps=90, min_value=0.1, decay="cosine")),
    ("warmup_stable_decay", dict(peak=1.0, warmup_steps=5, stable_steps=5, decay_steps=200, decay="1-sqrt", init=0.1)),
    ("warmup_cosine", dict(peak=1.0, warmup_steps=30, total_steps=250)),
    ("warmup_cosine", dict(peak=1.0, warmup_steps=0, total_steps=100, init=0.5, min_value=0.1)),
]
IDS = [f"{k}-{i}" for i, (k, _) in enumerate(CASES)]


@pytest.mark.parametrize("kind, kw", CASES, ids=IDS)
def test_matches_closed_form(kind, kw):
    s = getattr(S, kind)(**kw)
    expected = np.array([ref.SCHEDULES[kind](t, **kw) for t in range(T + 20)])
    got = np.array([s(t) for t in range(T + 20)])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(s(np.arange(T + 20)), got)  # vectorised: the same numbers
    assert s(np.arange(6).reshape(2, 3)).shape == (2, 3)


def test_join_switches_and_shifts():
    warm, decay = S.linear(0.0, 1.0, 10), S.cosine(1.0, 50)
    s = S.join([warm, decay, S.constant(0.05)], [10, 60])
    for t in range(100):
        expected = warm(t) if t < 10 else decay(t - 10) if t < 60 else 0.05
        assert s(t) == expected


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: S.step(0.1, 0), "step_size=0 must be an integer > 0"),
        (lambda: S.step(0.1, 2.5), "step_size=2.5 must be an integer"),
        (lambda: S.multistep(0.1, [5, 3]), "strictly increasing"),
        (lambda: S.exponential(-0.1, 0.9), "init=-0.1 must be a finite value >= 0"),
        (lambda: S.exponential(0.1, 0.0), "gamma=0 must be > 0"),
        (lambda: S.cosine(0.1, 0), "total_steps=0"),
        (lambda: S.cosine_restarts(0.1, 10, period_mult=0), "period_mult=0"),
        (lambda: S.one_cycle(0.1, 100, pct_start=1.5), r"pct_start=1.5 must be in \(0, 1\)"),
        (lambda: S.one_cycle(0.1, 3), "every phase needs at least one step"),
        (lambda: S.one_cycle(0.1, 100, anneal="cosine"), "anneal must be one of"),
        (lambda: S.cyclic(0.1, 1.0, 0), "step_size_up=0"),
        (lambda: S.cyclic(0.1, 1.0, 5, mode="sine"), "mode must be one of"),
        (lambda: S.noam(0, 10), "d_model=0 must be > 0"),
        (lambda: S.warmup_stable_decay(1.0, 5, 5, 0), "decay_steps=0"),
        (lambda: S.warmup_stable_decay(1.0, 5, 5, 5, decay="step"), "decay must be one of"),
        (lambda: S.warmup_cosine(1.0, 10, 10), "total_steps must exceed warmup_steps"),
        (lambda: S.join([S.constant(1.0), S.constant(2.0)], []), "one boundary fewer than schedules"),
        (lambda: S.join([S.constant(1.0), S.constant(2.0)], [1, 2]), "one boundary fewer"),
        (lambda: S.join([S.constant(1.0), S.constant(2.0), S.constant(3.0)], [5, 5]), "strictly increasing"),
        (lambda: S.ReduceOnPlateau(0.1, factor=1.0), r"factor=1 must be in \[0, 1\)"),
        (lambda: S.ReduceOnPlateau(0.1, patience=-1), "patience=-1"),
        (lambda: S.ReduceOnPlateau(0.1, mode="up"), "mode must be one of"),
        (lambda: S.inverse_sqrt(0.1, timescale=0), "timescale=0 must be > 0"),
    ],
)
def test_bad_arguments_are_refused(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_bad_calls():
    s = S.constant(1.0)
    with pytest.raises(ValueError, match="must be >= 0"):
        s(-1)
    with pytest.raises(TypeError, match="integer step"):
        s(1.5)
    with pytest.raises(TypeError, match="integer array"):
        s(np.ones(3))
    with pytest.raises(TypeError, match="join takes fastoptim schedules"):
        S.join([S.constant(1.0), lambda t: 1.0], [3])  # type: ignore[list-item]
    assert s(np.int64(3)) == 1.0


def test_reduce_on_plateau_follows_torch_rules():
    s = S.ReduceOnPlateau(1.0, factor=0.5, patience=2, cooldown=1, min_value=0.2)
    values = [s.report(m) for m in [5, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4]]
    assert values == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.2]
    high = S.ReduceOnPlateau(1.0, patience=0, mode="max", threshold_mode="abs", threshold=0.5)
    assert [high.report(m) for m in [1.0, 1.4, 2.0]] == [1.0, 0.1, 0.1]


# -- inside the optimizers ------------------------------------------------------------------------


def test_lr_schedule_inside_the_step_and_last_lr():
    w = np.zeros(2)
    sched = S.join([S.linear(0.0, 1.0, 2), S.exponential(1.0, 0.5)], [2])
    opt = fo.SGD([w], lr=sched)
    lrs = []
    for _ in range(5):
        opt.step([np.ones(2)])
        lrs.append(opt.last_lr[0])
    assert lrs == [sched(t) for t in range(5)] == [0.0, 0.5, 1.0, 0.5, 0.25]
    np.testing.assert_allclose(w, -sum(lrs))


def test_callable_is_the_slow_path_but_works():
    w = np.zeros(1)
    opt = fo.SGD([w], lr=lambda t: 0.1 * (t + 1))
    for _ in range(3):
        opt.step([np.ones(1)])
    np.testing.assert_allclose(w, -(0.1 + 0.2 + 0.3))
    opt.param_groups[0]["lr"] = lambda t: "fast"
    with pytest.raises(TypeError, match="lr must be a number, a schedule or a callable"):
        opt.step([np.ones(1)])


def test_schedule_producing_a_bad_value_is_refused_at_that_step():
    w = np.zeros(1)
    opt = fo.SGD([w], lr=0.1, momentum=S.linear(0.5, 2.0, 2))
    opt.step([np.ones(1)])
    opt.step([np.ones(1)])
    before = w.copy()
    opt.param_groups[0]["nesterov"] = False
    opt.param_groups[0]["momentum"] = lambda t: -1.0
    with pytest.raises(ValueError, match="invalid momentum=-1"):
        opt.step([np.ones(1)])
    assert np.array_equal(w, before)


def test_momentum_and_beta1_take_schedules():
    shapes = [(50,)]
    grads = grad_stream(shapes, 40, np.float64)
    lr, mom = S.one_cycle(0.1, 40), S.one_cycle_momentum(40)
    p = init_params(shapes, np.float64)
    opt = fo.SGD(p, lr=lr, momentum=mom)
    expected = [q.copy() for q in p]
    state: dict = {}
    for t, gs in enumerate(grads):
        opt.step(gs)
        expected = [ref.sgd(expected[0], gs[0], state, t + 1, lr=lr(t), momentum=mom(t))]
    np.testing.assert_allclose(p[0], expected[0], rtol=1e-12)
    q = init_params(shapes, np.float64)
    adam = fo.Adam(q, lr=lr, betas=(mom, 0.999))
    expected = [x.copy() for x in q]
    state = {}
    for t, gs in enumerate(grads):
        adam.step(gs)
        expected = [ref.adam(expected[0], gs[0], state, t + 1, lr=lr(t), betas=(mom(t), 0.999))]
    np.testing.assert_allclose(q[0], expected[0], rtol=1e-12)


# -- resuming -------------------------------------------------------------------------------------


def make_plateau_run(params):
    plateau = S.ReduceOnPlateau(0.05, factor=0.5, patience=1)
    lr = S.join([S.linear(0.0, 1.0, 5), plateau], [5])
    return fo.Adam(params, lr=lr, betas=(S.one_cycle_momentum(30), 0.999)), plateau


def test_resume_in_the_middle_of_a_join_with_a_plateau_is_bit_exact(tmp_path):
    shapes = [(20,), (3, 3)]
    grads = grad_stream(shapes, 30, np.float32)
    metrics = np.linspace(3, 1, 30) ** 0  # flat: the plateau fires
    straight = init_params(shapes, np.float32)
    opt, plateau = make_plateau_run(straight)
    for t, gs in enumerate(grads):
        opt.step(gs)
        plateau.report(float(metrics[t]))
    first = init_params(shapes, np.float32)
    opt, plateau = make_plateau_run(first)
    for t in range(12):
        opt.step(grads[t])
        plateau.report(float(metrics[t]))
    opt.save(tmp_path / "ckpt.npz")
    params = [p.copy() for p in first]
    resumed, plateau2 = make_plateau_run(params)
    resumed.load(tmp_path / "ckpt.npz")
    assert plateau2.value == plateau.value < 0.05  # the counters came back into the caller's object
    for t in range(12, 30):
        resumed.step(grads[t])
        plateau2.report(float(metrics[t]))
    for a, b in zip(straight, params):
        assert np.array_equal(a, b)


def test_state_dict_with_a_callable_needs_the_callable_back():
    opt = fo.SGD([np.zeros(1)], lr=lambda t: 0.1)
    opt.step([np.ones(1)])
    sd = opt.state_dict()
    assert "__callable__" in sd["param_groups"][0]["lr"]
    fo.SGD([np.zeros(1)], lr=lambda t: 0.2).load_state_dict(sd)
    with pytest.raises(ValueError, match="Python callable"):
        fo.SGD([np.zeros(1)], lr=0.1).load_state_dict(sd)


def test_schedules_document_formula_defaults_and_example():
    for name in S.__all__:
        if name in ("Schedule", "ScheduleLike"):
            continue
        doc = getattr(S, name).__doc__
        assert doc and ">>>" in doc, name
    assert "slow path" in S.__doc__


def test_arguments_are_named_once_in_cpp():
    """Each kind declares its arguments by name in C++: a schedule is built from names, shows them,
    and refuses names it does not take or misses."""
    s = S.step(1.0, step_size=10)
    assert repr(s) == "step(init=1.0, step_size=10.0, gamma=0.1)" and s.args == {"init": 1.0, "step_size": 10.0, "gamma": 0.1}
    kinds = dict(_core.schedule_kinds)
    assert kinds["warmup_cosine"] == ["peak", "warmup_steps", "total_steps", "init", "min_value"] and kinds["join"] == []
    with pytest.raises(ValueError, match=r"step: takes no argument 'gama' \(it takes: init, step_size, gamma\)"):
        _core.Schedule("step", {"init": 1.0, "step_size": 2, "gama": 0.5})
    with pytest.raises(ValueError, match="step: missing argument 'gamma'"):
        _core.Schedule("step", {"init": 1.0, "step_size": 2})
    with pytest.raises(TypeError, match="step: gamma must be a number"):
        _core.Schedule("step", {"init": 1.0, "step_size": 2, "gamma": "x"})


def test_a_spec_with_positional_arguments_still_loads():
    """Checkpoints written before arguments had names list them in the kind's order."""
    old = {"schedule": "cosine", "args": [1.0, 10.0, 0.0], "ints": [], "children": [], "state": []}
    assert S.from_spec(old)(5) == S.cosine(1.0, 10)(5)
    with pytest.raises(ValueError, match=r"cosine: 2 arguments, it takes 3 \(init, total_steps, min_value\)"):
        S.from_spec({**old, "args": [1.0, 10.0]})
