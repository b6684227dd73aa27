"""mnistgen-train-encoder and the encoder's export, end to end on a few steps (issue 28).

The shipped generator weights are the frozen generator; the classifier is the shipped ONNX
file read back into torch. Short runs: what is checked is the machinery (determinism, what the
checkpoint records, the export's pairing), not the quality, which tests/test_handwriting.py
checks on the shipped encoder.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
import torch

from mnistgen.files import file_identity
from mnistgen.training.checkpoint import CheckpointError, load_checkpoint
from mnistgen.training.data import load_split
from mnistgen.training.onnx_classifier import torch_classifier

# one thread, the cheapest on a shared CPU; what once made two threads differ between processes (the
# first call of MKL's vector math, docs/training.md's "Repeatable") is tested in test_training.py
STEPS = ["--steps", "2", "--limit", "300", "--batch-size", "8", "--threads", "1"]


def train(tmp_path: Path, mnist_dir: Path, checkpoint_path: Path, classifier: Path, out: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "mnistgen.training.encoder", "--data-dir", str(mnist_dir), "--generator",
               str(checkpoint_path), "--classifier", str(classifier), "--out", out, *STEPS]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist_dir, checkpoint_path, classifier_path) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("encoder")
    for name in ("a.pt", "b.pt"):
        result = train(folder, mnist_dir, checkpoint_path, classifier_path, name)
        assert result.returncode == 0, result.stderr
    return folder / "a.pt", folder / "b.pt"


def test_same_command_same_weights(trained):
    first, second = (load_checkpoint(path, kind="encoder") for path in trained)
    for name, tensor in first["model"].items():
        assert torch.equal(tensor, second["model"][name]), name


def test_checkpoint_records_the_run_and_its_generator(trained, checkpoint_path):
    state = load_checkpoint(trained[0], kind="encoder")
    assert state["generator_step"] == 2 and state["config"]["steps"] == 2
    assert 0 < state["seconds"] <= state["wall_seconds"]
    assert state["commands"][0].startswith("mnistgen-train-encoder ")
    shipped = load_checkpoint(checkpoint_path, kind="gan")
    for name, tensor in shipped["ema_generator"].items():
        assert torch.equal(tensor, state["generator"]["ema_generator"][name]), name


def test_export_pairs_with_the_generator_file(tmp_path, trained, generator_path):
    out = tmp_path / "encoder.onnx"
    result = subprocess.run([sys.executable, "-m", "mnistgen.export.cli", str(trained[0]), "--out", str(out),
                             "--generator", str(generator_path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    meta = {prop.key: prop.value for prop in onnx.load(str(out)).metadata_props}
    assert meta["kind"] == "encoder" and meta["generator_sha256"] == file_identity(generator_path)["sha256"]
    props = {prop.key: prop.value for prop in onnx.load(str(generator_path)).metadata_props}
    assert meta["latent_scale"] == props["latent_scale"]
    assert json.loads(meta["training"])["commands"] == load_checkpoint(trained[0])["commands"]


def test_bad_generator_is_one_line(tmp_path, mnist_dir, generator_path, classifier_path):
    result = train(tmp_path, mnist_dir, generator_path, classifier_path, "x.pt")  # an .onnx file, not weights
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mnistgen-train-encoder: error: "), result.stderr
    assert not (tmp_path / "x.pt").exists()


def test_classifier_read_from_onnx_matches_onnxruntime_and_refuses_other_files(classifier_path, generator_path,
                                                                               mnist_dir):
    images = load_split("test", mnist_dir).images[:64]
    classifier = torch_classifier(classifier_path, images)  # checks parity itself
    assert not any(p.requires_grad for p in classifier.parameters())
    with pytest.raises(CheckpointError, match="no classifier weights"):
        torch_classifier(generator_path, images)
