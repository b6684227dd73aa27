"""mnistgen.Classifier: the shipped reference classifier, torch-free."""
from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from mnistgen.images import uint8_to_unit
from mnistgen.limits import BATCH_SIZE, check_images, check_threads
from mnistgen.model_file import check_kind, image_shape, metadata_labels, open_session, require_names, resolve_model_path

CLASSIFIER_FILENAME = "classifier.onnx"
OUTPUTS = ("logits", "probabilities", "features")


class Classifier:
    """Reads uint8 digit images (N, 28, 28) or one (28, 28), white on black.

    ``model``: classifier .onnx (default: the shipped mnistgen.models/classifier.onnx).
    One InferenceSession, thread-safe to share.
    """

    def __init__(self, model: str | PathLike[str] | None = None, threads: int | None = None):
        path = resolve_model_path(model, CLASSIFIER_FILENAME)
        self._session = open_session(path, check_threads(threads))
        raw = dict(self._session.get_modelmeta().custom_metadata_map)
        check_kind(raw, path, "classifier")
        inputs = {i.name: i for i in self._session.get_inputs()}
        require_names(set(inputs), ("image",), path, "input")
        require_names({o.name for o in self._session.get_outputs()}, OUTPUTS, path, "outputs")
        self.path: Path = path
        self.labels: tuple[str, ...] = metadata_labels(raw, path)
        self.image_shape: tuple[int, int] = image_shape(inputs["image"], path)  # (height, width) it reads

    def probabilities(self, images: Any) -> np.ndarray:
        """float32 (N, 10): class probabilities; column i is digit i."""
        return self._outputs(images, ("probabilities",))[0]

    def features(self, images: Any) -> np.ndarray:
        """float32 (N, F): penultimate activations (the space FID is measured in)."""
        return self._outputs(images, ("features",))[0]

    def probabilities_and_features(self, images: Any) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities (N, 10), features (N, F)), both float32, from one pass over the images.

        For callers that need both (the evaluation): half the work of calling each method.
        """
        probabilities, features = self._outputs(images, ("probabilities", "features"))
        return probabilities, features

    def predict(self, images: Any) -> tuple[np.ndarray, np.ndarray]:
        """(labels int64 (N,), confidences float32 (N,)): the most probable digit and its probability."""
        probabilities = self.probabilities(images)
        labels = probabilities.argmax(axis=1)
        return labels.astype(np.int64), probabilities[np.arange(len(labels)), labels]

    def _outputs(self, images: Any, names: tuple[str, ...]) -> list[np.ndarray]:
        pixels = check_images(images, self.image_shape)
        batches = [
            self._session.run(list(names), {"image": uint8_to_unit(pixels[i : i + BATCH_SIZE])[:, None]})
            for i in range(0, len(pixels), BATCH_SIZE)
        ]
        return [np.concatenate(parts).astype(np.float32, copy=False) for parts in zip(*batches)]

