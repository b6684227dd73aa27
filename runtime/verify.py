"""Verified generation: keep only samples the classifier reads as the requested digit."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

from mnistgen import latents as latent_ops
from mnistgen.errors import VerificationError
from mnistgen.limits import BATCH_SIZE, VERIFY_DRAW_FACTOR

if TYPE_CHECKING:
    from mnistgen.classifier import Classifier
    from mnistgen.generator import Generator


def draw_verified(
    generator: "Generator",
    classifier: "Classifier",
    digit: int,
    count: int,
    seed: int | None,
    min_confidence: float,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """The first `count` passing samples of the seed's latent stream, at most
    VERIFY_DRAW_FACTOR x count candidates.

    Latents come from one default_rng(seed) stream in order, so the result is the plain
    generate(seed) sequence with failures removed: deterministic and prefix-stable.
    """
    rng = np.random.default_rng(seed)
    kept = np.empty((count, *generator.image_shape), dtype=np.uint8)
    found = drawn = 0
    budget = VERIFY_DRAW_FACTOR * count
    while found < count:
        if drawn >= budget:
            raise VerificationError(
                f"only {found} of {count} samples of digit {digit} reached confidence {min_confidence} "
                f"in {drawn} draws (limit {VERIFY_DRAW_FACTOR}x count); lower the minimum confidence"
            )
        size = min(BATCH_SIZE, budget - drawn)
        images = generator.render(latent_ops.draw(rng, size, generator.latent_dim), digit)
        labels, confidences = classifier.predict(images)
        passing = images[(labels == digit) & (confidences >= min_confidence)][: count - found]
        kept[found : found + len(passing)] = passing
        found += len(passing)
        drawn += size
        if progress is not None:
            progress(found, count)
    return kept
