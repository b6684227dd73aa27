"""Checkpoint file -> .onnx file, choosing the exporter by the checkpoint's kind."""
from __future__ import annotations

import json
import os
from pathlib import Path

from mnistgen.export.classifier import export_classifier
from mnistgen.export.encoder import export_encoder
from mnistgen.export.errors import ExportError
from mnistgen.export.generator import export_generator
from mnistgen.export.metadata import validate_evaluation
from mnistgen.export.writer import check_destination
from mnistgen.training.checkpoint import load_checkpoint, save_checkpoint, slim

# Relative to the working directory: run from the repo root to refresh the shipped models.
DEFAULT_OUT = {"gan": Path("models/generator.onnx"), "classifier": Path("models/classifier.onnx"),
               "encoder": Path("models/encoder.onnx")}
DEFAULT_GENERATOR = Path("models/generator.onnx")  # what an encoder is paired with, by default
EXPORTERS = {"gan": export_generator, "classifier": export_classifier, "encoder": export_encoder}


def read_evaluation(path: str | os.PathLike) -> str:
    """The evaluation tool's JSON file, embedded verbatim (checked to be JSON, not re-encoded)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or type(error).__name__
        raise ExportError(f"{path}: cannot read the evaluation JSON ({reason})") from None
    try:
        validate_evaluation(text)
    except ExportError as error:
        raise ExportError(f"{path}: {error}") from None
    return text


def check_latent_scale(evaluation: str, eval_json: str | os.PathLike, latent_scale: float) -> None:
    """Figures measured at one truncation describe nothing sampled at another: refuse the mix."""
    document = json.loads(evaluation)
    measured = document.get("latent_scale") if isinstance(document, dict) else None
    if measured is None:
        raise ExportError(f"{eval_json} records no latent scale; evaluate the exported model with mnistgen-eval "
                          "and pass the JSON it writes")
    if float(measured) != latent_scale:
        raise ExportError(f"{eval_json} was measured at latent scale {measured} but this export uses {latent_scale}; "
                          f"pass --latent-scale {measured} or evaluate at {latent_scale}")


def export_checkpoint(
    checkpoint: str | os.PathLike,
    out: str | os.PathLike | None = None,
    eval_json: str | os.PathLike | None = None,
    weights_out: str | os.PathLike | None = None,
    latent_scale: float | None = None,
    generator: str | os.PathLike | None = None,
    style: bool = False,
) -> Path:
    """Every input is checked before the slow export, so bad input fails fast and writes nothing.

    ``weights_out`` also writes the slim checkpoint (EMA generator and config only; an encoder
    checkpoint as it is) that ships beside the ONNX file so the parity tests can compare the two. ``generator`` is the generator
    .onnx an encoder is paired with (encoder checkpoints only; default models/generator.onnx).
    ``style`` fits the stroke width and slant controls into a generator's metadata (mnistgen.export.style);
    given a generator .onnx in place of a checkpoint, it fits them again into that file (or ``out``).
    """
    if Path(checkpoint).suffix == ".onnx":
        given = [name for name, value in (("--eval-json", eval_json), ("--weights", weights_out),
                                          ("--latent-scale", latent_scale), ("--generator", generator)) if value is not None]
        if not style or given:
            raise ExportError(f"{checkpoint}: a .onnx file takes --style (and --out) only, to fit its style controls "
                              f"again; {', '.join(given) or 'no --style'} given")
        from mnistgen.export.style import refit  # deferred: it opens the runtime's sessions

        return refit(checkpoint, out)
    evaluation = read_evaluation(eval_json) if eval_json is not None else None
    state = load_checkpoint(checkpoint)
    if evaluation is not None and state["kind"] == "gan":
        check_latent_scale(evaluation, eval_json, 1.0 if latent_scale is None else latent_scale)
    out_path = Path(out) if out is not None else DEFAULT_OUT[state["kind"]]  # the exporter checks it, once
    if latent_scale is not None and state["kind"] != "gan":
        raise ExportError("--latent-scale applies to gan checkpoints only")
    if weights_out is not None:
        if state["kind"] == "classifier":
            raise ExportError("--weights applies to gan and encoder checkpoints only (it writes the weights the "
                              "parity tests compare the ONNX file with)")
        check_destination(weights_out)
    if generator is not None and state["kind"] != "encoder":
        raise ExportError("--generator applies to encoder checkpoints only (the generator it is paired with)")
    if style and state["kind"] != "gan":
        raise ExportError("--style applies to gan checkpoints only (it fits the generator's style controls)")
    extra: dict = {} if latent_scale is None else {"latent_scale": latent_scale}
    if style:
        extra["style"] = True
    if state["kind"] == "encoder":
        extra["generator"] = DEFAULT_GENERATOR if generator is None else Path(generator)
    path = EXPORTERS[state["kind"]](state, out_path, evaluation, source=str(checkpoint), **extra)
    if weights_out is not None:
        try:
            save_checkpoint(slim(state) if state["kind"] == "gan" else state, weights_out)
        except OSError as error:
            raise ExportError(f"{weights_out}: cannot write the weights ({error.strerror or error}); "
                              f"{path} was written") from None
    return path
