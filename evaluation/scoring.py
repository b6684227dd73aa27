"""From images to figures: classify once, then measure against the real test set.

The real test set's statistics (Gaussians, k-NN manifold) are prepared once and shared by
every row, since they are the expensive part and identical for all of them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Protocol

import numpy as np

from mnistgen.evaluation import metrics
from mnistgen.evaluation.samples import Samples
from mnistgen.limits import DEFAULT_MIN_CONFIDENCE


class ClassifierLike(Protocol):
    def probabilities_and_features(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class Observed:
    """What the classifier sees in a set of images."""

    labels: np.ndarray  # the digit each image is meant to show
    predicted: np.ndarray  # the digit the classifier reads
    features: np.ndarray  # (N, D) penultimate activations
    confidence: np.ndarray  # (N,) the probability of the predicted digit


def observe(classifier: ClassifierLike, samples: Samples) -> Observed:
    probabilities, features = classifier.probabilities_and_features(samples.images)
    return Observed(labels=samples.labels, predicted=probabilities.argmax(axis=1), features=features,
                    confidence=probabilities.max(axis=1))


@dataclass(frozen=True)
class RealStats:
    """The real test set, summarised for FID (overall and per digit) and precision/recall."""

    gaussian: metrics.Gaussian
    per_digit: list[metrics.Gaussian]
    manifold: metrics.Manifold


def real_stats(real: Observed) -> RealStats:
    return RealStats(
        gaussian=metrics.fit_gaussian(real.features),
        per_digit=metrics.fit_per_class(real.features, real.labels),
        manifold=metrics.manifold(real.features),
    )


@dataclass(frozen=True)
class Figures:
    n: int
    label_accuracy: float
    per_digit: metrics.PerClass
    confusion: np.ndarray
    fid: float
    fid_per_digit: np.ndarray
    precision: float
    recall: float
    verify_rejected: int  # images `--verify` at its default confidence would drop (misread or unsure)
    cas: Optional[float] = None

    @property
    def fid_per_digit_mean(self) -> float:
        return float(np.mean(self.fid_per_digit))


def score(observed: Observed, real: RealStats) -> Figures:
    """All figures of one set (CAS apart: it needs training, see evaluation/cas.py)."""
    confusion = metrics.confusion_matrix(observed.labels, observed.predicted)
    pr = metrics.precision_recall(real.manifold, metrics.manifold(observed.features))
    return Figures(
        n=len(observed.labels),
        label_accuracy=metrics.label_accuracy(observed.labels, observed.predicted),
        per_digit=metrics.per_class_scores(confusion),
        confusion=confusion,
        fid=metrics.frechet_distance(metrics.fit_gaussian(observed.features), real.gaussian),
        fid_per_digit=metrics.per_class_fid(metrics.fit_per_class(observed.features, observed.labels), real.per_digit),
        precision=pr.precision,
        recall=pr.recall,
        verify_rejected=verify_rejected(observed),
    )


def verify_rejected(observed: Observed, min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> int:
    """How many of these images `--verify` would reject: the same test as the runtime's, so on a
    generator's evaluation samples (each digit's plain seeded stream) this is its rejection count."""
    kept = (observed.predicted == observed.labels) & (observed.confidence >= min_confidence)
    return int(len(kept) - kept.sum())
