"""Atomic file writing, the one implementation every stage uses (runtime, training, export, eval).

A temp file beside the target, then os.replace: readers (and a crash or Ctrl-C) see the old
file or the whole new one, never half of it. ``atomic_files`` extends that to a set of files.

Where "atomic" stops: the writes survive a crashed or killed process, not a power loss or an
operating-system crash. Nothing is fsynced (that would cost a disk flush per file, and the CLI
writes up to 100k of them), so after a power cut a replaced file may be empty or missing.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator


def _temporary(path: Path) -> tuple[BinaryIO, Path]:
    """An open temp file beside ``path`` (same file system, so os.replace cannot fail across devices).

    Created with mode 0666 so the kernel applies the umask (and any default ACL) as for any new
    file: outputs are ordinary shareable files. mkstemp's 0600 would have to be widened by hand,
    and reading the umask for that from Python means setting it for a moment, which races with
    every other thread that creates files.
    """
    # 64 random bits: a clash needs billions of temporaries in one directory at once, and then
    # O_EXCL refuses it rather than writing into another writer's file (os.urandom, not secrets,
    # whose hmac import alone is a visible share of the CLI's cold start)
    tmp = path.parent / f".{path.name}.{os.urandom(8).hex()}.part"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    return os.fdopen(fd, "wb"), tmp


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Open a binary stream that becomes ``path`` only when the block finishes without error."""
    path = Path(path)
    handle, tmp = _temporary(path)
    try:
        with handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_writer(path) as handle:
        handle.write(data)
    return Path(path)


@dataclass
class FileSet:
    """Files staged as temporaries in ``directory``; see ``atomic_files``."""

    directory: Path
    staged: list[tuple[Path, Path]] = field(default_factory=list)  # (temporary, target)

    @property
    def paths(self) -> list[Path]:
        return [target for _, target in self.staged]

    @contextlib.contextmanager
    def writer(self, name: str) -> Iterator[BinaryIO]:
        target = self.directory / name
        handle, tmp = _temporary(target)
        self.staged.append((tmp, target))  # before writing: a failed write's temporary is discarded too
        with handle:
            yield handle

    def commit(self) -> None:
        """Move every temporary into place, or on any failure put back what was there before."""
        placed: list[tuple[Path, Path | None]] = []  # (target, hard link to the file it replaced)
        try:
            for tmp, target in self.staged:
                placed.append((target, _keep_old(target, tmp.with_suffix(".old"))))
                os.replace(tmp, target)
        except BaseException:
            _put_back(placed)
            raise
        for _, old in placed:
            if old is not None:
                old.unlink()

    def discard(self) -> None:
        for tmp, _ in self.staged:
            tmp.unlink(missing_ok=True)


def _keep_old(target: Path, old: Path) -> Path | None:
    """Hard-link ``target`` as ``old`` so it can be restored; None when there is no ``target``.

    A link, not a rename, so that ``target`` never goes missing for a reader meanwhile.
    """
    try:
        os.link(target, old, follow_symlinks=False)
    except FileNotFoundError:
        return None
    return old


def _put_back(placed: list[tuple[Path, Path | None]]) -> None:
    for target, old in reversed(placed):
        with contextlib.suppress(OSError):  # restore all the others even if one cannot be
            if old is None:
                target.unlink(missing_ok=True)
            else:
                os.replace(old, target)


@contextlib.contextmanager
def atomic_files(directory: str | os.PathLike) -> Iterator[FileSet]:
    """Write several files into ``directory`` as one: ``with atomic_files(d) as files:`` then
    ``with files.writer(name) as stream: ...`` for each. All of them land when the block
    finishes without error; if it fails, or moving them into place fails part-way, the directory
    is left exactly as it was, files that would have been overwritten included.
    """
    files = FileSet(Path(directory))
    try:
        yield files
        files.commit()
    finally:
        files.discard()


def file_identity(path: str | os.PathLike) -> dict[str, str]:
    """What identifies a file on any machine: its name and the sha256 of its bytes (not its path,
    which names nothing on the machine that reads a report or manifest)."""
    path = Path(path)
    with path.open("rb") as stream:
        return {"file": path.name, "sha256": sha256_hex(stream)}


def sha256_hex(stream: BinaryIO) -> str:
    """The sha256 of what is left in ``stream``, read in chunks (hashlib.file_digest is Python 3.11+)."""
    digest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()
