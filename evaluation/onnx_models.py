"""The two ONNX models the evaluation runs, through the torch-free runtime's loaders.

The generator is the runtime's own ``mnistgen.Generator``, so the figures describe exactly
what users get (same latent draw, same pixel conversion). The classifier is read by the small
adapter below rather than ``mnistgen.Classifier``: it is the measuring instrument, and one
session call yields both outputs the metrics need (probabilities and features) instead of two.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import numpy as np

from mnistgen import Generator
from mnistgen.errors import ModelError
from mnistgen.pixels import uint8_to_unit
from mnistgen.session import open_session, require_names, resolve_model_path

__all__ = ["ModelError", "OnnxClassifier", "open_generator"]

BATCH = 1000
CLASSIFIER_FILENAME = "classifier.onnx"


class OnnxClassifier:
    """Classifier ONNX: uint8 images (N, 28, 28) -> probabilities (N, 10) and features (N, D).

    ``path`` None means the shipped models/classifier.onnx.
    """

    def __init__(self, path: Optional[str | os.PathLike] = None, threads: Optional[int] = None):
        self.path: Path = resolve_model_path(path, CLASSIFIER_FILENAME)
        self.session = open_session(self.path, threads)
        require_names({i.name for i in self.session.get_inputs()}, ("image",), self.path, "input")
        outputs = {o.name for o in self.session.get_outputs()}
        require_names(outputs, ("probabilities", "features"), self.path, "outputs")

    def outputs(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, features), both float32, computed in batches of BATCH."""
        parts = [
            self.session.run(["probabilities", "features"], {"image": uint8_to_unit(images[i : i + BATCH])[:, None]})
            for i in range(0, len(images), BATCH)
        ]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def open_generator(path: Optional[str | os.PathLike] = None, threads: Optional[int] = None) -> Generator:
    """The runtime's Generator (``path`` None: the shipped models/generator.onnx)."""
    return Generator(model=path, threads=threads)
