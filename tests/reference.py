"""Float64 NumPy reference formulas for every update rule, written from the papers.

Each rule is a function ``rule(p, g, state, t, **hyper) -> new p``: one step at step number
``t = 1, 2, ...`` on float64 arrays, updating ``state`` (a dict) in place. These are deliberately
plain and independent of the C++ kernels: they are what the kernels are checked against.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List

import numpy as np

Rule = Callable[..., np.ndarray]


def sgd(p, g, state, t, *, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
    """SGD with heavy-ball momentum (Polyak 1964) as torch defines it: the buffer starts at d."""
    d = -g if maximize else g
    d = d + weight_decay * p
    if momentum != 0:
        if "momentum_buffer" not in state:
            buf = d.copy()
        else:
            buf = momentum * state["momentum_buffer"] + (1 - dampening) * d
        state["momentum_buffer"] = buf
        d = d + momentum * buf if nesterov else buf
    return p - lr * d


def adam(
    p,
    g,
    state,
    t,
    *,
    lr=1e-3,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0.0,
    amsgrad=False,
    maximize=False,
    decoupled_weight_decay=False,
):
    """Adam (Kingma & Ba 2015, Algorithm 1), AMSGrad (Reddi et al. 2018), AdamW (Loshchilov & Hutter 2019)."""
    b1, b2 = betas
    g = -g if maximize else g
    if decoupled_weight_decay:
        p = p * (1 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    m = b1 * state.get("exp_avg", 0.0) + (1 - b1) * g
    v = b2 * state.get("exp_avg_sq", 0.0) + (1 - b2) * g * g
    state["exp_avg"], state["exp_avg_sq"] = m, v
    if amsgrad:
        v = np.maximum(state.get("max_exp_avg_sq", 0.0), v)
        state["max_exp_avg_sq"] = v
    m_hat = m / (1 - b1**t)
    v_hat = v / (1 - b2**t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps)


def adamw(p, g, state, t, *, weight_decay=1e-2, **hyper):
    """AdamW: Adam with decoupled weight decay."""
    return adam(p, g, state, t, weight_decay=weight_decay, decoupled_weight_decay=True, **hyper)


def trajectory(rule: Rule, params: List[np.ndarray], grads: Iterable[List[np.ndarray]], **hyper: Any):
    """Run ``rule`` over a stream of gradient lists in float64; return the final params and states."""
    ps = [np.asarray(p, np.float64).copy() for p in params]
    states: List[Dict[str, Any]] = [{} for _ in ps]
    for t, gs in enumerate(grads, start=1):
        ps = [rule(p, np.asarray(g, np.float64), s, t, **hyper) for p, g, s in zip(ps, gs, states)]
    return ps, states
