"""The same gradient stream through fastoptim and torch.optim (skipped when torch is absent)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DTYPES, SHAPES, grad_stream, init_params, tolerance
from cases import IDS, TORCH_CASES

import fastoptim as fo

torch = pytest.importorskip("torch")

STEPS = 50


def parity_tolerance(name, dtype):
    # torch keeps NAdam's mu_product (and its step) as a float32 scalar tensor even for float64
    # parameters; fastoptim and tests/reference.py carry it in float64 and agree to 1e-11.
    if name == "NAdam" and dtype == np.float64:
        return {"rtol": 1e-6, "atol": 1e-8}
    return tolerance(dtype)


def torch_trajectory(name, hyper, params, grads):
    tparams = [torch.tensor(p) for p in params]
    opt = getattr(torch.optim, name)(tparams, **hyper)
    for gs in grads:
        for p, g in zip(tparams, gs):
            p.grad = torch.tensor(g)
        opt.step()
    return [p.numpy() for p in tparams], [opt.state[p] for p in tparams]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, rule, hyper", [c for _, c in TORCH_CASES], ids=[IDS[i] for i, _ in TORCH_CASES])
def test_matches_torch(name, rule, hyper, dtype):
    params = init_params(SHAPES, dtype)
    grads = grad_stream(SHAPES, STEPS, dtype)
    expected, tstates = torch_trajectory(name, hyper, params, grads)
    opt = getattr(fo, name)(params, **hyper)
    for gs in grads:
        opt.step(gs)
    state = opt.state_dict()["state"]
    for i, (p, e) in enumerate(zip(params, expected)):
        np.testing.assert_allclose(p, e, **parity_tolerance(name, dtype))
        for slot, value in tstates[i].items():
            if slot == "step":
                assert int(value) == state[i]["step"]
            elif value is not None:
                np.testing.assert_allclose(state[i][slot], value.numpy(), **parity_tolerance(name, dtype))


def test_zero_copy_views_of_torch_tensors():
    """A CPU tensor's .numpy() view is updated in place: torch sees every step."""
    t = torch.zeros(1000)
    opt = fo.Adam([t.numpy()], lr=0.1)
    opt.step([np.ones(1000, np.float32)])
    assert torch.allclose(t, torch.full((1000,), -0.1), atol=1e-6)
