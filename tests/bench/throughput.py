"""Throughput: images/s by batch size and thread count, onnxruntime vs torch eager, same weights."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Optional

from tests.bench.children import run_child
from tests.bench.options import REPO, Options
from tests.bench.stats import median, ratio
from tests.bench.torch_side import torch_unavailable

CHILD = Path(__file__).with_name("throughput_child.py")
ENGINES = ("onnxruntime", "torch")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def run(options: Options) -> dict:
    reason = torch_unavailable(options.checkpoint)
    rows = []
    for threads in options.sizes.threads:
        onnx = _engine(options, "onnxruntime", threads)
        torch = {"error": reason} if reason else _engine(options, "torch", threads)
        rows += [_row(batch, threads, onnx, torch) for batch in options.sizes.batches]
    return {"digit": 5, "rows": rows}


def _engine(options: Options, engine: str, threads: int) -> dict:
    weights = options.generator if engine == "onnxruntime" else options.checkpoint
    spec = {"engine": engine, "weights": str(weights), "threads": threads, "batches": list(options.sizes.batches),
            "repeats": options.sizes.repeats, "min_window_s": options.sizes.min_window_s}
    # numpy's BLAS and torch's OpenMP pool size themselves from these at import time
    env = {**os.environ, **{name: str(threads) for name in THREAD_VARIABLES}}
    child = run_child([sys.executable, str(CHILD), json.dumps(spec)], cwd=REPO, env=env)
    if not child.ok:
        return {"error": f"exit {child.returncode}: {child.stderr_tail.strip()}"}
    return json.loads(child.stdout.strip().splitlines()[-1])


def _row(batch: int, threads: int, onnx: dict, torch: dict) -> dict:
    onnx_rate, torch_rate = _median_rate(onnx, batch), _median_rate(torch, batch)
    return {
        "batch": batch, "threads": threads,
        "onnxruntime_images_per_s": onnx_rate, "torch_images_per_s": torch_rate,
        "ratio_onnxruntime_over_torch": ratio(onnx_rate, torch_rate),
        "onnxruntime_runs": onnx.get("images_per_s", {}).get(str(batch)), "onnxruntime_error": onnx.get("error"),
        "torch_runs": torch.get("images_per_s", {}).get(str(batch)), "torch_error": torch.get("error"),
    }


def _median_rate(result: dict, batch: int) -> Optional[float]:
    return median(result.get("images_per_s", {}).get(str(batch), []))
