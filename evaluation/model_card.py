"""The README's model card, rendered from an evaluation document, so it is never typed by hand.

`mnistgen-eval ... --readme README.md` replaces what lies between the two markers below.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

from mnistgen.files import write_atomic

START, END = "<!-- model-card:start -->", "<!-- model-card:end -->"


class ModelCardError(Exception):
    """The README cannot take the card (one line)."""


def _pct(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def _num(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _row(name: str, figures: dict[str, Any]) -> str:
    return (f"| {name} | {figures['n']} | {_pct(figures['label_accuracy'])} | {_num(figures['fid'])} | "
            f"{_num(figures['fid_per_digit_mean'])} | {_num(figures['precision'])} | {_num(figures['recall'])} | "
            f"{_pct(figures['cas'])} |")


def _training(info: dict[str, Any]) -> list[str]:
    training = info.get("training")
    if not training:
        return []
    config = training.get("config", {})
    seconds = training.get("seconds") or 0.0
    recipe = ", ".join(f"{k} {v}" for k, v in config.items() if not isinstance(v, dict) and v is not None)
    nets = "; ".join(f"{k} {v}" for k, v in config.items() if isinstance(v, dict))
    partial = f" and {training['batch']} batches into the next" if training.get("batch") else ""
    steps = f", {training['generator_step']:,} generator steps" if training.get("generator_step") else ""
    commands = training.get("commands") or []
    made_by = [f"Trained by `{commands[0]}`" + "".join(f", then `{c}`" for c in commands[1:]) + "."] if commands else []
    return [
        *made_by,
        f"Training: {training.get('epoch')} epochs{partial} over the 60,000 MNIST training images{steps}, "
        f"{seconds / 60:.1f} minutes of training wall time on the 2-core CPU machine.",
        f"Sampling: z ~ N(0, I) scaled by latent_scale {info.get('latent_scale', 1.0)} inside the graph (truncation).",
        f"Recipe: {recipe}.",
        f"Networks: {nets}.",
        "",
    ]


def _criterion_row(criterion: dict[str, Any]) -> str:
    if not criterion.get("measured", True):  # documents before "measured" measured every criterion they list
        return f"| {criterion['rule']} | | | not measured |"
    fmt = _pct if criterion["rule"].startswith(("label", "CAS")) else _num
    return (f"| {criterion['rule']} | {fmt(criterion['value'])} | {criterion['comparison']} "
            f"{fmt(criterion['threshold'])} | {'pass' if criterion['passed'] else '**miss**'} |")


def _verify(document: dict[str, Any]) -> list[str]:
    rejected, confidence = document["model"].get("verify_rejected"), document.get("verify_min_confidence")
    if rejected is None or confidence is None or not document.get("per_digit"):
        return []
    n = document["model"]["n"]
    misread = round((1 - document["model"]["label_accuracy"]) * n)
    return [f"`--verify` at confidence {confidence} would reject {rejected:,} of these "
            f"{n:,} images ({100 * rejected / n:.2f}%), {misread:,} of them misread.", ""]


def _file_name(source: Any) -> str:
    return source["file"] if isinstance(source, dict) else str(source)


def render(document: dict[str, Any], info: Optional[dict[str, Any]] = None) -> str:
    """``info``: the generator's metadata (training run, latent scale), when a generator was scored."""
    n = document["model"]["n"]
    scored = (f"{n:,} generated images ({document['per_digit']} per digit, seed {document.get('seed')})"
              if document.get("per_digit") else f"{n:,} images from {_file_name(document.get('source'))}")
    lines = [
        START,
        f"Measured by `mnistgen-eval` on {scored} against the MNIST test images, in the shipped "
        "classifier's feature space. The real row scores as many real training images the same way.",
        "",
        "| | n | label accuracy | FID | mean per-digit FID | precision | recall | CAS |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        _row("**mnistgen**", document["model"]),
    ]
    if document.get("reference"):
        lines.append(_row("real MNIST", document["reference"]))
    lines += ["", "| bar | value | needs | |", "|---|---:|---:|---|"]
    lines += [_criterion_row(criterion) for criterion in document.get("bar", {}).values()]
    lines += ["", *_verify(document), *_training(info or {}), END]
    return "\n".join(lines)


def read_readme(path: str | os.PathLike) -> str:
    """The README's text, checked to hold the markers (called before the evaluation, to fail fast)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ModelCardError(f"{path}: cannot read ({error.strerror})") from None
    if START not in text or END not in text:
        raise ModelCardError(f"{path}: has no model card markers ({START} ... {END})")
    return text


def update_readme(path: str | os.PathLike, card: str) -> Path:
    head, rest = read_readme(path).split(START, 1)
    _, tail = rest.split(END, 1)
    return write_atomic(path, (head + card + tail).encode("utf-8"))
