"""Generator export: the graph wrapper, its contract (metadata, doc string) and export_generator."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from mnistgen.export import metadata, onnx_graph
from mnistgen.export.errors import ExportError
from mnistgen.export.metadata import IMAGE_SHAPE, UNIT_RANGE, TensorSpec
from mnistgen.export.parity import VERIFY_BATCHES, Case, verify
from mnistgen.export.writer import check_destination, write_atomic
from mnistgen.images import signed_to_unit
from mnistgen.training.checkpoint import build_generator
from mnistgen.training.data import NUM_CLASSES
from mnistgen.training.models import Generator

INPUTS = ["z", "digit", "digit_to", "mix"]
OUTPUTS = ["image"]
MORPH_DIM = "N_or_1"  # optional inputs are [N] or [1] (their defaults are [1] and broadcast)
DEFAULTS = {"digit_to": np.zeros(1, np.int64), "mix": np.zeros(1, np.float32)}
CAPABILITIES = ["generate", "morph"]

DOC_STRING = """mnistgen class-conditional handwritten-digit generator.
Call with z: float32 [N, {latent_dim}] drawn from a standard normal, and digit: int64 [N] in 0..9
(the digit to draw). Optional (may be omitted): digit_to: int64 [N] or [1] (default [0]) and
mix: float32 [N] or [1] (default [0.0]); the label embedding is then
lerp(embed(digit), embed(digit_to), mix), so mix 0 draws digit, 1 draws digit_to, between morphs.
Output image: float32 [N, 1, 28, 28] in 0..1, white digit on black (x255 for 8-bit pixels).
The same z with another digit keeps the handwriting style. The graph multiplies z by the
metadata's latent_scale (truncation; 1 = none) itself. Machine-readable contract: metadata_props."""


def to_unit_image(signed: torch.Tensor) -> torch.Tensor:
    """tanh output -> the 0..1 contract; the clamp guards against float overshoot only."""
    return torch.clamp(signed_to_unit(signed), 0.0, 1.0)


class GeneratorGraph(nn.Module):
    """What the ONNX graph computes: G in unit range, with the label morph built in.

    ``latent_scale`` < 1 is the truncation trick (Brock et al. 2019): latents are drawn from a
    standard normal and shrunk towards the mode inside the graph, trading some diversity for
    cleaner, better-labelled digits; every consumer of the file gets the same trade.
    """

    def __init__(self, generator: Generator, latent_scale: float = 1.0):
        super().__init__()
        self.generator = generator
        self.latent_scale = latent_scale

    def forward(self, z: torch.Tensor, digit: torch.Tensor, digit_to: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
        start = self.generator.embed(digit)
        end = self.generator.embed(digit_to)
        label = start + (end - start) * mix.unsqueeze(1)  # exactly start when mix is 0
        if self.latent_scale != 1.0:
            z = z * self.latent_scale
        return to_unit_image(self.generator.synthesize(z, label))


def reference(generator: Generator, z: np.ndarray, digit: np.ndarray, digit_to=None, mix=None,
              latent_scale: float = 1.0) -> np.ndarray:
    """Torch ground truth, written apart from GeneratorGraph (plain forward, torch.lerp)."""
    z_t, digit_t = torch.from_numpy(z) * latent_scale, torch.from_numpy(digit)
    with torch.no_grad():
        if digit_to is None:
            signed = generator(z_t, digit_t)
        else:
            start, end = generator.embed(digit_t), generator.embed(torch.from_numpy(digit_to))
            signed = generator.synthesize(z_t, torch.lerp(start, end, torch.from_numpy(mix).unsqueeze(1)))
    return to_unit_image(signed).numpy()


def tensor_specs(latent_dim: int) -> tuple[list[TensorSpec], list[TensorSpec]]:
    inputs = [
        TensorSpec("z", "float32", ["N", latent_dim], "latent code, standard normal; same z + other digit keeps the style"),
        TensorSpec("digit", "int64", ["N"], "digit to draw, 0..9 (index into labels)"),
        TensorSpec("digit_to", "int64", [MORPH_DIM], "morph target digit, 0..9", required=False, default=[0]),
        TensorSpec("mix", "float32", [MORPH_DIM], "morph amount: 0 = digit, 1 = digit_to", required=False, default=[0.0]),
    ]
    outputs = [TensorSpec("image", "float32", ["N", *IMAGE_SHAPE], "white digit on black, 0..1")]
    return inputs, outputs


def properties(state: dict[str, Any], latent_dim: int, evaluation: str | None) -> dict[str, str]:
    inputs, outputs = tensor_specs(latent_dim)
    return {
        **metadata.common_props("generator", state, evaluation),
        "latent_dim": str(latent_dim),
        "latent_distribution": "standard_normal",
        "output_range": metadata.as_json(UNIT_RANGE),
        "inputs": metadata.specs_json(inputs),
        "outputs": metadata.specs_json(outputs),
        "capabilities": metadata.as_json(CAPABILITIES),
    }


def parity_cases(generator: Generator, latent_dim: int, latent_scale: float = 1.0) -> list[Case]:
    """Plain calls (optional inputs omitted), per-sample morphs, and broadcast [1] morphs."""
    rng = np.random.default_rng(0)
    cases = []
    for n in VERIFY_BATCHES:
        z = rng.standard_normal((n, latent_dim), dtype=np.float32)
        digit = rng.integers(0, NUM_CLASSES, n, dtype=np.int64)
        digit_to = rng.integers(0, NUM_CLASSES, n, dtype=np.int64)
        mix = rng.random(n, dtype=np.float32)
        cases.append(Case(f"batch {n}", {"z": z, "digit": digit}, {"image": reference(generator, z, digit, latent_scale=latent_scale)}))
        morph = {"z": z, "digit": digit, "digit_to": digit_to, "mix": mix}
        cases.append(Case(f"morph batch {n}", morph, {"image": reference(generator, **morph, latent_scale=latent_scale)}))
        one = {"z": z, "digit": digit, "digit_to": digit_to[:1], "mix": np.float32([0.5])}
        cases.append(Case(f"broadcast morph batch {n}", one, {"image": reference(generator, **one, latent_scale=latent_scale)}))
    return cases


def generator_model(state: dict[str, Any], evaluation: str | None = None, source: str = "checkpoint",
                    latent_scale: float = 1.0) -> onnx.ModelProto:
    """The EMA generator of a gan checkpoint as a checked, verified ONNX model (not written)."""
    generator = build_generator(state, source)
    if generator.config.components > 1:  # not shipped: a screen scores its components pooled
        raise ExportError(f"{source} is a mixture of {generator.config.components} generators; "
                          "python -m tests.bench.mixture splits it into one checkpoint per component to export")
    latent_dim = generator.config.latent_dim
    example = (
        torch.randn(3, latent_dim),
        torch.tensor([1, 2, 3]),
        torch.tensor([4, 5, 6]),
        torch.tensor([0.0, 0.5, 1.0]),
    )
    if not 0.0 < latent_scale <= 1.0:
        raise ExportError(f"latent scale must be in (0, 1] (1 = no truncation), got {latent_scale}")
    model = onnx_graph.convert(GeneratorGraph(generator, latent_scale), example, INPUTS, OUTPUTS)
    onnx_graph.add_optional_inputs(model, DEFAULTS, MORPH_DIM)
    props = {**properties(state, latent_dim, evaluation), "latent_scale": repr(float(latent_scale))}
    metadata.apply(model, props, DOC_STRING.format(latent_dim=latent_dim), "mnistgen_generator")
    onnx_graph.check(model)
    verify(model.SerializeToString(), parity_cases(generator, latent_dim, latent_scale))
    return model


def export_generator(
    state: dict[str, Any], out_path: str | os.PathLike, evaluation: str | None = None, source: str = "checkpoint",
    latent_scale: float = 1.0, style: bool = False,
) -> Path:
    """Export, verify against torch, then write atomically; raises ExportError/CheckpointError.
    ``style``: fit the style controls into the metadata (mnistgen.export.style, a few minutes)."""
    check_destination(out_path)
    model = generator_model(state, evaluation, source, latent_scale)
    if style:
        from mnistgen.export.style import with_style  # deferred: it opens the runtime's sessions

        model = with_style(model, None)
    return write_atomic(out_path, model.SerializeToString())
