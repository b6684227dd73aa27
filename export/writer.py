"""Where the .onnx file goes: checked before the (slow) export, written atomically after it."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike, payload: bytes) -> Path:
    """A temp file beside the target, then os.replace: readers never see half a model."""
    path = check_destination(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError as error:
        raise ExportError(f"{path}: cannot write there ({error.strerror})") from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a shipped model must be readable by all
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.replace(tmp, path)
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        raise ExportError(f"{path}: cannot write there ({error.strerror})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
