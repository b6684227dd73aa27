"""Where the images to score come from: a generator, an .npz file, or real training images."""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnistgen.evaluation.metrics import NUM_CLASSES
from mnistgen import Generator
from mnistgen.dataset import dataset_arrays
from mnistgen.training.data import IMAGE_SIDE, Split

MIN_PER_DIGIT = 10  # fewer and per-digit covariances and k-NN radii are noise
REFERENCE_SEED = 0  # the real reference subset is the same whatever --seed says


class SampleError(Exception):
    """Images that cannot be evaluated, phrased for the user (one line)."""


@dataclass(frozen=True)
class Samples:
    images: np.ndarray  # uint8 (N, 28, 28)
    labels: np.ndarray  # int64 (N,), the digit each image is meant to show

    def counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=NUM_CLASSES)


def generate(generator: Generator, per_digit: int, seed: int) -> Samples:
    """``per_digit`` images of each digit: the dataset `mnistgen-dataset --per-digit N --seed S`
    writes, so what is scored (CAS included) is what users get as data."""
    images, labels = dataset_arrays(per_digit, seed, generator=generator)
    return check(Samples(images=images, labels=labels.astype(np.int64)), "generator output")


def load_npz(path: str | os.PathLike) -> Samples:
    """An .npz with ``images`` uint8 (N, 28, 28) and integer ``labels`` (N,) in 0..9."""
    path = Path(path)
    if not path.is_file():
        raise SampleError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = {"images", "labels"} - set(data.files)
            if missing:
                raise SampleError(f"{path}: lacks array(s) {sorted(missing)} (needs 'images' and 'labels')")
            images, labels = data["images"], data["labels"]
    except SampleError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise SampleError(f"{path}: not a readable .npz file ({str(error)[:160]})") from None
    if not np.issubdtype(labels.dtype, np.integer):
        raise SampleError(f"{path}: 'labels' must be integers, got {labels.dtype}")
    return check(Samples(images=images, labels=labels.astype(np.int64)), str(path))


def check(samples: Samples, source: str) -> Samples:
    """Shapes, dtypes, label range and enough images of every digit."""
    images, labels = samples.images, samples.labels
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise SampleError(f"{source}: 'images' must be uint8 (N, 28, 28), got {images.dtype} {images.shape}")
    if labels.shape != (len(images),):
        raise SampleError(f"{source}: 'labels' must have shape ({len(images)},), got {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise SampleError(f"{source}: labels must be digits 0..9, found {labels.min()}..{labels.max()}")
    counts = np.bincount(labels, minlength=NUM_CLASSES)
    if counts.min() < MIN_PER_DIGIT:
        raise SampleError(
            f"{source}: needs at least {MIN_PER_DIGIT} images of every digit, has {counts.tolist()}"
        )
    return samples


def reference_subset(train: Split, counts: np.ndarray, seed: int = REFERENCE_SEED) -> Samples:
    """Real training images with the same number per digit as the evaluated set (a fixed draw).

    Same size and digit mix, because FID and k-NN radii depend on both; capped at what MNIST
    has of each digit.
    """
    rng = np.random.default_rng(seed)
    picks = []
    for digit, count in enumerate(counts):
        pool = np.flatnonzero(train.labels == digit)
        picks.append(np.sort(rng.choice(pool, size=min(int(count), len(pool)), replace=False)))
    index = np.concatenate(picks)
    return Samples(images=train.images[index], labels=train.labels[index])
