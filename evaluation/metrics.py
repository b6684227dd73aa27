"""Sample-quality metrics, numpy only (the evaluation must run without PyTorch or scipy).

- label metrics: does the classifier read the digit that was asked for?
- FID (Heusel et al. 2017): Fréchet distance between Gaussians fitted to classifier features;
  per digit as well, because a generator can match the overall mix while drawing 4s as 9s.
- improved precision & recall (Kynkäänniemi et al. 2019): precision = share of generated
  samples inside the real manifold, recall = share of real samples inside the generated one,
  each manifold being the union of k-NN balls. FID mixes the two; these separate fidelity
  from diversity (mode collapse shows as low recall, noise as low precision).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mnistgen.training.data import NUM_CLASSES  # numpy-only module: the one label-set size

PR_NEIGHBOURS = 3  # k of the paper
CHUNK_ROWS = 1024  # pairwise distances are built CHUNK_ROWS x M at a time (8 MB per 1000 columns)


# ---------------------------------------------------------------- labels


def label_accuracy(expected: np.ndarray, predicted: np.ndarray) -> float:
    """Fraction of samples whose predicted digit is the expected one."""
    expected, predicted = np.asarray(expected), np.asarray(predicted)
    if expected.shape != predicted.shape or expected.size == 0:
        raise ValueError(f"need two equal-length non-empty label arrays, got {expected.shape} and {predicted.shape}")
    return float(np.mean(expected == predicted))


def confusion_matrix(expected: np.ndarray, predicted: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Counts (num_classes, num_classes) int64: row = expected digit, column = predicted digit."""
    expected, predicted = np.asarray(expected, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
    flat = np.bincount(expected * num_classes + predicted, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


@dataclass(frozen=True)
class PerClass:
    precision: np.ndarray  # (C,) float64; 0 where a class was never predicted
    recall: np.ndarray  # (C,); 0 where a class never occurs
    f1: np.ndarray  # (C,)


def per_class_scores(confusion: np.ndarray) -> PerClass:
    """Precision, recall and F1 of each class from a confusion matrix (rows = truth)."""
    confusion = np.asarray(confusion, dtype=np.float64)
    hits = np.diag(confusion)
    precision = _safe_divide(hits, confusion.sum(axis=0))
    recall = _safe_divide(hits, confusion.sum(axis=1))
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    return PerClass(precision=precision, recall=recall, f1=f1)


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.zeros_like(numerator, dtype=np.float64), where=denominator > 0)


# ---------------------------------------------------------------- FID


@dataclass(frozen=True)
class Gaussian:
    mean: np.ndarray  # (D,) float64
    cov: np.ndarray  # (D, D) float64


def fit_gaussian(features: np.ndarray) -> Gaussian:
    """Mean and unbiased covariance in float64 (float32 sums lose digits at 10k samples)."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"need at least 2 feature vectors (N, D), got shape {x.shape}")
    return Gaussian(mean=x.mean(axis=0), cov=np.cov(x, rowvar=False))


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix; round-off negatives -> 0."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(a: Gaussian, b: Gaussian) -> float:
    """|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)).

    tr((S_a S_b)^(1/2)) = tr((A S_b A)^(1/2)) with A = S_a^(1/2): the inner matrix is
    symmetric PSD, so two eigh calls replace scipy's general sqrtm (and never go complex).
    """
    root_a = _psd_sqrt(a.cov)
    inner = root_a @ b.cov @ root_a
    eigenvalues = np.linalg.eigvalsh((inner + inner.T) / 2)
    trace_sqrt = np.sqrt(np.clip(eigenvalues, 0.0, None)).sum()
    diff = a.mean - b.mean
    value = diff @ diff + np.trace(a.cov) + np.trace(b.cov) - 2.0 * trace_sqrt
    return float(max(value, 0.0))


def fid(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """FID between two feature sets (N, D) and (M, D)."""
    return frechet_distance(fit_gaussian(features_a), fit_gaussian(features_b))


def fit_per_class(features: np.ndarray, labels: np.ndarray, num_classes: int = NUM_CLASSES) -> list[Gaussian]:
    """One Gaussian per class (each class needs at least 2 samples)."""
    labels = np.asarray(labels)
    return [fit_gaussian(features[labels == c]) for c in range(num_classes)]


def per_class_fid(a: list[Gaussian], b: list[Gaussian]) -> np.ndarray:
    """FID of each class (C,), between matched per-class Gaussians."""
    return np.array([frechet_distance(x, y) for x, y in zip(a, b, strict=True)])


# ---------------------------------------------------------------- improved precision / recall


@dataclass(frozen=True)
class Manifold:
    """A feature set and the radius of each point's k-NN ball (float64)."""

    features: np.ndarray  # (N, D) float64
    radii: np.ndarray  # (N,) distance to the k-th nearest other point


def _squared_distances(x: np.ndarray, y: np.ndarray, y_norms: np.ndarray) -> np.ndarray:
    d2 = (x * x).sum(axis=1)[:, None] + y_norms[None, :] - 2.0 * (x @ y.T)
    return np.maximum(d2, 0.0, out=d2)


def manifold(features: np.ndarray, k: int = PR_NEIGHBOURS, chunk: int = CHUNK_ROWS) -> Manifold:
    """Estimate the manifold of a set: each point's distance to its k-th nearest neighbour.

    Duplicated points get radius 0 when they have k or more copies, which is what makes a
    collapsed generator cover nothing (low recall).
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) <= k:
        raise ValueError(f"need more than k={k} feature vectors (N, D), got shape {x.shape}")
    norms = (x * x).sum(axis=1)
    radii = np.empty(len(x))
    for begin in range(0, len(x), chunk):
        d2 = _squared_distances(x[begin : begin + chunk], x, norms)
        # index k of the sorted row: index 0 is the point itself (distance 0)
        radii[begin : begin + chunk] = np.partition(d2, k, axis=1)[:, k]
    return Manifold(features=x, radii=np.sqrt(radii))


@dataclass(frozen=True)
class PrecisionRecall:
    precision: float
    recall: float


def precision_recall(real: Manifold, fake: Manifold, chunk: int = CHUNK_ROWS) -> PrecisionRecall:
    """Improved precision and recall of ``fake`` against ``real``, in one pass over distances."""
    real_norms = (real.features**2).sum(axis=1)
    real_r2 = real.radii**2
    fake_inside = np.zeros(len(fake.features), dtype=bool)
    real_inside = np.zeros(len(real.features), dtype=bool)
    for begin in range(0, len(fake.features), chunk):
        d2 = _squared_distances(fake.features[begin : begin + chunk], real.features, real_norms)
        fake_inside[begin : begin + chunk] = (d2 <= real_r2[None, :]).any(axis=1)
        real_inside |= (d2 <= (fake.radii[begin : begin + chunk, None] ** 2)).any(axis=0)
    return PrecisionRecall(precision=float(fake_inside.mean()), recall=float(real_inside.mean()))
