"""Hands remembered between commands: `mnistgen N --like my7.png`, run again with the same
picture, takes the hand it read the first time instead of reading it again.

Reading a hand in a fresh command opens two more models (the classifier and the encoder, about
11 ms) and prepares the picture (3-7 ms), to find 64 numbers. Scripts run the command again and
again with one picture (`for n in 1999 2026; do mnistgen $n --like my7.png; done`), so the
command keeps each hand it reads in a small JSON file, named by a key of everything that hand
depends on, and a later command with the same key takes it from there: the very latent the
models would give, bit for bit.

The key covers the picture's bytes (sha256), the digit given with --like-digit, the generator,
encoder and classifier files, the runtime's own modules that a hand goes through, numpy, Pillow
and onnxruntime, and the machine's architecture. Files are known by path, size and modification
and change times (Python's bytecode cache trusts the first three), so a replaced model or an
upgraded package misses. What it cannot see: one home folder shared by machines whose CPUs
differ within an architecture (AVX2 and AVX-512, say) may give one a hand the other read, the
same hand to within the last bits of its floats; and on Windows, whose "change time" is the
creation time, a file rewritten in place with its size and modification time put back.

Where: $MNISTGEN_CACHE_DIR, else $XDG_CACHE_HOME/mnistgen (when absolute), else
~/.cache/mnistgen; hands go in its hands/ folder (its owner's only), at most MAX_ENTRIES files
(the least recently used go first). MNISTGEN_NO_CACHE=1 (any value but 0) turns it off. Best
effort: a folder that cannot be written, an entry that cannot be read, or any other failure of
the cache costs only the time it would have saved, never an error.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import platform
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from mnistgen.files import sha256_hex, write_atomic
from mnistgen.handwriting import Hand
from mnistgen.prepare import MAX_PICTURE_BYTES

FORMAT = 1  # of an entry: a change to what an entry holds bumps it, so old entries miss
MAX_ENTRIES = 1024
"""Entry files kept on disk in the hands/ folder, one hand each (about 3 kB, so the folder stays
under 4 MB). Not `mnistgen serve --hands`, the hands a server keeps in memory."""
SOURCES = tuple(Path(__file__).with_name(f"{name}.py") for name in (
    "__init__", "prepare", "handwriting", "encoder", "classifier", "generator", "images", "limits", "model_file",
    "files", "style", "hand_cache"))
"""The runtime modules loaded to read a hand (tests/test_hand_cache.py checks the list against a
fresh process), and this one, which writes it: an edited or upgraded one misses."""
LIBRARIES = ("numpy", "PIL", "onnxruntime")
"""Their arithmetic and decoders shape a hand's last bits: an upgraded one (its files rewritten) misses."""


@dataclass(frozen=True)
class HandCache:
    folder: Path

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> HandCache | None:
        """The cache the environment names; None when MNISTGEN_NO_CACHE is set (to anything but 0)."""
        if environ.get("MNISTGEN_NO_CACHE", "") not in ("", "0"):
            return None
        if environ.get("MNISTGEN_CACHE_DIR"):
            root = Path(environ["MNISTGEN_CACHE_DIR"])
        elif Path(environ.get("XDG_CACHE_HOME", "")).is_absolute():  # the XDG spec ignores relative ones
            root = Path(environ["XDG_CACHE_HOME"]) / "mnistgen"
        else:
            try:
                root = Path.home() / ".cache" / "mnistgen"
            except (RuntimeError, KeyError):  # no HOME and no password entry: nowhere to keep hands
                return None
        return cls(root / "hands")

    def key(self, picture: str | os.PathLike[str], digit: int | None, models: Sequence[Path | None]) -> str | None:
        """The entry name for ``picture`` read as ``digit`` (None: the classifier reads it) with
        ``models`` (generator, encoder, classifier or None); None when the picture cannot be
        remembered (not a regular file, too large, unreadable: reading it will say why)."""
        try:
            files = [_stat_identity(path) for path in (*models, *SOURCES, *_library_files())]
            digest = _picture_sha256(picture)
            # platform.machine: portable, where the uname call of the os module is POSIX only
            identity = [FORMAT, digest, digit, files, platform.machine()]
        except Exception:  # best effort: any failure is a miss; Ctrl-C (not an Exception) still stops
            return None
        return None if digest is None else hashlib.sha256(json.dumps(identity).encode()).hexdigest()

    def recall(self, key: str) -> Hand | None:
        """The hand remembered under ``key``, or None."""
        path = self.folder / f"{key}.json"
        try:
            hand = _decode(json.loads(path.read_bytes()))
        except Exception:  # whatever an entry holds (a damaged one, a hand-edited one) it is only a miss
            return None
        with contextlib.suppress(Exception):  # a read-only cache still serves its hands
            os.utime(path)  # recently used: pruned last
        return hand

    def remember(self, key: str, hand: Hand) -> None:
        try:
            self.folder.parent.mkdir(parents=True, exist_ok=True)
            self.folder.mkdir(mode=0o700, exist_ok=True)  # entries hold the user's prepared pictures
            write_atomic(self.folder / f"{key}.json", json.dumps(_encode(hand)).encode())
            self._prune()
        except Exception:  # a cache that cannot be written only loses its speed (Ctrl-C still stops)
            pass

    def count(self) -> int:
        """How many hands are remembered."""
        try:
            return len(self._entries())
        except Exception:  # best effort, as for the hands themselves
            return 0

    def _entries(self) -> list[os.DirEntry[str]]:
        return [entry for entry in os.scandir(self.folder) if entry.name.endswith(".json")]

    def _prune(self) -> None:
        entries = self._entries()
        if len(entries) <= MAX_ENTRIES:
            return
        entries.sort(key=lambda entry: entry.stat().st_mtime_ns)
        for entry in entries[: len(entries) - MAX_ENTRIES]:
            Path(entry.path).unlink(missing_ok=True)


def _stat_identity(path: Path | None) -> list[Any] | None:
    if path is None:
        return None
    info = path.stat()
    # ctime too: a copy that keeps the old size and mtime (cp -p) still changes it
    return [str(path.resolve()), info.st_size, info.st_mtime_ns, info.st_ctime_ns]


def _library_files() -> list[Path]:
    """Each library's package file, found without importing it (an upgrade rewrites it)."""
    specs = [importlib.util.find_spec(name) for name in LIBRARIES]
    return [Path(spec.origin) for spec in specs if spec is not None and spec.origin is not None]


def _picture_sha256(path: str | os.PathLike[str]) -> str | None:
    """The sha256 of a regular file's bytes; None for anything else (opening a pipe to hash it
    would use it up, or wait for a writer) or a file larger than any picture (MAX_PICTURE_BYTES)."""
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_PICTURE_BYTES:
        return None
    with open(path, "rb") as file:
        return sha256_hex(file)


def _encode(hand: Hand) -> dict[str, Any]:
    # floats written by repr and read back as float32 are the same bits; the image as hex parses
    # faster than 784 numbers
    return {"digit": hand.digit, "confidence": hand.confidence, "latent": [float(v) for v in hand.latent],
            "image": hand.image.tobytes().hex()}


def _decode(entry: dict[str, Any]) -> Hand:
    wide = np.array(entry["latent"], dtype=np.float64)
    if wide.ndim != 1 or not (np.abs(wide) <= np.finfo(np.float32).max).all():  # NaN fails too
        raise ValueError("not a hand's latent")
    latent = wide.astype(np.float32)
    image = np.frombuffer(bytes.fromhex(entry["image"]), dtype=np.uint8)
    digit, confidence = entry["digit"], entry["confidence"]
    if image.shape != (28 * 28,):
        raise ValueError("not a hand's image")
    if type(digit) is not int or not 0 <= digit <= 9 or not (confidence is None or isinstance(confidence, float)):
        raise ValueError("not a hand's digit and confidence")
    return Hand(latent=latent, digit=digit, confidence=confidence, image=image.reshape(28, 28).copy())
