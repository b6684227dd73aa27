"""Memory under scale: peak RSS of `mnistgen 5 --count N --format npy` at a small and a large N.

The output array itself is N x 28 x 28 bytes and has to exist; "overhead" is peak RSS minus
that array, which stays flat if the batched generation really bounds the working memory.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from tests.bench.children import run_child
from tests.bench.cold_start import mnistgen_command
from tests.bench.options import REPO, Options
from tests.bench.stats import median, mib

PIXELS = 28 * 28


def run(options: Options) -> dict:
    rows = [_measure(options, count) for count in options.sizes.memory_counts]
    small, large = rows
    growth = None
    if small["overhead_mib"] is not None and large["overhead_mib"] is not None:
        growth = large["overhead_mib"] - small["overhead_mib"]
    return {"rows": rows, "overhead_growth_mib": growth}


def _measure(options: Options, count: int) -> dict:
    peaks, error = [], None
    with tempfile.TemporaryDirectory(prefix="mnistgen-bench-mem-") as scratch:
        for repeat in range(options.sizes.repeats):
            out = Path(scratch) / str(repeat)
            argv = mnistgen_command() + ["5", "--count", str(count), "--format", "npy", "--quiet",
                                        "--model", str(options.generator), "--out", str(out)]
            child = run_child(argv, cwd=REPO)
            if not child.ok:
                error = f"exit {child.returncode}: {child.stderr_tail.strip()}"
                break
            peaks.append(child.peak_rss_mib)
    peak = median(peaks)
    array = mib(count * PIXELS)
    return {"count": count, "peak_rss_mib": peak, "array_mib": array,
            "overhead_mib": None if peak is None else peak - array, "runs": peaks, "error": error}
