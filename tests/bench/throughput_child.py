"""One throughput measurement process: one engine at one thread count, every batch size.

    python tests/bench/throughput_child.py '{"engine": ..., "threads": t, "batches": [...], ...}'

Prints one JSON line: {"images_per_s": {"<batch>": [one figure per repeat]}}. A process per
(engine, threads) because neither library can be trusted to shrink a thread pool it already
started. Both engines return the same thing: uint8 (n, 28, 28) images from latents.
"""
from __future__ import annotations

import json
import sys
import time
from typing import Callable

import numpy as np

Render = Callable[[np.ndarray], np.ndarray]
DIGIT = 5


def onnx_renderer(model: str, threads: int) -> tuple[Render, int]:
    from mnistgen import Generator

    generator = Generator(model, threads=threads)
    return (lambda z: generator.render(z, DIGIT)), generator.latent_dim


def torch_renderer(checkpoint: str, threads: int) -> tuple[Render, int]:
    import torch

    from mnistgen.images import signed_to_unit, unit_to_uint8
    from mnistgen.training.checkpoint import build_generator, load_checkpoint

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    generator = build_generator(load_checkpoint(checkpoint, "gan"), checkpoint)

    def render(z: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            labels = torch.full((len(z),), DIGIT, dtype=torch.long)
            unit = torch.clamp(signed_to_unit(generator(torch.from_numpy(z), labels)), 0.0, 1.0)
        return unit_to_uint8(unit.numpy().reshape(len(z), 28, 28))

    return render, generator.config.latent_dim


def images_per_second(render: Render, z: np.ndarray, min_window_s: float) -> float:
    """Calls back to back until at least min_window_s has passed; whole calls only."""
    calls, start = 0, time.perf_counter()
    while True:
        render(z)
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_window_s:
            return calls * len(z) / elapsed


def measure(spec: dict) -> dict:
    make = onnx_renderer if spec["engine"] == "onnxruntime" else torch_renderer
    render, latent_dim = make(spec["weights"], spec["threads"])
    figures = {}
    for batch in spec["batches"]:
        z = np.random.default_rng(0).standard_normal((batch, latent_dim), dtype=np.float32)
        render(z)  # warm-up: first-call allocation and kernel selection are not throughput
        figures[str(batch)] = [images_per_second(render, z, spec["min_window_s"]) for _ in range(spec["repeats"])]
    return {"images_per_s": figures}


if __name__ == "__main__":
    print(json.dumps(measure(json.loads(sys.argv[1]))))
