"""Quantization: is an int8 generator worth shipping? Size, speed, fidelity and labels vs fp32.

Builds two variants of the generator ONNX in a temp dir: dynamic (weights QUInt8) and static
QDQ int8 per-channel, calibrated on standard-normal latents. A variant's `ship` verdict is true
only if it is faster at batch 64 on 1 thread, its label accuracy (judged by the classifier) is
no more than 0.2 points below fp32, AND its pixels stay within 1 of fp32: the export's contract
is a model identical to the trained torch generator, and it refuses anything further off.
Needs the `onnx` package (train extra).
"""
from __future__ import annotations

import importlib.util
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

from tests.bench.options import Options
from tests.bench.stats import median, mib

BATCH = 64
ACCURACY_SLACK = 0.2  # percentage points of label accuracy a variant may lose and still ship
PIXEL_SLACK = 1  # uint8 levels: the same tolerance the export's torch-vs-ONNX parity allows
VARIANTS = ("fp32", "dynamic_quint8", "static_qdq_int8")


class Calibration:
    """CalibrationDataReader (duck-typed): `count` standard-normal latents with digits 0-9, batch by batch."""

    def __init__(self, latent_dim: int, count: int):
        z, digits = _inputs(np.random.default_rng(2), count, latent_dim)
        self._feeds = iter([_feeds(z[i : i + BATCH], digits[i : i + BATCH]) for i in range(0, count, BATCH)])

    def get_next(self) -> Optional[dict]:
        return next(self._feeds, None)


def run(options: Options) -> dict:
    if importlib.util.find_spec("onnx") is None:  # onnxruntime.quantization needs it
        return {"error": "onnx is not installed (pip install mnistgen[train])"}
    try:
        from onnxruntime import quantization as q
    except ImportError as exc:
        return {"error": f"onnxruntime.quantization: {exc}"}
    for what, path in (("generator", options.generator), ("classifier", options.classifier)):
        if not path.is_file():
            return {"error": f"no {what} at {path} (pass --{what})"}
    from mnistgen import Classifier

    try:
        sizes, classifier = options.sizes, Classifier(options.classifier)
        fp32 = _session(options.generator)
        latent_dim = int(fp32.get_modelmeta().custom_metadata_map["latent_dim"])
    except Exception as exc:  # without the fp32 baseline and the judge there is nothing to compare
        return {"error": _reason(exc)}
    builders = {
        "dynamic_quint8": lambda src, dst: q.quantize_dynamic(src, dst, weight_type=q.QuantType.QUInt8),
        "static_qdq_int8": lambda src, dst: q.quantize_static(
            src, dst, Calibration(latent_dim, sizes.quant_calibration), quant_format=q.QuantFormat.QDQ,
            per_channel=True, activation_type=q.QuantType.QInt8, weight_type=q.QuantType.QInt8),
    }
    rng = np.random.default_rng(0)
    timed = _feeds(*_inputs(rng, BATCH, latent_dim))
    diff_z, diff_digits = _inputs(rng, sizes.quant_diff_count, latent_dim)
    acc_digits = np.repeat(np.arange(10, dtype=np.int64), sizes.quant_per_digit)
    acc_z = rng.standard_normal((len(acc_digits), latent_dim), dtype=np.float32)
    rows: dict[str, dict] = {}
    sessions: dict[str, Any] = {}
    reference: Optional[np.ndarray] = None
    with tempfile.TemporaryDirectory(prefix="mnistgen-bench-quant-") as scratch:
        for name in VARIANTS:
            path = options.generator if name == "fp32" else Path(scratch) / f"{name}.onnx"
            rows[name] = {"size_mib": None, "images_per_s": None, "runs": [], "max_abs_pixel_diff": None,
                          "label_accuracy_pct": None, "ship": None, "error": None}
            try:
                if name != "fp32":
                    builders[name](str(options.generator), str(path))
                session = fp32 if name == "fp32" else _session(path)
                images = _generate(session, diff_z, diff_digits)
                reference = images if reference is None else reference
                labels, _ = classifier.predict(_generate(session, acc_z, acc_digits))
                session.run(["image"], timed)  # warm-up: first-call allocation is not throughput
            except Exception as exc:  # unsupported ops, failed calibration, unloadable model: this variant only
                if name == "fp32":
                    return {"error": f"fp32: {_reason(exc)}"}
                rows[name]["error"] = _reason(exc)
                continue
            diff = np.abs(images.astype(np.int16) - reference.astype(np.int16)).max()
            rows[name].update(size_mib=mib(path.stat().st_size), max_abs_pixel_diff=int(diff),
                              label_accuracy_pct=100.0 * float(np.mean(labels == acc_digits)))
            sessions[name] = session
        for _ in range(sizes.repeats):  # interleaved, so drifting machine load hits every variant alike
            for name, session in sessions.items():
                rows[name]["runs"].append(_rate(session, timed, sizes.quant_timed_batches))
    for name in sessions:
        rows[name]["images_per_s"] = median(rows[name]["runs"])
    _verdicts(rows)
    return {"batch": BATCH, "threads": 1, "timed_batches": sizes.quant_timed_batches,
            "diff_samples": sizes.quant_diff_count, "accuracy_samples_per_digit": sizes.quant_per_digit,
            "calibration_samples": sizes.quant_calibration, "variants": rows,
            "ship_variants": [name for name, row in rows.items() if row["ship"]]}


def _verdicts(rows: dict[str, dict]) -> None:
    base = rows["fp32"]
    for name in VARIANTS[1:]:
        row = rows[name]
        measured = None not in (row["images_per_s"], row["label_accuracy_pct"], row["max_abs_pixel_diff"],
                                base["images_per_s"], base["label_accuracy_pct"])
        row["ship"] = measured and (row["images_per_s"] > base["images_per_s"]
                                    and row["label_accuracy_pct"] >= base["label_accuracy_pct"] - ACCURACY_SLACK
                                    and row["max_abs_pixel_diff"] <= PIXEL_SLACK)


def _session(path: Path) -> Any:
    import onnxruntime

    onnxruntime.set_default_logger_severity(3)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def _inputs(rng: np.random.Generator, count: int, latent_dim: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.standard_normal((count, latent_dim), dtype=np.float32), np.arange(count, dtype=np.int64) % 10


def _feeds(z: np.ndarray, digits: np.ndarray) -> dict[str, np.ndarray]:
    return {"z": z, "digit": digits}


def _generate(session: Any, z: np.ndarray, digits: np.ndarray) -> np.ndarray:
    """uint8 (n, 28, 28), in batches of 64 (dynamic quantization scales activations per batch)."""
    from mnistgen.images import unit_to_uint8

    parts = [session.run(["image"], _feeds(z[i : i + BATCH], digits[i : i + BATCH]))[0] for i in range(0, len(z), BATCH)]
    return unit_to_uint8(np.concatenate(parts).reshape(len(z), 28, 28))


def _rate(session: Any, feeds: dict[str, np.ndarray], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        session.run(["image"], feeds)
    return calls * BATCH / (time.perf_counter() - start)


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:200] if text else ''}"
