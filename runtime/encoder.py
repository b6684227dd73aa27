"""mnistgen.Encoder: prepared digit images -> the latents of one generator (their handwriting), torch-free.

An encoder is trained for one generator and is meaningless with another, so it records the
sha256 of that generator's file, and ``check_pair`` refuses any other generator in one line.
"""
from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from mnistgen.files import file_identity
from mnistgen.images import uint8_to_unit
from mnistgen.limits import BATCH_SIZE, InputError, ModelError, check_digit, check_images, check_threads
from mnistgen.model_file import (
    check_kind,
    default_model_path,
    image_shape,
    metadata_int,
    open_session,
    require_names,
    resolve_model_path,
)

ENCODER_FILENAME = "encoder.onnx"


def shipped_encoder_path() -> Path | None:
    """The encoder shipped in mnistgen.models, or None when the package has none."""
    try:
        return default_model_path(ENCODER_FILENAME)
    except ModelError:
        return None


class Encoder:
    """Reads prepared uint8 digit images (N, 28, 28) or one (28, 28), white on black (see
    mnistgen.prepare), with the digit each shows, and gives the latents (N, latent_dim) that the
    paired generator turns back into them. One InferenceSession, thread-safe to share."""

    def __init__(self, model: str | PathLike[str] | None = None, threads: int | None = None):
        path = resolve_model_path(model, ENCODER_FILENAME)
        self._session = open_session(path, check_threads(threads))
        raw = dict(self._session.get_modelmeta().custom_metadata_map)
        check_kind(raw, path, "encoder")
        inputs = {i.name: i for i in self._session.get_inputs()}
        require_names(set(inputs), ("image", "digit"), path, "inputs")
        require_names({o.name for o in self._session.get_outputs()}, ("latent",), path, "output")
        sha = raw.get("generator_sha256", "")
        if len(sha) != 64:
            raise ModelError(f"{path}: metadata generator_sha256 must name the generator it was trained for, got {sha!r}")
        self.path: Path = path
        self.latent_dim: int = metadata_int(raw, "latent_dim", path)
        self.generator_sha256: str = sha
        self.generator_file: str = raw.get("generator_file", "?")
        self.image_shape: tuple[int, int] = image_shape(inputs["image"], path)

    def check_pair(self, generator_path: Path, latent_dim: int) -> None:
        """ModelError unless this encoder was trained for the generator file at ``generator_path``."""
        sha = file_identity(generator_path)["sha256"]
        if sha != self.generator_sha256 or latent_dim != self.latent_dim:
            raise ModelError(
                f"{self.path} is an encoder for another generator (it was trained for {self.generator_file} "
                f"sha256 {self.generator_sha256[:12]}, this generator {generator_path} is {sha[:12]}); "
                f"retrain and export the encoder for this generator (docs/handwriting.md)"
            )

    def encode(self, images: Any, digits: Any) -> np.ndarray:
        """float32 (N, latent_dim): the latent of each image, read as the digit given for it."""
        pixels = check_images(images, self.image_shape, "prepared digits (see mnistgen.prepare)")
        labels = _check_digits(digits, len(pixels))
        parts = [
            self._session.run(["latent"], {"image": uint8_to_unit(pixels[i : i + BATCH_SIZE])[:, None],
                                           "digit": labels[i : i + BATCH_SIZE]})[0]
            for i in range(0, len(pixels), BATCH_SIZE)
        ]
        return np.concatenate(parts).astype(np.float32, copy=False)


def _check_digits(digits: Any, count: int) -> np.ndarray:
    values = [digits] * count if np.ndim(digits) == 0 else list(np.asarray(digits).ravel())
    if len(values) != count:
        raise InputError(f"digits must be one digit 0-9 or one per image ({count}), got {len(values)}")
    return np.array([check_digit(int(v) if isinstance(v, np.integer) else v) for v in values], dtype=np.int64)
