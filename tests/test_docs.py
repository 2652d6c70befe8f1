"""Docstring examples run, and every public name is documented."""

from __future__ import annotations

import doctest
import importlib
import pathlib

import pytest

import fastoptim as fo

MODULES = ["fastoptim", "fastoptim.optimizer", "fastoptim.runtime", "fastoptim.sgd", "fastoptim.adam"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


@pytest.mark.parametrize("name", fo.__all__)
def test_public_names_have_docstrings(name):
    obj = getattr(fo, name)
    if name != "__version__":
        assert obj.__doc__ and len(obj.__doc__.strip()) > 40, name


def test_optimizers_document_math_and_bytes():
    for cls in (fo.SGD, fo.Adam, fo.AdamW):
        doc = cls.__doc__
        assert "math::" in doc or "Adam" in doc
        assert "bytes" in doc and "Example" in doc and "References" in doc


def test_stubs_and_marker_ship():
    pkg = pathlib.Path(fo.__file__).parent
    assert (pkg / "py.typed").exists() and (pkg / "_core.pyi").exists()
