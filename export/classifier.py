"""Classifier export: logits, probabilities and the features FID is measured in, in one graph."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from mnistgen.export import metadata, onnx_graph
from mnistgen.export.metadata import IMAGE_SHAPE, UNIT_RANGE, TensorSpec
from mnistgen.export.parity import VERIFY_BATCHES, Case, verify
from mnistgen.export.writer import check_destination, write_atomic
from mnistgen.training.checkpoint import build_classifier
from mnistgen.training.data import NUM_CLASSES
from mnistgen.training.models import Classifier

INPUTS = ["image"]
OUTPUTS = ["logits", "probabilities", "features"]

DOC_STRING = """mnistgen reference digit classifier.
Call with image: float32 [N, 1, 28, 28] in 0..1, white digit on black (8-bit pixels / 255).
Outputs: logits float32 [N, 10]; probabilities float32 [N, 10] (softmax of logits; index = digit);
features float32 [N, {feature_dim}] (penultimate activations, the space FID and precision/recall
are measured in). Machine-readable contract: metadata_props."""


class ClassifierGraph(nn.Module):
    """What the ONNX graph computes; features are computed once and feed the head."""

    def __init__(self, classifier: Classifier):
        super().__init__()
        self.classifier = classifier

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        features = self.classifier.features(image)
        logits = self.classifier.head(features)  # dropout is the identity in eval mode
        return logits, torch.softmax(logits, dim=1), features


def reference(classifier: Classifier, image: np.ndarray) -> dict[str, np.ndarray]:
    """Torch ground truth through the module's own forward()."""
    x = torch.from_numpy(image)
    with torch.no_grad():
        logits = classifier(x)
        outputs = {"logits": logits, "probabilities": torch.nn.functional.softmax(logits, 1), "features": classifier.features(x)}
    return {name: value.numpy() for name, value in outputs.items()}


def tensor_specs(feature_dim: int) -> tuple[list[TensorSpec], list[TensorSpec]]:
    inputs = [TensorSpec("image", "float32", ["N", *IMAGE_SHAPE], "white digit on black, 0..1")]
    outputs = [
        TensorSpec("logits", "float32", ["N", NUM_CLASSES], "unnormalised class scores, index = label"),
        TensorSpec("probabilities", "float32", ["N", NUM_CLASSES], "softmax of logits"),
        TensorSpec("features", "float32", ["N", feature_dim], "penultimate activations (FID space)"),
    ]
    return inputs, outputs


def properties(state: dict[str, Any], feature_dim: int, evaluation: str | None) -> dict[str, str]:
    inputs, outputs = tensor_specs(feature_dim)
    props = {
        **metadata.common_props("classifier", state, evaluation),
        "input_range": metadata.as_json(UNIT_RANGE),
        "feature_dim": str(feature_dim),
        "inputs": metadata.specs_json(inputs),
        "outputs": metadata.specs_json(outputs),
        "capabilities": metadata.as_json(["classify", "features"]),
    }
    if state.get("test_accuracy") is not None:
        props["test_accuracy"] = str(float(state["test_accuracy"]))
    return props


def parity_cases(classifier: Classifier) -> list[Case]:
    rng = np.random.default_rng(0)
    cases = []
    for n in VERIFY_BATCHES:
        image = rng.random((n, *IMAGE_SHAPE), dtype=np.float32)
        cases.append(Case(f"batch {n}", {"image": image}, reference(classifier, image)))
    return cases


def classifier_model(state: dict[str, Any], evaluation: str | None = None, source: str = "checkpoint") -> onnx.ModelProto:
    """The classifier of a classifier checkpoint as a checked, verified ONNX model (not written)."""
    classifier = build_classifier(state, source)
    feature_dim = classifier.config.feature_dim
    model = onnx_graph.convert(ClassifierGraph(classifier), (torch.rand(3, *IMAGE_SHAPE),), INPUTS, OUTPUTS)
    metadata.apply(model, properties(state, feature_dim, evaluation), DOC_STRING.format(feature_dim=feature_dim), "mnistgen_classifier")
    onnx_graph.check(model)
    verify(model.SerializeToString(), parity_cases(classifier))
    return model


def export_classifier(
    state: dict[str, Any], out_path: str | os.PathLike, evaluation: str | None = None, source: str = "checkpoint"
) -> Path:
    """Export, verify against torch, then write atomically; raises ExportError/CheckpointError."""
    check_destination(out_path)
    model = classifier_model(state, evaluation, source)
    return write_atomic(out_path, model.SerializeToString())
