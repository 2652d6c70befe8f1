"""What the experiments share: plotting, the digits data, JSON output, small helpers."""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np

from ..core.progress import Progress

Result = Dict[str, Any]


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (files, no screen)."""
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError('the lab draws with matplotlib: pip install "fastoptim[lab]"') from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def digits(seed: int = 0, val_fraction: float = 0.2):
    """scikit-learn's bundled 8x8 digits (1797 images, shipped inside the package: no download),
    scaled to [0, 1] and split into train and validation sets."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise ImportError('the lab uses scikit-learn\'s digits data: pip install "fastoptim[lab]"') from exc
    data = load_digits()
    X, y = data.data / 16.0, data.target
    order = np.random.default_rng(seed).permutation(len(y))
    n_val = int(len(y) * val_fraction)
    val, train = order[:n_val], order[n_val:]
    return X[train], y[train], X[val], y[val]


def step_sizes(path: np.ndarray) -> np.ndarray:
    """The length of each step of a trajectory (one row per point)."""
    return np.linalg.norm(np.diff(path, axis=0), axis=1)


def descend(
    make_opt: Callable[[np.ndarray], Any],
    grad: Callable[[np.ndarray], np.ndarray],
    start: Union[Sequence[float], np.ndarray],
    steps: int,
    progress: Optional[Progress] = None,
    label: str = "",
    noise: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """Run an optimizer from ``start`` on a gradient function; return the path (steps + 1 points)."""
    theta = np.array(start, dtype=np.float64)
    opt = make_opt(theta)
    rng = np.random.default_rng(seed)
    path = np.empty((steps + 1, theta.size))
    path[0] = theta
    for t in range(steps):
        g = grad(theta)
        if noise:
            g = g + noise * rng.standard_normal(theta.shape)
        opt.step([g])
        path[t + 1] = theta
        if progress is not None and t % 256 == 255:
            progress.advance(label, 256)
    if progress is not None:
        progress.advance(label, steps % 256)
    return path


def table(rows: List[List[Any]], header: List[str]) -> str:
    """A plain-text table with aligned columns."""
    cells = [header] + [[f"{c:.4g}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def to_json(result: Result) -> str:
    """The result as JSON: arrays become lists, numpy scalars numbers."""

    def convert(value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): convert(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [convert(v) for v in value]
        if isinstance(value, np.ndarray):
            return convert(value.tolist())
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, float) and not np.isfinite(value):
            return None
        return value

    return json.dumps(convert(result), indent=1)
