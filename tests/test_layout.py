"""The package's layout keeps its promises: no import cycle, no private name imported across
packages, no source file past 400 lines, and the public names the README uses all resolve."""

from __future__ import annotations

import ast
import importlib.util
import pathlib
import re
import subprocess
import sys
from typing import Dict, List, Set, Tuple

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "python" / "fastoptim"
MAX_LINES = 400


def modules() -> Dict[str, pathlib.Path]:
    """Every source module of the package, by dotted name (a package by its ``__init__``)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports(name: str, path: pathlib.Path, known: Set[str]) -> List[Tuple[str, str, int]]:
    """``(module, imported name or "", line)`` for every import of the package's own modules in one file,
    function-level imports included. ``from X import a`` names module ``X.a`` when that is a module."""
    is_package = path.name == "__init__.py"
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, "", node.lineno) for a in node.names if a.name.split(".")[0] == "fastoptim"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "fastoptim":
                continue
            for a in node.names:
                full = f"{target}.{a.name}"
                out.append((full, "", node.lineno) if full in known or a.name == "_core" else (target, a.name, node.lineno))
    return out


def graph() -> Dict[str, Set[str]]:
    mods = modules()
    return {m: {t for t, _, _ in imports(m, p, set(mods)) if t in mods and t != m} for m, p in mods.items()}


def test_no_import_cycle():
    edges = graph()
    state: Dict[str, int] = {}  # 1: on the path, 2: done
    path: List[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for n in sorted(edges[m]):
            if state.get(n) == 1:
                cycle = path[path.index(n) :] + [n]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if n not in state:
                visit(n)
        path.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)


def test_cycle_check_finds_a_cycle(tmp_path, monkeypatch):
    """The check above can fail: two modules that import each other make a cycle."""
    pkg = tmp_path / "fastoptim"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "a.py").write_text("from . import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .a import x\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", pkg)
    assert graph()["fastoptim.sub.b"] == {"fastoptim.sub.a"}
    with pytest.raises(pytest.fail.Exception, match="import cycle"):
        test_no_import_cycle()


def test_nothing_inside_imports_the_top_level_package():
    """Layers import each other directly, never through ``fastoptim/__init__``, which re-exports them."""
    mods = modules()
    bad = [f"{m}:{line}" for m, p in mods.items() if m != "fastoptim" for t, _, line in imports(m, p, set(mods)) if t == "fastoptim"]
    assert not bad, f"these import the top-level package: {bad}"


def package_of(module: str, path: pathlib.Path) -> str:
    return module if path.name == "__init__.py" else module.rsplit(".", 1)[0]


def test_private_names_stay_in_their_package():
    """A leading-underscore module or name is imported only inside the package that holds it
    (``_core``, the compiled engine, is the one exception: every layer calls it)."""
    mods = modules()
    bad = []
    for m, p in mods.items():
        here = package_of(m, p)
        for target, name, line in imports(m, p, set(mods)):
            parts = target.split(".")
            owner = None
            for k in range(1, len(parts)):
                if parts[k].startswith("_") and parts[k] != "_core":
                    owner = ".".join(parts[:k])  # the package that holds the private module
                    break
            if owner is None and name.startswith("_") and target in mods:
                owner = package_of(target, mods[target])  # the package of the module that holds the private name
            if owner is not None and here != owner and not here.startswith(owner + "."):
                bad.append(f"{m}:{line} imports {target}{'.' + name if name else ''}")
    assert not bad, bad


@pytest.mark.parametrize(
    "path", [p for p in sorted((ROOT / "python").rglob("*.py")) + sorted((ROOT / "cpp").rglob("*.[ch]pp"))],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_source_files_stay_short(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines; split it along a seam it has"


# The README and the docs pages it links.
README = "\n".join(p.read_text() for p in [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md")))


def readme_names() -> List[str]:
    """Every ``fastoptim`` attribute path the README's code and prose name (``fo.X``, ``fot.X``,
    ``fastoptim.a.b``, ``from fastoptim.a import b``)."""
    names = set()
    for m in re.finditer(r"\bfrom (fastoptim[\w.]*) import ([\w, ]+)", README):
        names |= {f"{m.group(1)}.{n.split()[0]}" for n in m.group(2).split(",") if n.strip() and not n.strip().startswith("_")}
    names |= {m.group(0) for m in re.finditer(r"\bfastoptim(?:\.[A-Za-z]\w*)+", README)}
    names |= {"fastoptim." + m.group(1) for m in re.finditer(r"\bfo\.([A-Za-z]\w*(?:\.[A-Za-z]\w*)*)", README)}
    names |= {"fastoptim.torch." + m.group(1) for m in re.finditer(r"\bfot\.([A-Za-z]\w*)", README)}
    names |= {"fastoptim.schedules." + m.group(1) for m in re.finditer(r"\b(?:S|schedules)\.([a-z]\w*)\b", README) if m.group(1) not in ("cpp", "hpp", "md")}
    names |= {"fastoptim.diagnostics." + m.group(1) for m in re.finditer(r"\bdiagnostics\.([a-z]\w*)", README) if m.group(1) != "md"}
    return sorted(n.rstrip(".") for n in names)


def needs_missing_peer(name: str) -> bool:
    peers = {"fastoptim.torch": "torch", "fastoptim.bench.torch": "torch", "fastoptim.distributed": None}
    return any(name.startswith(k) and v and importlib.util.find_spec(v) is None for k, v in peers.items())


@pytest.mark.parametrize("name", readme_names())
def test_readme_names_resolve(name):
    if needs_missing_peer(name):
        pytest.skip("needs torch")
    import fastoptim

    parts = name.split(".")
    obj = fastoptim
    for i, part in enumerate(parts[1:], start=1):
        if not hasattr(obj, part):
            try:  # a submodule (fastoptim.bench.core) or a method of a class
                obj = importlib.import_module(".".join(parts[: i + 1]))
                continue
            except ModuleNotFoundError:
                pytest.fail(f"the README names {name}, but {'.'.join(parts[:i])} has no {part!r}")
        obj = getattr(obj, part)


def test_subpackages_load_on_attribute_access():
    """``import fastoptim as fo`` then ``fo.distributed``, ``fo.bench``, ``fo.lab`` (and ``fo.torch``
    where torch is installed), in a fresh interpreter: each loads on first access."""
    code = "import fastoptim as fo, sys; fo.distributed.ZeroOptimizer; fo.bench.run; fo.lab.EXPERIMENTS; print(sorted(k for k in ('fastoptim.distributed', 'fastoptim.bench') if k in sys.modules))"
    if importlib.util.find_spec("torch"):
        code += "; fo.torch.AdamW"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "fastoptim.distributed" in out
    fresh = subprocess.run([sys.executable, "-c", "import fastoptim, sys; print('fastoptim.torch' in sys.modules)"], capture_output=True, text=True, check=True)
    assert fresh.stdout.strip() == "False"  # torch is not imported by ``import fastoptim``
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        import fastoptim

        fastoptim.nonexistent  # noqa: B018
