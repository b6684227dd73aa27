"""Reference-classifier training: augmentation, determinism, learning, the CLI."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from typer.testing import CliRunner

from mnistgen.training import classifier as training
from mnistgen.training.checkpoint import build_classifier, load_checkpoint
from mnistgen.training.data import load_split


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _dot_image(row: int, col: int) -> torch.Tensor:
    image = torch.zeros(1, 1, 28, 28)
    image[0, 0, row, col] = 1.0
    return image


def test_random_shift_moves_each_image_by_at_most_two_pixels():
    generator = torch.Generator().manual_seed(0)
    shifted = training.random_shift(_dot_image(14, 14).repeat(500, 1, 1, 1), 2, generator)
    assert shifted.shape == (500, 1, 28, 28)
    flat = shifted.view(500, -1)
    assert torch.all(flat.sum(1) == 1)  # the dot is moved, never lost or duplicated
    rows, cols = flat.argmax(1) // 28 - 14, flat.argmax(1) % 28 - 14
    assert set(rows.tolist()) == set(range(-2, 3)) and set(cols.tolist()) == set(range(-2, 3))


def test_random_shift_fills_with_black_and_zero_shift_is_identity():
    generator = torch.Generator().manual_seed(0)
    corner = _dot_image(0, 0).repeat(200, 1, 1, 1)
    assert training.random_shift(corner, 2, generator).sum() < 200  # shifted out at times
    assert torch.equal(training.random_shift(corner, 0, generator), corner)


@pytest.fixture(scope="module")
def small(mnist_dir):
    return load_split("train", mnist_dir, limit=1024), load_split("test", mnist_dir, limit=1000)


def _weights(model) -> list[torch.Tensor]:
    return [t.clone() for t in model.state_dict().values()]


def test_training_is_seeded_and_leaves_the_global_rng_alone(small):
    train, _ = small
    config = training.ClassifierRecipe(epochs=1, batch_size=256)
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a = training.train_classifier(train.unit_images()[:512], train.labels[:512], config).model
    assert torch.equal(torch.rand(3), before)
    b = training.train_classifier(train.unit_images()[:512], train.labels[:512], config).model
    c = training.train_classifier(
        train.unit_images()[:512], train.labels[:512], dataclasses.replace(config, seed=1)
    ).model
    assert all(torch.equal(x, y) for x, y in zip(_weights(a), _weights(b)))
    assert not all(torch.equal(x, y) for x, y in zip(_weights(a), _weights(c)))


def test_training_learns_digits(small):
    train, test = small
    result = training.train_classifier(train.unit_images(), train.labels, training.ClassifierRecipe(epochs=3))
    assert not result.model.training
    assert training.accuracy(result.model, test.unit_images(), test.labels) > 0.8  # chance is 0.1


def test_cli_smoke_writes_a_loadable_checkpoint(mnist_dir, tmp_path):
    out = tmp_path / "runs" / "classifier.pt"
    args = ["--data-dir", str(mnist_dir), "--out", str(out), "--epochs", "1", "--limit", "256", "--threads", "1"]
    result = CliRunner().invoke(training.app, args)
    assert result.exit_code == 0, result.output
    assert "test accuracy" in result.stdout
    state = load_checkpoint(out, kind="classifier")
    assert state["epoch"] == 1 and 0.0 <= state["test_accuracy"] <= 1.0
    assert state["config"]["limit"] == 256 and state["config"]["epochs"] == 1
    assert state["config"]["classifier"] == {"channels": 32, "feature_dim": 128}
    build_classifier(state, str(out))
    assert [p.name for p in out.parent.iterdir()] == ["classifier.pt"]  # no temp file left


def test_cli_missing_data_is_one_line_exit_2(tmp_path):
    result = CliRunner().invoke(training.app, ["--data-dir", str(tmp_path), "--out", str(tmp_path / "c.pt")])
    assert result.exit_code == 2
    assert result.stderr.startswith("mnistgen-train-classifier: error: MNIST not found") and result.stderr.count("\n") == 1
    assert not (tmp_path / "c.pt").exists()
