"""Smoke test of the benchmark suite: `python -m tests.bench --quick` runs and writes its JSON.

Asserts the shape of the report and that nothing failed, never a time or a size: figures
belong to the benchmark's output, not to pass/fail. Models: the shipped ones, or
MNISTGEN_TEST_GENERATOR / MNISTGEN_TEST_CLASSIFIER / MNISTGEN_TEST_CHECKPOINT.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import model_path

REPO = Path(__file__).resolve().parents[1]
OPTIONS = {"--generator": "generator", "--classifier": "classifier", "--checkpoint": "checkpoint",
           "--encoder": "encoder"}
SECTIONS = {"meta", "cold_start", "throughput", "footprint", "memory", "dataset", "dataset_memory", "training",
            "quantization", "handwriting"}


def _model_args() -> list[str]:
    return [arg for option, which in OPTIONS.items() for arg in (option, str(model_path(which)))]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    command = [sys.executable, "-m", "tests.bench", "--quick", "--json", str(out), *_model_args()]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "cold start" in result.stdout and "throughput" in result.stdout
    return json.loads(out.read_text())


def test_report_has_every_section(report: dict):
    assert set(report) == SECTIONS
    assert report["meta"]["quick"] is True


def test_cold_start_measured_both_sides(report: dict):
    cold = report["cold_start"]
    for side in ("runtime", "torch"):
        assert cold[side]["error"] is None, cold[side]["error"]
        assert len(cold[side]["wall_s"]) == len(cold[side]["peak_rss_mib"]) == report["meta"]["repeats"]
    assert cold["wall_ratio_torch_over_runtime"] is not None


def test_throughput_has_a_row_per_batch_and_thread_count(report: dict):
    sizes = report["meta"]["sizes"]
    rows = report["throughput"]["rows"]
    assert {(r["batch"], r["threads"]) for r in rows} == {(b, t) for b in sizes["batches"] for t in sizes["threads"]}
    for row in rows:
        assert row["onnxruntime_error"] is None and row["torch_error"] is None, row
        assert row["ratio_onnxruntime_over_torch"] is not None


def test_footprint_and_memory_measured(report: dict):
    footprint = report["footprint"]
    assert footprint["runtime"]["top"] and footprint["torch"]["top"]
    assert footprint["runtime"]["roots"] == ["onnxruntime", "numpy", "pillow", "typer"]
    assert [row["count"] for row in report["memory"]["rows"]] == report["meta"]["sizes"]["memory_counts"]
    assert all(row["error"] is None for row in report["memory"]["rows"])


def test_dataset_timed_beside_generate_and_its_cli_measured(report: dict):
    data, sizes = report["dataset"], report["meta"]["sizes"]
    assert data["error"] is None, data["error"]
    assert len(data["write_runs"]) == len(data["generate_runs"]) == report["meta"]["repeats"]
    assert data["ratio_write_over_generate"] is not None
    large = report["dataset_memory"]
    assert (data["cli"]["count"], large["count"]) == (10 * sizes["dataset_per_digit"], 10 * sizes["dataset_rss_per_digit"])
    assert all(row["error"] is None and row["peak_rss_mib"] is not None for row in (data["cli"], large))


def test_training_not_measured_without_a_run(report: dict):
    assert report["training"]["measured"] is False


def test_quantization_measures_fp32_and_both_variants(report: dict):
    quant = report["quantization"]
    if importlib.util.find_spec("onnx") is None:
        pytest.skip("quantization needs the onnx package (train extra)")
    assert quant.get("error") is None, quant
    assert set(quant["variants"]) == {"fp32", "dynamic_quint8", "static_qdq_int8"}
    for name, variant in quant["variants"].items():
        assert {"size_mib", "images_per_s", "max_abs_pixel_diff", "label_accuracy_pct", "ship"} <= set(variant)
        if name == "fp32" or variant["error"] is None:  # a variant may fail to quantize; that is reported, not hidden
            assert variant["size_mib"] is not None and variant["images_per_s"] is not None, (name, variant)


def test_serve_benchmark_runs_and_no_good_request_fails(tmp_path: Path):
    """The serve section (run only when named) at --quick sizes: wrk drives a real server."""
    out = tmp_path / "serve.json"
    command = [sys.executable, "-m", "tests.bench", "--quick", "--only", "serve", "--json", str(out),
               "--generator", str(model_path("generator"))]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    serve = json.loads(out.read_text())["serve"]
    assert serve["error"] is None, serve["error"]
    assert [(r["payload"], r["concurrency"]) for r in serve["throughput"]] == [
        (payload, c) for payload in ("1 digit, png", "64 digits, npy") for c in (1, 8, 64)]
    assert all(r["server"]["failed"] == 0 and r["server_over_ceiling"] is not None for r in serve["throughput"])
    for faults in serve["faults"]:
        assert faults["good_requests_failed"] == 0 and faults["malformed_not_4xx"] == 0
        assert faults["slow_clients_served_correctly"] == faults["slow_clients"] and faults["good_request_after_ok"]
    assert serve["memory"]["failed"] == 0 and serve["shutdown_exit_code"] == 0 and serve["server_tracebacks"] == 0


def test_handwriting_times_like_on_first_sight_and_seen_before(report: dict):
    commands = report["handwriting"]["whole_command"]
    assert {name.rsplit(", ", 1)[-1] for name in commands if name != "plain"} == {"first sight", "seen before"}
    for name, command in commands.items():
        assert command["error"] is None, (name, command["error"])
        assert len(command["wall_s"]) == report["meta"]["repeats"], name
    server = report["handwriting"]["server"]
    assert set(server) == {"read each time (--hands 0)", "remembered (--hands 256)"}
    for figures in server.values():
        assert set(figures["added_paired_ms"]) == {"POST phone photo 900x1200 JPEG", "POST pad 280x280 PNG"}
        assert all(ms is not None for ms in figures["median_ms"].values())


def test_a_paired_difference_inside_its_own_noise_is_reported_as_none():
    from tests.bench.stats import NO_DIFFERENCE, difference, median, median_interval

    assert median_interval(range(61)) == (22, 38)  # the 23rd and 39th of 61: the sign test's 95% interval
    assert median_interval(range(6)) == (0, 5) and median_interval(range(5)) is None
    wide = [(-1) ** i * i / 10 for i in range(61)]  # -5.9 to 6.0, a median of 0.0
    assert difference(median(wide), median_interval(wide)) == f"{NO_DIFFERENCE} (95% CI -1.5 to 1.6)"
    shifted = [20 + i / 10 for i in range(61)]
    assert difference(median(shifted), median_interval(shifted)) == "23.0 (95% CI 22.2 to 23.8)"
    assert difference(2.0, None) == "2.0 (too few pairs to tell)" and difference(None, None) == "-"
