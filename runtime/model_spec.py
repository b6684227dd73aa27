"""What a generator model offers, read once from its session: inputs, latent size, image size, labels."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnistgen.errors import ModelError
from mnistgen.session import check_kind, decode_metadata, image_shape, metadata_int, metadata_labels, require_names

MORPH_INPUTS = ("digit_to", "mix")


@dataclass(frozen=True)
class GeneratorSpec:
    path: Path
    latent_dim: int
    image_shape: tuple[int, int]  # (height, width) of one image
    labels: tuple[str, ...]
    graph_inputs: frozenset[str]  # must be fed on every run
    defaulted_inputs: frozenset[str]  # have a default in the model and may be omitted
    raw_metadata: tuple[tuple[str, str], ...]

    @property
    def can_morph(self) -> bool:
        return all(name in self.graph_inputs | self.defaulted_inputs for name in MORPH_INPUTS)

    def metadata(self) -> dict[str, Any]:
        """A fresh decoded copy each call, so callers can't alter what other threads see."""
        return decode_metadata(dict(self.raw_metadata))


def read_generator_spec(session: Any, path: Path) -> GeneratorSpec:
    raw = dict(session.get_modelmeta().custom_metadata_map)
    check_kind(raw, path, "generator")
    latent_dim = metadata_int(raw, "latent_dim", path)
    inputs = {i.name: i for i in session.get_inputs()}
    defaulted = {i.name: i for i in session.get_overridable_initializers()}
    require_names(set(inputs), ("z", "digit"), path, "inputs")
    outputs = {o.name: o for o in session.get_outputs()}
    require_names(set(outputs), ("image",), path, "output")
    z_width = inputs["z"].shape[-1] if inputs["z"].shape else None
    if isinstance(z_width, int) and z_width != latent_dim:
        raise ModelError(f"{path}: input z has width {z_width} but metadata latent_dim is {latent_dim}")
    unknown = set(inputs) - {"z", "digit", *MORPH_INPUTS}
    if unknown:
        raise ModelError(f"{path}: unexpected required inputs {', '.join(sorted(unknown))}; accepted: z, digit, digit_to, mix")
    return GeneratorSpec(
        path=path,
        latent_dim=latent_dim,
        image_shape=image_shape(outputs["image"], path),
        labels=metadata_labels(raw, path),
        graph_inputs=frozenset(inputs),
        defaulted_inputs=frozenset(defaulted),
        raw_metadata=tuple(sorted(raw.items())),
    )
