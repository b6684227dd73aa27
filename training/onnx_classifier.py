"""The shipped classifier as a differentiable torch module, read back from its ONNX file.

Why from the ONNX file: the classifier is the evaluation's instrument and only its ONNX file
ships (models/classifier.onnx); its training checkpoint does not. The encoder's feature-space
loss must be measured by exactly that instrument, so its weights are loaded from the file's
initializers into the torch architecture and the result is checked against onnxruntime before
anything trains on it.

The exporter folds each BatchNorm into the convolution before it, so the file holds only the
convolutions, the linear layers and their biases; the BatchNorms here are set to the identity.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mnistgen.classifier import Classifier as OnnxClassifier
from mnistgen.training.checkpoint import CheckpointError
from mnistgen.training.models import Classifier, ClassifierConfig

PREFIX = "classifier."  # export/classifier.py wraps the module as ClassifierGraph.classifier
PARITY_RTOL, PARITY_ATOL = 1e-3, 1e-4  # the export's parity tolerance (export/parity.py)
PARITY_IMAGES = 256


def _initializers(path: Path) -> dict[str, np.ndarray]:
    import onnx
    from onnx import numpy_helper

    if not path.is_file():
        raise CheckpointError(f"{path}: no such file; --classifier takes the shipped classifier (models/classifier.onnx)")
    try:
        model = onnx.load(str(path))
    except Exception as error:  # onnx raises protobuf's own errors for a bad file
        raise CheckpointError(f"{path}: not a readable ONNX file ({str(error)[:160]})") from None
    return {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}


def _identity_batchnorm(norm: nn.BatchNorm2d) -> None:
    with torch.no_grad():
        norm.weight.fill_(1.0)
        norm.bias.zero_()
        norm.running_mean.zero_()
        norm.running_var.fill_(1.0 - norm.eps)  # sqrt(var + eps) = 1: exactly the identity


def torch_classifier(path: str | os.PathLike, images: np.ndarray) -> Classifier:
    """The classifier in ``path`` as an eval-mode torch Classifier, frozen, checked against
    onnxruntime on ``images`` (uint8 (N, 28, 28), e.g. real digits): CheckpointError if they differ."""
    path = Path(path)
    weights = _initializers(path)
    wanted = {name[len(PREFIX):]: value for name, value in weights.items() if name.startswith(PREFIX)}
    first = wanted.get("body.0.weight")
    if first is None:
        raise CheckpointError(f"{path}: no classifier weights (expected initializers named {PREFIX}body.*)")
    classifier = Classifier(ClassifierConfig(channels=first.shape[0], feature_dim=wanted["head.weight"].shape[1]))
    for module in classifier.modules():
        if isinstance(module, nn.BatchNorm2d):
            _identity_batchnorm(module)
    loaded = {name: torch.from_numpy(value.copy()) for name, value in wanted.items()}
    expected = {name for name in classifier.state_dict() if not _is_batchnorm(classifier, name)}
    if set(loaded) != expected:
        raise CheckpointError(f"{path}: initializers do not fit the classifier architecture "
                              f"(unmatched: {sorted(set(loaded) ^ expected)[:3]})")
    classifier.load_state_dict(loaded, strict=False)
    classifier.eval().requires_grad_(False)
    _check_parity(classifier, path, images[:PARITY_IMAGES])
    return classifier


def _is_batchnorm(classifier: Classifier, parameter: str) -> bool:
    module = classifier.get_submodule(parameter.rsplit(".", 1)[0])
    return isinstance(module, nn.BatchNorm2d)


def _check_parity(classifier: Classifier, path: Path, images: np.ndarray) -> None:
    reference = OnnxClassifier(path, threads=1)
    expected_probabilities, expected_features = reference.probabilities_and_features(images)
    x = torch.from_numpy(np.asarray(images, dtype=np.float32) / 255.0)[:, None]
    with torch.no_grad():
        features = classifier.features(x)
        probabilities = torch.softmax(classifier.head(features), dim=1)
    for name, actual, expected in (("features", features, expected_features),
                                   ("probabilities", probabilities, expected_probabilities)):
        if not np.allclose(actual.numpy(), expected, rtol=PARITY_RTOL, atol=PARITY_ATOL):
            worst = float(np.max(np.abs(actual.numpy() - expected)))
            raise CheckpointError(f"{path}: the torch classifier read from it disagrees with onnxruntime on "
                                  f"{name} (max difference {worst:.3g})")
