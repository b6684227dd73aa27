"""The CLI's request: parsed options, checked together before any model is opened."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mnistgen.errors import InputError
from mnistgen.limits import DEFAULT_MIN_CONFIDENCE, DEFAULT_STEPS, MAX_NUMBER_LENGTH
from mnistgen.validation import (
    check_count,
    check_digit,
    check_min_confidence,
    check_number,
    check_number_count,
    check_seed,
    check_steps,
    check_threads,
)

FORMATS = ("png", "npy", "gif")
STDOUT = "-"


@dataclass(frozen=True)
class Request:
    digits: str
    count: int
    seed: int | None
    out: str
    grid: bool
    format: str
    model: str | None
    classifier: str | None
    threads: int | None
    quiet: bool
    verify: bool
    min_confidence: float
    morph: int | None
    steps: int
    style_walk: bool

    @property
    def to_stdout(self) -> bool:
        return self.out == STDOUT

    @property
    def sequence(self) -> bool:
        """A morph or style walk: frames of one sample rather than separate samples."""
        return self.morph is not None or self.style_walk

    @property
    def file_count(self) -> int:
        separate = self.format == "png" and not self.grid and not self.sequence
        return self.count if separate else 1


def build_request(
    digits: str | None,
    *,
    count: int | None,
    seed: int | None,
    out: str,
    grid: bool,
    format: str,
    model: str | None,
    classifier: str | None,
    threads: int | None,
    quiet: bool,
    verify: bool,
    min_confidence: float | None,
    morph: int | None,
    steps: int | None,
    style_walk: bool,
) -> Request:
    """Check each option, then the combinations; InputError names the first problem.

    count, steps and min_confidence are None when not given, so options that don't apply
    to the chosen mode are refused instead of silently ignored.
    """
    if digits is None:
        raise InputError(f"DIGIT is required: 0-9, or up to {MAX_NUMBER_LENGTH} digits for a number (or use --info)")
    digits = check_number(digits)
    sequence = morph is not None or style_walk
    if morph is not None and style_walk:
        raise InputError("--morph and --style-walk are alternatives: give one")
    if sequence and (len(digits) != 1 or count is not None or verify or grid):
        raise InputError("--morph/--style-walk take a single DIGIT 0-9 and no --count, --verify or --grid (use --steps)")
    if steps is not None and not sequence:
        raise InputError("--steps applies only with --morph or --style-walk")
    if verify and len(digits) != 1:
        raise InputError("--verify works with a single DIGIT 0-9")
    if min_confidence is not None and not verify:
        raise InputError("--min-confidence applies only with --verify")
    if grid and format != "png":
        raise InputError("--grid applies only to --format png (npy and gif always write one file)")
    request = Request(
        digits=digits,
        count=_count(count, digits),
        seed=check_seed(seed),
        out=out,
        grid=grid,
        format=_check_format(format),
        model=model,
        classifier=classifier,
        threads=check_threads(threads),
        quiet=quiet,
        verify=verify,
        min_confidence=check_min_confidence(DEFAULT_MIN_CONFIDENCE if min_confidence is None else min_confidence),
        morph=None if morph is None else check_digit(morph),
        steps=check_steps(DEFAULT_STEPS if steps is None else steps),
        style_walk=style_walk,
    )
    _check_output(request)
    return request


def _count(count: int | None, digits: str) -> int:
    if count is None:
        return 1
    return check_count(count) if len(digits) == 1 else check_number_count(count, len(digits))


def _check_format(value: str) -> str:
    if value not in FORMATS:
        raise InputError(f"--format must be one of {', '.join(FORMATS)}, got {value!r}")
    return value


def _check_output(request: Request) -> None:
    if request.to_stdout:
        if request.file_count != 1:
            raise InputError("--out - writes one image: add --grid, use --count 1, or --format npy/gif")
        return
    out = Path(request.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {request.out} is a file; --out takes a directory (created if missing) or '-' for stdout")
    existing = next((p for p in (out, *out.parents) if p.exists()), out)  # the directory that mkdir would write into
    if not existing.is_dir():
        raise InputError(f"--out {request.out} is inside a file ({existing}); --out takes a directory or '-' for stdout")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"--out {request.out} is not writable ({existing}); choose a writable directory or '-'")
