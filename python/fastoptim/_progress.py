"""A one-line progress bar on stderr, for long benchmark and lab runs."""

from __future__ import annotations

import sys
import time

__all__ = ["Progress"]


class Progress:
    """A one-line bar on stderr, redrawn at most ten times a second; silent when not enabled."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.done, self.enabled = max(total, 1), 0, enabled
        self.start = self.drawn = time.perf_counter()

    def advance(self, label: str, by: int = 1) -> None:
        self.done = min(self.done + by, self.total)
        now = time.perf_counter()
        if not self.enabled or (now - self.drawn < 0.1 and self.done < self.total):
            return
        self.drawn = now
        frac = self.done / self.total
        sys.stderr.write(f"\r[{'#' * int(30 * frac):<30}] {100 * frac:5.1f}% {now - self.start:6.1f}s  {label:<28}")
        if self.done == self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()
