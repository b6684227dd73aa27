"""The model file: opening an ONNX model with onnxruntime and reading its mnistgen metadata,
down to what a generator model offers (GeneratorSpec).

Every failure here becomes a ModelError whose message names the file and what was expected,
so callers (and the CLI) never see onnxruntime's multi-line protobuf errors.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any

from mnistgen.limits import ModelError, check_threads

SUPPORTED_FORMAT_VERSIONS = ("1",)
MORPH_INPUTS = ("digit_to", "mix")


def default_model_path(filename: str) -> Path:
    """The model shipped inside the package (mnistgen.models), or ModelError if it isn't there."""
    try:
        candidate = resources.files("mnistgen.models") / filename
    except ModuleNotFoundError as exc:
        raise ModelError(f"the shipped models package is missing ({exc}); pass a model path instead") from None
    if not candidate.is_file():
        raise ModelError(
            f"no shipped {filename} in mnistgen.models ({candidate}); train and export one, or pass a model path"
        )
    # editable and wheel installs are plain directories; a zipped install would need as_file()
    return Path(str(candidate))


def resolve_model_path(model: str | PathLike[str] | None, default_filename: str) -> Path:
    if model is None:
        return default_model_path(default_filename)
    path = Path(model)
    if not path.is_file():
        raise ModelError(f"model file not found: {path} (expected an .onnx file exported by mnistgen-export)")
    return path


def open_session(path: Path, threads: int | None) -> Any:
    """One CPU InferenceSession; `threads` sets intra-op threads (None: onnxruntime decides)."""
    threads = check_threads(threads)
    import onnxruntime  # deferred: `import mnistgen` stays cheap for callers that only validate

    options = onnxruntime.SessionOptions()
    # errors only: load-time warnings (e.g. overridable initializers) would break the
    # one-line-on-stderr rule. Graph loading logs through this session's logger, so the
    # per-session level is enough and the embedding app's process-wide logger stays untouched.
    options.log_severity_level = 3
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1  # the graphs are sequential; a second pool only costs start-up
    try:
        return onnxruntime.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises several unrelated types for unreadable files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"cannot load model {path}: not a valid ONNX file ({reason[:200]})") from None


def decode_metadata(raw: dict[str, str]) -> dict[str, Any]:
    return {key: decode_value(value) for key, value in raw.items()}


def decode_value(value: str) -> Any:
    """Metadata values are strings; structured ones hold JSON, plain ones (dates, versions) stay text."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def check_kind(raw: dict[str, str], path: Path, kind: str) -> None:
    if raw.get("kind") != kind:
        found = raw.get("kind")
        what = f"kind {found!r}" if found is not None else "no mnistgen metadata"
        raise ModelError(f"{path} is not an mnistgen {kind} model ({what}); expected metadata kind {kind!r}")
    version = raw.get("format_version")
    if version not in SUPPORTED_FORMAT_VERSIONS:
        raise ModelError(
            f"{path} has format_version {version!r}; this runtime reads {', '.join(SUPPORTED_FORMAT_VERSIONS)}"
        )


def metadata_int(raw: dict[str, str], key: str, path: Path) -> int:
    try:
        value = int(raw[key])
    except (KeyError, ValueError):
        raise ModelError(f"{path}: metadata {key!r} must be a positive integer, got {raw.get(key)!r}") from None
    if value <= 0:
        raise ModelError(f"{path}: metadata {key!r} must be a positive integer, got {value}")
    return value


def metadata_labels(raw: dict[str, str], path: Path) -> tuple[str, ...]:
    try:
        labels = json.loads(raw["labels"])
    except (KeyError, ValueError):
        labels = None
    if not isinstance(labels, list) or len(labels) != 10:
        raise ModelError(f"{path}: metadata 'labels' must be a JSON list of 10 names, got {raw.get('labels')!r}")
    return tuple(str(label) for label in labels)


def require_names(available: set[str], required: tuple[str, ...], path: Path, what: str) -> None:
    missing = [name for name in required if name not in available]
    if missing:
        raise ModelError(
            f"{path}: model lacks {what} {', '.join(missing)} (has {', '.join(sorted(available)) or 'none'})"
        )


def image_shape(tensor: Any, path: Path) -> tuple[int, int]:
    """(height, width) of an image tensor [N, 1, height, width]: the graph defines the image size."""
    shape = list(tensor.shape or [])
    sizes_fixed = len(shape) == 4 and all(isinstance(size, int) and size > 0 for size in shape[1:])
    if not sizes_fixed or shape[1] != 1:
        raise ModelError(f"{path}: {tensor.name} must have shape [N, 1, height, width] with fixed sizes, got {shape}")
    return shape[2], shape[3]


@dataclass(frozen=True)
class GeneratorSpec:
    """What a generator model offers, read once from its session: inputs, latent size, image size, labels."""

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

    @property
    def raw_style(self) -> str | None:
        """The style fit's metadata text, None without one: one key's lookup, where metadata()
        would decode the whole fit (the largest value) along with everything else."""
        return next((value for key, value in self.raw_metadata if key == "style"), None)


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
