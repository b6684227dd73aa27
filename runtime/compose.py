"""Compositions built on the generator: multi-digit numbers, label morphs, style walks."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mnistgen import latents as latent_ops
from mnistgen.limits import NUMBER_JITTER, STYLE_KEYFRAMES
from mnistgen.validation import check_digit, check_number, check_number_count, check_seed, check_steps

if TYPE_CHECKING:
    from mnistgen.generator import Generator


def number(generator: "Generator", digits: str, count: int, seed: int | None) -> np.ndarray:
    """uint8 (count, 28, 28*len(digits)).

    All digits of one sample share its latent, so they read as one person's hand; a seeded
    -2..2 px shift per digit (from a separate stream, so prefix-stable) breaks the grid spacing.
    Overlaps merge with max, which is what ink on ink looks like in white-on-black.
    """
    digits = check_number(digits)
    count = check_number_count(count, len(digits))
    latent_rng, jitter_rng = latent_ops.seed_streams(check_seed(seed), 2)
    z = latent_ops.draw(latent_rng, count, generator.latent_dim)
    shifts = jitter_rng.integers(-NUMBER_JITTER, NUMBER_JITTER + 1, size=(count, len(digits)))
    shifts[:, 0] = np.maximum(shifts[:, 0], 0)  # the outer digits only move inwards: nothing is cut off
    shifts[:, -1] = np.minimum(shifts[:, -1], 0)
    height, width = generator.image_shape
    canvas = np.zeros((count, height, width * len(digits)), dtype=np.uint8)
    rendered = {char: generator.render(z, int(char)) for char in set(digits)}  # "1111" renders once
    for position, char in enumerate(digits):
        tiles = rendered[char]
        for shift in np.unique(shifts[:, position]):
            rows = shifts[:, position] == shift
            _paste_max(canvas, rows, tiles[rows], width * position + int(shift))
    return canvas


def _paste_max(canvas: np.ndarray, rows: np.ndarray, tiles: np.ndarray, left: int) -> None:
    start, stop = max(left, 0), min(left + tiles.shape[2], canvas.shape[2])
    region = canvas[rows, :, start:stop]
    canvas[rows, :, start:stop] = np.maximum(region, tiles[:, :, start - left : stop - left])


def morph(generator: "Generator", digit_from: int, digit_to: int, steps: int, seed: int | None) -> np.ndarray:
    """uint8 (steps, 28, 28): one latent; label embedding blended from digit_from to digit_to."""
    digit_from, digit_to, steps = check_digit(digit_from), check_digit(digit_to), check_steps(steps)
    z = latent_ops.draw(np.random.default_rng(check_seed(seed)), 1, generator.latent_dim)
    mix = np.linspace(0.0, 1.0, steps, dtype=np.float32)
    return generator.render(np.repeat(z, steps, axis=0), digit_from, digit_to=digit_to, mix=mix)


def style_walk(generator: "Generator", digit: int, steps: int, seed: int | None) -> np.ndarray:
    """uint8 (steps, 28, 28): the latent travels along great-circle arcs through a few random styles."""
    digit, steps = check_digit(digit), check_steps(steps)
    keys = latent_ops.draw(np.random.default_rng(check_seed(seed)), STYLE_KEYFRAMES, generator.latent_dim)
    position = np.linspace(0.0, STYLE_KEYFRAMES - 1, steps)
    segment = np.minimum(position.astype(int), STYLE_KEYFRAMES - 2)
    z = np.empty((steps, generator.latent_dim), dtype=np.float32)
    for index in np.unique(segment):
        rows = segment == index
        z[rows] = latent_ops.slerp(keys[index], keys[index + 1], position[rows] - index)
    return generator.render(z, digit)
