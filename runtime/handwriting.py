"""A hand read from one sample: the sample prepared as MNIST's, the digit it shows, its latent,
and the variations around it.

The generator's latent carries the hand and the label picks the digit, so a sample's latent
(from the encoder) writes any digit in the sample's hand. Reading a sample needs the digit it
shows: the caller may say it; otherwise the classifier reads it and must be sure (it is never
guessed in silence).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from mnistgen.limits import InputError, check_count, check_seed, check_spread
from mnistgen.prepare import LIKE_TAKES, PICTURE_BYTES, check_finite, luminance, picture_name, prepare, prepare_file


@dataclass(frozen=True)
class Hand:
    latent: np.ndarray  # float32 (latent_dim,): the sample's latent for the paired generator
    digit: int  # the digit the sample shows
    confidence: float | None  # the classifier's probability for that digit; None when the digit was given
    image: np.ndarray  # uint8 (28, 28): the sample as prepared for the encoder


@dataclass(frozen=True)
class Wording:
    """How a refusal of a sample names it and says what to do: the command line's words by
    default; `mnistgen serve` names its request body and query parameter instead."""

    picture: str | None = None  # None: prepare.picture_name ("--like PATH" for a file, "the picture" otherwise)
    takes: str = LIKE_TAKES  # what the refusal ends with, before what a picture may be
    say_digit: str = "--like-digit D"  # how to say the digit when the classifier is unsure


COMMAND_LINE = Wording()


def prepared_sample(picture: Any, wording: Wording = COMMAND_LINE) -> tuple[np.ndarray, str]:
    """(uint8 (28, 28) prepared sample, how to name it in a message) from a path, the bytes of a
    picture file, a PIL image or an array: a (28, 28) uint8 array is taken as already prepared,
    any other picture is prepared."""
    where = wording.picture or picture_name(picture)
    if isinstance(picture, (str, os.PathLike, *PICTURE_BYTES)):
        return prepare_file(picture, where, wording.takes), where
    if hasattr(picture, "convert") and hasattr(picture, "size"):  # a PIL image
        return prepare(luminance(picture, where, wording.takes), where, wording.takes), where
    array = np.asarray(picture)
    if array.dtype == np.uint8 and array.shape == (28, 28):
        return array, wording.picture or "the sample"
    if array.ndim != 2 or array.size == 0 or not np.issubdtype(array.dtype, np.number):
        raise InputError(f"a sample must be a path, picture bytes, a PIL image, or a 2-D grey array; "
                         f"got {array.dtype} {array.shape}")
    check_finite(array, where, wording.takes)  # before scaling by the largest value, which NaN or inf would spoil
    grey = array.astype(np.float32) / (255.0 if array.dtype == np.uint8 else max(float(array.max()), 1.0))
    return prepare(grey, where, wording.takes), where


def variations(latent: np.ndarray, count: int, spread: float, seed: int | None) -> np.ndarray:
    """(count, latent_dim) latents around ``latent``: the first is the hand itself, each other is
    sqrt(1 - spread^2) * latent + spread * noise with standard normal noise, so spread 0 repeats
    the hand and 1 draws hands at random; the blend keeps a typical latent's length. The noise is
    one seeded (count, latent_dim) draw, so a larger count extends a smaller one."""
    count, spread = check_count(count), check_spread(spread)
    latent = np.asarray(latent, dtype=np.float32).reshape(-1)
    noise = np.random.default_rng(check_seed(seed)).standard_normal((count, latent.size), dtype=np.float32)
    out = np.float32(np.sqrt(1.0 - spread**2)) * latent + np.float32(spread) * noise
    out[0] = latent
    return out
