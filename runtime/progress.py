"""A minimal progress bar for long CLI runs (stderr, and only when a person is watching)."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TextIO

MIN_ITEMS = 1000
"""Shorter runs finish before a bar would be worth drawing."""

WIDTH = 30


@dataclass(frozen=True)
class Bar:
    label: str
    stream: TextIO

    def __call__(self, done: int, total: int) -> None:
        filled = WIDTH * done // max(total, 1)
        end = "\n" if done >= total else ""
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (WIDTH - filled)}] {done}/{total}{end}")
        self.stream.flush()


def bar_for(label: str, total: int, quiet: bool, stream: TextIO | None = None) -> Bar | None:
    """A Bar when the run is long, not --quiet, and stderr is a terminal (never in logs or pipes)."""
    stream = sys.stderr if stream is None else stream
    if quiet or total < MIN_ITEMS or not stream.isatty():
        return None
    return Bar(label, stream)
