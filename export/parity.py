"""Run the exported bytes in onnxruntime and compare with torch: nothing ships unverified."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from mnistgen.export.errors import FAILED_CHECK, ExportError

RTOL = 1e-3
ATOL = 1e-4
VERIFY_BATCHES = (1, 7, 64)


@dataclass(frozen=True)
class Case:
    """One onnxruntime call and the outputs torch says it must produce."""

    label: str
    feed: dict[str, np.ndarray]
    expected: dict[str, np.ndarray]


def session(model_bytes: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # verification is small; stay off the training cores
    options.log_severity_level = 3  # the "initializer appears in graph inputs" warning is by design
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def worst_mismatch(actual: np.ndarray, expected: np.ndarray) -> float | None:
    """Largest |difference| if outside rtol/atol (numpy.allclose semantics), else None."""
    if actual.shape != expected.shape:
        return float("inf")
    if np.allclose(actual, expected, rtol=RTOL, atol=ATOL):
        return None
    return float(np.max(np.abs(actual.astype(np.float64) - expected)))


def verify(model_bytes: bytes, cases: list[Case]) -> None:
    """Raise ExportError naming the first case and output that differ beyond tolerance."""
    try:
        runner = session(model_bytes)
    except Exception as error:  # onnxruntime raises its own exception types
        raise ExportError(f"onnxruntime cannot load the exported model ({str(error)[:200]})", FAILED_CHECK) from None
    for case in cases:
        names = list(case.expected)
        outputs = runner.run(names, case.feed)
        for name, actual, expected in zip(names, outputs, case.expected.values()):
            worst = worst_mismatch(actual, expected)
            if worst is not None:
                raise ExportError(
                    f"exported model disagrees with torch on {case.label}, output {name!r}: "
                    f"max difference {worst:.3g} (allowed rtol {RTOL}, atol {ATOL}); nothing written",
                    FAILED_CHECK,
                )
