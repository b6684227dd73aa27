"""Laying out uint8 digit images (grids, strips) and encoding them (PNG, animated GIF)."""
from __future__ import annotations

import io
import math

import numpy as np

GIF_FRAME_MS = 80


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
