"""The figures the shipped generator carries, and the README's model card, are what it gives.

The evaluation embedded in models/generator.onnx (metadata key ``evaluation``) is re-measured
here with the same seeds, without CAS (that trains two classifiers: minutes). The seeds fix every
image, so what may move is only the classifier's float arithmetic (its thread count), which can
tip an image across a decision boundary or a k-NN radius: counts may differ by a sample or two,
distances in their last digits.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from mnistgen import Generator
from mnistgen.evaluation import cli, model_card
from tests.conftest import option, release_commands, require_with_shipped_models

SAMPLES = 2  # images a fraction may move by (label accuracy, precision, recall, --verify rejections)
RELATIVE = 1e-4  # for FID: the features move in their last float32 digits
NOT_RE_MEASURED = {"cas"}  # CAS needs training; its figures are checked by nothing here


@pytest.fixture(scope="module")
def shipped_info(generator_path: Path) -> dict:
    info = Generator(generator_path, threads=1).info
    require_with_shipped_models("evaluation" in info, "the generator carries its evaluation")
    return info


@pytest.fixture(scope="module")
def re_measured(shipped_info, generator_path, classifier_path, mnist_dir) -> dict:
    embedded = shipped_info["evaluation"]
    request = cli.Request(
        generator=generator_path, npz=None, per_digit=embedded["per_digit"], seed=embedded["seed"],
        classifier=classifier_path, data_dir=mnist_dir, cas=False, reference=embedded["reference"] is not None,
        threads=None,
    )
    document, _ = cli.evaluate(request, echo=lambda text: None)
    return document


def test_the_evaluation_describes_this_model_and_classifier(shipped_info, classifier_path):
    embedded = shipped_info["evaluation"]
    assert embedded["latent_scale"] == shipped_info["latent_scale"]
    assert embedded["classifier"]["sha256"] == hashlib.sha256(Path(classifier_path).read_bytes()).hexdigest()
    assert embedded["source"]["file"] == "generator.onnx"


def _assert_rows_agree(measured: dict, embedded: dict) -> None:
    n = embedded["n"]
    assert measured["n"] == n
    for key in ("label_accuracy", "precision", "recall"):
        assert measured[key] == pytest.approx(embedded[key], abs=SAMPLES / n), key
    assert abs(measured["verify_rejected"] - embedded["verify_rejected"]) <= SAMPLES
    for key in ("fid", "fid_per_digit_mean"):
        assert measured[key] == pytest.approx(embedded[key], rel=RELATIVE), key
    assert measured["fid_per_digit"] == pytest.approx(embedded["fid_per_digit"], rel=RELATIVE)


def test_the_embedded_figures_are_what_the_model_gives(shipped_info, re_measured):
    embedded = shipped_info["evaluation"]
    for key in ("n", "seed", "per_digit", "reference_seed", "latent_scale", "verify_min_confidence"):
        assert re_measured[key] == embedded[key], key
    _assert_rows_agree(re_measured["model"], embedded["model"])
    if embedded["reference"] is not None:
        _assert_rows_agree(re_measured["reference"], embedded["reference"])
    assert set(re_measured["bar"]) == set(embedded["bar"])
    for name, criterion in embedded["bar"].items():
        if name in NOT_RE_MEASURED:
            continue
        again = re_measured["bar"][name]
        assert (again["measured"], again["passed"]) == (criterion["measured"], criterion["passed"]), name
        assert again["threshold"] == pytest.approx(criterion["threshold"], rel=RELATIVE, abs=SAMPLES / embedded["n"])


def test_the_readme_model_card_is_rendered_from_the_metadata(shipped_info, generator_path, repo_root):
    require_with_shipped_models(Path(generator_path) == repo_root / "models" / "generator.onnx",
                                "the README describes the shipped generator")
    text = (repo_root / "README.md").read_text(encoding="utf-8")
    start, end = text.index(model_card.START), text.index(model_card.END) + len(model_card.END)
    assert text[start:end] == model_card.render(shipped_info["evaluation"], shipped_info)


def test_the_shipped_generator_is_what_the_release_recipe_makes(shipped_info):
    # the README's release block names the command, its step count and seed, and the export's
    # truncation: the model must carry exactly those, so the recipe can be rerun to get it back
    commands = release_commands()
    train, export = commands["mnistgen-train"], commands["mnistgen-export"]
    training = shipped_info["training"]
    require_with_shipped_models(bool(training.get("commands")), "the generator names the command that trained it")
    assert training["commands"] == [" ".join(train)]
    assert training["generator_step"] == training["config"]["steps"] == int(option(train, "--steps"))
    assert training["config"]["seed"] == int(option(train, "--seed"))
    assert shipped_info["latent_scale"] == float(option(export, "--latent-scale"))
    assert shipped_info["evaluation"]["latent_scale"] == shipped_info["latent_scale"]
