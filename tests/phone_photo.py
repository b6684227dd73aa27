"""A phone photo of a handwritten digit on paper, made by the tests themselves (no binary fixture).

The ink is a real MNIST digit, drawn large in blue-black pen on off-white paper; the light falls
off towards one corner and a soft shadow (a hand or a phone) lies across another; the paper has
grain; the camera stores the picture sideways with an EXIF orientation tag and compresses it as
JPEG. That is what `--like` is for, so it is what the tests feed it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

EXIF_ORIENTATION = 0x0112
ROTATED_90_CW = 6  # "rotate 90 degrees clockwise to display": how phones held upright store a photo


def phone_photo(digit: np.ndarray, path: Path, seed: int = 0, size: tuple[int, int] = (900, 1200)) -> Path:
    """Write a JPEG photo of ``digit`` (uint8 (28, 28), white on black, MNIST's) to ``path``."""
    rng = np.random.default_rng(seed)
    width, height = size
    side = int(0.55 * width)
    ink = np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC), dtype=np.float32) / 255.0
    sheet = np.zeros((height, width), dtype=np.float32)
    top, left = int(0.3 * height), int(0.22 * width)
    sheet[top : top + side, left : left + side] = np.clip(ink, 0.0, 1.0)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    light = 0.92 - 0.25 * (rows / height) * (cols / width)  # falls off towards the bottom right
    shadow = 1.0 - 0.35 / (1.0 + np.exp(-((cols - 0.8 * width) + 0.5 * (rows - 0.15 * height)) / 40.0))
    paper = light * shadow * (1.0 + rng.normal(0.0, 0.015, sheet.shape).astype(np.float32))
    grey = paper * (1.0 - 0.85 * sheet)
    tint = np.array([0.98, 0.96, 0.9], dtype=np.float32)  # warm paper
    pen = np.array([0.15, 0.18, 0.45], dtype=np.float32)  # blue-black ink
    colour = grey[..., None] * tint * (1.0 - sheet[..., None]) + grey[..., None] * pen * sheet[..., None] * 1.5
    pixels = np.clip(colour * 255.0, 0, 255).astype(np.uint8)
    stored = Image.fromarray(pixels).transpose(Image.Transpose.ROTATE_90)  # as the sensor stored it
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = ROTATED_90_CW
    stored.save(path, format="JPEG", quality=85, exif=exif)
    return path
