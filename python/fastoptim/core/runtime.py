"""Run-time controls: the SIMD tier the kernels use and the number of threads a step may use."""

from __future__ import annotations

import warnings

from .. import _core

__all__ = ["simd_tier", "available_tiers", "set_num_threads", "get_num_threads", "has_openmp"]


def simd_tier() -> str:
    """Name of the SIMD tier the kernels run on: ``"baseline"``, ``"avx2"``, ``"avx512"`` or
    ``"avx512vbmi"`` on x86-64, ``"neon"`` or ``"sve"`` on aarch64.

    The best tier this CPU supports is chosen at import. Set the environment variable
    ``FASTOPTIM_SIMD`` to a tier's name before importing to force a lower one; asking for a tier
    the CPU lacks makes the import fail with the reason.

    Every tier computes bit-identical results: the kernels are elementwise and are compiled without
    floating-point contraction, so only the speed differs.

    >>> import fastoptim
    >>> fastoptim.simd_tier() in fastoptim.available_tiers()
    True
    """
    return _core.simd_tier()


def available_tiers() -> list[str]:
    """The SIMD tiers compiled into this build that this CPU can run, lowest first."""
    return list(_core.supported_tiers())


def set_num_threads(n: int) -> None:
    """Set how many threads a step may use (an OpenMP team across all tensors of a group).

    Work under about 32K elements always runs on one thread: waking a team costs more than it saves.
    The default is OpenMP's, which honours ``OMP_NUM_THREADS``. A build without OpenMP runs every
    step on one thread; there, ``n > 1`` warns once (RuntimeWarning) and changes nothing.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    _core.set_num_threads(n)
    global _warned
    if n > 1 and not _core.openmp and not _warned:
        _warned = True
        warnings.warn("fastoptim was built without OpenMP: steps run on one thread", RuntimeWarning, stacklevel=2)


_warned = False  # set_num_threads warns once per process without OpenMP


def get_num_threads() -> int:
    """How many threads a step may use: the last ``set_num_threads`` value, else OpenMP's default.

    >>> import fastoptim
    >>> fastoptim.get_num_threads() >= 1
    True
    """
    return int(_core.get_num_threads())


def has_openmp() -> bool:
    """Whether this build spreads steps over threads with OpenMP (``fastoptim info`` shows it)."""
    return bool(_core.openmp)
