"""Cold start: `mnistgen 5 --count N --out TMP` vs the torch way, whole process, side by side.

Each repetition runs the two commands back to back in fresh processes, so drifting machine
load hits both sides alike; the report gives medians and torch/runtime ratios.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from tests.bench.children import ChildRun, run_child
from tests.bench.options import REPO, Options
from tests.bench.stats import median, ratio
from tests.bench.torch_side import torch_unavailable

DIGIT = 5
TORCH_SCRIPT = Path(__file__).with_name("torch_generate.py")


@dataclass
class Side:
    command: list[str]
    wall_s: list[float] = field(default_factory=list)
    peak_rss_mib: list[float] = field(default_factory=list)
    error: Optional[str] = None

    @property
    def median_wall_s(self) -> Optional[float]:
        return median(self.wall_s)

    @property
    def median_peak_rss_mib(self) -> Optional[float]:
        return median(self.peak_rss_mib)

    def record(self, run: ChildRun) -> None:
        if run.ok:
            self.wall_s.append(run.wall_s)
            self.peak_rss_mib.append(run.peak_rss_mib)
        else:
            self.error = f"exit {run.returncode}: {run.stderr_tail.strip()}"

    def summary(self) -> dict:
        return {"command": " ".join(self.command), "wall_s": self.wall_s, "peak_rss_mib": self.peak_rss_mib,
                "median_wall_s": self.median_wall_s, "median_peak_rss_mib": self.median_peak_rss_mib,
                "error": self.error}


def mnistgen_command(script: str = "mnistgen", module: str = "mnistgen") -> list[str]:
    """The installed console script (what users run), else `python -m <module>`."""
    path = Path(sys.executable).with_name(script)
    return [str(path)] if path.is_file() else [sys.executable, "-m", module]


def run(options: Options) -> dict:
    count = options.sizes.cold_count
    runtime = Side(mnistgen_command() + [str(DIGIT), "--count", str(count), "--quiet", "--model", str(options.generator)])
    reason = torch_unavailable(options.checkpoint)
    torch = None if reason else Side([sys.executable, str(TORCH_SCRIPT), str(options.checkpoint), str(DIGIT), str(count)])
    with tempfile.TemporaryDirectory(prefix="mnistgen-bench-cold-") as scratch:
        for repeat in range(options.sizes.repeats):
            for name, side in (("runtime", runtime), ("torch", torch)):
                if side is not None and side.error is None:
                    _once(side, Path(scratch) / f"{name}-{repeat}", name)
    return {
        "count": count,
        "runtime": runtime.summary(),
        "torch": torch.summary() if torch else {"error": reason},
        "wall_ratio_torch_over_runtime": ratio(torch and torch.median_wall_s, runtime.median_wall_s),
        "rss_ratio_torch_over_runtime": ratio(torch and torch.median_peak_rss_mib, runtime.median_peak_rss_mib),
    }


def _once(side: Side, out: Path, name: str) -> None:
    # the runtime takes --out as an option, the torch script as its last argument
    argv = side.command + (["--out", str(out)] if name == "runtime" else [str(out)])
    side.record(run_child(argv, cwd=REPO))
    shutil.rmtree(out, ignore_errors=True)
