"""The metrics: exact on hand-made cases, and discriminating on real MNIST features.

The MNIST scenarios use the shipped classifier (models/classifier.onnx; MNISTGEN_TEST_CLASSIFIER
overrides the path) on 200 images per digit, one thread.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mnistgen import Classifier
from mnistgen.evaluation import metrics, samples, scoring
from mnistgen.evaluation.samples import Samples
from mnistgen.training.data import load_split

PER_DIGIT = 200


# ---------------------------------------------------------------- labels


def test_confusion_and_per_class_scores_on_hand_made_labels():
    expected = np.array([0, 0, 0, 1, 1, 2])
    predicted = np.array([0, 0, 1, 1, 1, 0])
    confusion = metrics.confusion_matrix(expected, predicted, num_classes=3)
    assert confusion.tolist() == [[2, 1, 0], [0, 2, 0], [1, 0, 0]]
    scores = metrics.per_class_scores(confusion)
    np.testing.assert_allclose(scores.precision, [2 / 3, 2 / 3, 0.0])
    np.testing.assert_allclose(scores.recall, [2 / 3, 1.0, 0.0])
    np.testing.assert_allclose(scores.f1, [2 / 3, 0.8, 0.0])
    assert metrics.label_accuracy(expected, predicted) == pytest.approx(4 / 6)


def test_label_accuracy_rejects_mismatched_lengths():
    with pytest.raises(ValueError):
        metrics.label_accuracy(np.zeros(3), np.zeros(4))


# ---------------------------------------------------------------- FID


def test_fid_of_a_set_with_itself_is_zero():
    x = np.random.default_rng(0).normal(size=(500, 16))
    assert metrics.fid(x, x) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_matches_closed_form_for_commuting_covariances():
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    la, lb = rng.uniform(0.1, 4.0, 8), rng.uniform(0.1, 4.0, 8)
    ma, mb = rng.normal(size=8), rng.normal(size=8)
    a = metrics.Gaussian(ma, (q * la) @ q.T)
    b = metrics.Gaussian(mb, (q * lb) @ q.T)
    expected = np.sum((ma - mb) ** 2) + np.sum((np.sqrt(la) - np.sqrt(lb)) ** 2)
    assert metrics.frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_is_symmetric_for_general_covariances():
    rng = np.random.default_rng(2)
    ga, gb = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    a = metrics.Gaussian(np.zeros(6), ga @ ga.T)
    b = metrics.Gaussian(np.ones(6), gb @ gb.T + np.eye(6))
    assert metrics.frechet_distance(a, b) == pytest.approx(metrics.frechet_distance(b, a), rel=1e-9)


def _anisotropic_covariance(rng, size: int) -> np.ndarray:
    """Eigenvalues 0.01 to 10 along a random basis: two of these almost never commute."""
    q, _ = np.linalg.qr(rng.normal(size=(size, size)))
    return (q * np.geomspace(0.01, 10.0, size)) @ q.T


def test_frechet_distance_matches_an_independent_reference_for_non_commuting_covariances():
    # tr((S_a S_b)^(1/2)) is the sum of the square roots of the eigenvalues of S_a S_b (real and
    # non-negative: S_a S_b is similar to a PSD matrix). This reference shares no code with
    # frechet_distance, and the case is chosen so that the wrong formula, tr(S_a^(1/2) S_b^(1/2)),
    # which agrees whenever the covariances commute, is far from it.
    rng = np.random.default_rng(0)
    size = 6
    cov_a, cov_b = _anisotropic_covariance(rng, size), _anisotropic_covariance(rng, size)
    mean_a, mean_b = np.zeros(size), np.full(size, 0.5)
    assert not np.allclose(cov_a @ cov_b, cov_b @ cov_a)
    trace_sqrt = np.sqrt(np.linalg.eigvals(cov_a @ cov_b).real).sum()
    expected = np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt

    def root(matrix):
        values, vectors = np.linalg.eigh(matrix)
        return (vectors * np.sqrt(values)) @ vectors.T

    wrong = expected + 2 * trace_sqrt - 2 * np.trace(root(cov_a) @ root(cov_b))
    assert abs(wrong - expected) > 0.2 * expected  # the case tells the two formulas apart
    actual = metrics.frechet_distance(metrics.Gaussian(mean_a, cov_a), metrics.Gaussian(mean_b, cov_b))
    assert actual == pytest.approx(expected, rel=1e-9)


def test_fid_of_samples_approaches_the_mean_shift():
    rng = np.random.default_rng(3)
    shift = np.array([3.0, 0.0, -4.0])
    a, b = rng.normal(size=(20000, 3)), rng.normal(size=(20000, 3)) + shift
    assert metrics.fid(a, b) == pytest.approx(25.0, rel=0.02)


# ---------------------------------------------------------------- precision / recall


def test_knn_radii_on_a_line():
    points = np.array([[0.0], [1.0], [3.0], [6.0]])
    np.testing.assert_allclose(metrics.manifold(points, k=1).radii, [1, 1, 2, 3])
    np.testing.assert_allclose(metrics.manifold(points, k=2).radii, [3, 2, 3, 5])


def test_duplicates_have_zero_radius():
    points = np.repeat(np.eye(2), 5, axis=0)
    assert np.all(metrics.manifold(points, k=3).radii == 0)


def _cloud(rng, n, centre=(0.0, 0.0), scale=1.0):
    return rng.normal(size=(n, 2)) * scale + np.asarray(centre)


def test_precision_recall_on_point_clouds():
    rng = np.random.default_rng(4)
    real = metrics.manifold(_cloud(rng, 800))
    same = metrics.precision_recall(real, metrics.manifold(_cloud(rng, 800)))
    assert same.precision > 0.9 and same.recall > 0.9
    far = metrics.precision_recall(real, metrics.manifold(_cloud(rng, 800, centre=(20, 20))))
    assert far.precision == 0.0 and far.recall == 0.0
    narrow = metrics.precision_recall(real, metrics.manifold(_cloud(rng, 800, scale=0.2)))
    assert narrow.precision > 0.95 and narrow.recall < 0.5  # faithful but not diverse
    wide = metrics.precision_recall(real, metrics.manifold(_cloud(rng, 800, scale=4.0)))
    assert wide.precision < 0.5 and wide.recall > 0.9  # diverse but not faithful


def test_precision_recall_does_not_depend_on_chunking():
    rng = np.random.default_rng(5)
    real, fake = _cloud(rng, 300), _cloud(rng, 200, centre=(0.5, 0))
    whole = metrics.precision_recall(metrics.manifold(real), metrics.manifold(fake))
    chunked = metrics.precision_recall(metrics.manifold(real, chunk=7), metrics.manifold(fake, chunk=7), chunk=13)
    assert whole == chunked


# ---------------------------------------------------------------- on real MNIST features


@pytest.fixture(scope="module")
def classifier(classifier_path):
    return Classifier(classifier_path, threads=1)


def _blur(images: np.ndarray) -> np.ndarray:
    """3x3 box blur."""
    padded = np.pad(images.astype(np.float32), ((0, 0), (1, 1), (1, 1)))
    total = sum(padded[:, i : i + 28, j : j + 28] for i in range(3) for j in range(3))
    return np.rint(total / 9).astype(np.uint8)


@pytest.fixture(scope="module")
def figures(classifier, mnist_dir) -> dict[str, scoring.Figures]:
    """Figures of several image sets against 200 real test images per digit."""
    counts = np.full(10, PER_DIGIT)
    test = samples.reference_subset(load_split("test", mnist_dir), counts, seed=1)
    train = samples.reference_subset(load_split("train", mnist_dir), counts, seed=2)
    real = scoring.real_stats(scoring.observe(classifier, test))
    rng = np.random.default_rng(0)
    observed = scoring.observe(classifier, train)
    labels = train.labels  # sorted by digit, PER_DIGIT of each
    sets = {
        "real": observed,
        "collapse": scoring.observe(classifier, Samples(np.repeat(train.images[::PER_DIGIT], PER_DIGIT, 0), labels)),
        "blur": scoring.observe(classifier, Samples(_blur(train.images), train.labels)),
        "shuffled": dataclasses.replace(observed, labels=rng.permutation(train.labels)),
        "noise": scoring.observe(classifier, Samples(rng.integers(0, 256, train.images.shape, np.uint8), train.labels)),
    }
    return {name: scoring.score(o, real) for name, o in sets.items()}


def test_real_images_score_near_the_ceiling(figures):
    real = figures["real"]
    assert real.label_accuracy >= 0.97
    assert real.precision >= 0.8 and real.recall >= 0.8
    assert real.fid < figures["blur"].fid / 20


def test_mode_collapse_has_no_recall_and_high_fid(figures):
    real, collapse = figures["real"], figures["collapse"]
    assert collapse.label_accuracy >= 0.9  # every image is a fine digit ...
    assert collapse.recall < 0.05  # ... but the set covers nothing
    assert collapse.fid > 20 * real.fid
    assert collapse.fid_per_digit_mean > 10 * real.fid_per_digit_mean


def test_blur_raises_fid_and_collapses_recall(figures):
    # Blurred digits still land inside the real manifold (precision stays high with the shipped
    # classifier), but they cover almost none of it: FID and recall are the metrics that see blur.
    real, blur = figures["real"], figures["blur"]
    assert blur.fid > 20 * real.fid
    assert blur.recall < 0.25 * real.recall


def test_shuffled_labels_fail_labels_and_per_digit_fid_only(figures):
    real, shuffled = figures["real"], figures["shuffled"]
    assert shuffled.label_accuracy < 0.2
    assert shuffled.fid == pytest.approx(real.fid)  # the unconditional figures cannot see labels
    assert shuffled.fid_per_digit_mean > 20 * real.fid_per_digit_mean


def test_noise_fails_everything(figures):
    real, noise = figures["real"], figures["noise"]
    assert noise.label_accuracy < 0.3
    assert noise.fid > 100 * real.fid and noise.fid_per_digit_mean > 100 * real.fid_per_digit_mean
    assert noise.precision < 0.05 and noise.recall < 0.05
