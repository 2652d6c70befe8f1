"""fastoptim.torch side by side with torch.optim, through real backward passes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from cases import CASES, TORCH_CASES

torch = pytest.importorskip("torch")
fot = pytest.importorskip("fastoptim.torch")
from fastoptim import _core  # noqa: E402

# Training feeds each step's rounding back into the next gradients, so float32 runs drift apart by
# more than one step's rounding; float64 checks the math tightly.
TOL = {torch.float32: dict(rtol=1e-3, atol=1e-4), torch.float64: dict(rtol=1e-10, atol=1e-12)}


def model_and_data(dtype, seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(6, 12), torch.nn.Tanh(), torch.nn.Linear(12, 2)).to(dtype)
    x, y = torch.randn(32, 6, dtype=dtype), torch.randn(32, 2, dtype=dtype)
    return model, x, y


def train(make, dtype, steps=15, seed=0, scheduler=None, every=None):
    """Train a fresh small model with ``make(params)``; ``every(step, model, opt)`` may edit things."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # torch keeps scalar state (step, mu_product) in the default dtype
    try:
        model, x, y = model_and_data(dtype, seed)
        opt = make(model.parameters())
        sched = scheduler(opt) if scheduler else None
        for t in range(steps):
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            if every:
                every(t, model, opt)
            opt.step()
            if sched:
                sched.step()
    finally:
        torch.set_default_dtype(before)
    return model, opt


def assert_same_params(a, b, dtype):
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), **TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("i", [i for i, _ in TORCH_CASES], ids=[f"{CASES[i][0]}-{i}" for i, _ in TORCH_CASES])
def test_every_rule_matches_torch_through_backward(i, dtype):
    name, _, hyper = CASES[i]
    ours, opt = train(lambda ps: getattr(fot, name)(ps, **hyper), dtype)
    theirs, topt = train(lambda ps: getattr(torch.optim, name)(ps, **hyper), dtype)
    assert_same_params(ours, theirs, dtype)
    assert isinstance(opt, torch.optim.Optimizer)
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert sd["param_groups"][0].keys() - {"average"} == tsd["param_groups"][0].keys()
    for k, entry in tsd["state"].items():
        assert sd["state"][k].keys() - {"step"} == {n for n, v in entry.items() if v is not None} - {"step"}
        for n, v in entry.items():
            if isinstance(v, torch.Tensor):
                np.testing.assert_allclose(sd["state"][k][n].double().numpy(), v.double().numpy(), **TOL[dtype])


def test_none_gradients_skip_their_parameter_as_torch_does():
    def freeze_some(t, model, opt):
        if t % 3 == 1:
            model[0].bias.grad = None  # as when a branch of the model is unused this step

    ours, opt = train(lambda ps: fot.Adam(ps, lr=0.05), torch.float64, every=freeze_some)
    theirs, topt = train(lambda ps: torch.optim.Adam(ps, lr=0.05), torch.float64, every=freeze_some)
    assert_same_params(ours, theirs, torch.float64)
    assert opt.state_dict()["state"][1]["step"].item() == topt.state_dict()["state"][1]["step"].item() == 10


@pytest.mark.parametrize(
    "scheduler",
    [
        lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.5),
        lambda opt: torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=15),  # writes betas
        lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10),
    ],
    ids=["StepLR", "OneCycleLR", "CosineAnnealingLR"],
)
def test_torch_lr_schedulers_drive_the_settings(scheduler):
    ours, _ = train(lambda ps: fot.Adam(ps, lr=0.05), torch.float64, scheduler=scheduler)
    theirs, _ = train(lambda ps: torch.optim.Adam(ps, lr=0.05), torch.float64, scheduler=scheduler)
    assert_same_params(ours, theirs, torch.float64)


def test_step_with_a_closure_returns_its_loss_and_matches_torch():
    def closure_of(opt, model, x, y):
        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            return loss

        return closure

    results = []
    for make in (lambda ps: fot.SGD(ps, lr=0.1, momentum=0.9), lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9)):
        model, x, y = model_and_data(torch.float64)
        opt = make(model.parameters())
        closure = closure_of(opt, model, x, y)
        with torch.no_grad():  # the closure runs with grad enabled all the same
            losses = [float(opt.step(closure)) for _ in range(5)]
        results.append((losses, model))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-12)
    assert_same_params(results[0][1], results[1][1], torch.float64)


def test_replaced_memory_keeps_the_state_and_swapped_parameters_are_picked_up():
    def edit(t, model, opt):
        if t == 5:  # p.data = ..., as DeepSpeed and ZeroRedundancyOptimizer's bucket views do
            w = model[0].weight
            w.data = w.data.clone()
        if t == 9:  # a new tensor swapped into the group: it starts fresh, in both
            new = torch.nn.Parameter(model[2].bias.detach().clone())
            new.grad = model[2].bias.grad.clone()
            model[2].bias = new
            opt.param_groups[0]["params"][3] = new

    ours, _ = train(lambda ps: fot.Adam(ps, lr=0.05), torch.float64, every=edit)
    theirs, _ = train(lambda ps: torch.optim.Adam(ps, lr=0.05), torch.float64, every=edit)
    assert_same_params(ours, theirs, torch.float64)


@pytest.mark.parametrize("name", ["Adam", "NAdam", "SGD", "RMSprop", "Adagrad"])
def test_checkpoints_move_between_torch_and_fastoptim_mid_run(name):
    hyper = dict(lr=0.05, momentum=0.9) if name in ("SGD", "RMSprop") else dict(lr=0.05)

    def switch(to):
        state = {}

        def every(t, model, opt):
            if t == 6:  # save with one optimizer, continue with the other
                buf = io.BytesIO()
                torch.save(opt.state_dict(), buf)
                buf.seek(0)
                state["opt"] = to(model.parameters())
                state["opt"].load_state_dict(torch.load(buf, weights_only=True))
            if "opt" in state:
                opt.step = state["opt"].step  # type: ignore[method-assign]

        return every

    straight, _ = train(lambda ps: getattr(torch.optim, name)(ps, **hyper), torch.float64)
    for first, second in ((fot, torch.optim), (torch.optim, fot)):
        model, _ = train(
            lambda ps, m=first: getattr(m, name)(ps, **hyper),
            torch.float64,
            every=switch(lambda ps, m=second: getattr(m, name)(ps, **hyper)),
        )
        assert_same_params(model, straight, torch.float64)


def test_a_bad_state_dict_is_refused_and_changes_nothing():
    model, opt = train(lambda ps: fot.Adam(ps, lr=0.05), torch.float64, steps=3)
    sd = opt.state_dict()
    before = {k: {n: v.clone() for n, v in e.items()} for k, e in sd["state"].items()}
    bad = {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(5, dtype=torch.float64)}}, "param_groups": sd["param_groups"]}
    with pytest.raises(ValueError, match=r"state 'exp_avg' of parameter 0 has shape \(5,\)"):
        opt.load_state_dict(bad)
    with pytest.raises(ValueError, match="unknown entries"):
        opt.load_state_dict({"state": {0: {"step": 1.0, "momentum": torch.zeros(1)}}, "param_groups": sd["param_groups"]})
    with pytest.raises(ValueError, match="param groups"):
        opt.load_state_dict({"state": {}, "param_groups": []})
    after = opt.state_dict()["state"]
    for k, e in before.items():
        for n, v in e.items():
            assert torch.equal(after[k][n], v)


def test_updates_bump_the_autograd_version_and_errors_name_the_tensor():
    p = torch.nn.Parameter(torch.zeros(4))
    opt = fot.SGD([p], lr=0.1)
    p.grad = torch.ones(4)
    before = p._version
    opt.step()
    assert p._version > before and torch.equal(p.detach(), torch.full((4,), -0.1))
    with pytest.raises(ValueError, match="capturable=True"):
        fot.Adam([p], capturable=True)
    fot.Adam([p], foreach=True, fused=True)  # accepted and ignored
    with pytest.raises(TypeError, match="parameter 0 has dtype torch.int64"):
        fot.SGD([torch.zeros(3, dtype=torch.int64)])
    with pytest.raises(ValueError, match="parameter 1 is not contiguous"):
        fot.SGD([p, torch.zeros(4, 4).t()])
    q = torch.nn.Parameter(torch.zeros(3))
    opt = fot.SGD([q], lr=0.1)
    q.grad = torch.zeros(3).to_sparse()  # row-sparse: SGD takes it, Adam does not (sparse in 2-D: test_sparse.py)
    opt.step()
    with pytest.raises(ValueError, match="gradient of parameter 0 is row-sparse; this rule takes dense gradients only"):
        fot.Adam([q]).step()
    q.grad = torch.tensor([1.0, float("nan"), 0.0])
    with pytest.raises(FloatingPointError, match="gradient of parameter 0 holds inf or NaN"):
        opt.step()
    assert torch.equal(q.detach(), torch.zeros(3))


def test_grad_scaler_skips_overflowing_steps_as_with_torch():
    results = []
    for cls in (fot.Adam, torch.optim.Adam):
        model, x, y = model_and_data(torch.float32)
        opt = cls(model.parameters(), lr=0.01)
        scaler = torch.amp.GradScaler("cpu", init_scale=2.0**20)
        for t in range(6):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y) * (1e30 if t == 2 else 1.0)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        results.append(model)
    assert_same_params(results[0], results[1], torch.float32)


def test_add_param_group_checks_the_settings():
    opt = fot.Adam([torch.nn.Parameter(torch.zeros(2))])
    with pytest.raises(ValueError, match="param group 1"):
        opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(2))], "lr": -1.0})
    assert len(opt.param_groups) == 1


def test_gradients_are_not_held_after_zero_grad():
    """zero_grad() frees the gradients' memory, as with torch's optimizers: the step's cached views
    do not keep them alive."""
    import gc
    import weakref

    model, x, y = model_and_data(torch.float32)
    opt = fot.Adam(model.parameters())
    torch.nn.functional.mse_loss(model(x), y).backward()
    opt.step()
    refs = [weakref.ref(p.grad) for p in model.parameters()]
    opt.zero_grad()
    gc.collect()
    assert all(r() is None for r in refs)


def test_persistent_gradients_reuse_their_views_and_new_memory_is_read_afresh():
    """zero_grad(set_to_none=False) keeps each gradient tensor, so its view is reused across steps;
    a gradient whose memory is replaced (``p.grad.data = ...``) and a group whose params became a
    tuple are read afresh."""
    results = []
    for make in (lambda ps: fot.AdamW(ps, lr=0.05), lambda ps: torch.optim.AdamW(ps, lr=0.05)):
        model, x, y = model_and_data(torch.float64)
        opt = make(model.parameters())
        for t in range(8):
            opt.zero_grad(set_to_none=False)
            torch.nn.functional.mse_loss(model(x), y).backward()
            if t % 3 == 1:  # new memory, new values: a step that read the old memory would differ
                g = model[0].weight.grad
                g.data = g.data * 2
            if t == 4:
                opt.param_groups[0]["params"] = tuple(opt.param_groups[0]["params"])
            opt.step()
        results.append(model)
    assert_same_params(results[0], results[1], torch.float64)


def stepping_class(name):
    """``fastoptim.torch.<name>`` on one parameter, and a function that steps it as its users do."""
    cls = getattr(fot, name)

    def make(w):
        if name == "Lookahead":
            return fot.Lookahead(fot.SGD([w], lr=0.1), k=1)
        if name == "step_in_backward":
            opt = fot.SGD([w], lr=0.1)
            fot.step_in_backward(opt)
            return opt
        opt = cls([w], lr=0.1)
        if hasattr(opt, "train"):
            opt.train()  # Schedule-Free steps in train mode
        return opt

    def step(opt, w):
        if name == "LBFGS":
            def closure():
                opt.zero_grad()
                loss = (w * w).sum()
                loss.backward()
                return loss
            return opt.step(closure)
        if name == "step_in_backward":
            return (2 * w).sum().backward()  # updates w inside this backward
        w.grad = torch.ones_like(w)
        return opt.step()

    return make, step


@pytest.mark.parametrize("name", [n for n in fot.__all__ if n not in ("Optimizer", "BackwardStep")])
def test_every_class_bumps_the_autograd_version(name):
    """After a step, autograd refuses a graph built on the parameters' pre-step values (as after any
    in-place update in torch), for every class ``fastoptim.torch`` exports."""
    make, step = stepping_class(name)
    w = torch.nn.Parameter(torch.linspace(0.5, 1.5, 12).reshape(4, 3))
    opt = make(w)
    stale = (w * w).sum()  # saves w for its backward
    before, start = w._version, w.detach().clone()
    step(opt, w)
    assert w._version > before and not torch.equal(w.detach(), start)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        stale.backward()


# Every twin with the richest option set of its rule in the correctness cases.
TWIN_CASES = sorted({name: hyper for name, _, hyper in CASES if name in fot.__all__}.items())


def make_twin(name, hyper):
    def make(ps):
        opt = getattr(fot, name)(ps, **hyper)
        if hasattr(opt, "train"):
            opt.train()  # Schedule-Free steps in train mode
        return opt

    return make


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name, hyper", TWIN_CASES, ids=[n for n, _ in TWIN_CASES])
def test_torch_format_checkpoint_resumes_bit_for_bit(name, hyper, dtype):
    """``torch.save(opt.state_dict())`` mid-run, ``torch.load`` (weights only) into a new optimizer,
    continue: the parameters equal an unbroken run's exactly; every per-parameter scalar (NAdam's
    ``mu_product``, ...) is saved as float64, as the engine keeps it."""
    scalars = _core.rules[getattr(fot, name)._rule]["scalars"]
    straight, _ = train(make_twin(name, hyper), dtype)
    switched = {}

    def every(t, model, opt):
        if t == 6:
            sd = opt.state_dict()
            for entry in sd["state"].values():
                for k in scalars:
                    assert entry[k].dtype == torch.float64, (k, entry[k].dtype)
            buf = io.BytesIO()
            torch.save(sd, buf)
            buf.seek(0)
            switched["opt"] = make_twin(name, hyper)(model.parameters())
            switched["opt"].load_state_dict(torch.load(buf, weights_only=True))
        if "opt" in switched:
            opt.step = switched["opt"].step  # type: ignore[method-assign]

    resumed, _ = train(make_twin(name, hyper), dtype, every=every)
    for p, q in zip(resumed.parameters(), straight.parameters()):
        assert torch.equal(p, q)
