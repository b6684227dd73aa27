"""Shared fixtures: where MNIST is, and which models the tests use.

Models default to the shipped ones in models/; MNISTGEN_TEST_GENERATOR, MNISTGEN_TEST_CLASSIFIER
and MNISTGEN_TEST_CHECKPOINT point elsewhere (e.g. while developing without trained models).
A missing model fails, never skips: a release without working models must not pass.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MODELS = {
    "generator": ("MNISTGEN_TEST_GENERATOR", "generator.onnx"),
    "classifier": ("MNISTGEN_TEST_CLASSIFIER", "classifier.onnx"),
    "checkpoint": ("MNISTGEN_TEST_CHECKPOINT", "generator.pt"),
}


def model_path(which: str) -> Path:
    env, filename = MODELS[which]
    path = Path(os.environ[env]) if os.environ.get(env) else REPO / "models" / filename
    if not path.is_file():
        pytest.fail(f"no model at {path}: ship models/{filename} (see README: training and export) or set {env}")
    return path


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def generator_path() -> Path:
    return model_path("generator")


@pytest.fixture(scope="session")
def classifier_path() -> Path:
    return model_path("classifier")


@pytest.fixture(scope="session")
def checkpoint_path() -> Path:
    return model_path("checkpoint")


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """Real MNIST: $MNISTGEN_DATA, else ../shared/mnist beside the repo (CI and dev machines)."""
    path = Path(os.environ.get("MNISTGEN_DATA") or REPO.parent / "shared" / "mnist")
    if not (path / "train-images-idx3-ubyte.gz").exists() and not (path / "train-images-idx3-ubyte").exists():
        pytest.fail(f"MNIST not found in {path}: set MNISTGEN_DATA")
    return path
