"""The bar, the printed table and the JSON file.

The bar is relative to the real row wherever the figure has no absolute meaning: FID and
precision/recall depend on the feature space and sample size, so "how close to real images
measured the same way" is the only comparison that survives a retrained classifier.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from mnistgen.files import write_atomic
from mnistgen.evaluation.scoring import Figures

# The fidelity goal: samples the evaluation cannot tell from real digits. (The first bar, met by
# all but CAS, allowed 5x real FID and 0.75x real recall.)
LABEL_ACCURACY_MIN = 0.997
FID_MAX_RATIO = 1.25
FID_PER_DIGIT_MAX_RATIO = 1.5
PRECISION_MIN_RATIO = 1.0
RECALL_MIN_RATIO = 0.97
CAS_MAX_DROP = 0.0015  # 0.15 percentage points


@dataclass(frozen=True)
class Criterion:
    name: str  # key in the JSON
    rule: str  # for people
    comparison: str  # ">=" or "<="
    value: Optional[float] = None  # None: the model's figure was not measured (CAS without --cas)
    threshold: Optional[float] = None  # None: what it is relative to was not measured (no real row, its CAS)

    @property
    def measured(self) -> bool:
        return self.value is not None and self.threshold is not None

    @property
    def passed(self) -> Optional[bool]:
        """None when not measured: an unmeasured criterion is neither met nor missed."""
        if not self.measured:
            return None
        return self.value >= self.threshold if self.comparison == ">=" else self.value <= self.threshold


def _times(factor: float, value: Optional[float]) -> Optional[float]:
    return None if value is None else factor * value


def check_bar(model: Figures, real: Optional[Figures]) -> list[Criterion]:
    """Every criterion, always; those relative to the real row are not measured without it, and
    CAS is not measured unless both rows have it."""
    fid, per_digit, precision, recall, cas = (
        (None,) * 5 if real is None else (real.fid, real.fid_per_digit_mean, real.precision, real.recall, real.cas)
    )
    return [
        Criterion("label_accuracy", f"label accuracy >= {LABEL_ACCURACY_MIN:.1%}", ">=", model.label_accuracy,
                  LABEL_ACCURACY_MIN),
        Criterion("fid", f"FID <= {FID_MAX_RATIO:g}x real", "<=", model.fid, _times(FID_MAX_RATIO, fid)),
        Criterion("fid_per_digit_mean", f"mean per-digit FID <= {FID_PER_DIGIT_MAX_RATIO:g}x real", "<=",
                  model.fid_per_digit_mean, _times(FID_PER_DIGIT_MAX_RATIO, per_digit)),
        Criterion("precision", f"precision >= {PRECISION_MIN_RATIO:g}x real", ">=", model.precision,
                  _times(PRECISION_MIN_RATIO, precision)),
        Criterion("recall", f"recall >= {RECALL_MIN_RATIO:g}x real", ">=", model.recall,
                  _times(RECALL_MIN_RATIO, recall)),
        Criterion("cas", f"CAS >= real - {100 * CAS_MAX_DROP:g} points", ">=", model.cas,
                  None if cas is None else cas - CAS_MAX_DROP),
    ]


def passed(bar: list[Criterion]) -> bool:
    """A pass needs every criterion measured and met: what was not measured cannot pass."""
    return all(c.passed is True for c in bar)


def verdict(bar: list[Criterion]) -> str:
    """PASS, FAIL, or why the bar was not passed though nothing measured failed."""
    missed = [c.name for c in bar if c.passed is False]
    unmeasured = [c.name for c in bar if c.passed is None]
    if not missed and not unmeasured:
        return "PASS"
    words = ["FAIL" if missed else "NOT PASSED"]
    if unmeasured:
        words.append(f"({', '.join(unmeasured)} not measured)")
    return " ".join(words)


def figures_dict(figures: Figures) -> dict[str, Any]:
    return {
        "n": figures.n,
        "label_accuracy": figures.label_accuracy,
        "per_digit": {
            "precision": figures.per_digit.precision.tolist(),
            "recall": figures.per_digit.recall.tolist(),
            "f1": figures.per_digit.f1.tolist(),
        },
        "confusion": figures.confusion.tolist(),
        "fid": figures.fid,
        "fid_per_digit": figures.fid_per_digit.tolist(),
        "fid_per_digit_mean": figures.fid_per_digit_mean,
        "precision": figures.precision,
        "recall": figures.recall,
        "verify_rejected": figures.verify_rejected,
        "cas": figures.cas,
    }


def report_dict(info: dict[str, Any], model: Figures, real: Optional[Figures], bar: list[Criterion]) -> dict[str, Any]:
    """The whole JSON document: run info (n, seed, sources), both rows, the bar."""
    return {
        **info,
        "model": figures_dict(model),
        "reference": figures_dict(real) if real is not None else None,
        "bar": {c.name: _criterion_dict(c) for c in bar},
        "passed": passed(bar),
        "verdict": verdict(bar),
    }


def _criterion_dict(c: Criterion) -> dict[str, Any]:
    return {"rule": c.rule, "value": c.value, "comparison": c.comparison, "threshold": c.threshold,
            "measured": c.measured, "passed": c.passed}


def write_json(document: dict[str, Any], path: str | os.PathLike) -> Path:
    """Atomically: a reader never sees half a report."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, (json.dumps(document, indent=2) + "\n").encode())


def _percent(value: Optional[float]) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _row(name: str, f: Figures) -> str:
    return (
        f"{name:<10}{f.n:>7}{_percent(f.label_accuracy):>11}{f.fid:>9.3f}{f.fid_per_digit_mean:>11.3f}"
        f"{f.precision:>11.3f}{f.recall:>8.3f}{_percent(f.cas):>9}"
    )


def _format_value(name: str, value: float) -> str:
    return _percent(value) if name in ("label_accuracy", "cas") else f"{value:.3f}"


def table(model: Figures, real: Optional[Figures], bar: list[Criterion]) -> str:
    """Model row vs real row, the model's per-digit figures, then the bar."""
    lines = [f"{'':<10}{'n':>7}{'label acc':>11}{'FID':>9}{'FID/digit':>11}{'precision':>11}{'recall':>8}{'CAS':>9}"]
    lines.append(_row("model", model))
    if real is not None:
        lines.append(_row("real", real))
    lines += ["", "digit     " + "".join(f"{d:>8}" for d in range(10))]
    lines.append("recall    " + "".join(f"{v:>8.3f}" for v in model.per_digit.recall))
    lines.append("F1        " + "".join(f"{v:>8.3f}" for v in model.per_digit.f1))
    lines.append("FID       " + "".join(f"{v:>8.2f}" for v in model.fid_per_digit))
    lines += ["", f"{'bar':<32}{'value':>10}{'needs':>12}"]
    for c in bar:
        if not c.measured:
            lines.append(f"{c.rule:<32}{'-':>10}{'':>12}  not measured")
            continue
        needs = f"{c.comparison} {_format_value(c.name, c.threshold)}"
        lines.append(f"{c.rule:<32}{_format_value(c.name, c.value):>10}{needs:>12}  {'pass' if c.passed else 'FAIL'}")
    lines.append(f"overall: {verdict(bar)}")
    return "\n".join(lines)
