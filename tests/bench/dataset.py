"""Datasets: images/s of write_dataset beside Generator.generate of the same images, with the
wall time and peak RSS of one whole `mnistgen-dataset` run of that size (section "dataset"); and
the peak RSS of one very large run, 1,000,000 images in full (section "dataset_memory": minutes,
so it can be run on its own). Writing is chunked, so peak RSS should stay flat from one to the other.
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from tests.bench.children import run_child
from tests.bench.cold_start import mnistgen_command
from tests.bench.options import REPO, Options
from tests.bench.stats import median, ratio

CHILD = Path(__file__).with_name("dataset_child.py")


def run(options: Options) -> dict:
    sizes = options.sizes
    spec = {"model": str(options.generator), "per_digit": sizes.dataset_per_digit, "repeats": sizes.repeats}
    child = run_child([sys.executable, str(CHILD), json.dumps(spec)], cwd=REPO)
    if child.ok:
        rates = json.loads(child.stdout.strip().splitlines()[-1])
        error = None
    else:
        rates, error = {"write_images_per_s": [], "generate_images_per_s": []}, f"exit {child.returncode}: {child.stderr_tail.strip()}"
    write, generate = median(rates["write_images_per_s"]), median(rates["generate_images_per_s"])
    return {
        "count": 10 * sizes.dataset_per_digit,
        "write_images_per_s": write,
        "generate_images_per_s": generate,
        "ratio_write_over_generate": ratio(write, generate),
        "write_runs": rates["write_images_per_s"],
        "generate_runs": rates["generate_images_per_s"],
        "error": error,
        "cli": _cli(options, sizes.dataset_per_digit),
    }


def run_memory(options: Options) -> dict:
    return _cli(options, options.sizes.dataset_rss_per_digit)


def _cli(options: Options, per_digit: int) -> dict:
    """One whole `mnistgen-dataset` process: its wall time and peak RSS."""
    with tempfile.TemporaryDirectory(prefix="mnistgen-bench-dataset-") as scratch:
        argv = mnistgen_command("mnistgen-dataset", "mnistgen.dataset_cli") + [
            str(Path(scratch) / "out"), "--per-digit", str(per_digit), "--seed", "0", "--quiet",
            "--model", str(options.generator)]
        child = run_child(argv, cwd=REPO)
    count = 10 * per_digit
    if not child.ok:
        return {"count": count, "wall_s": None, "images_per_s": None, "peak_rss_mib": None,
                "error": f"exit {child.returncode}: {child.stderr_tail.strip()}"}
    return {"count": count, "wall_s": child.wall_s, "images_per_s": count / child.wall_s,
            "peak_rss_mib": child.peak_rss_mib, "error": None}
