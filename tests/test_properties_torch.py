"""Property test for fastoptim.torch (hardening, third pass): random programs of steps, None
gradients, swapped parameter and gradient storage, group edits, state-dict round trips and loads of
torch.optim's own state dicts. After every accepted step the parameters equal torch.optim's run of the
same program; after every refusal everything is bit-identical to before."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
fot = pytest.importorskip("fastoptim.torch")

EXAMPLES = settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
OPS = ["step", "step", "step", "none_grad", "swap_param", "swap_grad", "bad_grad", "reorder", "round_trip", "load_torch"]
RULES = [("Adam", dict(lr=0.05, weight_decay=0.01)), ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
         ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True)), ("NAdam", dict(lr=0.05))]


def snapshot(params, opt):
    return [p.detach().clone() for p in params], copy.deepcopy(opt.state_dict())


def same(a, b):
    (pa, sa), (pb, sb) = a, b
    return all(torch.equal(x, y) for x, y in zip(pa, pb)) and all(
        torch.equal(sa["state"][k][n], sb["state"][k][n]) for k in sa["state"] for n in sa["state"][k]
    ) and sa["state"].keys() == sb["state"].keys()


@EXAMPLES
@given(rule=st.sampled_from(RULES), ops=st.lists(st.sampled_from(OPS), min_size=3, max_size=14), seed=st.integers(0, 2**16))
def test_random_programs_match_torch_and_refusals_change_nothing(rule, ops, seed):
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # torch keeps scalar state (NAdam's mu_product) in the default dtype
    try:
        run_program(rule, ops, seed)
    finally:
        torch.set_default_dtype(before)


def run_program(rule, ops, seed):
    name, hyper = rule
    gen = torch.Generator().manual_seed(seed)
    start = [torch.randn(4, 3, generator=gen, dtype=torch.float64), torch.randn(5, generator=gen, dtype=torch.float64)]
    ours = [torch.nn.Parameter(t.clone()) for t in start]
    theirs = [torch.nn.Parameter(t.clone()) for t in start]
    opt, ref = getattr(fot, name)(ours, **hyper), getattr(torch.optim, name)(theirs, **hyper)
    skip = set()  # parameters without a gradient at the next step
    for op in ops:
        if op == "step":
            for i, (p, q) in enumerate(zip(ours, theirs)):
                g = None if i in skip else torch.randn(p.shape, generator=gen, dtype=torch.float64)
                p.grad, q.grad = (None, None) if g is None else (g.clone(), g.clone())
            opt.step()
            ref.step()
            skip.clear()
            for p, q in zip(ours, theirs):
                np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-10, atol=1e-12)
        elif op == "none_grad":
            skip.add(int(torch.randint(len(ours), (1,), generator=gen)))
        elif op == "swap_param":  # new memory, same tensor: its state follows it
            i = int(torch.randint(len(ours), (1,), generator=gen))
            ours[i].data, theirs[i].data = ours[i].data.clone(), theirs[i].data.clone()
        elif op == "swap_grad":  # a gradient whose storage is replaced by a fitting one
            if ours[0].grad is not None:
                ours[0].grad.data = ours[0].grad.data.clone()
        elif op == "bad_grad":  # refused, with nothing changed
            for p in ours:
                p.grad = torch.ones_like(p)
            ours[1].grad.data = torch.ones(2, dtype=torch.float64)
            before = snapshot(ours, opt)
            with pytest.raises(ValueError, match="gradient of parameter 1"):
                opt.step()
            assert same(before, snapshot(ours, opt))
            for p in ours:
                p.grad = None
        elif op == "reorder":  # a group edit, in both
            for o in (opt, ref):
                o.param_groups[0]["params"].reverse()
            ours.reverse()
            theirs.reverse()
        elif op == "round_trip":
            opt.load_state_dict(copy.deepcopy(opt.state_dict()))
        elif op == "load_torch":  # torch's own state dict, into ours
            opt.load_state_dict(copy.deepcopy(ref.state_dict()))
