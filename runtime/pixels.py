"""Pixel scaling, defined once for the whole project.

Three ranges meet here:
- stored MNIST pixels and user-facing images: uint8 0..255, white digit on black;
- "unit" range: float 0..1, what the ONNX generator outputs and the classifier reads;
- "signed" range: float -1..1, what the GAN trains in (tanh output, zero-centred input).

The functions are plain arithmetic so they work on numpy arrays and torch tensors alike;
the training side imports them from here (never the other way round).
"""
from __future__ import annotations

import numpy as np

PIXEL_MAX = 255.0


def uint8_to_unit(pixels: np.ndarray) -> np.ndarray:
    """uint8 0..255 -> float32 0..1."""
    return np.asarray(pixels, dtype=np.float32) / PIXEL_MAX


def unit_to_uint8(images: np.ndarray) -> np.ndarray:
    """float 0..1 -> uint8 0..255, rounded and clipped."""
    return np.clip(np.rint(np.asarray(images, dtype=np.float32) * PIXEL_MAX), 0, PIXEL_MAX).astype(np.uint8)


def unit_to_signed(x):
    """0..1 -> -1..1 (numpy or torch)."""
    return x * 2.0 - 1.0


def signed_to_unit(x):
    """-1..1 -> 0..1 (numpy or torch)."""
    return (x + 1.0) * 0.5
