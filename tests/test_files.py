"""The atomic writer (mnistgen.files): what a new file's permissions are, and that writing never
touches process-wide state that other threads depend on."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mnistgen.files import atomic_files, atomic_writer, write_atomic


def test_new_files_get_the_umask_like_any_other_file(tmp_path: Path):
    # in a child process: the umask is process-wide, and setting it here would leak into other tests
    script = f"""
import os
from pathlib import Path
from mnistgen.files import atomic_files, write_atomic
os.umask(0o027)
write_atomic(Path({str(tmp_path)!r}) / "one.bin", b"x")
with atomic_files({str(tmp_path)!r}) as files:
    with files.writer("two.bin") as stream:
        stream.write(b"y")
with open(Path({str(tmp_path)!r}) / "plain.bin", "wb"):
    pass
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    modes = {path.name: path.stat().st_mode & 0o777 for path in tmp_path.iterdir()}
    assert modes == {"one.bin": 0o640, "two.bin": 0o640, "plain.bin": 0o640}


def test_writing_never_changes_the_umask(tmp_path: Path, monkeypatch):
    """Setting the umask even for a moment races with any other thread creating files."""
    def refuse(mask):
        raise AssertionError("the writer called os.umask")

    monkeypatch.setattr(os, "umask", refuse)
    write_atomic(tmp_path / "a.bin", b"a")
    with atomic_writer(tmp_path / "b.bin") as stream:
        stream.write(b"b")
    with atomic_files(tmp_path) as files:
        with files.writer("c.bin") as stream:
            stream.write(b"c")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "b.bin", "c.bin"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path):
    target = write_atomic(tmp_path / "model.onnx", b"old")
    with pytest.raises(RuntimeError):
        with atomic_writer(target) as stream:
            stream.write(b"half")
            raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["model.onnx"]
