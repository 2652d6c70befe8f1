"""fastoptim.torch.step_in_backward: the same updates as stepping after backward, bit for bit, with
gradients freed as their buckets update; accumulation, schedulers, errors and refusals."""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")

import fastoptim as fo  # noqa: E402
import fastoptim.torch as fot  # noqa: E402


def model_and_data(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.Tanh(), torch.nn.Linear(32, 32), torch.nn.Tanh(), torch.nn.Linear(32, 3))
    batches = [(torch.randn(16, 8), torch.randint(0, 3, (16,))) for _ in range(12)]
    return model, batches


def train(cls, kwargs, inside, accumulate=1, bucket_bytes=0, scheduler=False, overlap=False):
    model, batches = model_and_data()
    opt = cls(model.parameters(), **kwargs)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5) if scheduler else None
    handle = fot.step_in_backward(opt, accumulate=accumulate, bucket_bytes=bucket_bytes, overlap=overlap) if inside else None
    loss_fn = torch.nn.CrossEntropyLoss()
    for i, (x, y) in enumerate(batches):
        loss_fn(model(x), y).backward()
        if (i + 1) % accumulate == 0:
            if not inside:
                opt.step()
                opt.zero_grad()
            if sched:
                sched.step()
    if handle:
        handle.remove()
    return model, opt


@pytest.mark.parametrize("overlap", [False, True], ids=["inline", "overlap"])
@pytest.mark.parametrize("bucket_bytes", [0, 1000, None])
@pytest.mark.parametrize(
    "cls, kwargs",
    [(fot.AdamW, dict(lr=1e-2)), (fot.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)), (fot.LAMB, dict(lr=1e-2)), (fot.Adafactor, dict(lr=1e-2))],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_same_parameters_and_state_as_stepping_after_backward(cls, kwargs, bucket_bytes, overlap):
    a, opt_a = train(cls, kwargs, inside=False)
    b, opt_b = train(cls, kwargs, inside=True, bucket_bytes=bucket_bytes, overlap=overlap)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
        assert q.grad is None  # freed after its update
    sa, sb = opt_a.state_dict()["state"], opt_b.state_dict()["state"]
    for i in sa:
        for k, v in sa[i].items():
            assert torch.equal(v, sb[i][k]), (i, k)


def test_accumulation_and_a_scheduler():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "lr_scheduler.step() before optimizer.step()" warning
        a, opt_a = train(fot.Adam, dict(lr=1e-2), inside=False, accumulate=3, scheduler=True)
        b, opt_b = train(fot.Adam, dict(lr=1e-2), inside=True, accumulate=3, scheduler=True)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert opt_b.state_dict()["state"][0]["step"] == 4 and opt_b.param_groups[0]["lr"] == opt_a.param_groups[0]["lr"] == 1e-2 * 0.25


def test_frozen_unused_and_shared_parameters():
    torch.manual_seed(0)
    shared = torch.nn.Linear(4, 4)
    frozen = torch.nn.Linear(4, 4).requires_grad_(False)
    unused = torch.nn.Parameter(torch.ones(3))
    opt = fot.SGD([*shared.parameters(), *frozen.parameters(), unused], lr=0.1)
    handle = fot.step_in_backward(opt)
    w = shared.weight.detach().clone()
    x = torch.ones(2, 4)
    out = shared(frozen(shared(x)))  # shared is used twice: one update from the summed gradient
    out.sum().backward()
    state = opt.state_dict()["state"]
    assert state[0]["step"] == 1 and set(state) == {0, 1}  # shared's weight and bias, once each; no state for the rest
    assert not torch.equal(shared.weight, w) and torch.equal(unused, torch.ones(3))
    with torch.no_grad():
        before = shared.weight.clone()
        shared(x)
    assert torch.equal(shared.weight, before)  # no backward, no update
    handle.remove()
    shared(x).sum().backward()  # detached: the gradient stays, nothing steps
    assert shared.weight.grad is not None and torch.equal(shared.weight, before)


@pytest.mark.parametrize("overlap", [False, True], ids=["inline", "overlap"])
def test_nan_raises_out_of_backward_naming_the_parameter(overlap):
    model = torch.nn.Linear(4, 2)
    opt = fot.Adam(model.parameters(), lr=0.1)
    handle = fot.step_in_backward(opt, bucket_bytes=None, overlap=overlap)  # one bucket: nothing updated at all
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(FloatingPointError, match="parameter .* holds inf or NaN"):
        (model(torch.ones(1, 4)) * float("nan")).sum().backward()
    assert all(torch.equal(p, q) for p, q in zip(before, model.parameters()))
    model(torch.ones(1, 4)).sum().backward()  # and it goes on
    assert not torch.equal(before[0], model.weight)
    handle.remove()


def test_a_raise_inside_backward_leaves_the_next_backward_whole():
    """A bucket that raises during backward ends that backward: the next one still updates its last
    bucket at its end (the end-of-backward callback of the failed one never ran)."""
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    scale = torch.nn.Parameter(torch.ones(1))  # used first, so its gradient comes last: the tail bucket
    opt = fot.SGD([scale, *model.parameters()], lr=0.1)
    handle = fot.step_in_backward(opt, bucket_bytes=40)  # the last layer fills a bucket of its own
    with pytest.raises(FloatingPointError):
        (model(torch.ones(1, 4) * scale) * float("nan")).sum().backward()
    before = [p.detach().clone() for p in (scale, *model.parameters())]
    model(torch.ones(1, 4) * scale).sum().backward()
    assert all(not torch.equal(a, p) and p.grad is None for a, p in zip(before, (scale, *model.parameters())))
    handle.remove()


def test_refusals_are_named():
    p = [torch.nn.Parameter(torch.ones(3))]
    with pytest.raises(ValueError, match="max_grad_norm"):
        fot.step_in_backward(fot.Adam(p, max_grad_norm=1.0))
    with pytest.raises(ValueError, match="Prodigy estimates its step from sums over all parameters"):
        fot.step_in_backward(fot.Prodigy(p))
    with pytest.raises(ValueError, match="accumulate"):
        fot.step_in_backward(fot.Adam(p), accumulate=0)
    with pytest.raises(TypeError, match="fastoptim.torch optimizer"):
        fot.step_in_backward(torch.optim.Adam(p))  # type: ignore[arg-type]
    assert fo.Adam  # the NumPy API has no backward


def test_engine_contracts_of_offload_wrappers():
    """torchao's CPUOffloadOptimizer builds one optimizer per parameter with a bare tensor as the
    group's params; Megatron's HybridDeviceOptimizer passes groups with keys the optimizer does not
    know, which are kept and ignored."""
    p = torch.nn.Parameter(torch.randn(10))
    opt = fot.AdamW([{"params": p, "lr": 1e-3}], lr=1e-3)
    p.grad = torch.ones(10)
    before = p.detach().clone()
    opt.step()
    assert not torch.equal(p, before)
    q = torch.nn.Parameter(torch.randn(10))
    groups = [{"params": [q], "lr": 1e-3, "weight_decay": 0.0, "is_decoupled_lr": False, "pre_lr_mult": 1.0, "max_lr": 1e-3}]
    opt = fot.AdamW(groups)
    q.grad = torch.ones(10)
    opt.step()
    assert opt.param_groups[0]["is_decoupled_lr"] is False and opt.state_dict()["state"][0]["step"] == 1
