"""Checkpoint files: one format for training runs, the classifier and the slim shipped weights.

A checkpoint is a plain dict of tensors, numbers, strings and lists so that it loads with
``torch.load(weights_only=True)`` (no pickled classes). Keys:

- ``format_version`` (int), ``kind`` ("gan" or "classifier"), ``config`` (dict), ``epoch`` (int,
  epochs completed), ``seconds`` (float, cumulative training wall time);
- gan: ``ema_generator`` (always), ``batch`` and ``generator_step`` (where training stopped),
  ``commands`` (the command lines that trained it: the first, then each resume), and
  in full training checkpoints also ``generator``, ``critic``, ``opt_generator``, ``opt_critic``,
  ``perm`` (the order of the epoch in progress), ``critic_step`` and ``rng``;
- classifier: ``model``, ``test_accuracy``;
- encoder: ``model`` (the encoder), ``generator`` (the slim checkpoint of the generator it was
  trained against, so the export can check the ONNX generator it is paired with), ``generator_step``
  (encoder steps), ``commands``, ``metrics`` (the last logged losses).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from mnistgen.files import atomic_writer
from mnistgen.training.models import (
    Classifier,
    ClassifierConfig,
    Critic,
    Encoder,
    EncoderConfig,
    CriticConfig,
    Generator,
    GeneratorConfig,
)

FORMAT_VERSION = 1
KINDS = ("gan", "classifier", "encoder")


class CheckpointError(Exception):
    """A checkpoint that cannot be used, phrased for the user (one line)."""


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write atomically: a crash or Ctrl-C mid-write never leaves a half checkpoint behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(path) as handle:
        torch.save({"format_version": FORMAT_VERSION, **state}, handle)
    return path


def load_checkpoint(path: str | os.PathLike, kind: str | None = None) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a bad file; all mean "unreadable"
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path}: not a readable mnistgen checkpoint ({reason[:160]})") from None
    if not isinstance(state, dict) or state.get("kind") not in KINDS or "config" not in state:
        raise CheckpointError(f"{path}: not an mnistgen checkpoint (expected a dict with kind {KINDS})")
    if state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {state.get('format_version')!r}, this version reads {FORMAT_VERSION}"
        )
    if kind is not None and state["kind"] != kind:
        raise CheckpointError(f"{path}: holds a {state['kind']} checkpoint, expected {kind}")
    return state


def _load_weights(module: torch.nn.Module, weights: Any, path: str, what: str) -> None:
    try:
        module.load_state_dict(weights)
    except Exception as error:
        first = str(error).strip().splitlines()[0]
        raise CheckpointError(f"{path}: {what} weights do not fit the architecture ({first[:160]})") from None


def generator_config(state: dict[str, Any]) -> GeneratorConfig:
    return GeneratorConfig(**state["config"]["generator"])


def build_generator(state: dict[str, Any], path: str = "checkpoint", which: str = "ema_generator") -> Generator:
    """The generator of a gan checkpoint, in eval mode (the EMA copy unless told otherwise)."""
    if which not in state:
        raise CheckpointError(f"{path}: has no '{which}' weights")
    try:
        generator = Generator(generator_config(state))
    except (KeyError, TypeError) as error:
        raise CheckpointError(f"{path}: generator config is incomplete or unknown ({error})") from None
    _load_weights(generator, state[which], path, which)
    return generator.eval()


def build_critic(state: dict[str, Any], path: str = "checkpoint") -> Critic:
    critic = Critic(CriticConfig(**state["config"]["critic"]), generator_config(state).components)
    _load_weights(critic, state["critic"], path, "critic")
    return critic


def _build_model(state: dict[str, Any], path: str, model_class: type, config_class: type, what: str) -> Any:
    """The ``model`` weights of a classifier or encoder checkpoint in their network, in eval mode."""
    if "model" not in state:
        raise CheckpointError(f"{path}: has no {what} weights")
    try:
        model = model_class(config_class(**state["config"][what]))
    except (KeyError, TypeError) as error:
        raise CheckpointError(f"{path}: {what} config is incomplete or unknown ({error})") from None
    _load_weights(model, state["model"], path, what)
    return model.eval()


def build_classifier(state: dict[str, Any], path: str = "checkpoint") -> Classifier:
    return _build_model(state, path, Classifier, ClassifierConfig, "classifier")


def build_encoder(state: dict[str, Any], path: str = "checkpoint") -> Encoder:
    return _build_model(state, path, Encoder, EncoderConfig, "encoder")


def slim(state: dict[str, Any]) -> dict[str, Any]:
    """What ships for tests: the EMA generator and its config, no critic or optimizer state."""
    keep = ("kind", "config", "epoch", "batch", "generator_step", "seconds", "commands", "ema_generator")
    return {k: state[k] for k in keep if k in state}
