"""The model's self-description: metadata_props (all strings, structured ones JSON) and doc_string.

Everything a consumer needs is readable with onnxruntime alone
(``session.get_modelmeta().custom_metadata_map``), so the runtime never needs torch or this code.
"""
from __future__ import annotations

import importlib.metadata
import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import onnx
import torch

from mnistgen.export.errors import ExportError
from mnistgen.export.onnx_graph import OPSET
from mnistgen.training.data import IMAGE_SIDE, NUM_CLASSES

FORMAT_VERSION = "1"  # bump when a key changes meaning; consumers check it
LABELS = [str(digit) for digit in range(NUM_CLASSES)]  # index = value of the digit input
IMAGE_SHAPE = [1, IMAGE_SIDE, IMAGE_SIDE]
UNIT_RANGE = [0.0, 1.0]
PRODUCER = "mnistgen.export"


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output, as written into the ``inputs``/``outputs`` metadata."""

    name: str
    dtype: str
    shape: list[Any]
    description: str
    required: bool = True
    default: list[Any] | None = field(default=None)

    def as_json(self) -> dict[str, Any]:
        spec = asdict(self)
        if self.default is None:
            del spec["default"]
        return spec


def as_json(value: Any) -> str:
    # default=str: configs may hold paths or other plain values that JSON lacks a type for
    return json.dumps(value, sort_keys=True, default=str)


def specs_json(specs: list[TensorSpec]) -> str:
    return as_json([spec.as_json() for spec in specs])


def training_json(state: dict[str, Any]) -> str:
    keys = ("config", "epoch", "batch", "generator_step", "seconds", "commands")
    return as_json({key: state[key] for key in keys if key in state})


def common_props(kind: str, state: dict[str, Any], evaluation: str | None) -> dict[str, str]:
    """Keys every exported model carries; ``evaluation`` is the evaluation tool's JSON, verbatim."""
    props = {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "labels": as_json(LABELS),
        "image_shape": as_json(IMAGE_SHAPE),
        "training": training_json(state),
        "torch_version": torch.__version__,
        "opset": str(OPSET),
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if evaluation is not None:
        validate_evaluation(evaluation)
        props["evaluation"] = evaluation
    return props


def validate_evaluation(text: str) -> None:
    try:
        json.loads(text)
    except ValueError as error:
        raise ExportError(f"evaluation figures are not valid JSON ({error}); pass the file mnistgen-eval wrote") from None


def producer_version() -> str:
    try:
        return importlib.metadata.version("mnistgen")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def apply(model: onnx.ModelProto, props: dict[str, str], doc_string: str, graph_name: str) -> None:
    """Stamp the model; model_version tracks format_version (the contract), not the weights."""
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, props)
    model.doc_string = doc_string
    model.graph.name = graph_name
    model.producer_name = PRODUCER
    model.producer_version = producer_version()
    model.model_version = int(FORMAT_VERSION)


def read_generator_file(path: str | os.PathLike, hint: str) -> tuple[bytes, dict[str, str]]:
    """The generator file's bytes and metadata; ExportError, ending with ``hint`` (what the option
    takes), when it cannot be read or is not an mnistgen generator."""
    path = Path(path)
    try:
        payload = path.read_bytes()
        model = onnx.load_from_string(payload)
    except OSError as error:
        raise ExportError(f"{path}: cannot read the generator ({error.strerror or error}); {hint}") from None
    except Exception as error:  # protobuf's decode errors
        raise ExportError(f"{path}: not an ONNX file ({str(error)[:120]}); {hint}") from None
    props = {prop.key: prop.value for prop in model.metadata_props}
    if props.get("kind") != "generator":
        raise ExportError(f"{path}: not an mnistgen generator (metadata kind {props.get('kind')!r}); {hint}")
    return payload, props
