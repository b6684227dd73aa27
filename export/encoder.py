"""Encoder export: E(image, digit) -> the latent the ONNX generator takes, paired with one generator file.

The torch encoder outputs the generator's own latent w (what ``Generator.synthesize`` reads).
The ONNX generator multiplies its input z by its latent_scale before the network, so the graph
written here outputs z = w / latent_scale: fed to that generator file, it draws G(w, digit).

A pair only works with the generator the encoder was trained against, so before anything is
written the export checks that the generator file draws what the encoder checkpoint's generator
weights draw (the generator export's own parity cases), and records the file's sha256 in the
encoder's metadata; the runtime refuses any other pairing.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from mnistgen.export import metadata, onnx_graph
from mnistgen.export.errors import ExportError
from mnistgen.export.generator import parity_cases as generator_parity_cases
from mnistgen.export.generator import to_unit_image
from mnistgen.export.metadata import IMAGE_SHAPE, UNIT_RANGE, TensorSpec, read_generator_file
from mnistgen.export.parity import VERIFY_BATCHES, Case, verify
from mnistgen.export.writer import check_destination, write_atomic
from mnistgen.files import file_identity
from mnistgen.training.checkpoint import CheckpointError, build_encoder, build_generator
from mnistgen.training.data import NUM_CLASSES
from mnistgen.training.models import Encoder, Generator

INPUTS = ["image", "digit"]
OUTPUTS = ["latent"]
CAPABILITIES = ["encode"]

DOC_STRING = """mnistgen encoder: the way back from a digit image to the generator's latent (its handwriting).
Call with image: float32 [N, 1, 28, 28] in 0..1, white digit on black, prepared as MNIST prepared
its digits (cropped to the ink, scaled into a 20x20 box, centred by centre of mass in 28x28),
and digit: int64 [N] in 0..9, the digit the image shows.
Output latent: float32 [N, {latent_dim}], the z to feed the generator whose sha256 is in the
metadata (generator_sha256): that generator with the same digit redraws the image; with another
digit it writes that digit in the same hand. Machine-readable contract: metadata_props."""


class EncoderGraph(nn.Module):
    """What the ONNX graph computes: the latent in the generator file's input units."""

    def __init__(self, encoder: Encoder, latent_scale: float):
        super().__init__()
        self.encoder = encoder
        self.latent_scale = latent_scale

    def forward(self, image: torch.Tensor, digit: torch.Tensor) -> torch.Tensor:
        return self.encoder(image, digit) / self.latent_scale


def reference(encoder: Encoder, image: np.ndarray, digit: np.ndarray, latent_scale: float) -> np.ndarray:
    with torch.no_grad():
        return (encoder(torch.from_numpy(image), torch.from_numpy(digit)) / latent_scale).numpy()


def tensor_specs(latent_dim: int) -> tuple[list[TensorSpec], list[TensorSpec]]:
    inputs = [
        TensorSpec("image", "float32", ["N", *IMAGE_SHAPE], "white digit on black, 0..1, prepared as MNIST's"),
        TensorSpec("digit", "int64", ["N"], "the digit the image shows, 0..9"),
    ]
    outputs = [TensorSpec("latent", "float32", ["N", latent_dim], "z for the paired generator (generator_sha256)")]
    return inputs, outputs


def check_pair(generator: Generator, payload: bytes, props: dict[str, str], path: str | os.PathLike) -> float:
    """The generator file's latent_scale, once its pixels are shown to be ``generator``'s."""
    try:
        latent_scale = float(props.get("latent_scale", "1.0"))
    except ValueError:
        raise ExportError(f"{path}: metadata latent_scale {props.get('latent_scale')!r} is not a number") from None
    if int(props.get("latent_dim", "0")) != generator.config.latent_dim:
        raise ExportError(f"{path}: latent_dim {props.get('latent_dim')} is not the encoder's generator's "
                          f"{generator.config.latent_dim}: it is another generator")
    try:
        verify(payload, generator_parity_cases(generator, generator.config.latent_dim, latent_scale))
    except ExportError as error:
        raise ExportError(f"{path} is not the generator this encoder was trained against ({error}); "
                          "retrain the encoder for it (mnistgen-train-encoder --generator ...)") from None
    return latent_scale


def parity_cases(encoder: Encoder, generator: Generator, latent_scale: float) -> list[Case]:
    """Digits the generator draws (what the encoder reads in use) and noise images (any input)."""
    rng = np.random.default_rng(0)
    cases = []
    for n in VERIFY_BATCHES:
        digit = rng.integers(0, NUM_CLASSES, n, dtype=np.int64)
        z = torch.from_numpy(rng.standard_normal((n, generator.config.latent_dim), dtype=np.float32))
        with torch.no_grad():
            drawn = to_unit_image(generator(z, torch.from_numpy(digit))).numpy()
        noise = rng.random((n, *IMAGE_SHAPE), dtype=np.float32)
        for label, image in (("digits", drawn), ("noise", noise)):
            expected = {"latent": reference(encoder, image, digit, latent_scale)}
            cases.append(Case(f"{label} batch {n}", {"image": image, "digit": digit}, expected))
    return cases


def properties(state: dict[str, Any], latent_dim: int, latent_scale: float, generator_path: str | os.PathLike,
               evaluation: str | None) -> dict[str, str]:
    inputs, outputs = tensor_specs(latent_dim)
    identity = file_identity(generator_path)
    return {
        **metadata.common_props("encoder", state, evaluation),
        "latent_dim": str(latent_dim),
        "latent_scale": repr(float(latent_scale)),
        "generator_sha256": identity["sha256"],
        "generator_file": identity["file"],
        "input_range": metadata.as_json(UNIT_RANGE),
        "preparation": metadata.as_json({"box": 20, "canvas": 28, "centre": "centre of mass", "ink": "white on black"}),
        "inputs": metadata.specs_json(inputs),
        "outputs": metadata.specs_json(outputs),
        "capabilities": metadata.as_json(CAPABILITIES),
        "wall_seconds": json.dumps(state.get("wall_seconds")),
    }


def encoder_model(state: dict[str, Any], generator_path: str | os.PathLike, evaluation: str | None = None,
                  source: str = "checkpoint") -> onnx.ModelProto:
    """The encoder of an encoder checkpoint as a checked, verified ONNX model paired with the
    generator file at ``generator_path`` (not written)."""
    if "generator" not in state:
        raise CheckpointError(f"{source}: records no generator; train it with mnistgen-train-encoder")
    generator = build_generator(state["generator"], f"{source} (its generator)")
    encoder = build_encoder(state, source)
    payload, props = read_generator_file(generator_path, "--generator takes the generator .onnx the encoder is "
                                                         "for (models/generator.onnx)")
    latent_scale = check_pair(generator, payload, props, generator_path)
    latent_dim = encoder.config.latent_dim
    example = (torch.rand(3, *IMAGE_SHAPE), torch.tensor([1, 2, 3]))
    model = onnx_graph.convert(EncoderGraph(encoder, latent_scale), example, INPUTS, OUTPUTS)
    props = properties(state, latent_dim, latent_scale, generator_path, evaluation)
    metadata.apply(model, props, DOC_STRING.format(latent_dim=latent_dim), "mnistgen_encoder")
    onnx_graph.check(model)
    verify(model.SerializeToString(), parity_cases(encoder, generator, latent_scale))
    return model


def export_encoder(state: dict[str, Any], out_path: str | os.PathLike, evaluation: str | None = None,
                   source: str = "checkpoint", generator: str | os.PathLike = Path("models/generator.onnx")) -> Path:
    """Export, verify against torch and the generator file, then write atomically."""
    check_destination(out_path)
    model = encoder_model(state, generator, evaluation, source)
    return write_atomic(out_path, model.SerializeToString())
