"""Hardening, third pass: the integrations (torch twins, ZeRO, L-BFGS, Muon, Lookahead) keep the
promises the NumPy core keeps. Each test names the item it guards; "unchanged" means bit-identical."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from cases import CASES
from conftest import grad_stream, init_params

import fastoptim as fo

SETTINGS = list({name: (getattr(fo, name), hyper) for name, _, hyper in CASES}.values())
SETTING_IDS = [c.__name__ for c, _ in SETTINGS]
SHAPES = [(5, 7), (130,)]


def stepped(cls, hyper, steps=3):
    params = init_params(SHAPES, np.float32)
    opt = cls(params, **hyper)
    for gs in grad_stream(SHAPES, steps, np.float32):
        opt.step(gs)
    return opt, params


# -- 12: a state slot missing from a checkpoint past step 0 is refused --------------------------


@pytest.mark.parametrize("cls, hyper", SETTINGS, ids=SETTING_IDS)
def test_12_a_missing_slot_after_step_0_is_refused(cls, hyper):
    opt, params = stepped(cls, hyper)
    sd = opt.state_dict()
    before = copy.deepcopy(sd)
    for key, entry in sd["state"].items():
        for slot in [k for k, v in entry.items() if isinstance(v, np.ndarray) and not k.endswith(".absmax")]:
            broken = copy.deepcopy(sd)
            del broken["state"][key][slot]
            with pytest.raises(ValueError, match=f"'{slot}' is missing \\(step 3 needs it\\)"):
                opt.load_state_dict(broken)
    after = opt.state_dict()
    for key, entry in before["state"].items():
        for k, v in entry.items():
            assert np.array_equal(after["state"][key][k], v)


def test_12_no_state_at_step_0_still_loads():
    """``{"step": 0}`` is "no state yet" (what a parameter without a gradient has)."""
    p = np.zeros(3, np.float32)
    opt = fo.Adam([p])
    opt.load_state_dict({**opt.state_dict(), "state": {0: {"step": 0}}})
    opt.step([np.ones(3, np.float32)])
    assert opt.state_dict()["state"][0]["step"] == 1


def test_12_torch_format_missing_slot_is_refused():
    torch = pytest.importorskip("torch")
    import fastoptim.torch as fot

    w = torch.nn.Parameter(torch.ones(4))
    opt = fot.Adam([w])
    w.grad = torch.ones(4)
    opt.step()
    sd = opt.state_dict()
    del sd["state"][0]["exp_avg"]
    with pytest.raises(ValueError, match="'exp_avg' is missing"):
        opt.load_state_dict(sd)
    assert torch.equal(opt.state_dict()["state"][0]["exp_avg"], torch.full((4,), 0.1))


# -- 14: small accepts that are refused now -----------------------------------------------------


def test_14_small_accepts_are_refused():
    from fastoptim.diagnostics import GradientMonitor, hessian, hessian_eigs, hvp_from_grad

    m = np.zeros((3, 3), np.float32)
    with pytest.raises(ValueError, match=r"invalid eps1=-1.0: must be >= 0 \(or None\)"):
        fo.Adafactor([m], eps=(-1.0, 1e-3))  # -1 is the engine's code for None
    fo.Adafactor([m], eps=(None, 1e-3))
    with pytest.raises(ValueError, match="param group 0: train_mode must be True or False, got 'no'"):
        fo.ScheduleFreeAdamW([{"params": [m], "train_mode": "no"}])
    opt = fo.ScheduleFreeSGD([m], lr=0.1)
    opt.param_groups[0]["train_mode"] = 1
    with pytest.raises(ValueError, match="train_mode must be True or False, got 1"):
        opt.train()
    with pytest.raises(ValueError, match="Schedule-Free's betas\\[0\\] must be a number"):
        fo.ScheduleFreeAdamW([m], betas=(fo.schedules.constant(0.9), 0.999))
    with pytest.raises(ValueError, match="window must be an integer >= 2, got 2.5"):
        GradientMonitor(window=2.5)
    grad = lambda v: 2 * v  # noqa: E731
    with pytest.raises(ValueError, match="theta must be real, got complex128"):
        hessian(grad, np.array([1 + 1j, 2]))
    with pytest.raises(ValueError, match="theta is empty"):
        hessian(grad, np.array([]))
    with pytest.raises(ValueError, match="the Hessian-vector product returned inf or NaN"):
        hessian_eigs(lambda v: np.full_like(v, np.nan), 4)
    with pytest.raises(ValueError, match="theta holds inf or NaN"):
        hvp_from_grad(grad, np.array([np.nan, 1.0]))


# -- fastoptim.torch: state dict keys, hooks, the state setter, copies and pickles (8, 9, 15) -----


def torch_adam_pair():
    torch = pytest.importorskip("torch")
    import fastoptim.torch as fot

    def make(module):
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 2)
        opt = module.Adam(model.parameters(), lr=0.1)
        model(torch.ones(4, 3)).square().sum().backward()
        opt.step()
        return model, opt

    return torch, make(fot), make(torch.optim)


def test_9_string_keys_are_refused_not_dropped():
    torch, (_, ours), _ = torch_adam_pair()
    sd = ours.state_dict()
    before = {k: {n: v.clone() for n, v in e.items()} for k, e in sd["state"].items()}
    as_json = {**sd, "state": {str(k): v for k, v in sd["state"].items()}}
    with pytest.raises(ValueError, match=r"keys \[\"'0'\", \"'1'\"\] that are no parameter id"):
        ours.load_state_dict(as_json)
    for k, e in ours.state_dict()["state"].items():
        assert all(torch.equal(v, before[k][n]) for n, v in e.items())


def test_8_state_dict_hooks_run_as_torch_runs_them():
    torch, (_, ours), (_, theirs) = torch_adam_pair()
    logs = {}
    for name, opt in (("ours", ours), ("theirs", theirs)):
        log = logs[name] = []
        opt.register_state_dict_pre_hook(lambda o, log=log: log.append("sd-pre"))
        opt.register_state_dict_post_hook(lambda o, sd, log=log: {**sd, "extra": log.append("sd-post") or 1})

        def load_pre(o, sd, log=log):
            log.append("load-pre")
            sd["param_groups"] = [{**g, "lr": 0.5} for g in sd["param_groups"]]
            return sd

        opt.register_load_state_dict_pre_hook(load_pre)
        opt.register_load_state_dict_post_hook(lambda o, log=log: log.append("load-post"))
        sd = opt.state_dict()
        assert sd["extra"] == 1
        opt.load_state_dict(sd)
        assert opt.param_groups[0]["lr"] == 0.5
    assert logs["ours"] == logs["theirs"] == ["sd-pre", "sd-post", "load-pre", "load-post"]


def test_8_assigning_state_resets_it_or_is_refused():
    torch, (model, ours), _ = torch_adam_pair()
    with pytest.raises(ValueError, match="assign \\{\\} to reset it"):
        ours.state = {"x": 1}
    assert ours.state  # unchanged
    from collections import defaultdict

    ours.state = defaultdict(dict)
    assert ours.state == {} and ours.state_dict()["state"] == {}
    model(torch.ones(4, 3)).square().sum().backward()
    ours.step()  # a fresh start: step 1 again
    assert all(e["step"].item() == 1 for e in ours.state_dict()["state"].values())


@pytest.mark.parametrize("how", ["deepcopy", "torch.save"])
def test_15_copies_and_pickles_step_on(how, tmp_path):
    torch, (model, ours), _ = torch_adam_pair()
    ours.skipped_steps = 2
    if how == "deepcopy":
        model2, copied = copy.deepcopy((model, ours))
    else:
        torch.save((model, ours), tmp_path / "both.pt")
        model2, copied = torch.load(tmp_path / "both.pt", weights_only=False)
    assert copied.skipped_steps == 2 and copied.param_groups[0]["params"][0] is model2.weight
    for m, opt in ((model, ours), (model2, copied)):
        opt.zero_grad()
        m(torch.ones(4, 3)).square().sum().backward()
        opt.step()
    for p, q in zip(model.parameters(), model2.parameters()):
        assert torch.equal(p, q)
    assert not torch.equal(model.weight, torch.zeros_like(model.weight))


# -- 11: Lookahead's slow copies belong to parameters ---------------------------------------------


def test_11_lookahead_slow_copies_follow_the_parameters():
    a, b = np.zeros(3), np.ones(3)
    opt = fo.Lookahead(fo.SGD([a, b], lr=0.1), k=2, alpha=0.5)
    opt.step([np.ones(3), np.ones(3)])
    c = np.full(3, 10.0)
    opt.param_groups[0]["params"] = [b, c]  # b moves to position 0; c is new
    opt.step([np.ones(3), np.ones(3)])  # the pull: each towards its own slow copy
    np.testing.assert_allclose(b, 1.0 + 0.5 * (-0.2))  # b's slow copy was 1, not a's 0
    np.testing.assert_allclose(c, 10.0 + 0.5 * (-0.1))  # c's starts at its value when it came in
    with pytest.raises(ValueError, match=r"the Lookahead state_dict has no \['base_optimizer'\]"):
        opt.load_state_dict({"slow_params": [[b, c]], "counters": [0]})
    with pytest.raises(ValueError, match="a Lookahead state_dict is a dict, got list"):
        opt.load_state_dict([])


def test_11_lookahead_of_a_torch_optimizer_saves_tensors(tmp_path):
    torch = pytest.importorskip("torch")
    import fastoptim.torch as fot

    w = torch.nn.Parameter(torch.ones(3))
    opt = fot.Lookahead(fot.Adam([w], lr=0.1), k=2)
    w.grad = torch.ones(3)
    opt.step()
    torch.save(opt.state_dict(), tmp_path / "la.pt")
    saved = torch.load(tmp_path / "la.pt")  # weights_only=True, torch's default
    assert isinstance(saved["slow_params"][0][0], torch.Tensor)
    fresh = fot.Lookahead(fot.Adam([w], lr=0.1), k=2)
    fresh.load_state_dict(saved)
    assert np.array_equal(fresh.slow[0][0], opt.slow[0][0])


# -- L-BFGS: transactional steps (5), checked settings and loads (13), the closure contract ----------


def quadratic():
    A = np.array([[3.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.0]])
    b = np.array([1.0, -1.0, 0.5])
    x = np.zeros(3)
    return x, (lambda: (0.5 * x @ A @ x - b @ x, [A @ x - b])), np.linalg.solve(A, b)


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_5_a_failed_lbfgs_step_changes_nothing_and_the_next_works(line_search_fn):
    x, closure, solution = quadratic()
    opt = fo.LBFGS([x], max_iter=1, line_search_fn=line_search_fn)
    opt.step(closure)
    opt.param_groups[0]["max_iter"] = 5
    before, x_before = copy.deepcopy(opt.state_dict()), x.copy()
    calls = [0]

    def failing():
        calls[0] += 1
        if calls[0] == 2:  # mid-step, after the parameters have moved
            raise RuntimeError("the data loader broke")
        return closure()

    with pytest.raises(RuntimeError, match="the data loader broke"):
        opt.step(failing)
    assert np.array_equal(x, x_before)
    after = opt.state_dict()
    for k, v in before["state"].items():
        w = after["state"][k]
        assert all(np.array_equal(a, b) for a, b in zip(v, w)) if isinstance(v, list) else np.array_equal(v, w)
    for _ in range(10):
        opt.step(closure)
    np.testing.assert_allclose(x, solution, atol=1e-4)  # the steps go on towards the minimum


def test_5_13_lbfgs_settings_and_loads_are_checked():
    x, closure, _ = quadratic()
    for bad, message in [
        (dict(max_eval=-5, line_search_fn="strong_wolfe"), "max_eval must be an integer >= 1, got -5"),
        (dict(tolerance_grad=-1.0), "invalid tolerance_grad=-1.0"),
        (dict(tolerance_change=float("nan")), "invalid tolerance_change=nan"),
    ]:
        with pytest.raises(ValueError, match=message):
            fo.LBFGS([x], **bad)
    opt = fo.LBFGS([x], history_size=2)
    opt.step(closure)
    opt.step(closure)
    good = opt.state_dict()
    cases = [
        (lambda s: s["state"].pop("d"), r"at iteration \d+ has no \['d'\]"),
        (lambda s: s["state"].update(n_iter="abc"), "'n_iter' must be an integer >= 0, got 'abc'"),
        (lambda s: s["state"].update(old_dirs=s["state"]["old_dirs"] * 3), "must be equal in number and at most history_size=2"),
        (lambda s: s["state"].update(surprise=1), r"unknown entries \['surprise'\]"),
        (lambda s: s.pop("state"), "an L-BFGS state_dict is a dict with a 'state' dict"),
        (lambda s: s["param_groups"][0].pop("lr"), r"settings \['lr'\] are missing"),
    ]
    for damage, message in cases:
        bad = copy.deepcopy(good)
        damage(bad)
        with pytest.raises(ValueError, match=message):
            opt.load_state_dict(bad)
    assert opt.state_dict()["state"]["n_iter"] == good["state"]["n_iter"]
    for wrong in [lambda: 1.0, lambda: (1.0,), lambda: None, lambda: (1.0, [x], 2)]:
        with pytest.raises(TypeError, match=r"the LBFGS closure must return \(loss, grads\)"):
            opt.step(wrong)


def test_13_lbfgs_checkpoints_move_between_torch_and_fastoptim():
    torch = pytest.importorskip("torch")
    import io

    import fastoptim.torch as fot

    target = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)

    def run(first, second, steps=6, switch=3):
        w = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
        opt = first([w], history_size=4, line_search_fn="strong_wolfe", max_iter=2)

        def closure():
            opt.zero_grad()
            loss = ((w - target) ** 4).sum() + (w**2).sum()
            loss.backward()
            return loss

        for t in range(steps):
            if t == switch:
                buf = io.BytesIO()
                torch.save(opt.state_dict(), buf)
                buf.seek(0)
                opt = second([w], history_size=4, line_search_fn="strong_wolfe", max_iter=2)
                opt.load_state_dict(torch.load(buf))  # weights_only=True
            opt.step(closure)
        return w.detach()

    straight = run(torch.optim.LBFGS, torch.optim.LBFGS, switch=-1)
    for first, second in ((fot.LBFGS, torch.optim.LBFGS), (torch.optim.LBFGS, fot.LBFGS)):
        np.testing.assert_allclose(run(first, second).numpy(), straight.numpy(), rtol=1e-9, atol=1e-12)


# -- Muon: checked loads (6), param_groups read at every step (7), the shared gradient contract (10) --


def muon_setup():
    rng = np.random.default_rng(0)
    ws = {"a": rng.standard_normal((4, 3)).astype(np.float32), "b": rng.standard_normal((3, 5)).astype(np.float32)}
    grads = {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in ws.items()}
    return ws, grads


def test_6_muon_loads_are_checked_and_change_nothing():
    ws, grads = muon_setup()
    opt = fo.Muon(ws, lr=0.02)
    opt.step(grads)
    good = opt.state_dict()
    for damage, message in [
        (lambda s: s["state"][0].update(step="abc"), "'step' must be an integer >= 0, got 'abc'"),
        (lambda s: s["state"][1].update(momentum_buffer=[[0.0] * 5] * 3), "'momentum_buffer' must be a NumPy array, got list"),
        (lambda s: s["state"].update({"0": s["state"][0]}), "state for unknown parameter '0'"),
        (lambda s: s.pop("state"), "a Muon state_dict is a dict with a 'state' dict"),
        (lambda s: s["param_groups"][0].update(lr="abc"), "param group 0: lr must be a finite number >= 0, got 'abc'"),
        (lambda s: s["state"][0].update(extra=1), r"unknown entries \['extra'\]"),
    ]:
        bad = copy.deepcopy(good)
        damage(bad)
        with pytest.raises(ValueError, match=message):
            opt.load_state_dict(bad)
    after = opt.state_dict()
    assert all(np.array_equal(after["state"][i]["momentum_buffer"], good["state"][i]["momentum_buffer"]) for i in (0, 1))
    torch = pytest.importorskip("torch")
    bad = copy.deepcopy(good)
    bad["state"][0]["momentum_buffer"] = torch.zeros(4, 3)  # torch.optim.Muon's
    with pytest.raises(ValueError, match="a torch.optim.Muon state dict loads into fastoptim.torch.Muon"):
        opt.load_state_dict(bad)


def test_10_muon_takes_gradients_as_every_optimizer_does():
    ws, grads = muon_setup()
    opt = fo.Muon(ws)
    before = {k: v.copy() for k, v in ws.items()}
    for bad, error, message in [
        ({"a": grads["a"]}, ValueError, "no gradient for parameter 'b'"),
        ({**grads, "c": grads["a"]}, ValueError, r"gradients for unknown parameters \['c'\]"),
        ({}, ValueError, "no gradient for parameter 'a'"),
        ([grads["a"]], ValueError, "expected 2 gradients, one per parameter, got 1"),
    ]:
        with pytest.raises(error, match=message):
            opt.step(bad)
    assert all(np.array_equal(ws[k], before[k]) for k in ws)
    p = np.zeros((3, 3), np.float32)
    with pytest.raises(ValueError, match="parameter 1 is parameter 0 again"):
        fo.Muon([p, p])
    opt = fo.Muon([p])
    opt.param_groups[0]["params"].append(p)
    with pytest.raises(ValueError, match="parameter 1 is parameter 0 again"):
        opt.step([np.ones((3, 3), np.float32)] * 2)
    assert not p.any()


def test_7_torch_muon_follows_param_groups_and_moves_to_torch():
    torch = pytest.importorskip("torch")
    import io

    import fastoptim.torch as fot

    w, v = torch.nn.Parameter(torch.ones(4, 3)), torch.nn.Parameter(torch.ones(3, 5))
    opt = fot.Muon([w], lr=0.02)
    opt.add_param_group({"params": [v]})
    w.data = torch.full((4, 3), 2.0)  # new memory: the step must update it, not the old one
    old = w.data_ptr()
    w.grad, v.grad = torch.ones(4, 3), torch.ones(3, 5)
    opt.step()
    assert not torch.equal(w.detach(), torch.full((4, 3), 2.0)) and w.data_ptr() == old
    assert not torch.equal(v.detach(), torch.ones(3, 5))  # the added group is stepped
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    buf.seek(0)
    theirs = torch.optim.Muon([w], lr=0.02)
    theirs.add_param_group({"params": [v]})
    theirs.load_state_dict(torch.load(buf))  # weights_only=True: tensors only
    for p in (w, v):
        assert torch.equal(theirs.state[p]["momentum_buffer"], opt.state[p]["momentum_buffer"])
    ours = fot.Muon([w], lr=0.02)
    ours.add_param_group({"params": [v]})
    ours.load_state_dict(theirs.state_dict())
    with pytest.raises(ValueError, match=r"momentum_buffer of parameter 0 has shape \(3, 4\)"):
        ours.load_state_dict({"state": {0: {"momentum_buffer": torch.zeros(3, 4)}}, "param_groups": theirs.state_dict()["param_groups"]})


# -- 1: fastoptim.torch checks every new gradient storage against its parameter ----------------------


@pytest.mark.parametrize(
    "swap, bad", [("data", "smaller"), ("set_", "smaller"), ("data", "float64"), ("data", "int32"), ("data", "float16")]
)  # set_ itself refuses another dtype
def test_1_a_swapped_gradient_storage_is_checked(swap, bad):
    torch = pytest.importorskip("torch")
    import fastoptim.torch as fot

    n = 1 << 20
    w = torch.nn.Parameter(torch.ones(n))
    opt = fot.Adam([w], lr=0.1)
    w.grad = torch.ones(n)
    opt.step()  # the gradient's view is cached now
    before = w.detach().clone()
    new = {"smaller": torch.ones(16), "float64": torch.ones(n, dtype=torch.float64),
           "int32": torch.ones(n, dtype=torch.int32), "float16": torch.ones(n, dtype=torch.float16)}[bad]
    if swap == "data":
        w.grad.data = new
    else:
        w.grad.set_(new)
    with pytest.raises((ValueError, TypeError), match="gradient of parameter 0"):
        opt.step()
    assert torch.equal(w.detach(), before)


def test_1_a_float32_gradient_of_a_16bit_parameter_is_viewed_as_float32():
    torch = pytest.importorskip("torch")
    import fastoptim.torch as fot

    w = torch.nn.Parameter(torch.ones(8, dtype=torch.bfloat16))
    twin = torch.nn.Parameter(torch.ones(8, dtype=torch.bfloat16))
    a, b = fot.SGD([w], lr=0.5), fot.SGD([twin], lr=0.5)
    w.grad = torch.ones(8, dtype=torch.bfloat16)
    twin.grad = torch.ones(8, dtype=torch.bfloat16)
    a.step()
    b.step()
    w.grad.data = torch.full((8,), 0.25, dtype=torch.float32)  # as p.grad_dtype = float32 gives
    twin.grad = torch.full((8,), 0.25, dtype=torch.bfloat16)
    a.step()
    b.step()
    assert torch.equal(w.detach(), twin.detach()) and w[0].item() == 1 - 0.5 - 0.125


# -- leftovers: bytes paths, array settings, torch-format loads of odd tensors, state[p] ------------


def test_leftovers_get_clear_answers(tmp_path):
    p = np.zeros(3, np.float32)
    opt = fo.Adam([p])
    opt.step([np.ones(3, np.float32)])
    path = bytes(tmp_path / "ckpt.npz")
    opt.save(path)
    opt.load(path)
    with pytest.raises(ValueError, match=r"lr must be one number, got an array of shape \(1,\)"):
        fo.Adam([p], lr=np.array([0.1]))
    fo.Adam([p], lr=np.array(0.1))  # a 0-d array is a number


def test_leftovers_torch_format_loads_of_odd_tensors():
    torch = pytest.importorskip("torch")
    import fastoptim.torch as fot

    w = torch.nn.Parameter(torch.zeros(3))
    opt = fot.Adam([w])
    assert opt.state[w] == {}  # as torch's, before the first step
    w.grad = torch.ones(3)
    opt.step()
    sd = opt.state_dict()
    for name, value, message in [
        ("step", torch.tensor([1.0, 2.0]), r"'step' must be one number, got a tensor of shape \(2,\)"),
        ("exp_avg", torch.zeros(3, device="meta"), "'exp_avg' must be a dense tensor with data"),
        ("exp_avg", torch.zeros(3).to_sparse(), "'exp_avg' must be a dense tensor with data, got a torch.sparse_coo tensor"),
    ]:
        with pytest.raises(ValueError, match=message):
            opt.load_state_dict({**sd, "state": {0: {**sd["state"][0], name: value}}})


def test_every_optimizer_takes_gradients_through_one_contract():
    """Missing, unknown and misspelt names get the same sentence from the engine's optimizers, L-BFGS
    and Muon (all through core.params.split_grads)."""
    w = {"w": np.zeros((2, 2))}
    closure = lambda g: lambda: (0.0, g)  # noqa: E731
    for opt, call in [
        (fo.Adam(w), lambda o, g: o.step(g)),
        (fo.Muon({"w": np.zeros((2, 2))}), lambda o, g: o.step(g)),
        (fo.LBFGS({"w": np.zeros((2, 2))}), lambda o, g: o.step(closure(g))),
    ]:
        with pytest.raises(ValueError, match="no gradient for parameter 'w'"):
            call(opt, {"v": np.ones((2, 2))})
        with pytest.raises(ValueError, match=r"gradients for unknown parameters \['v'\]"):
            call(opt, {"w": np.ones((2, 2)), "v": np.ones((2, 2))})


@pytest.mark.parametrize("cls, hyper", SETTINGS, ids=SETTING_IDS)
def test_15_numpy_optimizers_pickle_with_their_parameters(cls, hyper):
    import pickle

    opt, params = stepped(cls, hyper)
    params2, opt2 = pickle.loads(pickle.dumps((params, opt)))
    assert opt2.param_groups[0]["params"][0] is params2[0]
    for o in (opt, opt2):
        for gs in grad_stream(SHAPES, 2, np.float32, seed=5):
            o.step(gs)
    assert all(np.array_equal(a, b) for a, b in zip(params, params2))
