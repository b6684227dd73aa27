"""mnistgen-eval end to end: real images in, table + JSON out; bad input -> one line, exit 2."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mnistgen import Classifier
from mnistgen.evaluation import cli, report
from mnistgen.evaluation.report import check_bar
from mnistgen.training.data import load_split
from tests.tiny_models import tiny_generator

PER_DIGIT = 30


@pytest.fixture(scope="module")
def real_npz(tmp_path_factory, mnist_dir):
    """PER_DIGIT real test images of each digit."""
    test = load_split("test", mnist_dir)
    index = np.concatenate([np.flatnonzero(test.labels == d)[:PER_DIGIT] for d in range(10)])
    path = tmp_path_factory.mktemp("npz") / "real.npz"
    np.savez(path, images=test.images[index], labels=test.labels[index])
    return path


def _invoke(args, classifier_path, mnist_dir):
    common = ["--classifier", classifier_path, "--data-dir", mnist_dir, "--threads", "1"]
    return CliRunner().invoke(cli.app, [str(arg) for arg in (*args, *common)])


def _one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("mnistgen-eval: error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.stderr


def test_real_images_pass_labels_and_json_has_every_figure(real_npz, classifier_path, mnist_dir, tmp_path):
    out = tmp_path / "reports" / "eval.json"
    result = _invoke(["--npz", str(real_npz), "--json", str(out)], classifier_path, mnist_dir)
    assert result.exit_code == 0, result.output
    assert "model" in result.stdout and "real" in result.stdout and "overall:" in result.stdout
    document = json.loads(out.read_text())
    assert document["n"] == 10 * PER_DIGIT and document["seed"] == 0
    for row in ("model", "reference"):
        figures = document[row]
        assert set(figures) >= {"label_accuracy", "per_digit", "confusion", "fid", "fid_per_digit_mean",
                                "precision", "recall", "cas"}
        assert len(figures["per_digit"]["f1"]) == 10 and np.array(figures["confusion"]).sum() == 10 * PER_DIGIT
        assert figures["cas"] is None
    assert document["reference"]["n"] == 10 * PER_DIGIT  # same size as the scored set
    assert document["model"]["label_accuracy"] >= 0.95
    assert document["bar"]["label_accuracy"]["value"] == document["model"]["label_accuracy"]
    assert set(document["bar"]) == {"label_accuracy", "fid", "fid_per_digit_mean", "precision", "recall", "cas"}
    assert [p.name for p in out.parent.iterdir()] == ["eval.json"]  # no temp file left


def test_files_are_named_by_name_and_sha256_never_by_path(real_npz, classifier_path, mnist_dir, tmp_path):
    out = tmp_path / "eval.json"
    result = _invoke(["--npz", str(real_npz), "--no-reference", "--json", str(out)], classifier_path, mnist_dir)
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    for key, path in (("source", real_npz), ("classifier", Path(classifier_path))):
        assert document[key] == {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    assert str(tmp_path) not in out.read_text() and str(Path(classifier_path).parent) not in out.read_text()
    assert document["latent_scale"] is None  # images, not a generator: no truncation to record


def test_verify_rejections_are_what_the_runtime_classifier_rejects(real_npz, classifier_path, mnist_dir, tmp_path):
    out = tmp_path / "eval.json"
    result = _invoke(["--npz", str(real_npz), "--no-reference", "--json", str(out)], classifier_path, mnist_dir)
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    with np.load(real_npz) as data:
        labels, confidences = Classifier(classifier_path, threads=1).predict(data["images"])
        kept = (labels == data["labels"]) & (confidences >= document["verify_min_confidence"])
    assert document["verify_min_confidence"] == 0.9  # --verify's default
    assert document["model"]["verify_rejected"] == int((~kept).sum())
    assert 0 < document["model"]["verify_rejected"] < 10 * PER_DIGIT  # real digits: a few unsure, most kept


def test_generator_model_is_scored_and_fails_the_bar(classifier_path, mnist_dir, tmp_path):
    generator = tiny_generator(tmp_path / "gen.onnx", metadata={"latent_scale": "0.5"})
    out = tmp_path / "eval.json"
    args = [str(generator), "--per-digit", "20", "--seed", "7", "--no-reference", "--json", str(out)]
    result = _invoke(args, classifier_path, mnist_dir)
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["n"] == 200 and document["seed"] == 7 and document["reference"] is None
    assert document["passed"] is False and document["bar"]["label_accuracy"]["passed"] is False
    assert document["latent_scale"] == 0.5  # from the scored model's metadata
    assert document["source"]["file"] == "gen.onnx"
    assert "overall: FAIL" in result.stdout


def test_cas_trains_on_the_images_and_tests_on_real(real_npz, classifier_path, mnist_dir, tmp_path, monkeypatch):
    from mnistgen.evaluation import cas

    monkeypatch.setattr(cas, "CAS_RECIPE", dataclasses.replace(cas.CAS_RECIPE, epochs=2, batch_size=32))
    out = tmp_path / "eval.json"
    args = ["--npz", str(real_npz), "--cas", "--no-reference", "--json", str(out)]
    result = _invoke(args, classifier_path, mnist_dir)
    assert result.exit_code == 0, result.output
    assert 0.3 < json.loads(out.read_text())["model"]["cas"] <= 1.0  # 300 real images teach something


def test_missing_npz(classifier_path, mnist_dir, tmp_path):
    _one_line_error(_invoke(["--npz", str(tmp_path / "nope.npz")], classifier_path, mnist_dir), "no such file")


def test_npz_that_is_not_an_npz(classifier_path, mnist_dir, tmp_path):
    path = tmp_path / "bad.npz"
    path.write_bytes(b"this is not a zip archive")
    _one_line_error(_invoke(["--npz", str(path)], classifier_path, mnist_dir), "bad.npz")


@pytest.mark.parametrize(
    "arrays, fragment",
    [
        ({"images": np.zeros((100, 28, 28), np.uint8)}, "lacks"),
        ({"images": np.zeros((100, 28, 28), np.float32), "labels": np.arange(100) % 10}, "uint8"),
        ({"images": np.zeros((100, 28, 28), np.uint8), "labels": np.arange(100)}, "0..9"),
        ({"images": np.zeros((100, 28, 28), np.uint8), "labels": np.arange(99) % 10}, "shape"),
        ({"images": np.zeros((100, 28, 28), np.uint8), "labels": np.zeros(100, np.int64)}, "every digit"),
    ],
)
def test_npz_with_wrong_contents(arrays, fragment, classifier_path, mnist_dir, tmp_path):
    path = tmp_path / "wrong.npz"
    np.savez(path, **arrays)
    _one_line_error(_invoke(["--npz", str(path)], classifier_path, mnist_dir), fragment)


def test_missing_classifier_and_generator(real_npz, classifier_path, mnist_dir, tmp_path):
    _one_line_error(_invoke(["--npz", str(real_npz)], str(tmp_path / "c.onnx"), mnist_dir), "c.onnx")
    _one_line_error(_invoke([str(tmp_path / "g.onnx")], classifier_path, mnist_dir), "g.onnx")


def test_classifier_given_as_generator(classifier_path, mnist_dir):
    _one_line_error(_invoke([classifier_path, "--no-reference"], classifier_path, mnist_dir))


def test_generator_and_npz_together(real_npz, classifier_path, mnist_dir):
    _one_line_error(_invoke([classifier_path, "--npz", str(real_npz)], classifier_path, mnist_dir), "not both")


def test_cas_without_torch_is_one_line(real_npz, classifier_path, mnist_dir, monkeypatch):
    for name in [m for m in sys.modules if m == "torch" or m.startswith(("torch.", "mnistgen.evaluation.cas"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.delitem(sys.modules, "mnistgen.training.classifier", raising=False)
    monkeypatch.setitem(sys.modules, "torch", None)  # "import torch" now raises ImportError
    _one_line_error(_invoke(["--npz", str(real_npz), "--cas"], classifier_path, mnist_dir), "PyTorch")


def test_module_entry_point_reports_bad_input_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mnistgen.evaluation", "--npz", str(tmp_path / "missing.npz")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("mnistgen-eval: error: ") and result.stderr.count("\n") == 1


def _figures(**values):
    from mnistgen.evaluation import metrics
    from mnistgen.evaluation.scoring import Figures

    base = dict(n=100, label_accuracy=0.999, fid=1.0, precision=0.8, recall=0.8, cas=0.99, verify_rejected=1)
    base.update(values)
    per_digit_fid = np.full(10, base.pop("fid_per_digit_mean", 2.0))
    per_class = metrics.PerClass(np.ones(10), np.ones(10), np.ones(10))
    return Figures(per_digit=per_class, confusion=np.eye(10, dtype=int), fid_per_digit=per_digit_fid, **base)


def test_bar_is_relative_to_the_real_row():
    real = _figures()
    # the real row: FID 1, per-digit FID 2, precision and recall 0.8, CAS 99%
    inside = _figures(label_accuracy=0.997, fid=1.249, fid_per_digit_mean=2.99, precision=0.8, recall=0.777,
                      cas=0.9886)
    assert all(c.passed for c in check_bar(inside, real))
    beyond = _figures(label_accuracy=0.9969, fid=1.251, fid_per_digit_mean=3.01, precision=0.799, recall=0.775,
                      cas=0.9884)
    assert {c.name: c.passed for c in check_bar(beyond, real)} == {
        "label_accuracy": False, "fid": False, "fid_per_digit_mean": False, "precision": False, "recall": False,
        "cas": False,
    }
    assert report.passed(check_bar(inside, real)) and report.verdict(check_bar(inside, real)) == "PASS"
    assert not report.passed(check_bar(beyond, real)) and report.verdict(check_bar(beyond, real)) == "FAIL"


def test_a_criterion_not_measured_is_not_passed():
    real, inside = _figures(), _figures(fid=1.2)
    without_real = check_bar(inside, None)  # --no-reference
    assert [c.name for c in without_real] == ["label_accuracy", "fid", "fid_per_digit_mean", "precision", "recall", "cas"]
    assert [c.passed for c in without_real] == [True, None, None, None, None, None]
    assert not report.passed(without_real)
    assert report.verdict(without_real) == "NOT PASSED (fid, fid_per_digit_mean, precision, recall, cas not measured)"
    without_cas = check_bar(_figures(cas=None), real)  # no --cas
    assert [c.name for c in without_cas if not c.measured] == ["cas"]
    assert not report.passed(without_cas) and report.verdict(without_cas) == "NOT PASSED (cas not measured)"
    failing = check_bar(_figures(label_accuracy=0.9, cas=None), real)
    assert report.verdict(failing) == "FAIL (cas not measured)"
    document = report.report_dict({}, inside, None, without_real)
    assert document["passed"] is False and document["verdict"].startswith("NOT PASSED")
    assert document["bar"]["cas"] == {"rule": "CAS >= real - 0.15 points", "value": 0.99, "comparison": ">=",
                                      "threshold": None, "measured": False, "passed": None}


def test_eval_without_cas_does_not_pass(real_npz, classifier_path, mnist_dir, tmp_path):
    out = tmp_path / "eval.json"
    result = _invoke(["--npz", str(real_npz), "--json", str(out)], classifier_path, mnist_dir)
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    measured = [name for name, criterion in document["bar"].items() if criterion["measured"]]
    assert measured == ["label_accuracy", "fid", "fid_per_digit_mean", "precision", "recall"]
    assert document["passed"] is False
    assert "overall: PASS" not in result.stdout
    assert "not measured" in result.stdout and "overall: " in result.stdout


def test_readme_model_card_is_rewritten_between_markers(real_npz, classifier_path, mnist_dir, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# title\n\n<!-- model-card:start -->\nold card\n<!-- model-card:end -->\n\ntail\n")
    result = _invoke(["--npz", str(real_npz), "--readme", str(readme)], classifier_path, mnist_dir)
    assert result.exit_code == 0, result.output
    text = readme.read_text()
    assert "old card" not in text and text.startswith("# title") and text.endswith("tail\n")
    assert "| **mnistgen** | 300 |" in text and "| real MNIST | 300 |" in text
    assert "| label accuracy >= 99.7% |" in text
    assert "| CAS >= real - 0.15 points | | | not measured |" in text  # no --cas: neither pass nor miss


def test_readme_card_quotes_the_scored_generator_opened_once(classifier_path, mnist_dir, tmp_path, monkeypatch):
    opened = []

    class CountingGenerator(cli.Generator):
        def __init__(self, *args, **kwargs):
            opened.append(args)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(cli, "Generator", CountingGenerator)
    training = json.dumps({"epoch": 3, "seconds": 120.0, "config": {"lr": 0.1}})
    generator = tiny_generator(tmp_path / "gen.onnx", metadata={"training": training})
    readme = tmp_path / "README.md"
    readme.write_text("<!-- model-card:start -->\n<!-- model-card:end -->\n")
    args = [str(generator), "--per-digit", "10", "--no-reference", "--readme", str(readme)]
    result = _invoke(args, classifier_path, mnist_dir)
    assert result.exit_code == 0, result.output
    assert len(opened) == 1
    assert "Training: 3 epochs over the 60,000 MNIST training images" in readme.read_text()


def test_readme_without_markers_fails_before_evaluating(real_npz, classifier_path, mnist_dir, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    result = _invoke(["--npz", str(real_npz), "--readme", str(readme)], classifier_path, mnist_dir)
    _one_line_error(result, "has no model card markers")
    assert "overall:" not in result.stdout and readme.read_text() == "# no markers\n"
