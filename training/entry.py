"""Console entry points of the torch side (training, classifier training, export).

They are installed with every `pip install .`, but torch and onnx come only with the `train`
extra: without them, say so in one line instead of an import traceback.
"""
from __future__ import annotations

import importlib

from mnistgen import console

NEEDED = ("torch", "onnx")


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)  # the command imports it next anyway
    except ImportError:
        return False
    return True


def _run(command: str, module: str) -> None:
    missing = [name for name in NEEDED if not _importable(name)]
    if missing:
        console.one_line(command, f"needs the training extra ({', '.join(missing)} missing): "
                                  "pip install 'mnistgen[train]'")
        raise SystemExit(2)
    importlib.import_module(module).main()


def train() -> None:
    _run("mnistgen-train", "mnistgen.training.cli")


def train_classifier() -> None:
    _run("mnistgen-train-classifier", "mnistgen.training.classifier")


def train_encoder() -> None:
    _run("mnistgen-train-encoder", "mnistgen.training.encoder")


def export() -> None:
    _run("mnistgen-export", "mnistgen.export.cli")
