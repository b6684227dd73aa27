"""Benchmarks of web/ for docs/web.md: python -m tests.web_bench [--repetitions 5] [--batches 30]

Serves the repo on 127.0.0.1 and runs web/test/bench.mjs (the page's cold start and the bytes it
fetches, in headless Chromium; images/s at batch 64 on one thread in Chromium and in Node), and
measures Python's onnxruntime on the same latents beside them. Prints a Markdown table of medians.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import gzip
import http.server
import json
import os
import statistics
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from mnistgen import Generator

REPO = Path(__file__).resolve().parents[1]
BATCH = 64


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # callers read the page, not the access log
        pass


@contextlib.contextmanager
def serve_repo(root: Path = REPO) -> Iterator[str]:
    """The repo (or a tree laid out like it) over http on 127.0.0.1, a free port; yields the page's URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/web/index.html"
    finally:
        server.shutdown()
        server.server_close()


def python_throughput(model: Path, trials: int, batches: int) -> list[float]:
    """images/s of Generator.render at batch 64 on one thread: the same path to uint8 as the JS render."""
    generator = Generator(model, threads=1)
    z = np.sin(np.arange(BATCH * generator.latent_dim)).astype(np.float32).reshape(BATCH, -1)  # as bench.mjs
    for _ in range(3):
        generator.render(z, 5)
    rates = []
    for _ in range(trials):
        start = time.perf_counter()
        for _ in range(batches):
            generator.render(z, 5)
        rates.append(batches * BATCH / (time.perf_counter() - start))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.web_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=5, help="cold starts, and throughput trials (medians)")
    parser.add_argument("--batches", type=int, default=30, help="batches of 64 per throughput trial")
    args = parser.parse_args()
    model = REPO / "models" / "generator.onnx"
    with serve_repo() as page:
        result = subprocess.run(
            ["node", str(REPO / "web" / "test" / "bench.mjs"), page, str(model), str(args.repetitions), str(args.batches)],
            capture_output=True, text=True, cwd=REPO / "web", check=False,
        )
    if result.returncode != 0:
        raise SystemExit(f"web/test/bench.mjs failed:\n{result.stderr}")
    web = json.loads(result.stdout)
    python = python_throughput(model, args.repetitions, args.batches)
    print(f"load average {os.getloadavg()[0]:.2f}; {args.repetitions} repetitions, medians\n")
    print("| | median (range) |\n|---|---:|")
    cold = [milliseconds / 1000 for milliseconds in web["coldMilliseconds"]]
    print(f"| page opened to first digit drawn (cold, fresh profile) | {statistics.median(cold):.2f} s ({min(cold):.2f}-{max(cold):.2f}) |")
    for name, rates in [("Chromium, onnxruntime-web wasm", web["browser"]), ("Node, onnxruntime-node", web["nodeNative"]),
                        ("Node, onnxruntime-web wasm", web["nodeWasm"]), ("Python, onnxruntime", python)]:
        print(f"| images/s, batch 64, 1 thread: {name} | {statistics.median(rates):,.0f} ({min(rates):,.0f}-{max(rates):,.0f}) |")
    print("\n| fetched by the page (cold) | bytes | gzip -9 |\n|---|---:|---:|")
    for path, size in sorted(web["fetchedBytes"].items(), key=lambda item: -item[1]):
        local = REPO / path.lstrip("/")
        packed = len(gzip.compress(local.read_bytes(), 9)) if local.is_file() else 0
        print(f"| `{path}` | {size:,} | {packed:,} |")
    total = sum(web["fetchedBytes"].values())
    print(f"| total | {total:,} | |")


if __name__ == "__main__":
    main()
