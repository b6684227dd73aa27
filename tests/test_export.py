"""Export stage: torch vs onnxruntime parity, the metadata contract, optional morph inputs, CLI errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from mnistgen.export import ExportError, export_classifier
from mnistgen.export.parity import Case, verify
from mnistgen.images import signed_to_unit, unit_to_uint8
from mnistgen.training.checkpoint import build_generator, load_checkpoint, save_checkpoint
from mnistgen.training.models import Classifier, ClassifierConfig, Generator, GeneratorConfig
from tests.conftest import option, release_commands

torch.set_num_threads(1)  # the machine's cores belong to training runs

BATCHES = (1, 7, 256)
RTOL, ATOL = 1e-3, 1e-4
EVALUATION = '{"fid": 12.5, "classifier_accuracy": 0.97, "latent_scale": 1.0}'  # the export's default scale


def session(model: Path | bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    source = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def settle_batchnorm(module: torch.nn.Module, *inputs: torch.Tensor) -> None:
    """One train-mode pass so BatchNorm running stats are not the trivial 0/1 of a fresh model."""
    module.train()
    with torch.no_grad():
        module(*inputs)
    module.eval()


def gan_state(generator: Generator, config: GeneratorConfig) -> dict:
    return {
        "kind": "gan",
        "config": {"generator": asdict(config), "epochs": 1},
        "epoch": 0,
        "seconds": 1.5,
        "ema_generator": generator.state_dict(),
    }


def torch_images(generator: Generator, z: np.ndarray, digit: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        signed = generator(torch.from_numpy(z), torch.from_numpy(digit))
    return torch.clamp(signed_to_unit(signed), 0, 1).numpy()


def torch_morph(generator: Generator, z, digit, digit_to, mix) -> np.ndarray:
    with torch.no_grad():
        start, end = generator.embed(torch.from_numpy(digit)), generator.embed(torch.from_numpy(digit_to))
        label = torch.lerp(start, end, torch.from_numpy(mix)[:, None])
        signed = generator.synthesize(torch.from_numpy(z), label)
    return torch.clamp(signed_to_unit(signed), 0, 1).numpy()


def latents(n: int, latent_dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, latent_dim), dtype=np.float32), rng.integers(0, 10, n, dtype=np.int64)


def assert_images_match(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)
    pixel_gap = np.abs(unit_to_uint8(actual).astype(int) - unit_to_uint8(expected).astype(int))
    assert pixel_gap.max() <= 1


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "mnistgen.export", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


# --- a freshly initialised generator, exported once through the CLI ---------------------------


@pytest.fixture(scope="module")
def fresh_generator() -> Generator:
    torch.manual_seed(0)
    generator = Generator(GeneratorConfig())
    settle_batchnorm(generator, torch.randn(32, 64), torch.randint(0, 10, (32,)))
    return generator


@pytest.fixture(scope="module")
def gan_checkpoint(tmp_path_factory, fresh_generator) -> Path:
    path = tmp_path_factory.mktemp("gan") / "gan.pt"
    return save_checkpoint(gan_state(fresh_generator, GeneratorConfig()), path)


@pytest.fixture(scope="module")
def generator_onnx(tmp_path_factory, gan_checkpoint) -> Path:
    folder = tmp_path_factory.mktemp("onnx")
    (folder / "eval.json").write_text(EVALUATION + "\n")
    out = folder / "generator.onnx"
    result = run_cli(str(gan_checkpoint), "--out", str(out), "--eval-json", str(folder / "eval.json"))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["eval.json", "generator.onnx"]  # no temp left over
    return out


@pytest.mark.parametrize("n", BATCHES)
def test_generator_matches_torch(generator_onnx, fresh_generator, n):
    z, digit = latents(n, 64, seed=n)
    (image,) = session(generator_onnx).run(["image"], {"z": z, "digit": digit})
    assert image.dtype == np.float32
    assert_images_match(image, torch_images(fresh_generator, z, digit))


def test_generator_output_stays_in_unit_range(generator_onnx):
    z, digit = latents(64, 64)
    (image,) = session(generator_onnx).run(["image"], {"z": z * 50, "digit": digit})
    assert image.min() >= 0.0 and image.max() <= 1.0


def test_morph_inputs_are_optional_with_defaults(generator_onnx):
    runner = session(generator_onnx)
    assert [i.name for i in runner.get_inputs()] == ["z", "digit"]
    assert sorted(i.name for i in runner.get_overridable_initializers()) == ["digit_to", "mix"]
    z, digit = latents(5, 64)
    plain = runner.run(["image"], {"z": z, "digit": digit})[0]
    zero_mix = runner.run(["image"], {"z": z, "digit": digit, "digit_to": (digit + 3) % 10, "mix": np.zeros(5, np.float32)})[0]
    np.testing.assert_array_equal(plain, zero_mix)


def test_morph_matches_torch_lerp(generator_onnx, fresh_generator):
    runner = session(generator_onnx)
    z, digit = latents(7, 64, seed=3)
    digit_to = (digit + 4) % 10
    half = np.full(7, 0.5, np.float32)
    feed = {"z": z, "digit": digit, "digit_to": digit_to, "mix": half}
    morph = runner.run(["image"], feed)[0]
    assert_images_match(morph, torch_morph(fresh_generator, z, digit, digit_to, half))
    # [1]-shaped morph inputs broadcast over the batch
    one = runner.run(["image"], {"z": z, "digit": digit, "digit_to": digit_to[:1], "mix": np.float32([0.5])})[0]
    assert_images_match(one, torch_morph(fresh_generator, z, digit, np.repeat(digit_to[:1], 7), half))
    # mix 1 is the target digit itself
    full = runner.run(["image"], {**feed, "mix": np.ones(7, np.float32)})[0]
    assert_images_match(full, torch_images(fresh_generator, z, digit_to))


def test_generator_metadata_reads_back_with_onnxruntime_only(generator_onnx):
    meta = session(generator_onnx).get_modelmeta()
    props = meta.custom_metadata_map
    assert props["format_version"] == "1"
    assert props["kind"] == "generator"
    assert props["latent_dim"] == "64"
    assert props["latent_distribution"] == "standard_normal"
    assert json.loads(props["labels"]) == [str(d) for d in range(10)]
    assert json.loads(props["image_shape"]) == [1, 28, 28]
    assert json.loads(props["output_range"]) == [0.0, 1.0]
    assert set(json.loads(props["capabilities"])) >= {"generate", "morph"}
    inputs = {spec["name"]: spec for spec in json.loads(props["inputs"])}
    assert [inputs[n]["required"] for n in ("z", "digit", "digit_to", "mix")] == [True, True, False, False]
    assert inputs["z"]["shape"] == ["N", 64] and inputs["digit"]["dtype"] == "int64"
    assert inputs["digit_to"]["default"] == [0] and inputs["mix"]["default"] == [0.0]
    assert [spec["name"] for spec in json.loads(props["outputs"])] == ["image"]
    training = json.loads(props["training"])
    assert training["config"]["generator"] == asdict(GeneratorConfig())
    assert (training["epoch"], training["seconds"]) == (0, 1.5)
    assert props["evaluation"] == EVALUATION  # verbatim
    assert props["torch_version"] == torch.__version__
    assert datetime.fromisoformat(props["created"].replace("Z", "+00:00")).tzinfo is not None
    assert "digit_to" in meta.description and "standard normal" in meta.description
    assert meta.producer_name == "mnistgen.export" and meta.version == 1


# --- classifier ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_classifier() -> tuple[Classifier, ClassifierConfig]:
    torch.manual_seed(1)
    config = ClassifierConfig(channels=8, feature_dim=24)
    classifier = Classifier(config)
    settle_batchnorm(classifier, torch.rand(16, 1, 28, 28))
    return classifier, config


@pytest.fixture(scope="module")
def classifier_onnx(tmp_path_factory, small_classifier) -> Path:
    classifier, config = small_classifier
    state = {
        "kind": "classifier",
        "config": {"classifier": asdict(config)},
        "epoch": 3,
        "seconds": 9.0,
        "model": classifier.state_dict(),
        "test_accuracy": 0.9876,
    }
    return export_classifier(state, tmp_path_factory.mktemp("cls") / "classifier.onnx")


@pytest.mark.parametrize("n", BATCHES)
def test_classifier_matches_torch(classifier_onnx, small_classifier, n):
    classifier, _ = small_classifier
    image = np.random.default_rng(n).random((n, 1, 28, 28), dtype=np.float32)
    logits, probabilities, features = session(classifier_onnx).run(["logits", "probabilities", "features"], {"image": image})
    with torch.no_grad():
        x = torch.from_numpy(image)
        expected_logits, expected_features = classifier(x).numpy(), classifier.features(x).numpy()
    np.testing.assert_allclose(logits, expected_logits, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(features, expected_features, rtol=RTOL, atol=ATOL)
    assert features.shape == (n, 24)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(probabilities.argmax(1), expected_logits.argmax(1))


def test_classifier_metadata(classifier_onnx):
    props = session(classifier_onnx).get_modelmeta().custom_metadata_map
    assert props["kind"] == "classifier" and props["format_version"] == "1"
    assert props["feature_dim"] == "24"
    assert float(props["test_accuracy"]) == pytest.approx(0.9876)
    assert json.loads(props["input_range"]) == [0.0, 1.0]
    assert json.loads(props["labels"]) == [str(d) for d in range(10)]
    assert [s["name"] for s in json.loads(props["outputs"])] == ["logits", "probabilities", "features"]
    assert json.loads(props["training"])["epoch"] == 3
    assert "evaluation" not in props


# --- refusing to write ---------------------------------------------------------------------------


def test_parity_failure_is_an_error(classifier_onnx):
    image = np.zeros((2, 1, 28, 28), np.float32)
    wrong = {"logits": np.full((2, 10), 99.0, np.float32)}
    with pytest.raises(ExportError, match="disagrees with torch") as caught:
        verify(classifier_onnx.read_bytes(), [Case("zeros", {"image": image}, wrong)])
    assert caught.value.exit_code == 1


def test_failed_verification_writes_nothing(tmp_path, small_classifier, monkeypatch):
    import mnistgen.export.classifier as module

    real = module.reference
    monkeypatch.setattr(module, "reference", lambda c, x: {k: v + 1.0 for k, v in real(c, x).items()})
    classifier, config = small_classifier
    state = {"kind": "classifier", "config": {"classifier": asdict(config)}, "model": classifier.state_dict()}
    with pytest.raises(ExportError):
        export_classifier(state, tmp_path / "classifier.onnx")
    assert list(tmp_path.iterdir()) == []


# --- bad input through the CLI: exit 2, one line, nothing written -------------------------------


def wrong_shaped_checkpoint(folder: Path) -> Path:
    small = Generator(GeneratorConfig(channels=16))
    return save_checkpoint(gan_state(small, GeneratorConfig()), folder / "wrong.pt")  # config says 64


def corrupt_checkpoint(folder: Path) -> Path:
    path = folder / "corrupt.pt"
    path.write_bytes(b"PK\x03\x04 this is not a checkpoint" * 10)
    return path


@pytest.mark.parametrize(
    "case",
    ["corrupt", "wrong_shape", "missing", "out_is_directory", "out_parent_is_file", "eval_json_invalid",
     "eval_json_other_scale", "eval_json_without_scale"],
)
def test_cli_bad_input(tmp_path, gan_checkpoint, case):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "model.onnx"
    checkpoint, extra = gan_checkpoint, []
    if case == "corrupt":
        checkpoint = corrupt_checkpoint(tmp_path)
    elif case == "wrong_shape":
        checkpoint = wrong_shaped_checkpoint(tmp_path)
    elif case == "missing":
        checkpoint = tmp_path / "absent.pt"
    elif case == "out_is_directory":
        out = out_dir
    elif case == "out_parent_is_file":
        (out_dir / "file").write_text("x")
        out = out_dir / "file" / "model.onnx"
    elif case == "eval_json_invalid":
        (tmp_path / "eval.json").write_text("{not json")
        extra = ["--eval-json", str(tmp_path / "eval.json")]
    elif case == "eval_json_other_scale":  # figures measured at 0.85, export left at the default 1.0
        (tmp_path / "eval.json").write_text('{"latent_scale": 0.85}')
        extra = ["--eval-json", str(tmp_path / "eval.json")]
    elif case == "eval_json_without_scale":
        (tmp_path / "eval.json").write_text('{"fid": 1.0}')
        extra = ["--eval-json", str(tmp_path / "eval.json"), "--latent-scale", "0.85"]
    before = sorted(out_dir.rglob("*"))
    result = run_cli(str(checkpoint), "--out", str(out), *extra)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and lines[0].startswith("mnistgen-export: error:")
    assert sorted(out_dir.rglob("*")) == before
    if case == "eval_json_other_scale":
        assert "measured at latent scale 0.85 but this export uses 1.0" in lines[0]
    if case == "eval_json_without_scale":
        assert "records no latent scale" in lines[0]


# --- the shipped model ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped(checkpoint_path, generator_path) -> tuple[Generator, Path]:
    state = load_checkpoint(checkpoint_path, kind="gan")
    return build_generator(state, str(checkpoint_path)), generator_path


@pytest.mark.parametrize("n", BATCHES)
def test_shipped_generator_matches_its_checkpoint(shipped, n):
    generator, model = shipped
    latent_dim = generator.config.latent_dim
    runner = session(model)
    props = runner.get_modelmeta().custom_metadata_map
    assert props["latent_dim"] == str(latent_dim)
    z, digit = latents(n, latent_dim, seed=100 + n)
    (image,) = runner.run(["image"], {"z": z, "digit": digit})
    assert_images_match(image, torch_images(generator, z * float(props["latent_scale"]), digit))
    if not os.environ.get("MNISTGEN_TEST_GENERATOR"):  # the shipped model: the scale its recipe names
        export = release_commands()["mnistgen-export"]
        assert float(props["latent_scale"]) == float(option(export, "--latent-scale"))


def test_latent_scale_is_applied_in_the_graph(tmp_path, gan_checkpoint, fresh_generator):
    out = tmp_path / "truncated.onnx"
    (tmp_path / "eval.json").write_text('{"latent_scale": 0.5}')  # measured at the scale exported
    result = run_cli(str(gan_checkpoint), "--out", str(out), "--latent-scale", "0.5", "--eval-json",
                     str(tmp_path / "eval.json"))
    assert result.returncode == 0, result.stderr
    runner = session(out)
    assert runner.get_modelmeta().custom_metadata_map["latent_scale"] == "0.5"
    assert json.loads(runner.get_modelmeta().custom_metadata_map["evaluation"]) == {"latent_scale": 0.5}
    z, digit = latents(7, 64, seed=9)
    (image,) = runner.run(["image"], {"z": z, "digit": digit})
    assert_images_match(image, torch_images(fresh_generator, z * 0.5, digit))


@pytest.mark.parametrize("scale", ["0", "1.5", "-1"])
def test_latent_scale_out_of_range_is_refused(tmp_path, gan_checkpoint, scale):
    result = run_cli(str(gan_checkpoint), "--out", str(tmp_path / "g.onnx"), "--latent-scale", scale)
    assert result.returncode == 2 and "latent scale must be in (0, 1]" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "g.onnx").exists()


def test_one_export_checks_its_destination_once(tmp_path, small_classifier, monkeypatch):
    import mnistgen.export.classifier as classifier_module
    import mnistgen.export.from_checkpoint as from_checkpoint
    import mnistgen.export.writer as writer

    checked = []
    real = writer.check_destination

    def counting(path):
        checked.append(Path(path))
        return real(path)

    for module in (classifier_module, from_checkpoint, writer):
        monkeypatch.setattr(module, "check_destination", counting)
    classifier, config = small_classifier
    state = {"kind": "classifier", "config": {"classifier": asdict(config)}, "epoch": 3, "seconds": 9.0,
             "model": classifier.state_dict(), "test_accuracy": 0.9876}
    checkpoint = save_checkpoint(state, tmp_path / "classifier.pt")
    out = from_checkpoint.export_checkpoint(checkpoint, tmp_path / "classifier.onnx")
    assert out.is_file() and checked == [tmp_path / "classifier.onnx"]
