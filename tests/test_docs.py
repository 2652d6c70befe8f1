"""Docstring examples run, and every public name is documented."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pathlib
import pkgutil

import pytest

import fastoptim as fo

MODULES = ["fastoptim"] + [
    m.name for m in pkgutil.walk_packages(fo.__path__, "fastoptim.", onerror=lambda name: None)
    if not m.name.rsplit(".", 1)[-1].startswith("_")
]
# Modules that import an optional peer at their top, and the peer.
NEEDS = {"fastoptim.torch": "torch", "fastoptim.bench.torch": "torch"}
OPTIMIZERS = [getattr(fo, n) for n in fo.__all__ if isinstance(getattr(fo, n), type) and issubclass(getattr(fo, n), fo.Optimizer)]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    peer = next((v for k, v in NEEDS.items() if name == k or name.startswith(k + ".")), None)
    if peer and importlib.util.find_spec(peer) is None:
        pytest.skip(f"{name} needs {peer}, which is not installed")
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


@pytest.mark.parametrize("name", fo.__all__)
def test_public_names_have_docstrings(name):
    obj = getattr(fo, name)
    if name != "__version__":
        assert obj.__doc__ and len(obj.__doc__.strip()) > 40, name


@pytest.mark.parametrize("cls", [c for c in OPTIMIZERS if c is not fo.Optimizer], ids=lambda c: c.__name__)
def test_optimizers_document_math_bytes_example_and_references(cls):
    doc = cls.__doc__
    assert "math::" in doc or cls is fo.AdamW  # AdamW refers to Adam's math
    assert "bytes" in doc and "Example" in doc and "References" in doc


def test_stubs_and_marker_ship():
    pkg = pathlib.Path(fo.__file__).parent
    assert (pkg / "py.typed").exists() and (pkg / "_core.pyi").exists()


TORCH_FLAGS = {"foreach", "fused", "capturable", "differentiable"}
README = (pathlib.Path(__file__).parent.parent / "README.md").read_text()


def readme_signatures():
    """The optimizer table's first column: ``Name(arg, arg=default, *, ...)``."""
    import re

    rows = re.findall(r"^\| `(\w+)\((.*?)\)` \|", README, flags=re.M)
    return {name: args for name, args in rows}


@pytest.mark.parametrize("cls", [c for c in OPTIMIZERS if c is not fo.Optimizer], ids=lambda c: c.__name__)
def test_readme_table_gives_each_signature(cls):
    """The README's signature lists every argument but the common ones and torch's flags, in order,
    keyword-only where the class has it so, with the class's default (`...` stands for Adam's)."""
    import ast
    import inspect

    params = inspect.signature(cls).parameters
    shown = readme_signatures()[cls.__name__]
    if shown.startswith("..."):  # AdamW: only what differs from Adam
        for item in shown.split(", "):
            if "=" in item:
                name, default = item.split("=")
                assert params[name].default == ast.literal_eval(default), name
        return
    tree = ast.parse(f"def f({shown}): pass").body[0].args  # type: ignore[attr-defined]
    positional = [a.arg for a in tree.args]
    defaults = [None] * (len(tree.args) - len(tree.defaults)) + tree.defaults
    rows = [(a, d, False) for a, d in zip(positional, defaults)]
    rows += [(a.arg, d, True) for a, d in zip(tree.kwonlyargs, tree.kw_defaults)]
    expected = [p for p in params.values() if p.name not in TORCH_FLAGS | {"nonfinite", "max_grad_norm", "state_dtype", "master_weights", "rounding", "seed"}]
    assert [r[0] for r in rows] == [p.name for p in expected]
    for (name, default, keyword_only), p in zip(rows, expected):
        assert (p.kind == p.KEYWORD_ONLY) == keyword_only, name
        if isinstance(default, ast.Name) and default.id == "inf":  # growth_rate=inf
            assert p.default == float("inf"), name
            continue
        assert p.default == (p.empty if default is None else ast.literal_eval(default)), name
