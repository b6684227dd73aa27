"""What the runtime accepts and how it refuses: the documented limits, the argument checks that
enforce them (API and CLI alike), and the exceptions for everything outside them.

The input errors are ValueErrors so plain ``except ValueError`` callers keep working; the CLI
turns exactly these exceptions (and nothing else) into one line on stderr with exit 2 (1 for
VerificationError).

Each check's ``name`` is how its message names the value: by default the Python API's parameter
(``count``), which the server's query parameters share; the commands pass the option as the user
typed it (``--count``), so a command's messages name its own options only.
"""
from __future__ import annotations

import os
from numbers import Integral, Real
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


class InputError(ValueError):
    """An argument is out of range or of the wrong kind; the message says what is accepted."""


class ModelError(ValueError):
    """A model file is missing, unreadable, or not a compatible mnistgen model."""


class VerificationError(RuntimeError):
    """Verified generation hit its draw limit before enough samples passed the classifier."""


MAX_COUNT = 100_000
"""Most images one call returns (for numbers: count x number of digits), ~80 MB of uint8."""

MAX_PER_DIGIT = MAX_COUNT
"""Most images of each digit in one dataset (mnistgen-dataset): 1,000,000 in all, written in
batches. Each digit's images are one seeded stream, which generate() bounds at MAX_COUNT."""

MAX_NUMBER_LENGTH = 32
"""Most digits in one number image (28 px each)."""

MIN_STEPS, MAX_STEPS = 2, 256
"""Frames in a morph or style walk."""

DEFAULT_STEPS = 16

BATCH_SIZE = 256
"""Rows per onnxruntime call: bounds the float32 working memory whatever the count."""

VERIFY_DRAW_FACTOR = 20
"""Verified generation draws at most this many candidates per requested sample."""

DEFAULT_MIN_CONFIDENCE = 0.9

LIKE_MIN_CONFIDENCE = 0.9
"""The classifier must read a --like sample's digit at least this surely, or be told the digit."""

DEFAULT_SPREAD = 0.3
"""How far variations of a hand stray: 0 = the hand itself, 1 = hands drawn at random."""


def _is_int(value: object) -> bool:
    # bool is an int subclass, but True as a digit or count is almost surely a mistake
    return isinstance(value, Integral) and not isinstance(value, bool)


def check_digit(digit: object, name: str = "digit") -> int:
    if not _is_int(digit) or not 0 <= int(digit) <= 9:
        raise InputError(f"{name} must be an integer 0-9, got {digit!r}")
    return int(digit)


def check_count(count: object, limit: int = MAX_COUNT, name: str = "count") -> int:
    if not _is_int(count) or not 1 <= int(count) <= limit:
        raise InputError(f"{name} must be an integer 1-{limit}, got {count!r}")
    return int(count)


def check_seed(seed: object, name: str = "seed") -> int | None:
    if seed is None:
        return None
    if not _is_int(seed) or int(seed) < 0:
        raise InputError(f"{name} must be a non-negative integer (or omitted for fresh randomness), got {seed!r}")
    return int(seed)


def check_threads(threads: object, name: str = "threads") -> int | None:
    if threads is None:
        return None
    if not _is_int(threads) or int(threads) <= 0:
        raise InputError(f"{name} must be a positive integer (or omitted for onnxruntime's default), got {threads!r}")
    return int(threads)


def check_steps(steps: object, name: str = "steps") -> int:
    if not _is_int(steps) or not MIN_STEPS <= int(steps) <= MAX_STEPS:
        raise InputError(f"{name} must be an integer {MIN_STEPS}-{MAX_STEPS}, got {steps!r}")
    return int(steps)


def check_min_confidence(value: object, name: str = "min_confidence") -> float:
    if not isinstance(value, Real) or isinstance(value, bool) or not 0.0 <= float(value) <= 1.0:
        raise InputError(f"{name} must be a number from 0 to 1, got {value!r}")
    return float(value)


def check_images(images: object, shape: tuple[int, int], what: str = "") -> "np.ndarray":
    """uint8 images (N, height, width), or one (height, width) as N = 1; ``what`` adds what they must be."""
    import numpy as np  # deferred: this module is imported by callers that only validate

    array = np.asarray(images)
    if array.ndim == 2:
        array = array[None]
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[1:] != shape or len(array) == 0:
        height, width = shape
        raise InputError(
            f"images must be uint8 arrays of shape (N, {height}, {width}) or ({height}, {width})"
            f"{', ' + what if what else ''}, got {array.dtype} {array.shape}"
        )
    return array


def check_spread(value: object, name: str = "spread") -> float:
    if not isinstance(value, Real) or isinstance(value, bool) or not 0.0 <= float(value) <= 1.0:
        raise InputError(f"{name} must be a number from 0 (the hand itself) to 1 (random hands), got {value!r}")
    return float(value)


def check_number(text: object, name: str = "number") -> str:
    if not isinstance(text, str) or not text.isascii() or not text.isdigit() or not 1 <= len(text) <= MAX_NUMBER_LENGTH:
        raise InputError(f"{name} must be 1-{MAX_NUMBER_LENGTH} digits 0-9 (e.g. '2026'), got {text!r}")
    return text


def check_number_count(count: object, length: int, name: str = "count") -> int:
    # the whole (count, 28, 28*length) array is returned at once, so the limit is on images
    return check_count(count, limit=max(1, MAX_COUNT // length), name=name)


def check_choice(value: object, choices: tuple[str, ...], name: str) -> str:
    if value not in choices:
        raise InputError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def check_output_dir(out: str | os.PathLike, what: str, accepted: str) -> Path:
    """A directory that exists and is writable, or can be created: checked before any work starts.

    ``what`` names the argument in the message (e.g. "--out x"), ``accepted`` says what it takes.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{what} is a file; {accepted}")
    existing = next((p for p in (out, *out.parents) if p.exists()), out)  # the directory that mkdir would write into
    if not existing.is_dir():
        raise InputError(f"{what} is inside a file ({existing}); {accepted}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{what} is not writable ({existing}); {accepted}")
    return out
