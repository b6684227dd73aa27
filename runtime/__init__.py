"""mnistgen: handwritten digits on demand, from an ONNX model, without PyTorch.

    >>> from mnistgen import Generator
    >>> Generator().generate(7, count=4, seed=0).shape
    (4, 28, 28)

Imports only numpy here; onnxruntime loads when a model is opened and Pillow when images
are encoded, so importing (and the CLI's argument checks) stay fast.
"""
from mnistgen.classifier import Classifier
from mnistgen.encoder import Encoder
from mnistgen.generator import Generator
from mnistgen.handwriting import Hand, variations
from mnistgen.prepare import prepare, prepare_file
from mnistgen.limits import (
    DEFAULT_SPREAD,
    MAX_COUNT,
    MAX_NUMBER_LENGTH,
    MAX_STEPS,
    MIN_STEPS,
    VERIFY_DRAW_FACTOR,
    InputError,
    ModelError,
    VerificationError,
)

__all__ = [
    "Classifier",
    "Encoder",
    "Generator",
    "Hand",
    "prepare",
    "prepare_file",
    "variations",
    "DEFAULT_SPREAD",
    "InputError",
    "ModelError",
    "VerificationError",
    "MAX_COUNT",
    "MAX_NUMBER_LENGTH",
    "MAX_STEPS",
    "MIN_STEPS",
    "VERIFY_DRAW_FACTOR",
]
