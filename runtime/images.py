"""Digit images as uint8 arrays, for the whole project: pixel scaling, layout (grids, strips)
and encoding (PNG, animated GIF).

Three pixel ranges meet here:
- stored MNIST pixels and user-facing images: uint8 0..255, white digit on black;
- "unit" range: float 0..1, what the ONNX generator outputs and the classifier reads;
- "signed" range: float -1..1, what the GAN trains in (tanh output, zero-centred input).

The scaling functions are plain arithmetic so they work on numpy arrays and torch tensors alike;
the training side imports them from here (never the other way round).
"""
from __future__ import annotations

import io
import math

import numpy as np

PIXEL_MAX = 255.0
GIF_FRAME_MS = 80


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


def grid(images: np.ndarray) -> np.ndarray:
    """(n, h, w) -> one (rows*h, cols*w) image, near-square, row-major, black where empty."""
    count, height, width = images.shape
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    padded = np.zeros((rows * cols, height, width), dtype=images.dtype)
    padded[:count] = images
    return padded.reshape(rows, cols, height, width).transpose(0, 2, 1, 3).reshape(rows * height, cols * width)


def strip(images: np.ndarray) -> np.ndarray:
    """(n, h, w) -> (h, n*w), left to right."""
    count, height, width = images.shape
    return images.transpose(1, 0, 2).reshape(height, count * width)


def png_bytes(image: np.ndarray) -> bytes:
    """8-bit grayscale PNG of a 2-D uint8 array."""
    from PIL import Image  # deferred: only paths that encode images pay for Pillow

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG")
    return buffer.getvalue()


def gif_bytes(frames: np.ndarray, frame_ms: int = GIF_FRAME_MS) -> bytes:
    """Looping animated GIF, one frame per (h, w) image."""
    from PIL import Image

    pictures = [Image.fromarray(np.ascontiguousarray(frame)) for frame in frames]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], duration=frame_ms, loop=0)
    return buffer.getvalue()
