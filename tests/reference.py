"""Float64 NumPy reference formulas for every update rule, written from the papers.

Each rule is a function ``rule(p, g, state, t, **hyper) -> new p``: one step at step number
``t = 1, 2, ...`` on float64 arrays, updating ``state`` (a dict) in place. These are deliberately
plain and independent of the C++ kernels: they are what the kernels are checked against.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, Iterable, List, Tuple

import numpy as np

Rule = Callable[..., np.ndarray]

# (class name, formula, settings): every rule and option the correctness tests run (tests/cases.py),
# registered by @cases beside each formula.
CASES: List[Tuple[str, Rule, Dict[str, Any]]] = []


def cases(name: str, *settings: Dict[str, Any]) -> Callable[[Rule], Rule]:
    """Make the formula below the reference of fastoptim class ``name``, tested with each of ``settings``."""

    def register(rule: Rule) -> Rule:
        CASES.extend((name, rule, s) for s in settings)
        return rule

    return register


@cases(
    "SGD",
    dict(lr=0.05),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01),
    dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    dict(lr=0.05, momentum=0.9, nesterov=True, maximize=True),
    dict(lr=0.05, momentum=0.5, maximize=True),
)
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


@cases(
    "Adam",
    dict(lr=1e-2),
    dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
    dict(lr=1e-2, amsgrad=True),
    dict(lr=1e-2, weight_decay=0.05, maximize=True, decoupled_weight_decay=True),
)
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


@cases("AdamW", dict(lr=1e-2), dict(lr=1e-2, weight_decay=0.1, amsgrad=True))
def adamw(p, g, state, t, *, weight_decay=1e-2, **hyper):
    """AdamW: Adam with decoupled weight decay."""
    return adam(p, g, state, t, weight_decay=weight_decay, decoupled_weight_decay=True, **hyper)


@cases(
    "Adagrad",
    dict(lr=0.1),
    dict(lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.5),
    dict(lr=0.1, maximize=True, eps=1e-6),
    dict(lr=0.01, average=True, lr_decay=0.05),
    dict(lr=0.01, average=True),
)
def adagrad(
    p, g, state, t, *, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10,
    maximize=False, average=False,
):
    """AdaGrad (Duchi et al. 2011) with torch's lr decay; average=True uses sqrt(mean of g^2)."""
    g = (-g if maximize else g) + weight_decay * p
    s = state.get("sum", initial_accumulator_value) + g * g
    state["sum"] = s
    sigma = np.sqrt(s / t) if average else np.sqrt(s)
    return p - lr / (1 + (t - 1) * lr_decay) * g / (sigma + eps)


@cases(
    "RMSprop",
    dict(lr=1e-2),
    dict(lr=1e-2, momentum=0.9, weight_decay=0.01),
    dict(lr=1e-2, centered=True, alpha=0.9),
    dict(lr=1e-2, centered=True, weight_decay=0.05),
    dict(lr=1e-2, centered=True, momentum=0.5, maximize=True),
)
def rmsprop(p, g, state, t, *, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, maximize=False):
    """RMSProp (Tieleman & Hinton 2012); centered as in Graves 2013; momentum on the scaled gradient."""
    g = (-g if maximize else g) + weight_decay * p
    sq = alpha * state.get("square_avg", 0.0) + (1 - alpha) * g * g
    state["square_avg"] = sq
    if centered:
        ga = alpha * state.get("grad_avg", 0.0) + (1 - alpha) * g
        state["grad_avg"] = ga
        den = np.sqrt(sq - ga * ga) + eps
    else:
        den = np.sqrt(sq) + eps
    if momentum > 0:
        buf = momentum * state.get("momentum_buffer", 0.0) + g / den
        state["momentum_buffer"] = buf
        return p - lr * buf
    return p - lr * g / den


@cases("Adadelta", dict(), dict(lr=0.5, rho=0.95, eps=1e-5, weight_decay=0.01, maximize=True))
def adadelta(p, g, state, t, *, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
    """AdaDelta (Zeiler 2012, Algorithm 1), with a multiplier lr."""
    g = (-g if maximize else g) + weight_decay * p
    sq = rho * state.get("square_avg", 0.0) + (1 - rho) * g * g
    delta = np.sqrt(state.get("acc_delta", 0.0) + eps) / np.sqrt(sq + eps) * g
    state["square_avg"] = sq
    state["acc_delta"] = rho * state.get("acc_delta", 0.0) + (1 - rho) * delta * delta
    return p - lr * delta


@cases("Adamax", dict(lr=1e-2), dict(lr=1e-2, betas=(0.8, 0.9), weight_decay=0.01, maximize=True))
def adamax(p, g, state, t, *, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, maximize=False):
    """Adamax (Kingma & Ba 2015, Algorithm 2), eps inside the max as torch has it."""
    b1, b2 = betas
    g = (-g if maximize else g) + weight_decay * p
    m = b1 * state.get("exp_avg", 0.0) + (1 - b1) * g
    u = np.maximum(b2 * state.get("exp_inf", 0.0), np.abs(g) + eps)
    state["exp_avg"], state["exp_inf"] = m, u
    return p - lr / (1 - b1**t) * m / u


@cases(
    "NAdam",
    dict(lr=1e-2),
    dict(lr=1e-2, weight_decay=0.01, momentum_decay=0.01),
    dict(lr=1e-2, weight_decay=0.05, decoupled_weight_decay=True, maximize=True),
)
def nadam(
    p, g, state, t, *, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, momentum_decay=4e-3,
    decoupled_weight_decay=False, maximize=False,
):
    """NAdam (Dozat 2016) with the momentum schedule mu_t = b1 (1 - 0.5 * 0.96^(t psi))."""
    b1, b2 = betas
    g = -g if maximize else g
    if decoupled_weight_decay:
        p = p * (1 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    mu = b1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
    mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
    product = state.get("mu_product", 1.0) * mu
    m = b1 * state.get("exp_avg", 0.0) + (1 - b1) * g
    v = b2 * state.get("exp_avg_sq", 0.0) + (1 - b2) * g * g
    state.update(mu_product=product, exp_avg=m, exp_avg_sq=v)
    den = np.sqrt(v / (1 - b2**t)) + eps
    return p - lr * (1 - mu) / (1 - product) * g / den - lr * mu_next / (1 - product * mu_next) * m / den


@cases(
    "RAdam",
    dict(lr=1e-2),
    dict(lr=1e-2, betas=(0.9, 0.9), weight_decay=0.01),
    dict(lr=1e-2, weight_decay=0.05, decoupled_weight_decay=True, maximize=True),
)
def radam(
    p, g, state, t, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled_weight_decay=False,
    maximize=False,
):
    """RAdam (Liu et al. 2020, Algorithm 2)."""
    b1, b2 = betas
    g = -g if maximize else g
    if decoupled_weight_decay:
        p = p * (1 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    m = b1 * state.get("exp_avg", 0.0) + (1 - b1) * g
    v = b2 * state.get("exp_avg_sq", 0.0) + (1 - b2) * g * g
    state["exp_avg"], state["exp_avg_sq"] = m, v
    m_hat = m / (1 - b1**t)
    rho_inf = 2 / (1 - b2) - 1
    rho_t = rho_inf - 2 * t * b2**t / (1 - b2**t)
    if rho_t <= 5:
        return p - lr * m_hat
    rect = np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
    return p - lr * m_hat * rect * np.sqrt(1 - b2**t) / (np.sqrt(v) + eps)


@cases("Lion", dict(lr=1e-3), dict(lr=1e-3, betas=(0.95, 0.98), weight_decay=0.1, maximize=True))
def lion(p, g, state, t, *, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, maximize=False):
    """Lion (Chen et al. 2023, Algorithm 2)."""
    b1, b2 = betas
    g = -g if maximize else g
    m = state.get("exp_avg", 0.0)
    c = b1 * m + (1 - b1) * g
    state["exp_avg"] = b2 * m + (1 - b2) * g
    return p - lr * (np.sign(c) + weight_decay * p)


@cases("LAMB", dict(lr=1e-2), dict(lr=1e-2, betas=(0.8, 0.99), weight_decay=0.01, maximize=True))
def lamb(p, g, state, t, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0, maximize=False):
    """LAMB (You et al. 2020, Algorithm 2) with bias correction and trust ratio ||p|| / ||r||."""
    b1, b2 = betas
    g = -g if maximize else g
    m = b1 * state.get("exp_avg", 0.0) + (1 - b1) * g
    v = b2 * state.get("exp_avg_sq", 0.0) + (1 - b2) * g * g
    state["exp_avg"], state["exp_avg_sq"] = m, v
    r = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps) + weight_decay * p
    pn, rn = np.linalg.norm(p), np.linalg.norm(r)
    trust = pn / rn if pn > 0 and rn > 0 else 1.0
    return p - lr * trust * r


@cases(
    "LARS",
    dict(lr=0.5),
    dict(lr=0.5, momentum=0.0, weight_decay=0.01, trust_coefficient=0.02),
    dict(lr=0.5, momentum=0.8, weight_decay=0.001, maximize=True),
)
def lars(p, g, state, t, *, lr, momentum=0.9, weight_decay=0.0, trust_coefficient=1e-3, eps=1e-8, maximize=False):
    """LARS (You et al. 2017, Algorithm 1); the buffer starts at the first scaled step."""
    g = -g if maximize else g
    pn, gn = np.linalg.norm(p), np.linalg.norm(g)
    trust = trust_coefficient * pn / (gn + weight_decay * pn + eps) if pn > 0 and gn > 0 else 1.0
    d = trust * (g + weight_decay * p)
    if momentum != 0:
        d = momentum * state["momentum_buffer"] + d if "momentum_buffer" in state else d
        state["momentum_buffer"] = d
    return p - lr * d


@cases("Rprop", dict(), dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.2), maximize=True))
def rprop(p, g, state, t, *, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), maximize=False):
    """Rprop (Riedmiller & Braun 1993) as torch has it: the step sizes start at lr, and after a sign
    flip the element's gradient counts as zero."""
    minus, plus = etas
    g = -g if maximize else g
    prev = state.get("prev", np.zeros_like(p))
    size = state.get("step_size", np.full_like(p, lr))
    s = np.sign(g * prev)
    size = np.clip(size * np.where(s > 0, plus, np.where(s < 0, minus, 1.0)), *step_sizes)
    g = np.where(s < 0, 0.0, g)
    state.update(prev=g, step_size=size)
    return p - np.sign(g) * size


@cases(
    "ASGD",
    dict(lr=0.05),
    dict(lr=0.05, lambd=0.01, alpha=0.5, t0=10, weight_decay=0.01, maximize=True),
)
def asgd(p, g, state, t, *, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0, maximize=False):
    """ASGD (Polyak & Juditsky 1992) with Bottou's step size eta_t = lr / (1 + lambd lr t)^alpha."""
    g = -g if maximize else g
    g = g + weight_decay * p
    eta, mu = state.get("eta", lr), state.get("mu", 1.0)
    p = p * (1 - lambd * eta) - eta * g
    ax = p if mu == 1 else state["ax"] + (p - state["ax"]) * mu
    state.update(ax=ax, eta=lr / (1 + lambd * lr * t) ** alpha, mu=1 / max(1, t - t0))
    return p


@cases(
    "Adafactor",
    dict(),
    dict(lr=0.05, beta2_decay=-0.5, eps=(1e-6, 1e-2), d=1.5, weight_decay=0.1, maximize=True),
)
def adafactor(p, g, state, t, *, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.0, maximize=False):
    """Adafactor (Shazeer & Stern 2018) as torch has it: factored second moments over the last two
    dimensions, a relative step from the parameter's RMS, the update's RMS clipped to d."""
    if p.size == 0:
        return p
    g = -g if maximize else g
    eps1 = np.finfo(np.float64).eps if eps[0] is None else eps[0]
    w = t**beta2_decay
    alpha = max(eps[1], np.sqrt(np.mean(p * p))) * min(lr, t**-0.5)
    p = p * (1 - lr * weight_decay)
    if p.ndim >= 2:
        rows = state.get("row_var", 0.0) + w * ((g * g).mean(axis=-1, keepdims=True) - state.get("row_var", 0.0))
        cols = state.get("col_var", 0.0) + w * ((g * g).mean(axis=-2, keepdims=True) - state.get("col_var", 0.0))
        state.update(row_var=rows, col_var=cols)
        v = rows * cols / np.maximum(rows.mean(axis=-2, keepdims=True), eps1)
    else:
        v = state.get("variance", 0.0) + w * (g * g - state.get("variance", 0.0))
        state["variance"] = v
    u = g / np.sqrt(np.maximum(v, eps1 * eps1))
    return p - alpha / max(1.0, np.sqrt(np.mean(u * u)) / d) * u


@cases("SparseAdam", dict(lr=1e-2), dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, maximize=True))
def sparse_adam(p, g, state, t, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, maximize=False):
    """torch's SparseAdam on the rows it is given (all of them here): Adam with the bias correction
    of the second moment outside the root."""
    g = -g if maximize else g
    m = state.get("exp_avg", 0.0) + (1 - betas[0]) * (g - state.get("exp_avg", 0.0))
    v = state.get("exp_avg_sq", 0.0) + (1 - betas[1]) * (g * g - state.get("exp_avg_sq", 0.0))
    state.update(exp_avg=m, exp_avg_sq=v)
    return p - lr * math.sqrt(1 - betas[1] ** t) / (1 - betas[0] ** t) * m / (np.sqrt(v) + eps)


@cases(
    "RowWiseAdagrad",
    dict(lr=0.1),
    dict(lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.5, maximize=True),
)
def rowwise_adagrad(p, g, state, t, *, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10,
                    maximize=False):
    """Row-wise AdaGrad (FBGEMM): one accumulator per row of the first dimension, fed the row's mean g^2."""
    if p.size == 0:
        return p
    g = -g if maximize else g
    g = g + weight_decay * p
    rows = g.reshape(len(g) if g.ndim else 1, -1)
    s = state.get("sum", initial_accumulator_value) + (rows * rows).mean(axis=1).reshape(p.shape[:1])
    state["sum"] = s
    step = lr / (1 + (t - 1) * lr_decay) * rows / (np.sqrt(s).reshape(-1, 1) + eps)
    return p - step.reshape(p.shape)


@cases(
    "Adan",
    dict(lr=1e-2),
    dict(lr=1e-2, betas=(0.9, 0.8, 0.95), weight_decay=0.05, maximize=True),
    dict(lr=1e-2, weight_decay=0.05, weight_decouple=True),
)
def adan(p, g, state, t, *, lr=1e-3, betas=(0.98, 0.92, 0.99), weight_decay=0.0, weight_decouple=False, eps=1e-8,
         maximize=False):
    """Adan (Xie et al. 2024, Algorithm 1 with Adam-style decay rates), as pytorch-optimizer has it."""
    b1, b2, b3 = betas
    g = -g if maximize else g
    d = g + state["previous_grad"] if t > 1 else np.zeros_like(g)  # previous_grad holds -g_{t-1}
    m = b1 * state.get("exp_avg", 0.0) + (1 - b1) * g
    diff = b2 * state.get("exp_avg_diff", 0.0) + (1 - b2) * d
    n = b3 * state.get("exp_avg_sq", 0.0) + (1 - b3) * (g + b2 * d) ** 2
    state.update(exp_avg=m, exp_avg_diff=diff, exp_avg_sq=n, previous_grad=-g)
    den = np.sqrt(n / (1 - b3**t)) + eps
    if weight_decouple:
        p = p * (1 - lr * weight_decay)
    p = p - lr / (1 - b1**t) * m / den - lr * b2 / (1 - b2**t) * diff / den
    return p if weight_decouple else p / (1 + lr * weight_decay)


@cases(
    "AdEMAMix",
    dict(lr=1e-2),
    dict(lr=1e-2, betas=(0.8, 0.9, 0.99), alpha=2.0, t_alpha_beta3=20, weight_decay=0.01),
    dict(lr=1e-2, weight_decay=0.1, weight_decouple=True, fixed_decay=True, maximize=True),
    dict(lr=1e-2, weight_decay=0.1, weight_decouple=True),
)
def ademamix(p, g, state, t, *, lr=1e-3, betas=(0.9, 0.999, 0.9999), weight_decay=0.0, weight_decouple=False,
             fixed_decay=False, alpha=5.0, t_alpha_beta3=None, eps=1e-8, maximize=False):
    """AdEMAMix (Pagliardini et al. 2024, Algorithm 1), with pytorch-optimizer's decay options."""
    b1, b2, b3 = betas
    g = -g if maximize else g
    if t_alpha_beta3:
        frac = t / t_alpha_beta3
        alpha = min(frac * alpha, alpha)
        b3 = min(math.exp(math.log(b1) * math.log(b3) / ((1 - frac) * math.log(b3) + frac * math.log(b1))), b3)
    if weight_decouple:
        p = p * (1 - weight_decay * (1.0 if fixed_decay else lr))
    else:
        g = g + weight_decay * p
    m = b1 * state.get("exp_avg", 0.0) + (1 - b1) * g
    v = b2 * state.get("exp_avg_sq", 0.0) + (1 - b2) * g * g
    s = b3 * state.get("exp_avg_slow", 0.0) + (1 - b3) * g
    state.update(exp_avg=m, exp_avg_sq=v, exp_avg_slow=s)
    return p - lr * (m / (1 - b1**t) + alpha * s) / (np.sqrt(v / (1 - b2**t)) + eps)


def _schedulefree_weight(state, t, lr, warmup_steps, r, weight_lr_power):
    """This step's lr and averaging weight c_t = w_t / sum w_s (Defazio et al. 2024, with warm-up)."""
    lr = lr * (t / warmup_steps if t - 1 < warmup_steps else 1.0)
    lr_max = max(lr, state.get("lr_max", -1.0))
    weight = t**r * lr_max**weight_lr_power
    weight_sum = state.get("weight_sum", 0.0) + weight
    state.update(lr_max=lr_max, weight_sum=weight_sum)
    return lr, (weight / weight_sum if weight_sum else 0.0)


def schedulefree_sgd(p, g, state, t, *, lr=1.0, momentum=0.9, weight_decay=0.0, warmup_steps=0, r=0.0,
                     weight_lr_power=2.0):
    """Schedule-Free SGD (Defazio et al. 2024): p is y; z starts at the first y."""
    lr, c = _schedulefree_weight(state, t, lr, warmup_steps, r, weight_lr_power)
    z = state.get("z", p)
    d = g + weight_decay * p
    state["z"] = z - lr * d
    return (1 - c) * p + c * z + lr * (momentum * (1 - c) - 1) * d


def schedulefree_adamw(p, g, state, t, *, lr=0.0025, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, warmup_steps=0,
                       r=0.0, weight_lr_power=2.0):
    """Schedule-Free AdamW (Defazio et al. 2024): Schedule-Free SGD on Adam-normalised gradients."""
    b1, b2 = betas
    lr, c = _schedulefree_weight(state, t, lr, warmup_steps, r, weight_lr_power)
    z = state.get("z", p)
    v = b2 * state.get("exp_avg_sq", 0.0) + (1 - b2) * g * g
    d = g / (np.sqrt(v / (1 - b2**t)) + eps) + weight_decay * p
    state.update(z=z - lr * d, exp_avg_sq=v)
    return (1 - c) * p + c * z + lr * (b1 * (1 - c) - 1) * d


def schedulefree_x(y, z, beta1):
    """The evaluation point x from y = (1 - beta1) z + beta1 x."""
    return (y - (1 - beta1) * z) / beta1


def newton_schulz(g, coefficients=(3.4445, -4.7750, 2.0315), steps=5, eps=1e-7):
    """Muon's quintic Newton-Schulz iteration in float64 (Jordan et al. 2024)."""
    a, b, c = coefficients
    x = np.asarray(g, np.float64)
    x = x if x.shape[0] <= x.shape[1] else x.T
    x = x / max(np.linalg.norm(x), eps)
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x if g.shape[0] <= g.shape[1] else x.T


def muon(p, g, state, t, *, lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True, adjust_lr_fn=None, **ns):
    """Muon (Jordan et al. 2024) as torch.optim.Muon: orthogonalised (Nesterov) momentum."""
    buf = momentum * state.get("momentum_buffer", 0.0) + (1 - momentum) * g
    state["momentum_buffer"] = buf
    update = (1 - momentum) * g + momentum * buf if nesterov else buf
    rows, cols = p.shape
    scale = math.sqrt(max(1, rows / cols)) if adjust_lr_fn in (None, "original") else 0.2 * math.sqrt(max(rows, cols))
    return p * (1 - lr * weight_decay) - lr * scale * newton_schulz(update, **ns)


# -- learning-rate-free rules: one estimate d for all parameters, so each formula takes them all ---------
# ``rule(ps, gs, state, t, **hyper) -> new ps``, ``state`` holding the shared scalars and a list of
# per-parameter dicts. Registered in GLOBAL_CASES (the per-tensor CASES cannot hold them).
GLOBAL_CASES: List[Tuple[str, Rule, Dict[str, Any]]] = []


def global_cases(name: str, *settings: Dict[str, Any]) -> Callable[[Rule], Rule]:
    def register(rule: Rule) -> Rule:
        GLOBAL_CASES.extend((name, rule, s) for s in settings)
        return rule

    return register


def _per_param(state, ps):
    return state.setdefault("params", [{} for _ in ps])


@global_cases(
    "Prodigy",
    dict(),
    dict(weight_decay=0.1, use_bias_correction=True),
    dict(betas=(0.0, 0.99), weight_decay=0.1, decouple=False, safeguard_warmup=True, d_coef=0.5, growth_rate=1.05),
    dict(beta3=0.9, maximize=True),
)
def prodigy(ps, gs, state, t, *, lr=1.0, betas=(0.9, 0.999), beta3=None, eps=1e-8, weight_decay=0.0, decouple=True,
            use_bias_correction=False, safeguard_warmup=False, d0=1e-6, d_coef=1.0, growth_rate=math.inf, maximize=False):
    """Prodigy (Mishchenko & Defazio 2024, Algorithm 3 with Adam's moments scaled by d)."""
    b1, b2 = betas
    b3 = math.sqrt(b2) if beta3 is None else beta3
    d, d_max, num = state.get("d", d0), state.get("d_max", d0), state.get("num", 0.0)
    bc = math.sqrt(1 - b2**t) / (1 - b1**t) if use_bias_correction else 1.0
    dlr = d * lr * bc
    per = _per_param(state, ps)
    gs = [(-g if maximize else g) + (0.0 if decouple else weight_decay) * p for p, g in zip(ps, gs)]
    num = b3 * num + sum((d / d0) * dlr * float(np.dot(g.ravel(), (st.setdefault("p0", p.copy()) - p).ravel())) for p, g, st in zip(ps, gs, per))
    den = 0.0
    for g, st in zip(gs, per):
        st["m"] = b1 * st.get("m", 0.0) + d * (1 - b1) * g
        st["v"] = b2 * st.get("v", 0.0) + d * d * (1 - b2) * g * g
        st["s"] = b3 * st.get("s", 0.0) + (d / d0) * (d if safeguard_warmup else dlr) * g
        den += float(np.abs(st["s"]).sum())
    if den == 0:
        return ps
    d_hat = d_coef * num / den
    if d == d0:
        d = max(d, d_hat)
    d_max = max(d_max, d_hat)
    d = min(d_max, d * growth_rate)
    state.update(d=d, d_max=d_max, num=num)
    out = []
    for p, g, st in zip(ps, gs, per):
        p = p - weight_decay * dlr * p if decouple else p
        step = dlr * st["m"] if b1 > 0 else dlr * d * g
        out.append(p - step / (np.sqrt(st["v"]) + d * eps))
    return out


@global_cases(
    "DAdaptAdam",
    dict(),
    dict(weight_decay=0.1, decouple=True, use_bias_correction=True),
    dict(betas=(0.8, 0.99), weight_decay=0.1, growth_rate=1.1, maximize=True),
)
def dadapt_adam(ps, gs, state, t, *, lr=1.0, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decouple=False,
                use_bias_correction=False, d0=1e-6, growth_rate=math.inf, maximize=False):
    """D-Adapt Adam (Defazio & Mishchenko 2023, Algorithm 4, as dadaptation 3.2 weights it)."""
    b1, b2 = betas
    sb2 = math.sqrt(b2)
    d, num = state.get("d", d0), state.get("num", 0.0)
    dlr = d * lr * (math.sqrt(1 - b2**t) / (1 - b1**t) if use_bias_correction else 1.0)
    per = _per_param(state, ps)
    gs = [(-g if maximize else g) + (0.0 if decouple else weight_decay) * p for p, g in zip(ps, gs)]
    inner, l1 = 0.0, 0.0
    for g, st in zip(gs, per):
        s, v = st.get("s", np.zeros_like(g)), st.get("v", np.zeros_like(g))
        inner += dlr * float(np.sum(g * s / (np.sqrt(v) + eps)))
        st["m"] = b1 * st.get("m", 0.0) + dlr * (1 - b1) * g
        st["v"] = b2 * v + (1 - b2) * g * g
        st["s"] = sb2 * s + dlr * (1 - sb2) * g
        l1 += float(np.abs(st["s"]).sum())
    if l1 == 0:
        return ps
    num = sb2 * num + (1 - sb2) * inner
    d = max(d, min(num / ((1 - sb2) * l1), d * growth_rate))
    state.update(d=d, num=num)
    return [(p - weight_decay * dlr * p if decouple else p) - st["m"] / (np.sqrt(st["v"]) + eps) for p, st in zip(ps, per)]


@global_cases("DAdaptSGD", dict(), dict(momentum=0.9, weight_decay=0.01), dict(growth_rate=1.5, maximize=True))
def dadapt_sgd(ps, gs, state, t, *, lr=1.0, momentum=0.0, weight_decay=0.0, d0=1e-6, growth_rate=math.inf, maximize=False):
    """D-Adapt SGD (Defazio & Mishchenko 2023, Algorithm 1 in its dual-averaging form, with momentum)."""
    d, num = state.get("d", d0), state.get("num", 0.0)
    per = _per_param(state, ps)
    raw = [-g if maximize else g for g in gs]
    if "g0" not in state:
        state["g0"] = math.sqrt(sum(float(np.sum(g * g)) for g in raw))
    dlr = d * lr / state["g0"]
    gs = [g + weight_decay * p for p, g in zip(ps, raw)]
    sk_sq = 0.0
    for p, g, st in zip(ps, gs, per):
        s = st.get("s", np.zeros_like(g))
        st.setdefault("x0", p.copy())
        num += dlr * float(np.sum(g * s))
        st["s"] = s + dlr * g
        sk_sq += float(np.sum(st["s"] ** 2))
    d = max(d, min(2 * num / math.sqrt(sk_sq), d * growth_rate))
    state.update(d=d, num=num)
    return [momentum * p + (1 - momentum) * (st["x0"] - st["s"]) for p, st in zip(ps, per)]


@global_cases("DAdaptAdaGrad", dict(), dict(momentum=0.9, weight_decay=0.01, growth_rate=1.2), dict(eps=1e-3, maximize=True))
def dadapt_adagrad(ps, gs, state, t, *, lr=1.0, momentum=0.0, weight_decay=0.0, eps=1e-6, d0=1e-6, growth_rate=math.inf, maximize=False):
    """D-Adapt AdaGrad (Defazio & Mishchenko 2023, Algorithm 3 in its dual-averaging form)."""
    d = state.get("d", d0)
    dlr = d * lr
    per = _per_param(state, ps)
    gs = [(-g if maximize else g) + weight_decay * p for p, g in zip(ps, gs)]
    gsq = 0.0
    for p, g, st in zip(ps, gs, per):
        st.setdefault("x0", p.copy())
        st["a"] = st.get("a", np.full_like(g, 1e-6)) + g * g
        gsq += float(np.sum(g * g / (np.sqrt(st["a"]) + eps)))
        st["s"] = st.get("s", 0.0) + dlr * g
    sksq = sum(float(np.sum(st["s"] ** 2 / (np.sqrt(st["a"]) + eps))) for st in per)
    skl1 = sum(float(np.abs(st["s"]).sum()) for st in per)
    if skl1 == 0:
        return ps
    gsq_weighted = state.get("gsq", 0.0) + dlr * dlr * gsq
    d = max(d, min((sksq - gsq_weighted) / skl1, d * growth_rate))
    state.update(d=d, gsq=gsq_weighted)
    return [momentum * p + (1 - momentum) * (st["x0"] - st["s"] / (np.sqrt(st["a"]) + eps)) for p, st in zip(ps, per)]


def trajectory(rule: Rule, params: List[np.ndarray], grads: Iterable[List[np.ndarray]], **hyper: Any):
    """Run ``rule`` over a stream of gradient lists in float64; return the final params and states."""
    ps = [np.asarray(p, np.float64).copy() for p in params]
    states: List[Dict[str, Any]] = [{} for _ in ps]
    for t, gs in enumerate(grads, start=1):
        ps = [rule(p, np.asarray(g, np.float64), s, t, **hyper) for p, g, s in zip(ps, gs, states)]
    return ps, states


# -- schedules: closed forms from their definitions, as functions of the step t = 0, 1, ... ----------


def cos_between(a, b, frac):
    return b + (a - b) * (1 + math.cos(math.pi * frac)) / 2


SCHEDULES = {
    "constant": lambda t, value: value,
    "step": lambda t, init, step_size, gamma=0.1: init * gamma ** (t // step_size),
    "multistep": lambda t, init, milestones, gamma=0.1: init * gamma ** sum(m <= t for m in milestones),
    "exponential": lambda t, init, gamma: init * gamma**t,
    "inverse_time": lambda t, init, decay_rate, decay_steps=1, staircase=False: init
    / (1 + decay_rate * ((t // decay_steps) if staircase else t / decay_steps)),
    "inverse_sqrt": lambda t, init, timescale=1: init / math.sqrt(1 + t / timescale),
    "polynomial": lambda t, init, end, total_steps, power=1.0: (init - end) * (1 - min(t, total_steps) / total_steps) ** power
    + end,
    "linear": lambda t, start, end, steps: start + (end - start) * min(t, steps) / steps,
    "cosine": lambda t, init, total_steps, min_value=0.0: min_value
    if t >= total_steps
    else cos_between(init, min_value, t / total_steps),
    "noam": lambda t, d_model, warmup_steps, scale=1.0: scale
    * d_model**-0.5
    * min((t + 1) ** -0.5, (t + 1) * warmup_steps**-1.5),
}


def cosine_restarts(t, init, period, period_mult=1, min_value=0.0):
    """SGDR: find the current period by walking the restarts."""
    start, length = 0, period
    while t >= start + length:
        start, length = start + length, length * period_mult
    return cos_between(init, min_value, (t - start) / length)


def one_cycle(t, max_value, total_steps, pct_start=0.3, div_factor=25.0, final_div_factor=1e4, anneal="cos", three_phase=False):
    """1cycle (Smith & Topin 2018) as torch's OneCycleLR phases it: ends at pct*T - 1 (and 2 pct*T - 2), T - 1."""
    initial = max_value / div_factor
    final = initial / final_div_factor
    if three_phase:
        ends, points = [pct_start * total_steps - 1, 2 * pct_start * total_steps - 2, total_steps - 1], [initial, max_value, initial, final]
    else:
        ends, points = [pct_start * total_steps - 1, total_steps - 1], [initial, max_value, final]
    return _phases(t, ends, points, anneal)


def one_cycle_momentum(t, total_steps, base=0.85, max_value=0.95, pct_start=0.3, anneal="cos", three_phase=False):
    if three_phase:
        ends, points = [pct_start * total_steps - 1, 2 * pct_start * total_steps - 2, total_steps - 1], [max_value, base, max_value, max_value]
    else:
        ends, points = [pct_start * total_steps - 1, total_steps - 1], [max_value, base, max_value]
    return _phases(t, ends, points, anneal)


def _phases(t, ends, points, anneal):
    start = 0.0
    for i, end in enumerate(ends):
        if t <= end or i == len(ends) - 1:
            frac = min(max((t - start) / (end - start), 0.0), 1.0)
            a, b = points[i], points[i + 1]
            return cos_between(a, b, frac) if anneal == "cos" else a + (b - a) * frac
        start = end
    raise AssertionError


def cyclic(t, base, max_value, step_size_up, step_size_down=None, mode="triangular", gamma=1.0):
    """Smith 2017's triangle: position within the cycle, then the amplitude of this cycle."""
    down = step_size_up if step_size_down is None else step_size_down
    period = step_size_up + down
    cycle, pos = divmod(t, period)
    rise = pos / step_size_up if pos <= step_size_up else 1 - (pos - step_size_up) / down
    amp = {"triangular": 1.0, "triangular2": 0.5**cycle, "exp_range": gamma**t}[mode]
    return base + (max_value - base) * rise * amp


def warmup_stable_decay(t, peak, warmup_steps, stable_steps, decay_steps, min_value=0.0, decay="linear", init=0.0):
    if t < warmup_steps:
        return init + (peak - init) * t / warmup_steps
    if t < warmup_steps + stable_steps:
        return peak
    frac = min((t - warmup_steps - stable_steps) / decay_steps, 1.0)
    if decay == "linear":
        return peak + (min_value - peak) * frac
    if decay == "cosine":
        return cos_between(peak, min_value, frac)
    return min_value + (peak - min_value) * (1 - math.sqrt(frac))


def warmup_cosine(t, peak, warmup_steps, total_steps, init=0.0, min_value=0.0):
    """optax.warmup_cosine_decay_schedule: a linear warm-up joined to a cosine decay."""
    if t < warmup_steps:
        return init + (peak - init) * t / warmup_steps
    return cos_between(peak, min_value, min(t - warmup_steps, total_steps - warmup_steps) / (total_steps - warmup_steps))


SCHEDULES.update(
    cosine_restarts=cosine_restarts,
    one_cycle=one_cycle,
    one_cycle_momentum=one_cycle_momentum,
    cyclic=cyclic,
    warmup_stable_decay=warmup_stable_decay,
    warmup_cosine=warmup_cosine,
)
