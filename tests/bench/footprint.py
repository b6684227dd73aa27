"""Footprint on disk: a runtime-only environment vs one with torch, the wheel, the models."""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

from tests.bench.distributions import Closure, closure
from tests.bench.options import REPO, Options
from tests.bench.stats import mib, ratio

RUNTIME_ROOTS = ("onnxruntime", "numpy", "pillow", "typer")  # mnistgen's own requirements
TORCH_ROOTS = ("torch", "numpy", "pillow")  # what tests/bench/torch_generate.py imports
TOP = 5
NOT_SOURCE = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__", "tests", "runs", ".venv")


def run(options: Options) -> dict:
    runtime, torch = closure(RUNTIME_ROOTS), closure(TORCH_ROOTS)
    return {
        "note": "installed files of each requirement closure in this interpreter's environment; pip itself excluded",
        "runtime": _describe(RUNTIME_ROOTS, runtime),
        "torch": _describe(TORCH_ROOTS, torch),
        "ratio_torch_over_runtime": ratio(torch.total, runtime.total) if "torch" in torch.sizes else None,
        "wheel": _wheel() if options.sizes.build_wheel else {"mib": None, "error": "skipped with --quick"},
        "models_mib": {path.name: _file_mib(path) for path in (options.generator, options.classifier, options.checkpoint,
                                                                   options.encoder)},
    }


def _describe(roots: tuple[str, ...], found: Closure) -> dict:
    return {
        "roots": list(roots), "total_mib": mib(found.total), "distributions": len(found.sizes),
        "top": [{"name": name, "mib": mib(size)} for name, size in found.largest(TOP)],
        "missing": found.missing,
    }


def _file_mib(path: Path) -> Optional[float]:
    return mib(path.stat().st_size) if path.is_file() else None


def _wheel() -> dict:
    """Build from a copy of the source: an in-tree build would leave build/ and egg-info behind."""
    with tempfile.TemporaryDirectory(prefix="mnistgen-bench-wheel-") as scratch:
        source, out = Path(scratch) / "src", Path(scratch) / "wheel"
        shutil.copytree(REPO, source, ignore=NOT_SOURCE)
        build = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
            capture_output=True, text=True,
        )
        wheels = list(out.glob("*.whl"))
        if build.returncode != 0 or not wheels:
            return {"mib": None, "error": f"pip wheel failed: {build.stderr.strip()[-400:]}"}
        return {"mib": mib(wheels[0].stat().st_size), "error": None}
