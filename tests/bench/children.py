"""Run one command in a fresh process and measure it: wall time and that child's own peak RSS.

os.wait4 returns the rusage of exactly the child it reaped, so each measurement is per child
(RUSAGE_CHILDREN would only give the maximum over every child reaped so far).
"""
from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

STDERR_TAIL = 400  # characters of a failing child's stderr kept for the report


@dataclass
class ChildRun:
    wall_s: float
    peak_rss_mib: float  # ru_maxrss is in KiB on Linux
    returncode: int
    stdout: str
    stderr_tail: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def run_child(argv: Sequence[str], cwd: Optional[Path] = None, env: Optional[dict[str, str]] = None) -> ChildRun:
    # output goes to files, not pipes: a child writing more than a pipe buffer would block
    # while we sit in wait4 instead of reading
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(list(argv), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    return ChildRun(wall, usage.ru_maxrss / 1024, process.returncode, stdout, stderr[-STDERR_TAIL:])
