"""A dependency-free progress bar on stderr: redrawn in place on a terminal, one line otherwise."""
from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, label: str, total: int, start: int = 0, stream=None) -> None:
        self.label, self.total, self.done = label, total, start
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.status = ""
        self._last_draw = 0.0

    def update(self, done: int, status: str = "") -> None:
        self.done, self.status = done, status
        now = time.monotonic()
        if self.live and (now - self._last_draw > 0.2 or done == self.total):
            self._last_draw = now
            self.stream.write("\r" + self._line())
            self.stream.flush()

    def _line(self) -> str:
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        return f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} {self.status}"

    def close(self) -> None:
        self.stream.write(("\r" if self.live else "") + self._line() + "\n")
        self.stream.flush()
