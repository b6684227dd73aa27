"""Latent vectors: seeded draws, caller-supplied arrays, and interpolation between them."""
from __future__ import annotations

import numpy as np

from mnistgen.errors import InputError
from mnistgen.limits import MAX_COUNT


def seed_streams(seed: int | None, count: int) -> list[np.random.Generator]:
    """`count` independent generators; the first is exactly np.random.default_rng(seed).

    Separate streams keep each quantity prefix-stable: drawing more latents never shifts
    what a second stream (e.g. a number's spacing jitter) produces for the first samples.
    """
    sequence = np.random.SeedSequence(seed)
    return [np.random.default_rng(sequence)] + [np.random.default_rng(s) for s in sequence.spawn(count - 1)]


def draw(rng: np.random.Generator, count: int, latent_dim: int) -> np.ndarray:
    """(count, latent_dim) standard normals as ONE draw, so a larger count extends a smaller one."""
    return rng.standard_normal((count, latent_dim), dtype=np.float32)


def check_latents(latents: object, latent_dim: int) -> np.ndarray:
    array = np.asarray(latents, dtype=np.float32)
    if array.ndim != 2 or array.shape[1] != latent_dim or not 1 <= array.shape[0] <= MAX_COUNT:
        raise InputError(
            f"latents must be an array of shape (count, {latent_dim}) with count 1-{MAX_COUNT}, got shape {array.shape}"
        )
    if not np.isfinite(array).all():
        raise InputError("latents must be finite numbers (no NaN or inf)")
    return np.ascontiguousarray(array)


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation rows: keeps the norm near that of typical Gaussian samples,
    where a straight line through the middle of the ball would drift to atypically short latents."""
    t = np.asarray(t, dtype=np.float64)[:, None]
    cos = np.dot(a, b) / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if np.sin(omega) < 1e-6:  # (anti)parallel: the sphere path is undefined, the line is fine
        return ((1 - t) * a + t * b).astype(np.float32)
    mixed = (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)
    return mixed.astype(np.float32)
