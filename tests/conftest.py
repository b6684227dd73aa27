"""Shared fixtures: where MNIST is, where the repo is."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """Real MNIST: $MNISTGEN_DATA, else ../shared/mnist beside the repo (CI and dev machines)."""
    path = Path(os.environ.get("MNISTGEN_DATA") or REPO.parent / "shared" / "mnist")
    if not (path / "train-images-idx3-ubyte.gz").exists() and not (path / "train-images-idx3-ubyte").exists():
        pytest.fail(f"MNIST not found in {path}: set MNISTGEN_DATA")
    return path
