"""torch module -> checked onnx.ModelProto, plus the graph surgery the exporter cannot do."""
from __future__ import annotations

import contextlib
import logging
import warnings
from typing import Iterator

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from mnistgen.export.errors import FAILED_CHECK, ExportError

OPSET = 18
BATCH = "N"


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporter warns about optional packages (torchvision) that play no part here."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def convert(
    module: torch.nn.Module,
    example: tuple[torch.Tensor, ...],
    input_names: list[str],
    output_names: list[str],
) -> onnx.ModelProto:
    """Export with one dynamic batch dim ``N`` shared by every input."""
    batch = torch.export.Dim(BATCH, min=1)
    with _quiet_exporter(), torch.no_grad():
        program = torch.onnx.export(
            module.eval(),
            example,
            input_names=input_names,
            output_names=output_names,
            dynamic_shapes=tuple({0: batch} for _ in example),
            dynamo=True,
            opset_version=OPSET,
            external_data=False,
            verbose=False,
        )
    model = program.model_proto
    _strip_exporter_annotations(model)
    return model


def _strip_exporter_annotations(model: onnx.ModelProto) -> None:
    """Drop what the exporter records about the tracing run.

    Node annotations hold stack traces with local file paths (noise in a shipped file), and the
    intermediate value_info ties every tensor to ``N``, which would make onnxruntime reject the
    [1]-shaped defaults of optional inputs; onnxruntime infers shapes itself anyway.
    """
    del model.graph.value_info[:]
    for entry in [*model.graph.node, *model.graph.input, *model.graph.output, *model.graph.initializer]:
        del entry.metadata_props[:]


def add_optional_inputs(model: onnx.ModelProto, defaults: dict[str, np.ndarray], dim_param: str) -> None:
    """Make inputs omittable: an initializer with the same name as an input is its default.

    ONNX calls these overridable initializers; onnxruntime lists them under
    ``get_overridable_initializers()`` instead of ``get_inputs()``. Their batch dim becomes
    ``dim_param`` because the defaults have length 1 and broadcast against N.
    """
    inputs = {value.name: value for value in model.graph.input}
    for name, default in defaults.items():
        if name not in inputs:
            raise ExportError(f"exported graph has no input {name!r} to give a default", FAILED_CHECK)
        inputs[name].type.tensor_type.shape.dim[0].dim_param = dim_param
        model.graph.initializer.append(numpy_helper.from_array(default, name))


def check(model: onnx.ModelProto) -> None:
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as error:  # checker and shape inference raise several types; all mean "invalid"
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ExportError(f"exported model is not valid ONNX ({first[:200]})", FAILED_CHECK) from None
