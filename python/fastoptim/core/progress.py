"""A one-line progress bar on stderr, for long benchmark and lab runs."""

from __future__ import annotations

import sys
import time

__all__ = ["Progress"]

_WIDTH = 30


class Progress:
    """A one-line bar on stderr, redrawn at most ten times a second; silent when not enabled."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.done, self.enabled = max(total, 1), 0, enabled
        self.start = self.drawn = time.perf_counter()
        self.label = ""

    def advance(self, label: str, by: int = 1) -> None:
        self.done, self.label = min(self.done + by, self.total), label
        now = time.perf_counter()
        if not self.enabled or (now - self.drawn < 0.1 and self.done < self.total):
            return
        self.drawn = now
        self._draw(now)
        if self.done == self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    def write(self, text: str) -> None:
        """Print ``text`` on stdout above the bar: the bar's line is cleared first and redrawn after."""
        if self.enabled:
            sys.stderr.write("\r" + " " * (_WIDTH + 60) + "\r")
            sys.stderr.flush()
        print(text, flush=True)
        if self.enabled and self.done < self.total:
            self._draw(time.perf_counter())
            sys.stderr.flush()

    def _draw(self, now: float) -> None:
        frac, spent = self.done / self.total, now - self.start
        # The time left at the pace so far (units may differ in cost: an estimate, said as one).
        left = f"~{spent / frac * (1 - frac):4.0f}s left" if 0 < frac < 1 else " " * 11
        sys.stderr.write(f"\r[{'#' * int(_WIDTH * frac):<{_WIDTH}}] {100 * frac:5.1f}% {spent:6.1f}s {left}  {self.label:<28}")
