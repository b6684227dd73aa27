"""Export stage: checkpoints -> single-file ONNX models that carry their own contract.

Each export is checked with onnx.checker and run in onnxruntime against torch before anything
is written; the metadata lets the torch-free runtime use the model without this package.
"""
from mnistgen.export.classifier import classifier_model, export_classifier
from mnistgen.export.errors import ExportError
from mnistgen.export.from_checkpoint import export_checkpoint
from mnistgen.export.generator import export_generator, generator_model

__all__ = [
    "ExportError",
    "classifier_model",
    "export_checkpoint",
    "export_classifier",
    "export_generator",
    "generator_model",
]
