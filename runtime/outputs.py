"""The outputs: named artifacts (a file name and what writes its bytes), written to a directory
as one set or to stdout. The one rule for naming what a request writes, shared by the `mnistgen`
command and `mnistgen serve`.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np

from mnistgen import images as encode
from mnistgen.files import atomic_files


@dataclass(frozen=True)
class Artifact:
    name: str
    # encodes straight into the destination stream, on demand: 100k PNGs never sit in memory at
    # once, and a large .npy is not copied into a bytes buffer first
    write: Callable[[BinaryIO], None]


def _bytes(encoder: Callable[[], bytes]) -> Callable[[BinaryIO], None]:
    return lambda stream: stream.write(encoder())


def named_outputs(pictures: np.ndarray, stem: str, format: str, *, sequence: bool = False,
                  grid: bool = False) -> list[Artifact]:
    """The files a request writes and their names: the one rule, which mnistgen serve shares."""
    if format == "npy":
        return [Artifact(f"{stem}.npy", lambda stream: np.save(stream, pictures, allow_pickle=False))]
    if format == "gif":
        return [Artifact(f"{stem}.gif", _bytes(lambda: encode.gif_bytes(pictures)))]
    if sequence:
        return [Artifact(f"{stem}.png", _bytes(lambda: encode.png_bytes(encode.strip(pictures))))]
    if grid:
        return [Artifact(f"{stem}_grid.png", _bytes(lambda: encode.png_bytes(encode.grid(pictures))))]
    return [Artifact(f"{stem}_{i}.png", _png_of(pictures, i)) for i in range(len(pictures))]


def _png_of(pictures: np.ndarray, index: int) -> Callable[[BinaryIO], None]:
    return _bytes(lambda: encode.png_bytes(pictures[index]))


def write_stdout(artifact: Artifact) -> None:
    artifact.write(sys.stdout.buffer)
    sys.stdout.buffer.flush()


def write_directory(directory: Path, items: list[Artifact], progress: Callable[[int, int], None] | None) -> list[Path]:
    """Write the artifacts as one set and return their paths: a failed or interrupted run leaves
    the directory as it was, with no partial set and no overwritten file changed."""
    directory.mkdir(parents=True, exist_ok=True)
    with atomic_files(directory) as files:
        for done, item in enumerate(items, start=1):
            with files.writer(item.name) as stream:
                item.write(stream)
            if progress is not None:
                progress(done, len(items))
    return files.paths
