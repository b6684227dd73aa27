"""Labelled datasets of generated digits, in MNIST's own file format.

Every MNIST reader (torchvision's raw files, Keras, python-mnist, our training/data.py) reads IDX:
a big-endian header (magic number, then one uint32 size per dimension) and the uint8 data, gzipped.
A dataset written here is ``<split>-images-idx3-ubyte.gz`` and ``<split>-labels-idx1-ubyte.gz``
(or one ``<split>.npz`` holding ``images`` and ``labels``), plus ``manifest.json``, which says what
made the files and holds their checksums.

What the images are: ``per_digit`` of each digit, the digit-d ones being exactly
``Generator.generate(d, per_digit, seed=digit_seed(seed, d))`` (with ``verify``, the verified
stream), in an order shuffled by ``seed``. So the same seed gives the same bytes, and the
evaluation's samples (mnistgen-eval draws each digit from the same seeds) are this dataset.

Scale: images are made and written a chunk at a time, so memory does not grow with the dataset;
the labels (one byte per image) are the only whole-dataset array. All files of a write land
together at the end (files.atomic_files), or none do.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from mnistgen.console import version
from mnistgen.files import FileSet, atomic_files, file_identity
from mnistgen.generator import Generator
from mnistgen.limits import (
    BATCH_SIZE,
    DEFAULT_MIN_CONFIDENCE,
    MAX_PER_DIGIT,
    InputError,
    check_choice,
    check_count,
    check_min_confidence,
    check_output_dir,
    check_seed,
)

Progress = Callable[[int, int], None]

DIGITS = 10
SPLITS = ("train", "t10k")
"""MNIST's own file prefixes, so a generated split stands in for the real one of that name."""
FORMATS = ("idx", "npz")
MANIFEST = "manifest.json"
MANIFEST_KIND = "mnistgen-dataset"
MANIFEST_VERSION = 1

IMAGES_MAGIC = 0x0803  # 2051: IDX, unsigned bytes, 3 dimensions (count, rows, cols)
LABELS_MAGIC = 0x0801  # 2049: IDX, unsigned bytes, 1 dimension (count)

CHUNK = 16 * BATCH_SIZE
"""Images made and written per step: ~3 MB, so memory stays flat while each digit still gets
batches near BATCH_SIZE."""

GZIP_LEVEL = 6
"""zlib's default: level 9 compresses MNIST-like pixels barely smaller and several times slower."""

ZIP_DATE = (1980, 1, 1, 0, 0, 0)
"""Every .npz member gets this date (zip's earliest), so the same seed gives the same archive."""


@dataclass(frozen=True)
class Request:
    """A checked dataset request: every argument valid before any model is opened."""

    per_digit: int
    seed: int
    split: str
    format: str
    verify: bool
    min_confidence: float | None  # None without verify
    style_ranges: tuple[tuple[float, float] | None, tuple[float, float] | None] = (None, None)
    """Stroke width and slant ranges each sample's target is drawn from, uniformly (None: free)."""

    @property
    def count(self) -> int:
        return DIGITS * self.per_digit


API_NAMES = {name: name for name in ("per_digit", "seed", "split", "format", "verify", "min_confidence",
                                     "stroke_width_range", "slant_range")}
"""How check_request's refusals name each argument: the API's names; mnistgen-dataset passes its options."""


def check_request(per_digit: object, seed: object = None, split: object = "train", format: object = "idx",
                  verify: bool = False, min_confidence: object = None, stroke_width_range: object = None,
                  slant_range: object = None, names: dict[str, str] = API_NAMES) -> Request:
    """InputError names the first bad argument (as ``names`` says) and what is accepted. ``seed``
    None draws a fresh one (recorded in the manifest, so the dataset can be made again).
    ``stroke_width_range`` and ``slant_range`` (low, high) draw each sample's target uniformly:
    augmentation with labels, each digit's draw kept within its legible range (digit_ranges, once
    the model is open)."""
    per_digit = check_count(per_digit, limit=MAX_PER_DIGIT, name=names["per_digit"])
    seed = fresh_seed() if seed is None else check_seed(seed, names["seed"])
    split = check_choice(split, SPLITS, names["split"])
    format = check_choice(format, FORMATS, names["format"])
    if min_confidence is not None and not verify:
        raise InputError(f"{names['min_confidence']} applies only with {names['verify']}")
    if verify:
        min_confidence = check_min_confidence(DEFAULT_MIN_CONFIDENCE if min_confidence is None else min_confidence,
                                              names["min_confidence"])
    range_names = (names["stroke_width_range"], names["slant_range"])
    ranges = tuple(_check_range(value, name) for value, name in zip((stroke_width_range, slant_range), range_names))
    if verify and any(ranges):
        raise InputError(f"{range_names[0]} and {range_names[1]} do not combine with {names['verify']}: each "
                         f"drawn target belongs to its sample, which {names['verify']} could discard")
    return Request(per_digit, seed, split, format, bool(verify), min_confidence, ranges)


def _check_range(value: object, name: str) -> tuple[float, float] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)):
        raise InputError(f"{name} must be two numbers LOW:HIGH, got {value!r}")
    try:
        low, high = (float(part) for part in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise InputError(f"{name} must be two numbers LOW:HIGH, got {value!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and low <= high):
        raise InputError(f"{name} must be two finite numbers LOW:HIGH with LOW <= HIGH, got {low:g}:{high:g}")
    return low, high


def digit_ranges(generator: Generator, request: Request, names: dict[str, str] = API_NAMES
                 ) -> list[list[tuple[float, float] | None]]:
    """Per digit, the request's ranges within the model's legible range for that digit: InputError
    when a digit's range and the asked one do not meet."""
    if not any(request.style_ranges):
        return [[None, None] for _ in range(DIGITS)]
    space = generator.style_space()
    out = []
    for digit in range(DIGITS):
        row: list[tuple[float, float] | None] = []
        for control, (asked, name) in enumerate(zip(request.style_ranges, (names["stroke_width_range"],
                                                                            names["slant_range"]))):
            if asked is None:
                row.append(None)
                continue
            low, high = space.ranges[digit, control]
            if asked[0] > high or asked[1] < low:
                raise InputError(f"{name} {asked[0]:g}:{asked[1]:g} misses digit {digit}'s legible range "
                                 f"{low:g}:{high:g} (mnistgen --info lists each digit's)")
            row.append((max(asked[0], float(low)), min(asked[1], float(high))))
        out.append(row)
    return out


def digit_targets(request: Request, ranges: list[list[tuple[float, float] | None]], digit: int) -> np.ndarray:
    """float64 (per_digit, 2): digit's samples' targets, in order, NaN for a free control; from a
    stream of their own, so the latents (digit_seed) are those of the same dataset unsteered."""
    rng = np.random.default_rng(np.random.SeedSequence(entropy=request.seed, spawn_key=(digit, 1)))
    draws = rng.random((request.per_digit, 2))
    targets = np.full((request.per_digit, 2), np.nan)
    for control, bounds in enumerate(ranges[digit]):
        if bounds is not None:
            targets[:, control] = bounds[0] + draws[:, control] * (bounds[1] - bounds[0])
    return targets


def fresh_seed() -> int:
    # below 2**53 so the manifest's seed survives JSON readers that hold numbers as doubles
    return int(np.random.default_rng().integers(2**53))


def digit_seed(seed: int, digit: int) -> int:
    """Each digit's own reproducible latent stream: independent of the other digits and of the
    shuffle (default_rng(seed) itself)."""
    return int(np.random.SeedSequence(entropy=seed, spawn_key=(digit,)).generate_state(1)[0])


def file_names(split: str, format: str) -> tuple[str, ...]:
    if format == "npz":
        return (f"{split}.npz",)
    return (f"{split}-images-idx3-ubyte.gz", f"{split}-labels-idx1-ubyte.gz")


# --- making the images: balanced, shuffled, a chunk at a time ---------------------------------


def shuffled_labels(per_digit: int, seed: int) -> np.ndarray:
    """uint8 (10 x per_digit,): every digit per_digit times, in the seed's order."""
    return np.random.default_rng(seed).permutation(np.repeat(np.arange(DIGITS, dtype=np.uint8), per_digit))


class _DigitStream:
    """One digit's images in order, handed out in any amounts: a batch at most is held back."""

    def __init__(self, batches: Iterator[np.ndarray]) -> None:
        self._batches = batches
        self._held: np.ndarray | None = None

    def take(self, count: int) -> Iterator[np.ndarray]:
        while count > 0:
            if self._held is None or not len(self._held):
                self._held = next(self._batches)
                continue  # a verified batch may be empty
            part, self._held = self._held[:count], self._held[count:]
            count -= len(part)
            yield part


def chunks(generator: Generator, request: Request, labels: np.ndarray,
           targets: list[np.ndarray] | None = None) -> Iterator[np.ndarray]:
    """The images for ``labels`` (shuffled_labels), CHUNK at a time, each from its digit's stream;
    ``targets`` (digit_targets per digit) steer each sample to its own stroke width and slant."""
    streams = [
        _DigitStream(generator.batches(
            digit, request.per_digit, digit_seed(request.seed, digit),
            verify=request.verify,
            min_confidence=DEFAULT_MIN_CONFIDENCE if request.min_confidence is None else request.min_confidence,
            **({} if targets is None else _per_sample(targets[digit])),
        ))
        for digit in range(DIGITS)
    ]
    for start in range(0, len(labels), CHUNK):
        part = labels[start : start + CHUNK]
        images = np.empty((len(part), *generator.image_shape), dtype=np.uint8)
        for digit, stream in enumerate(streams):
            rows = np.flatnonzero(part == digit)
            done = 0
            for piece in stream.take(len(rows)):
                images[rows[done : done + len(piece)]] = piece
                done += len(piece)
        yield images


def dataset_arrays(
    per_digit: int,
    seed: int | None = None,
    *,
    generator: Generator | None = None,
    verify: bool = False,
    min_confidence: float | None = None,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 28, 28), labels uint8 (N,)) with N = 10 x per_digit: the dataset
    write_dataset would write for the same arguments, as arrays (all in memory: 1,000,000 images
    are 784 MB). ``generator`` default: the shipped model."""
    request = check_request(per_digit, seed, verify=verify, min_confidence=min_confidence)
    generator = Generator() if generator is None else generator
    labels = shuffled_labels(request.per_digit, request.seed)
    images = np.empty((len(labels), *generator.image_shape), dtype=np.uint8)
    done = 0
    for chunk in chunks(generator, request, labels):
        images[done : done + len(chunk)] = chunk
        done += len(chunk)
        if progress is not None:
            progress(done, len(labels))
    return images, labels


def _per_sample(targets: np.ndarray) -> dict[str, np.ndarray]:
    return {name: targets[:, control] for control, name in enumerate(("stroke_width", "slant"))
            if not np.isnan(targets[:, control]).all()}


def _style_entry(request: Request, ranges: list, targets: list[np.ndarray] | None, labels: np.ndarray,
                 measured: np.ndarray) -> dict[str, Any]:
    """The manifest's record of the augmentation: the ranges asked and used per digit, and each
    image's target and measured (stroke width, slant), in file order (null: a free control)."""
    ordered = np.full((len(labels), 2), np.nan)
    assert targets is not None
    for digit in range(DIGITS):
        ordered[labels == digit] = targets[digit]
    as_lists = lambda array: [[None if np.isnan(v) else round(float(v), 4) for v in row] for row in array]  # noqa: E731
    return {"stroke_width_range": request.style_ranges[0], "slant_range": request.style_ranges[1],
            "digit_ranges": ranges, "columns": ["stroke_width", "slant"],
            "targets": as_lists(ordered), "measured": as_lists(measured)}


# --- writing: IDX or npz, checksummed on the way, all files at once ---------------------------


class _Hashed:
    """A write-only stream that hashes (and counts) the bytes passing through to ``stream``."""

    def __init__(self, stream: Any, algorithm: str) -> None:
        self.stream, self.hash, self.size = stream, hashlib.new(algorithm), 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.stream.write(data)

    def flush(self) -> None:
        self.stream.flush()


def idx_header(magic: int, shape: tuple[int, ...]) -> bytes:
    return struct.pack(f">I{len(shape)}I", magic, *shape)


def _write_gzip(files: FileSet, name: str, parts: Iterable[bytes]) -> dict[str, Any]:
    with files.writer(name) as handle:
        disk = _Hashed(handle, "sha256")
        # mtime=0 and no file name in the gzip header: otherwise the bytes would depend on the clock
        # and on the temporary file's random name
        with gzip.GzipFile(filename="", mode="wb", fileobj=disk, compresslevel=GZIP_LEVEL, mtime=0) as packed:
            raw = _Hashed(packed, "md5")
            for part in parts:
                raw.write(part)
    # MNIST publishes the MD5 of the decompressed files (gzip wrappers differ, the data doesn't)
    return {"bytes": disk.size, "sha256": disk.hash.hexdigest(), "md5_decompressed": raw.hash.hexdigest()}


def _write_npz(files: FileSet, name: str, shape: tuple[int, ...], image_parts: Iterable[bytes],
               labels: np.ndarray) -> dict[str, Any]:
    with files.writer(name) as handle:
        disk = _Hashed(handle, "sha256")
        # the stream cannot seek, so zipfile writes each member's sizes after its data: one pass
        with zipfile.ZipFile(disk, "w") as archive:
            _npy_member(archive, "images.npy", shape, image_parts)
            _npy_member(archive, "labels.npy", labels.shape, [labels.tobytes()])
    return {"bytes": disk.size, "sha256": disk.hash.hexdigest()}


def _npy_member(archive: zipfile.ZipFile, name: str, shape: tuple[int, ...], parts: Iterable[bytes]) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    large = int(np.prod(shape)) > zipfile.ZIP64_LIMIT // 2  # zip64 must be chosen before the size is known
    with archive.open(info, "w", force_zip64=large) as member:
        np.lib.format.write_array_header_1_0(member, {"descr": "|u1", "fortran_order": False, "shape": shape})
        for part in parts:
            member.write(part)


def _image_parts(images: Iterable[np.ndarray], total: int, progress: Progress | None) -> Iterator[bytes]:
    done = 0
    for chunk in images:
        yield chunk.tobytes()
        done += len(chunk)
        if progress is not None:
            progress(done, total)


def write_dataset(
    out_dir: str | os.PathLike,
    per_digit: int,
    seed: int | None = None,
    *,
    generator: Generator | None = None,
    split: str = "train",
    format: str = "idx",
    verify: bool = False,
    min_confidence: float | None = None,
    force: bool = False,
    progress: Progress | None = None,
    stroke_width_range: tuple[float, float] | None = None,
    slant_range: tuple[float, float] | None = None,
) -> list[Path]:
    """Write ``per_digit`` generated images of each digit to ``out_dir`` (created if missing)
    and return the paths written, manifest.json last.

    ``seed`` None draws a fresh one, recorded in the manifest. A directory already holding this
    split's files (or the split in its manifest) is refused unless ``force``; another split is
    added beside them and to the same manifest. InputError for bad arguments, ModelError for a
    bad model, VerificationError when ``verify`` runs out of draws; nothing is written then.
    ``stroke_width_range`` and ``slant_range`` (low, high): each sample steered to its own target,
    drawn uniformly, and the manifest records every target and measured value (check_request).
    """
    request = check_request(per_digit, seed, split, format, verify, min_confidence, stroke_width_range, slant_range)
    out, kept_splits = check_destination(out_dir, request, force, f"output directory {out_dir}")
    generator = Generator() if generator is None else generator
    return write_files(out, request, generator, kept_splits, progress, digit_ranges(generator, request))


def check_destination(out_dir: str | os.PathLike, request: Request, force: bool, what: str) -> tuple[Path, dict]:
    """(the directory, the other splits its manifest lists, which the new manifest keeps).

    InputError when ``out_dir`` cannot be a writable directory, or already holds this split's
    dataset (or a file of one of its names) and ``force`` is off. ``what`` names it in messages.
    """
    out = check_output_dir(out_dir, what, "give a writable directory (created if missing)")
    return out, _splits_to_keep(out, request, force)


def write_files(out: Path, request: Request, generator: Generator, kept_splits: dict[str, Any],
                progress: Progress | None, ranges: list[list[tuple[float, float] | None]]) -> list[Path]:
    """The writing half of write_dataset, for callers that ran check_request, check_destination
    and digit_ranges (``ranges``, what it gave)."""
    labels = shuffled_labels(request.per_digit, request.seed)
    shape = (len(labels), *generator.image_shape)
    targets = [digit_targets(request, ranges, d) for d in range(DIGITS)] if any(request.style_ranges) else None
    measured: list[np.ndarray] = []
    images = chunks(generator, request, labels, targets)
    if targets is not None:
        images = _measuring(images, measured)
    parts = _image_parts(images, len(labels), progress)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_files(out) as files:
        if request.format == "npz":
            (name,) = file_names(request.split, "npz")
            written = {name: _write_npz(files, name, shape, parts, labels)}
        else:
            images_name, labels_name = file_names(request.split, "idx")
            written = {
                images_name: _write_gzip(files, images_name, _with_header(idx_header(IMAGES_MAGIC, shape), parts)),
                labels_name: _write_gzip(files, labels_name, [idx_header(LABELS_MAGIC, labels.shape), labels.tobytes()]),
            }
            written[images_name]["items"] = written[labels_name]["items"] = len(labels)
        entry = _split_entry(request, generator, labels, written)
        if targets is not None:
            entry["style"] = _style_entry(request, ranges, targets, labels, np.concatenate(measured))
        manifest = {"kind": MANIFEST_KIND, "format_version": MANIFEST_VERSION,
                    "splits": {**kept_splits, request.split: entry}}
        with files.writer(MANIFEST) as stream:
            stream.write((json.dumps(manifest, indent=2) + "\n").encode())
    return files.paths


def _measuring(chunks: Iterable[np.ndarray], measured: list[np.ndarray]) -> Iterator[np.ndarray]:
    """The chunks as they come, each one's (stroke width, slant) appended to ``measured``."""
    from mnistgen.style import measure

    for chunk in chunks:
        measured.append(measure(chunk))
        yield chunk


def _with_header(header: bytes, parts: Iterable[bytes]) -> Iterator[bytes]:
    yield header
    yield from parts


def _split_entry(request: Request, generator: Generator, labels: np.ndarray, written: dict[str, Any]) -> dict:
    info = generator.info
    return {
        "format": request.format,
        "count": int(len(labels)),
        "counts": np.bincount(labels, minlength=DIGITS).tolist(),  # counted from the labels written
        "seed": request.seed,
        "verify": request.verify,
        "min_confidence": request.min_confidence,
        "image_shape": list(generator.image_shape),
        "model": {**file_identity(generator.path), "format_version": info.get("format_version"),
                  "latent_scale": info.get("latent_scale")},
        "mnistgen_version": version(),
        "files": written,
    }


# --- an existing directory: what it holds, and what a new write may replace -------------------


def read_manifest(directory: str | os.PathLike) -> dict[str, Any] | None:
    """The directory's mnistgen dataset manifest, None if it has none; InputError if unreadable."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InputError(f"{path} cannot be read as JSON ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("kind") != MANIFEST_KIND or not isinstance(manifest.get("splits"), dict):
        raise InputError(f"{path} is not an mnistgen dataset manifest (no kind {MANIFEST_KIND!r} with splits)")
    if manifest.get("format_version") != MANIFEST_VERSION:
        raise InputError(f"{path} has format_version {manifest.get('format_version')!r}; this mnistgen reads {MANIFEST_VERSION}")
    return manifest


def listed_file(manifest: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The manifest's record of the file ``name`` (sha256, md5_decompressed, items), if any."""
    for entry in manifest["splits"].values():
        record = entry.get("files", {}).get(name) if isinstance(entry, dict) else None
        if isinstance(record, dict):
            return record
    return None


def _splits_to_keep(out: Path, request: Request, force: bool) -> dict[str, Any]:
    """The other splits of an existing manifest, which the new one keeps listing; InputError when
    the write would replace a dataset (or a file of that name) and ``force`` is off."""
    try:
        manifest = read_manifest(out) if out.is_dir() else None
    except InputError as error:
        if not force:
            raise InputError(f"{error}; replace it with --force (force=True), or choose another directory") from None
        manifest = None
    names = file_names(request.split, request.format)
    # the uncompressed names too: MNIST readers prefer them, so a stale one would shadow the new file
    existing = [name for name in (*names, *(n.removesuffix(".gz") for n in names if n.endswith(".gz")))
                if (out / name).exists()]
    if manifest is not None and request.split in manifest["splits"]:
        existing.append(f"the {request.split} split in {MANIFEST}")
    if existing and not force:
        raise InputError(
            f"{out} already holds a {request.split} dataset ({', '.join(existing)}); "
            "replace it with --force (force=True), or choose another directory"
        )
    if manifest is None:
        return {}
    return {split: entry for split, entry in manifest["splits"].items() if split != request.split}
