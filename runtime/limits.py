"""Documented limits of the runtime (API and CLI share them)."""
from __future__ import annotations

MAX_COUNT = 100_000
"""Most images one call returns (for numbers: count x number of digits), ~80 MB of uint8."""

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

NUMBER_JITTER = 2
"""Each digit of a number is shifted by a seeded -2..2 px so the spacing looks handwritten."""

STYLE_KEYFRAMES = 4
"""Latents a style walk passes through."""
