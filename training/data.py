"""MNIST from the four standard IDX files, verified before anything trains on it.

numpy only (no torch), so the evaluation can read the real test set without PyTorch.
Where the files come from: ``--data-dir``, else ``$MNISTGEN_DATA``, else a per-user cache
directory, which is filled from the public mirrors when it is empty.

A generated dataset (``mnistgen-dataset``) reads the same way: its files are verified against
the checksums and counts in its manifest.json instead of MNIST's published ones.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import struct
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnistgen.dataset import IMAGES_MAGIC, LABELS_MAGIC, listed_file, read_manifest
from mnistgen.files import write_atomic
from mnistgen.images import uint8_to_unit
from mnistgen.limits import InputError

NUM_CLASSES = 10
IMAGE_SIDE = 28

# MD5 of the decompressed bytes: the gzip wrappers differ between mirrors, the raw data doesn't.
FILES: dict[str, tuple[str, int, int]] = {
    # name: (md5 of raw bytes, IDX magic, item count)
    "train-images-idx3-ubyte": ("6bbc9ace898e44ae57da46a324031adb", IMAGES_MAGIC, 60000),
    "train-labels-idx1-ubyte": ("a25bea736e30d166cdddb491f175f624", LABELS_MAGIC, 60000),
    "t10k-images-idx3-ubyte": ("2646ac647ad5339dbf082846283269ea", IMAGES_MAGIC, 10000),
    "t10k-labels-idx1-ubyte": ("27ae3e4e09519cfbb04c329615203637", LABELS_MAGIC, 10000),
}
SPLITS = {"train": "train", "test": "t10k"}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
ENV_VAR = "MNISTGEN_DATA"


class DataError(Exception):
    """A problem with the MNIST files, phrased for the user (one line)."""


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # uint8 (N, 28, 28), white on black
    labels: np.ndarray  # int64 (N,)

    def __len__(self) -> int:
        return len(self.labels)

    def unit_images(self) -> np.ndarray:
        """float32 (N, 1, 28, 28) in 0..1."""
        return uint8_to_unit(self.images)[:, None]


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mnistgen" / "mnist"


def resolve_data_dir(data_dir: str | os.PathLike | None) -> tuple[Path, bool]:
    """The directory to read, and whether it is the cache (the only place we download into)."""
    if data_dir:
        return Path(data_dir), False
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]), False
    return default_cache_dir(), True


def _expected_names() -> str:
    return ", ".join(f"{n}[.gz]" for n in FILES)


def _find(directory: Path, name: str) -> Path | None:
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _download(directory: Path) -> None:
    """Fill the cache from the public mirrors; any failure is reported as one DataError."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        if _find(directory, name):
            continue
        last_error: Exception | None = None
        for mirror in MIRRORS:
            try:
                with urllib.request.urlopen(f"{mirror}{name}.gz", timeout=30) as response:
                    payload = response.read()
                write_atomic(directory / f"{name}.gz", payload)
                break
            except Exception as error:  # network errors come in many types; all mean "not here"
                last_error = error
        else:
            raise DataError(
                f"MNIST not found in {directory} and could not be downloaded ({last_error}); "
                f"put the four files there ({_expected_names()}) or pass --data-dir / ${ENV_VAR}"
            )


def _read_raw(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise DataError(f"{path}: cannot be read as an IDX file ({error})") from None


def _expected(directory: Path, name: str) -> tuple[str, int, int]:
    """(MD5 of the raw bytes, IDX magic, item count) the file ``name`` must have: from the
    directory's generated-dataset manifest when it lists the file, else MNIST's own."""
    try:
        manifest = read_manifest(directory)
    except InputError as error:
        raise DataError(str(error)) from None
    record = None if manifest is None else listed_file(manifest, f"{name}.gz")  # written gzipped, maybe unpacked since
    if record is None:
        return FILES[name]
    md5, count = record.get("md5_decompressed"), record.get("items")
    if not isinstance(md5, str) or not isinstance(count, int):
        raise DataError(f"{directory / 'manifest.json'}: the entry for {name}.gz lacks md5_decompressed or items")
    return md5, FILES[name][1], count


def _parse(path: Path, expected: tuple[str, int, int], raw: bytes) -> np.ndarray:
    md5, magic, count = expected
    header = 16 if magic == IMAGES_MAGIC else 8
    if len(raw) < header:
        raise DataError(f"{path}: truncated ({len(raw)} bytes, shorter than the IDX header)")
    got_magic, got_count = struct.unpack(">II", raw[:8])
    if got_magic != magic:
        raise DataError(f"{path}: wrong IDX magic number {got_magic} (expected {magic})")
    if got_count != count:
        raise DataError(f"{path}: holds {got_count} items (expected {count})")
    shape: tuple[int, ...] = (count,)
    if magic == IMAGES_MAGIC:
        rows, cols = struct.unpack(">II", raw[8:16])
        if (rows, cols) != (IMAGE_SIDE, IMAGE_SIDE):
            raise DataError(f"{path}: images are {rows}x{cols} (expected 28x28)")
        shape = (count, rows, cols)
    expected_len = header + int(np.prod(shape))
    if len(raw) != expected_len:
        raise DataError(f"{path}: {len(raw)} bytes, expected {expected_len} (truncated or padded)")
    if hashlib.md5(raw).hexdigest() != md5:
        raise DataError(f"{path}: checksum mismatch (MD5 of the raw bytes should be {md5}); the file is corrupt")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def load_split(split: str, data_dir: str | os.PathLike | None = None, limit: int | None = None) -> Split:
    """Load 'train' or 'test', verified; ``limit`` keeps the first N images."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    directory, is_cache = resolve_data_dir(data_dir)
    prefix = SPLITS[split]
    names = [n for n in FILES if n.startswith(prefix)]
    if any(_find(directory, n) is None for n in names):
        if not is_cache:
            raise DataError(f"MNIST not found in {directory}: expected the four files {_expected_names()}")
        _download(directory)
    arrays = []
    for name in names:
        path = _find(directory, name)
        assert path is not None
        arrays.append(_parse(path, _expected(directory, name), _read_raw(path)))
    images, labels = arrays if arrays[0].ndim == 3 else arrays[::-1]
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return Split(images=images, labels=labels.astype(np.int64))
