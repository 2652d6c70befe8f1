"""16-bit parameters (bfloat16, float16): master weights (bit for bit the float32 run, rounded),
rounding to nearest and stochastic rounding without them, gradients in 16 bits or float32,
checkpoints and refusals."""

from __future__ import annotations

import inspect

import ml_dtypes
import numpy as np
import pytest
from conftest import grad_stream, init_params

import fastoptim as fo
from cases import CASES, IDS
from fastoptim import _core

BF16 = ml_dtypes.bfloat16
HALVES = [BF16, np.float16]
MASTER = {BF16: "master_low_bits", np.float16: "master_delta"}
SHAPES = [(700,), (16, 40), (3,)]
TAKES = [(name, hyper) for name, _, hyper in CASES if "master_weights" in inspect.signature(getattr(fo, name)).parameters]
TAKES_IDS = [i for (name, _, h), i in zip(CASES, IDS) if (name, h) in TAKES]


def round_away(x):
    """float32 to bfloat16 bits, to nearest with ties away from zero (finite x)."""
    bits = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    return ((bits + 0x8000) >> 16).astype(np.uint16)


def rounded(x, dtype):
    """What a master rounds to: bfloat16 to nearest, ties away from zero (so that its low bits
    restore it); float16 to nearest, ties to even (NumPy's)."""
    return round_away(x) if dtype == BF16 else np.asarray(x, np.float32).astype(np.float16).view(np.uint16)


def master_of(p, kept):
    """The float32 master: a bfloat16 parameter's bits shifted up plus the low bits as a signed
    number; a float16 parameter plus the difference."""
    if p.dtype == BF16:
        return ((p.view(np.uint16).astype(np.int64) << 16) + kept.view(np.int16)).astype(np.uint32).view(np.float32)
    return p.astype(np.float32) + kept


@pytest.mark.parametrize("half", HALVES, ids=["bfloat16", "float16"])
@pytest.mark.parametrize("grad_dtype", ["half", np.float32], ids=["half-grads", "float32-grads"])
@pytest.mark.parametrize("name, hyper", TAKES, ids=TAKES_IDS)
def test_master_weights_follow_the_float32_run_bit_for_bit(name, hyper, grad_dtype, half, tier):
    grad_dtype = half if grad_dtype == "half" else grad_dtype
    cls = getattr(fo, name)
    start = [p.astype(half) for p in init_params(SHAPES, np.float32)]
    grads = [[g.astype(grad_dtype) for g in gs] for gs in grad_stream(SHAPES, 6, np.float32, scale=0.5)]
    params = [p.copy() for p in start]
    opt = cls(params, **hyper)
    twins = [p.astype(np.float32) for p in start]
    plain = cls(twins, **hyper)
    for gs in grads:
        opt.step(gs)
        plain.step([g.astype(np.float32) for g in gs])
    state = opt.state_dict()["state"]
    for i, (p, q) in enumerate(zip(params, twins)):
        assert p.dtype == half
        assert np.array_equal(p.view(np.uint16), rounded(q, half)), i
        assert np.array_equal(master_of(p, state[i][MASTER[half]]), q), i
        for k, v in plain.state_dict()["state"][i].items():
            if isinstance(v, np.ndarray):
                assert np.array_equal(state[i][k], v), k  # float32 state, as the float32 run's


@pytest.mark.parametrize("half", HALVES, ids=["bfloat16", "float16"])
def test_nearest_rounds_each_update_to_even(half):
    p = init_params([(1000,)], np.float32)[0].astype(half)
    g = grad_stream([(1000,)], 1, np.float32)[0][0]
    twin = p.astype(np.float32)
    fo.Adam([p], lr=1e-2, master_weights=False).step([g])
    fo.Adam([twin], lr=1e-2).step([g])
    assert np.array_equal(p.view(np.uint16), twin.astype(half).view(np.uint16))  # ml_dtypes and NumPy round to even


def test_float16_conversions_are_numpys():
    """Every float16 reads back as itself, and float32 values over float16's whole range (overflow,
    normal, subnormal, underflow) round as NumPy rounds them."""
    every = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    p = every[np.isfinite(every)].copy()
    fo.SGD([p], lr=0.0, master_weights=False).step([np.zeros_like(p)])
    assert np.array_equal(p.view(np.uint16), every[np.isfinite(every)].view(np.uint16))
    rng = np.random.default_rng(0)
    v = (rng.standard_normal(200_000) * np.exp(rng.uniform(-25, 12, 200_000))).astype(np.float32)
    p = np.zeros(v.size, np.float16)
    fo.SGD([p], lr=1.0, master_weights=False).step([-v])
    with np.errstate(over="ignore"):
        assert np.array_equal(p.view(np.uint16), v.astype(np.float16).view(np.uint16))


SPACING = {BF16: 2.0**-7, np.float16: 2.0**-10}  # between 1 and the next value


def sgd_up(half, n, rounding, seed=0, steps=1):
    """SGD moving n ones by 1/8 of the spacing above 1, a step."""
    p = np.ones(n, half)
    opt = fo.SGD([p], lr=SPACING[half] / 8, master_weights=False, rounding=rounding, seed=seed)
    for _ in range(steps):
        opt.step([np.full(n, -1.0, np.float32)])
    return p.astype(np.float32)


@pytest.mark.parametrize("half", HALVES, ids=["bfloat16", "float16"])
def test_stochastic_rounding_is_unbiased_where_nearest_is_stuck(half):
    assert np.all(sgd_up(half, 100_000, "nearest", steps=4) == 1.0)  # every update rounds away
    up = sgd_up(half, 100_000, "stochastic")
    assert set(np.unique(up)) == {1.0, 1.0 + SPACING[half]}
    # Up with probability 1/8: the mean moves by the update, as in float32.
    assert abs(np.mean(up == 1.0 + SPACING[half]) - 0.125) < 0.005  # 5 standard deviations
    assert abs(np.mean(sgd_up(half, 100_000, "stochastic", steps=8)) - (1 + SPACING[half])) < 0.02 * SPACING[half]


def test_float16_stochastic_rounding_below_its_normal_range():
    """Subnormal float16 values are multiples of 2^-24: a quarter of that rounds up a quarter of the time."""
    p = np.zeros(100_000, np.float16)
    fo.SGD([p], lr=2.0**-26, master_weights=False, rounding="stochastic").step([np.full(p.size, -1.0, np.float32)])
    assert set(np.unique(p.astype(np.float64) * 2**24)) == {0.0, 1.0}
    assert abs(np.mean(p != 0) - 0.25) < 0.007


def test_stochastic_rounding_repeats_on_every_tier_and_thread_count():
    runs = {}
    for tier in fo.available_tiers():
        _core.select_tier(tier)
        for threads in (1, 2):
            fo.set_num_threads(threads)
            for half in HALVES:
                runs[(tier, threads, half)] = sgd_up(half, 1 << 17, "stochastic", seed=7, steps=3)
    _core.select_tier(fo.available_tiers()[-1])
    for half in HALVES:
        same = [r for (_, _, h), r in runs.items() if h is half]
        assert all(np.array_equal(r, same[0]) for r in same)
        assert not np.array_equal(same[0], sgd_up(half, 1 << 17, "stochastic", seed=8, steps=3))


@pytest.mark.parametrize("half", HALVES, ids=["bfloat16", "float16"])
def test_checkpoints_carry_the_master_weights(tmp_path, half):
    start = [p.astype(half) for p in init_params(SHAPES, np.float32)]
    grads = grad_stream(SHAPES, 6, np.float32)
    params = [p.copy() for p in start]
    opt = fo.AdamW(params, lr=1e-2, state_dtype="int8")
    for gs in grads[:3]:
        opt.step(gs)
    opt.save(tmp_path / "c.npz")
    again = [p.copy() for p in params]
    resumed = fo.AdamW(again, lr=1e-2, state_dtype="int8")
    resumed.load(tmp_path / "c.npz")
    for gs in grads[3:]:
        opt.step(gs)
        resumed.step(gs)
    for p, q in zip(params, again):
        assert np.array_equal(p.view(np.uint16), q.view(np.uint16))
    bad = opt.state_dict()
    name, other = MASTER[half], [n for n in MASTER.values() if n != MASTER[half]][0]
    del bad["state"][0][name]
    before = resumed.state_dict()
    with pytest.raises(ValueError, match=f"'{name}' is missing"):
        resumed.load_state_dict(bad)
    bad = opt.state_dict()
    bad["state"][0][other] = bad["state"][0].pop(name)
    with pytest.raises(ValueError, match=f"'{other}' is for"):
        resumed.load_state_dict(bad)
    assert np.array_equal(resumed.state_dict()["state"][0][name], before["state"][0][name])
    plain = fo.AdamW([np.zeros(5, np.float32)])
    plain.step([np.ones(5, np.float32)])
    sd = plain.state_dict()
    sd["state"][0]["master_low_bits"] = np.zeros(5, np.uint16)
    with pytest.raises(ValueError, match="'master_low_bits' is for bfloat16 parameters with master_weights=True"):
        plain.load_state_dict(sd)


def test_refusals_name_the_problem():
    p = np.zeros(10, BF16)
    with pytest.raises(ValueError, match="rounding='stochastic' rounds the parameters themselves; it needs master_weights=False"):
        fo.Adam([p], rounding="stochastic")
    with pytest.raises(ValueError, match="rounding must be 'nearest' or 'stochastic', got 'up'"):
        fo.Adam([p], master_weights=False, rounding="up")
    with pytest.raises(ValueError, match="seed must be an integer"):
        fo.Adam([p], seed=-1)
    opt = fo.Adam([p])
    with pytest.raises(TypeError, match="gradient of parameter 0 has dtype float64; a bfloat16 parameter's gradient is bfloat16 or float32"):
        opt.step([np.ones(10)])
    with pytest.raises(TypeError, match="gradient of parameter 0 has dtype bfloat16; a float16 parameter's gradient is float16 or float32"):
        fo.Adam([np.zeros(10, np.float16)]).step([np.ones(10, BF16)])
    with pytest.raises(ValueError, match="gradient of parameter 0 has shape"):
        opt.step([np.ones(11, np.float32)])
    assert not p.astype(np.float32).any() and opt.state_dict()["state"][0] == {"step": 0}
    with pytest.raises(ValueError, match="parameter 0 is bfloat16; this rule cannot take 16-bit parameters: it works on whole tensors"):
        fo.Adafactor([np.zeros((4, 4), BF16)])
    with pytest.raises(ValueError, match="parameter 0 is bfloat16; state_dtype='float64' is for float64 parameters"):
        fo.Adam([p], state_dtype="float64")
    table = np.zeros((8, 4), BF16)
    with pytest.raises(ValueError, match="row-sparse gradients need float32 or float64 parameters"):
        fo.SGD([table], lr=0.1).step([fo.RowSparse(np.array([1]), np.ones((1, 4), BF16))])


@pytest.mark.parametrize("half", ["bfloat16", "float16"])
def test_torch_16_bit_tensors_step_in_place_with_master_weights(half):
    torch = pytest.importorskip("torch")
    import fastoptim.torch as fot

    dtype = getattr(torch, half)
    gen = torch.Generator().manual_seed(0)
    start = torch.randn(300, 7, generator=gen).to(dtype)
    p = torch.nn.Parameter(start.clone())
    twin = torch.nn.Parameter(start.float())
    opt, plain = fot.AdamW([p], lr=1e-2), fot.AdamW([twin], lr=1e-2)
    memory = p.data_ptr()
    for _ in range(5):
        g = torch.randn(300, 7, generator=gen).to(dtype)
        p.grad, twin.grad = g, g.float()
        opt.step()
        plain.step()
    assert p.data_ptr() == memory and p.dtype == dtype
    np_half = BF16 if half == "bfloat16" else np.float16
    assert np.array_equal(p.detach().view(torch.int16).numpy().view(np.uint16), rounded(twin.detach().numpy(), np_half))
    state = opt.state_dict()["state"][0]
    name = MASTER[np_half]
    assert state["exp_avg"].dtype == torch.float32 and name in state
    again = fot.AdamW([torch.nn.Parameter(p.detach().clone())], lr=1e-2)
    again.load_state_dict(opt.state_dict())
    assert torch.equal(again.state_dict()["state"][0][name], state[name])


@pytest.mark.parametrize("half", HALVES, ids=["bfloat16", "float16"])
def test_stochastic_rounding_draws_fresh_noise_every_step(half, tier):
    """A value 1/8 of a spacing above a representable one rounds up in 1/8 of the steps of each
    element, independently from step to step: not always or never (noise fixed per element), and
    not the same elements each step (the step left out of the noise key)."""
    n, steps = 50_000, 8
    p = np.ones(n, half)
    opt = fo.SGD([p], lr=SPACING[half] / 8, master_weights=False, rounding="stochastic", seed=3)
    ups = np.empty((steps, n), bool)
    for t in range(steps):
        before = p.astype(np.float64)
        opt.step([np.full(n, -1.0, np.float32)])
        ups[t] = p.astype(np.float64) > before  # each step starts 1/8 of a spacing above where it is
    sd = np.sqrt(0.125 * 0.875 / n)
    assert np.all(np.abs(ups.mean(axis=1) - 0.125) < 5 * sd)
    for t in range(steps - 1):  # two steps' decisions are uncorrelated (sd of the estimate ~ 1/sqrt(n))
        assert abs(np.corrcoef(ups[t], ups[t + 1])[0, 1]) < 5 / np.sqrt(n)
    # Per element, the count of ups over the steps is Binomial(8, 1/8): none in (7/8)^8 of them.
    assert abs(np.mean(ups.sum(axis=0) == 0) - 0.875**steps) < 0.01


@pytest.mark.parametrize("dtype_name", ["bfloat16", "float16"])
def test_a_parameter_written_between_steps_keeps_what_was_written(dtype_name):
    """Pruning or masking a 16-bit parameter in place: its master restarts from the written value.
    bfloat16 once turned about half the zeroed elements into NaN ((high - 1) | low borrowed below
    zero); float16's stale delta brought a pruned weight back."""
    ml_dtypes = pytest.importorskip("ml_dtypes")
    dtype = ml_dtypes.bfloat16 if dtype_name == "bfloat16" else np.float16
    rng = np.random.default_rng(0)
    w = rng.standard_normal(4096).astype(dtype)
    opt = fo.SGD([w], lr=0.01)  # no momentum: a zero gradient leaves a weight where it is
    for _ in range(5):
        opt.step([rng.standard_normal(4096).astype(np.float32)])
    assert np.count_nonzero(opt.state_dict()["state"][0]["master_" + ("low_bits" if dtype_name == "bfloat16" else "delta")])
    w[::2] = 0  # prune half the weights behind the optimizer's back
    kept = w[1::2].copy()
    opt.step([np.zeros(4096, np.float32)])
    assert np.isfinite(w.astype(np.float32)).all()
    assert (w[::2].astype(np.float32) == 0).all()  # still pruned
    assert np.array_equal(w[1::2].astype(np.float32), kept.astype(np.float32))  # the rest as they were
