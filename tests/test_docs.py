"""Docstring examples run, and every public name is documented."""

from __future__ import annotations

import doctest
import importlib
import pathlib
import pkgutil

import pytest

import fastoptim as fo

MODULES = ["fastoptim"] + [
    m.name for m in pkgutil.walk_packages(fo.__path__, "fastoptim.") if not m.name.rsplit(".", 1)[-1].startswith("_")
]
OPTIMIZERS = [getattr(fo, n) for n in fo.__all__ if isinstance(getattr(fo, n), type) and issubclass(getattr(fo, n), fo.Optimizer)]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
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
