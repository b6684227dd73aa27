"""Training speed, read from a finished run (the benchmark never trains by itself).

metrics.jsonl has one row per epoch with "seconds" (that epoch) and "total_seconds" (since
the start, across resumes). Time-to-quality needs to know the model passed the bar, which
only an evaluation says: give the `mnistgen-eval --json` report of that run's model.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from tests.bench.options import Options
from tests.bench.stats import median

NOT_MEASURED = {"measured": False, "note": "not measured: pass --run-dir (and --eval-report for time-to-quality)"}


def run(options: Options) -> dict:
    if options.run_dir is None:
        return dict(NOT_MEASURED)
    rows = _rows(options.run_dir / "metrics.jsonl")
    if not rows:
        return {"measured": False, "note": f"no epochs in {options.run_dir / 'metrics.jsonl'}"}
    total = rows[-1].get("total_seconds")
    return {
        "measured": True,
        "run_dir": str(options.run_dir),
        "epochs": len(rows),
        "median_seconds_per_epoch": median([row["seconds"] for row in rows if "seconds" in row]),
        "total_seconds": total,
        "median_images_per_s": median([row["images_per_second"] for row in rows if "images_per_second" in row]),
        **_time_to_quality(options.eval_report, total),
    }


def _rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _time_to_quality(report: Optional[Path], total: Optional[float]) -> dict:
    if report is None:
        return {"time_to_quality_s": None, "quality_note": "not measured: pass --eval-report"}
    passed = json.loads(report.read_text()).get("passed")
    if not passed:
        return {"time_to_quality_s": None, "quality_note": f"{report}: the model did not pass the bar"}
    # an upper bound: the run's last checkpoint passed, an earlier epoch might have too
    return {"time_to_quality_s": total, "quality_note": f"total training time of the run that passed ({report})"}
