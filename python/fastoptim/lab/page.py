"""What ``fastoptim demo`` writes: each experiment's pictures, and one HTML page showing them all."""

from __future__ import annotations

import html
import os
from types import ModuleType
from typing import List, NamedTuple

from ._common import Result

__all__ = ["Shown", "draw", "summary", "write_index"]


class Shown(NamedTuple):
    """One experiment as the page shows it: its module, table, picture files (names in the folder)
    and how long it ran."""

    module: ModuleType
    table: str
    pictures: List[str]
    seconds: float


def summary(module: ModuleType) -> str:
    """The experiment in one line: the first line of its docstring, after ``Experiment ``name``:``."""
    first = (module.__doc__ or "").strip().splitlines()[0]
    return first.split(": ", 1)[-1].rstrip(".")


def draw(module: ModuleType, result: Result, out: str) -> List[str]:
    """Write the experiment's PNG (and its GIF, if it animates) into ``out``; the files' names."""
    names = [f"{module.NAME}.png"]
    module.plot(result, os.path.join(out, names[0]))
    if hasattr(module, "animate"):
        names.append(f"{module.NAME}.gif")
        module.animate(result, os.path.join(out, names[1]))
    return names


_STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { border-top: 1px solid #ccc; padding-top: 1em; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.5em 0; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
nav a { margin-right: 1em; } .took { color: #777; font-size: 0.9em; }
"""


def write_index(out: str, shown: List[Shown]) -> str:
    """Write ``out/index.html``: every experiment's pictures, its lesson and its table, on one page.
    Returns the page's path."""
    esc = html.escape
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8"><title>fastoptim lab</title>',
        f"<style>{_STYLE}</style></head><body>",
        "<h1>fastoptim lab</h1>",
        "<p>Why training gets stuck, and what adaptive learning rates, momentum and the right architecture do "
        "about it: each experiment below was run by <code>fastoptim demo all</code> on this machine.</p>",
        "<nav>" + "".join(f'<a href="#{esc(s.module.NAME)}">{esc(s.module.NAME)}</a>' for s in shown) + "</nav>",
    ]
    for s in shown:
        name = esc(s.module.NAME)
        parts.append(f'<h2 id="{name}">{name}: {esc(summary(s.module))}</h2>')
        parts.append(f"<p>{esc(s.module.LESSON)}</p>")
        parts += [f'<img src="{esc(p)}" alt="{name}: {esc(p)}">' for p in s.pictures]
        parts.append(f"<pre>{esc(s.table)}</pre>")
        parts.append(f'<p class="took">ran in {s.seconds:.1f} s</p>')
    parts.append("</body></html>")
    path = os.path.join(out, "index.html")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(parts) + "\n")
    return path
