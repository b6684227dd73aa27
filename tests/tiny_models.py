"""Stand-in ONNX models built in a few lines, for tests that need a model the shipped ones are not."""
from __future__ import annotations

import json

import numpy as np


def tiny_generator(path, latent_dim: int = 8, size: tuple[int, int] = (28, 28), metadata: dict[str, str] | None = None):
    """A generator ONNX: image = sigmoid(z W) reshaped to [N, 1, *size] (the digit input is unused).

    ``metadata``: keys added to the minimal mnistgen generator metadata.
    """
    import onnx  # deferred: only the tests that build models need it
    from onnx import TensorProto, helper

    height, width = size
    weights = np.random.default_rng(0).normal(size=(latent_dim, height * width)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["z", "W"], ["h"]),
        helper.make_node("Sigmoid", ["h"], ["s"]),
        helper.make_node("Reshape", ["s", "shape"], ["image"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", latent_dim]),
         helper.make_tensor_value_info("digit", TensorProto.INT64, ["N"])],
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, height, width])],
        [helper.make_tensor("W", TensorProto.FLOAT, weights.shape, weights.ravel()),
         helper.make_tensor("shape", TensorProto.INT64, [4], [-1, 1, height, width])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    props = {"kind": "generator", "format_version": "1", "latent_dim": str(latent_dim),
             "labels": json.dumps(list("0123456789")), **(metadata or {})}
    for key, value in props.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, path)
    return path
