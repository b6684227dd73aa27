"""Where the .onnx file goes: checked before the (slow) export, written atomically after it."""
from __future__ import annotations

import os
from pathlib import Path

from mnistgen import files
from mnistgen.export.errors import ExportError


def check_destination(path: str | os.PathLike) -> Path:
    """Fail before exporting, not after, when the file could never be written."""
    path = Path(path)
    if path.is_dir():
        raise ExportError(f"{path}: is a directory; --out takes a file path such as models/generator.onnx")
    parent = path.parent
    if not parent.is_dir():
        raise ExportError(f"{path}: cannot write there, {parent} is not an existing directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExportError(f"{path}: cannot write there, directory {parent} is not writable")
    return path


def write_atomic(path: str | os.PathLike, payload: bytes) -> Path:
    """A temp file beside the target, then os.replace: readers never see half a model.

    The exporter checked ``path`` before exporting; should it have changed since, the failed
    write is still one clear ExportError.
    """
    path = Path(path)
    try:
        return files.write_atomic(path, payload)
    except OSError as error:
        raise ExportError(f"{path}: cannot write there ({error.strerror})") from None
