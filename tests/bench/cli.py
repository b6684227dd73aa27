"""Entry point of `python -m tests.bench`: run the chosen sections, print the table, write JSON."""
from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any, Callable, Optional, Sequence

from tests.bench import cold_start, dataset, footprint, handwriting, memory, quantization, serve, throughput, training
from tests.bench.options import Options, parse
from tests.bench.report import table, write_json

RUNNERS: dict[str, Callable[[Options], dict]] = {
    "cold_start": cold_start.run,
    "throughput": throughput.run,
    "footprint": footprint.run,
    "memory": memory.run,
    "dataset": dataset.run,
    "dataset_memory": dataset.run_memory,
    "training": training.run,
    "quantization": quantization.run,
    "serve": serve.run,
    "handwriting": handwriting.run,
}
VERSIONS_OF = ("numpy", "onnxruntime", "pillow", "typer", "torch", "starlette", "uvicorn")


def main(argv: Optional[Sequence[str]] = None) -> None:
    options = parse(argv)
    document: dict[str, Any] = {"meta": _meta(options)}
    for name in options.sections:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        document[name] = RUNNERS[name](options)
    print(table(document))
    if options.json_out is not None:
        print(f"wrote {write_json(document, options.json_out)}")


def _meta(options: Options) -> dict[str, Any]:
    # load average is recorded because every figure here is only as good as an idle machine
    return {
        "quick": options.quick,
        "repeats": options.sizes.repeats,
        "sizes": options.sizes.__dict__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_1m": os.getloadavg()[0],
        "versions": {name: _version(name) for name in VERSIONS_OF},
        "generator": str(options.generator),
        "classifier": str(options.classifier),
        "checkpoint": str(options.checkpoint),
        "encoder": str(options.encoder),
    }


def _version(name: str) -> Optional[str]:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
