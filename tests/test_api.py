"""Bad input is refused with a clear error, before anything is touched, and nothing is ever copied."""

from __future__ import annotations

import re

import numpy as np
import pytest

import fastoptim as fo


def snapshot(opt, params):
    return [p.copy() for p in params], opt.state_dict()


def assert_unchanged(opt, params, snap):
    before_params, before_state = snap
    for p, b in zip(params, before_params):
        assert np.array_equal(p, b, equal_nan=True)
    after = opt.state_dict()
    assert after["state"].keys() == before_state["state"].keys()
    for key, entry in before_state["state"].items():
        for slot, value in entry.items():
            assert np.array_equal(after["state"][key][slot], value)


@pytest.fixture
def trained():
    """An Adam optimizer with two named params that has taken two steps, so it has state to lose."""
    params = {"w": np.ones((4, 3), np.float32), "b": np.zeros(3, np.float32)}
    opt = fo.Adam(params, lr=0.1)
    for _ in range(2):
        opt.step({"w": np.full((4, 3), 0.5, np.float32), "b": np.ones(3, np.float32)})
    return opt, list(params.values())


# -- parameters at construction -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.int64, np.complex64, np.dtype(">f4"), np.dtype(">f2")])
def test_param_dtype_is_a_type_error(dtype):
    with pytest.raises(TypeError, match=r"parameter 1 has dtype .*float32, float64, float16 and bfloat16"):
        fo.SGD([np.zeros(3), np.zeros(3, dtype)])


@pytest.mark.parametrize(
    "view, what",
    [(lambda a: a[::2], "not C-contiguous"), (lambda a: a.T, "not C-contiguous"), (lambda a: a[:, 1], "not C-contiguous")],
)
def test_strided_param_is_refused_not_copied(view, what):
    with pytest.raises(ValueError, match=f"parameter 'w' is {what}"):
        fo.Adam({"w": view(np.zeros((6, 4)))})


def test_read_only_param():
    a = np.zeros(3)
    a.flags.writeable = False
    with pytest.raises(ValueError, match="parameter 0 is read-only"):
        fo.SGD([a])


def test_misaligned_param():
    buf = np.zeros(17, np.uint8)
    a = buf[1:].view(np.float64)
    with pytest.raises(ValueError, match="parameter 0 is not aligned"):
        fo.SGD([a])


def test_not_an_array():
    with pytest.raises(TypeError, match="parameter 0 must be a numpy.ndarray, got list"):
        fo.SGD([[1.0, 2.0]])


def test_same_array_twice_and_overlapping_views():
    a = np.zeros(10)
    with pytest.raises(ValueError, match=r"parameter 0 is listed twice \(again as parameter 1\)"):
        fo.SGD([a, a])
    with pytest.raises(ValueError, match="parameter 'x' and parameter 'y' share memory"):
        fo.SGD({"x": a[:6], "y": a[4:]})
    with pytest.raises(ValueError, match=r"parameter 0 is listed twice \(again as parameter 1\)"):
        fo.SGD([{"params": [a]}, {"params": [a]}])
    fo.SGD([a[:5], a[5:]])  # disjoint views of one buffer are fine


@pytest.mark.parametrize("params", [[], {}, np.zeros(3), {np.zeros(3).tobytes()}])
def test_empty_or_wrong_container(params):
    with pytest.raises((TypeError, ValueError)):
        fo.SGD(params)


def test_names_and_lists_do_not_mix():
    with pytest.raises(ValueError, match="names its parameters"):
        fo.SGD([{"params": {"a": np.zeros(2)}}, {"params": [np.zeros(2)]}])


# -- hyper-parameters -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cls, kwargs, match",
    [
        (fo.SGD, dict(lr=-1.0), r"invalid lr=-1: must be >= 0"),
        (fo.SGD, dict(momentum=-0.1), "invalid momentum"),
        (fo.SGD, dict(weight_decay=-1e-3), "invalid weight_decay"),
        (fo.SGD, dict(nesterov=True), "Nesterov momentum requires"),
        (fo.SGD, dict(nesterov=True, momentum=0.9, dampening=0.1), "Nesterov momentum requires"),
        (fo.Adam, dict(betas=(1.0, 0.999)), r"invalid beta1=1: must be in \[0, 1\)"),
        (fo.Adam, dict(betas=(0.9, -0.1)), "invalid beta2"),
        (fo.Adam, dict(eps=-1e-8), "invalid eps"),
        (fo.AdamW, dict(lr=-0.1), "invalid lr"),
        (fo.Adam, dict(betas=(0.9,)), r"param group 0: betas must be a pair \(beta1, beta2\), got \(0.9,\)"),
        (fo.Adagrad, dict(lr_decay=-1.0), "invalid lr_decay"),
        (fo.Adagrad, dict(initial_accumulator_value=-0.1), "invalid initial_accumulator_value"),
        (fo.Adagrad, dict(eps=-1.0), "invalid eps"),
        (fo.RMSprop, dict(alpha=-0.5), "invalid alpha=-0.5: must be >= 0"),
        (fo.RMSprop, dict(momentum=-0.9), "invalid momentum"),
        (fo.Adadelta, dict(rho=1.5), r"invalid rho=1.5: must be in \[0, 1\]"),
        (fo.Adadelta, dict(rho=-0.1), "invalid rho"),
        (fo.Adamax, dict(betas=(0.9, 1.0)), "invalid beta2=1"),
        (fo.NAdam, dict(momentum_decay=-1e-3), "invalid momentum_decay"),
        (fo.NAdam, dict(betas=(-0.1, 0.9)), "invalid beta1"),
        (fo.RAdam, dict(betas=(0.9, 1.1)), "invalid beta2"),
        (fo.RAdam, dict(weight_decay=-1.0), "invalid weight_decay"),
        (fo.Lion, dict(betas=(1.0, 0.99)), "invalid beta1"),
        (fo.Lion, dict(lr=-1e-4), "invalid lr"),
        (fo.LAMB, dict(eps=-1e-6), "invalid eps"),
        (fo.LAMB, dict(betas=(0.9, 2.0)), "invalid beta2"),
        (fo.LARS, dict(lr=0.1, trust_coefficient=0.0), "invalid trust_coefficient=0: must be > 0"),
        (fo.LARS, dict(lr=0.1, momentum=-0.1), "invalid momentum"),
    ],
)
def test_bad_hyper_parameters(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls([np.zeros(3)], **kwargs)


def test_lars_needs_a_learning_rate():
    with pytest.raises(TypeError):
        fo.LARS([np.zeros(3)])  # type: ignore[call-arg]


def test_bad_hyper_parameter_in_a_group_names_the_group():
    with pytest.raises(ValueError, match=r"invalid lr=-2: must be >= 0 \(param group 1\)"):
        fo.SGD([{"params": [np.zeros(2)]}, {"params": [np.zeros(2)], "lr": -2.0}])


def test_bad_edit_of_param_groups_is_caught_at_step(trained):
    opt, params = trained
    snap = snapshot(opt, params)
    opt.param_groups[0]["betas"] = (0.9, 1.5)
    with pytest.raises(ValueError, match="invalid beta2=1.5"):
        opt.step([np.ones((4, 3), np.float32), np.ones(3, np.float32)])
    assert_unchanged(opt, params, snap)


def test_bad_nonfinite_mode():
    with pytest.raises(ValueError, match="nonfinite must be one of"):
        fo.SGD([np.zeros(2)], nonfinite="warn")


# -- gradients at step ----------------------------------------------------------------------------


def good_grads():
    return {"w": np.ones((4, 3), np.float32), "b": np.ones(3, np.float32)}


@pytest.mark.parametrize(
    "change, exc, match",
    [
        (lambda g: g.update(w=np.ones((4, 3))), TypeError, r"gradient of parameter 'w' has dtype float64, but the parameter's dtype is float32"),
        (lambda g: g.update(b=np.ones(3, np.int32)), TypeError, "gradient of parameter 'b' has dtype int32"),
        (lambda g: g.update(w=np.ones((3, 4), np.float32)), ValueError, r"gradient of parameter 'w' has shape \(3, 4\), but the parameter's shape is \(4, 3\)"),
        (lambda g: g.update(b=np.ones(6, np.float32)[::2]), ValueError, "gradient of parameter 'b' is not C-contiguous"),
        (lambda g: g.update(w=np.ones((3, 4), np.float32).T), ValueError, "gradient of parameter 'w' is not C-contiguous"),
        (lambda g: g.update(b=[1.0, 1.0, 1.0]), TypeError, "gradient of parameter 'b' must be a numpy.ndarray"),
        (lambda g: g.pop("b"), ValueError, "no gradient for parameter 'b'"),
        (lambda g: g.update(c=np.ones(3, np.float32)), ValueError, r"gradients for unknown parameters \['c'\]"),
    ],
)
def test_bad_gradient_changes_nothing(trained, change, exc, match):
    opt, params = trained
    snap = snapshot(opt, params)
    grads = good_grads()
    change(grads)
    with pytest.raises(exc, match=match):
        opt.step(grads)
    assert_unchanged(opt, params, snap)


def test_gradient_aliasing_a_parameter(trained):
    opt, params = trained
    snap = snapshot(opt, params)
    w, b = params
    with pytest.raises(ValueError, match="gradient of parameter 'w' aliases the parameter itself"):
        opt.step({"w": w, "b": np.ones(3, np.float32)})
    with pytest.raises(ValueError, match="gradient of parameter 'b' shares memory with parameter 'w'"):
        opt.step({"w": np.ones((4, 3), np.float32), "b": w[0]})
    assert_unchanged(opt, params, snap)


def test_gradient_list_length_and_container():
    params = [np.zeros(2), np.zeros(3)]
    opt = fo.SGD(params)
    with pytest.raises(ValueError, match="expected 2 gradients, one per parameter, got 1"):
        opt.step([np.ones(2)])
    with pytest.raises(TypeError, match="not one array"):
        opt.step(np.ones(2))
    with pytest.raises(TypeError, match="gradients by name need parameters given by name"):
        opt.step({"a": np.ones(2)})
    opt.step(g for g in [np.ones(2), np.ones(3)])  # any iterable in parameter order


def test_error_in_a_later_group_leaves_earlier_groups_untouched():
    a, b = np.zeros(3), np.zeros(3)
    opt = fo.SGD([{"params": [a]}, {"params": [b]}], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="parameter 1"):
        opt.step([np.ones(3), np.ones(4)])
    assert not a.any() and opt.state_dict()["state"] == {0: {"step": 0}, 1: {"step": 0}}


# -- non-finite gradients -------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_raise_names_the_parameter_and_updates_nothing(trained, bad):
    opt, params = trained
    snap = snapshot(opt, params)
    grads = good_grads()
    grads["b"][2] = bad
    with pytest.raises(FloatingPointError, match="gradient of parameter 'b' holds inf or NaN; nothing was updated"):
        opt.step(grads)
    assert_unchanged(opt, params, snap)


def test_nonfinite_in_a_large_tensor_of_a_later_group():
    big = np.zeros(200_000, np.float32)
    small = np.zeros(5, np.float32)
    opt = fo.SGD([{"params": [small]}, {"params": [big]}], lr=0.1)
    g = np.ones(200_000, np.float32)
    g[123_456] = np.nan
    with pytest.raises(FloatingPointError, match="parameter 1"):
        opt.step([np.ones(5, np.float32), g])
    assert not small.any() and not big.any()


def test_nonfinite_skip(trained):
    opt, params = trained
    opt.nonfinite = "skip"
    snap = snapshot(opt, params)
    grads = good_grads()
    grads["w"][0, 0] = np.inf
    opt.step(grads)
    assert opt.skipped_steps == 1
    assert_unchanged(opt, params, snap)
    assert opt.state_dict()["state"]["w"]["step"] == 2
    opt.step(good_grads())
    assert opt.state_dict()["state"]["w"]["step"] == 3


def test_nonfinite_ignore_lets_nan_through():
    w = np.zeros(3)
    opt = fo.SGD([w], nonfinite="ignore")
    opt.step([np.array([np.nan, 1.0, 1.0])])
    assert np.isnan(w[0]) and np.isfinite(w[1:]).all()


# -- in place, no copies --------------------------------------------------------------------------


def test_updates_in_place_in_the_same_buffer():
    w = np.zeros((8, 8), np.float32)
    view = w.reshape(-1)
    address = w.__array_interface__["data"][0]
    opt = fo.AdamW({"w": w}, lr=0.1)
    opt.step({"w": np.ones((8, 8), np.float32)})
    assert w.__array_interface__["data"][0] == address
    assert opt.param_groups[0]["params"][0] is w
    assert np.all(view < 0)


def test_repr_lists_the_settings():
    opt = fo.SGD([np.zeros(1)], lr=0.5)
    assert re.search(r"SGD \(\nParameter Group 0\n.*lr: 0.5", repr(opt), re.S)


RULE_CLASSES = [c for c in vars(fo).values() if isinstance(c, type) and issubclass(c, fo.Optimizer) and getattr(c, "_rule", None)]
# Where a class's defaults are not its rule's: AdamW is Adam with torch.optim.AdamW's defaults; LARS asks for lr.
OWN_DEFAULTS = {"AdamW": {"weight_decay": 1e-2, "decoupled_weight_decay": True}, "LARS": {"lr": 0.5}}


@pytest.mark.parametrize("cls", RULE_CLASSES, ids=lambda c: c.__name__)
def test_class_defaults_are_the_rules_defaults(cls):
    """The settings' names, order and defaults live in the C++ header alone: a class's signature and the
    groups it builds must agree with them."""
    import inspect

    from fastoptim.core.settings import OWN_ENTRY, PACKED, none_means

    info = fo._core.rules[cls._rule]
    own = OWN_DEFAULTS.get(cls.__name__, {})
    group = cls([np.zeros(3)], **({"lr": own["lr"]} if "lr" in own else {})).param_groups[0]
    signature = inspect.signature(cls).parameters
    assert len(info["hyper"]) == len(info["defaults"]) and "lr" in info["hyper"]
    for name, value in zip(info["hyper"], info["defaults"]):
        expected = own.get(name, value)
        key, at = (name, None) if (cls._rule, name) in OWN_ENTRY else PACKED.get(name, (name, None))
        got = none_means(name, group[key] if at is None else group[key][at])
        assert got == expected, (name, got, expected)
        if key in signature and name not in own:  # the signature shows the same default
            default = signature[key].default
            default = default if at is None else default[at]
            assert none_means(name, default) == value, name
