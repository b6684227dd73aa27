"""One dataset throughput process: write_dataset against Generator.generate of the same images.

    python tests/bench/dataset_child.py '{"model": ..., "per_digit": 6000, "repeats": 3}'

Prints one JSON line: {"write_images_per_s": [...], "generate_images_per_s": [...]}, one figure per
repeat. The two are timed back to back in each repeat, in one process with one Generator, so
machine drift hits both alike and their ratio is what writing costs on top of generating.
"""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from mnistgen import Generator
from mnistgen.dataset import DIGITS, digit_seed, write_dataset


def measure(spec: dict) -> dict:
    generator = Generator(spec["model"])
    per_digit, count = spec["per_digit"], DIGITS * spec["per_digit"]
    generator.generate(0, 256, seed=0)  # warm-up: first-call allocation and kernel selection are not throughput
    write, generate = [], []
    with tempfile.TemporaryDirectory(prefix="mnistgen-bench-dataset-") as scratch:
        for repeat in range(spec["repeats"]):
            out = Path(scratch) / str(repeat)
            start = time.perf_counter()
            write_dataset(out, per_digit, repeat, generator=generator)
            write.append(count / (time.perf_counter() - start))
            shutil.rmtree(out)
            start = time.perf_counter()
            for digit in range(DIGITS):  # the very images the dataset holds (its per-digit seeds)
                generator.generate(digit, per_digit, seed=digit_seed(repeat, digit))
            generate.append(count / (time.perf_counter() - start))
    return {"write_images_per_s": write, "generate_images_per_s": generate}


if __name__ == "__main__":
    print(json.dumps(measure(json.loads(sys.argv[1]))))
