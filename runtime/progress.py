"""The one progress bar, on stderr, for the runtime CLI and for training (which imports it from here).

On a terminal it is redrawn in place; elsewhere (logs, pipes) only ``close`` writes, one line.
"""
from __future__ import annotations

import sys
import time
from typing import TextIO

MIN_ITEMS = 1000
"""Shorter runs finish before a bar would be worth drawing."""

WIDTH = 30
REDRAW_SECONDS = 0.2
"""Redrawing for each of 100k files or every training step would cost more than it shows."""


class Bar:
    """``label [####......] done/total status``."""

    def __init__(self, label: str, total: int, start: int = 0, stream: TextIO | None = None) -> None:
        self.label, self.total, self.done, self.status = label, total, start, ""
        self.stream = sys.stderr if stream is None else stream
        self.live = self.stream.isatty()
        self._last_draw = float("-inf")

    def update(self, done: int, status: str = "") -> None:
        self.done, self.status = done, status
        now = time.monotonic()
        if self.live and now - self._last_draw >= REDRAW_SECONDS:
            self._last_draw = now
            self._write("\r" + self._line())

    def close(self) -> None:
        """The final state, always drawn: over the bar on a terminal, as the only line elsewhere."""
        self._write(("\r" if self.live else "") + self._line() + "\n")

    def __call__(self, done: int, total: int) -> None:
        """The runtime's ``progress(done, total)`` callback; reaching the total closes the bar."""
        self.total = total
        if done < total:
            self.update(done)
        else:
            self.done = done
            self.close()

    def _line(self) -> str:
        filled = WIDTH * min(self.done, self.total) // max(self.total, 1)
        status = f" {self.status}" if self.status else ""
        return f"{self.label} [{'#' * filled}{'.' * (WIDTH - filled)}] {self.done}/{self.total}{status}"

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


def bar_for(label: str, total: int, quiet: bool, stream: TextIO | None = None) -> Bar | None:
    """A Bar when the run is long, not --quiet, and stderr is a terminal (never in logs or pipes)."""
    stream = sys.stderr if stream is None else stream
    if quiet or total < MIN_ITEMS or not stream.isatty():
        return None
    return Bar(label, total, stream=stream)
