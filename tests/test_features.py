"""Quality of the SHIPPED models through the runtime features (numbers, verify, morphs).

These need the trained models in models/ (mnistgen.models); without them they fail with a
message saying so, because a release without working models must not pass.
"""
from __future__ import annotations

import numpy as np
import pytest

from mnistgen import Classifier, Generator, ModelError


@pytest.fixture(scope="module")
def shipped() -> tuple[Generator, Classifier]:
    try:
        return Generator(threads=1), Classifier(threads=1)
    except ModelError as exc:
        pytest.fail(f"the shipped models are needed here: {exc}")


def test_shipped_generator_is_recognised_by_shipped_classifier(shipped):
    generator, classifier = shipped
    per_digit = 100
    images = np.concatenate([generator.generate(d, count=per_digit, seed=1000 + d) for d in range(10)])
    labels, _ = classifier.predict(images)
    accuracy = float((labels == np.repeat(np.arange(10), per_digit)).mean())
    assert accuracy >= 0.99, f"label accuracy {accuracy:.3f} of the shipped generator is below 0.99"


def test_verified_samples_all_pass_the_classifier(shipped):
    generator, classifier = shipped
    for digit in (1, 7, 8):
        kept = generator.generate(digit, count=30, seed=digit, verify=True, min_confidence=0.95)
        labels, confidences = classifier.predict(kept)
        assert kept.shape == (30, 28, 28)
        assert (labels == digit).all() and (confidences >= 0.95).all()


def test_number_digits_are_recognised_in_order_when_cut_apart(shipped):
    generator, classifier = shipped
    text, count = "0123456789", 20
    numbers = generator.number(text, count=count, seed=3)
    assert numbers.shape == (count, 28, 28 * len(text))
    np.testing.assert_array_equal(numbers, generator.number(text, count=count, seed=3))
    tiles = numbers.reshape(count, 28, len(text), 28).transpose(0, 2, 1, 3).reshape(-1, 28, 28)
    labels, _ = classifier.predict(tiles)
    accuracy = float((labels == np.tile(np.arange(10), count)).mean())
    # the -2..2 px jitter and ink overlap make the cut tiles slightly harder than plain digits
    assert accuracy >= 0.97, f"only {accuracy:.3f} of the cut-apart number digits read back correctly"


def test_morph_runs_from_one_digit_to_the_other(shipped):
    generator, classifier = shipped
    assert "morph" in generator.capabilities, "the shipped generator should support morphs"
    ends = []
    for seed in range(10):
        frames = generator.morph(3, 8, steps=8, seed=seed)
        ends.append(frames[[0, -1]])
    labels, _ = classifier.predict(np.concatenate(ends))
    assert (labels[0::2] == 3).mean() >= 0.9 and (labels[1::2] == 8).mean() >= 0.9, labels
