"""The torch-free runtime API (mnistgen.Generator / mnistgen.Classifier).

Models: the shipped models/generator.onnx and classifier.onnx, or MNISTGEN_TEST_GENERATOR /
MNISTGEN_TEST_CLASSIFIER (any compatible model: these tests check behaviour, not quality).
"""
from __future__ import annotations

import ast
import re
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import mnistgen
from mnistgen import Classifier, Generator, InputError, ModelError, VerificationError
from mnistgen.limits import BATCH_SIZE, MAX_COUNT, MAX_NUMBER_LENGTH, VERIFY_DRAW_FACTOR
from mnistgen.model_file import default_model_path, image_shape
from tests.conftest import digit_short_of_certainty, require_with_shipped_models
from tests.tiny_models import tiny_generator

REPO = Path(__file__).resolve().parents[1]
ALLOWED_IMPORTS = {"numpy", "onnxruntime", "PIL", "typer", "click", "mnistgen"}
FORBIDDEN_MNISTGEN = ("mnistgen.training", "mnistgen.export", "mnistgen.evaluation")
# the serve extra's packages, for mnistgen serve's own modules only (the plain runtime keeps its four)
SERVE_IMPORTS = {"starlette", "uvicorn"}


@pytest.fixture(scope="module")
def generator(generator_path: Path, classifier_path: Path) -> Generator:
    return Generator(generator_path, threads=1, classifier=classifier_path)


@pytest.fixture(scope="module")
def classifier(classifier_path: Path) -> Classifier:
    return Classifier(classifier_path, threads=1)


# --- torch-free -------------------------------------------------------------------------------


def test_runtime_sources_import_only_the_allowed_packages():
    for source in (REPO / "runtime").glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            for name in names:
                top = name.split(".")[0]
                allowed = ALLOWED_IMPORTS | (SERVE_IMPORTS if source.name.startswith("serve_") else set())
                assert top in allowed or top in sys.stdlib_module_names, f"{source.name} imports {name}"
                assert not name.startswith(FORBIDDEN_MNISTGEN), f"{source.name} imports {name}"


def test_runtime_works_with_torch_and_onnx_blocked(generator_path: Path, classifier_path: Path):
    script = f"""
import sys
sys.modules["torch"] = None
sys.modules["onnx"] = None
import mnistgen
g = mnistgen.Generator({str(generator_path)!r}, threads=1)
images = g.generate(4, count=3, seed=0)
assert images.shape == (3, 28, 28) and images.dtype.name == "uint8"
labels, confidences = mnistgen.Classifier({str(classifier_path)!r}, threads=1).predict(images)
assert labels.shape == (3,)
g.images(4, count=1, seed=0)
bad = [m for m in sys.modules if m.startswith({FORBIDDEN_MNISTGEN!r})]
assert not bad, bad
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


# --- generate ----------------------------------------------------------------------------------


def test_generate_shape_dtype_and_range(generator: Generator):
    images = generator.generate(7, count=5, seed=1)
    assert images.shape == (5, 28, 28)
    assert images.dtype == np.uint8
    assert images.max() > images.min()  # not a blank canvas
    assert generator.generate(7).shape == (1, 28, 28)  # count defaults to 1


def test_same_seed_same_images_and_prefix_stable(generator: Generator):
    first = generator.generate(3, count=10, seed=42)
    np.testing.assert_array_equal(first, generator.generate(3, count=10, seed=42))
    np.testing.assert_array_equal(first, generator.generate(3, count=20, seed=42)[:10])
    assert not np.array_equal(first, generator.generate(3, count=10, seed=43))


def test_no_seed_gives_fresh_distinct_images(generator: Generator):
    a, b = generator.generate(5, count=4), generator.generate(5, count=4)
    assert not np.array_equal(a, b)
    assert len({image.tobytes() for image in a}) == 4


def test_latents_are_one_default_rng_draw(generator: Generator):
    z = np.random.default_rng(9).standard_normal((6, generator.latent_dim), dtype=np.float32)
    np.testing.assert_array_equal(generator.generate(2, latents=z), generator.generate(2, count=6, seed=9))


def test_counts_beyond_one_batch_match_small_counts(generator: Generator):
    big = generator.generate(1, count=BATCH_SIZE + 3, seed=5)
    assert big.shape == (BATCH_SIZE + 3, 28, 28)
    np.testing.assert_array_equal(big[:4], generator.generate(1, count=4, seed=5))


def test_batch_progress_reports_reach_the_total(generator: Generator):
    calls: list[tuple[int, int]] = []
    generator.generate(0, count=BATCH_SIZE + 1, seed=0, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (BATCH_SIZE + 1, BATCH_SIZE + 1)


def test_batches_concatenate_to_generate_and_hold_one_batch_each(generator: Generator):
    batches = list(generator.batches(6, count=2 * BATCH_SIZE + 5, seed=3))
    assert [len(b) for b in batches] == [BATCH_SIZE, BATCH_SIZE, 5]
    np.testing.assert_array_equal(np.concatenate(batches), generator.generate(6, count=2 * BATCH_SIZE + 5, seed=3))


def test_verified_batches_concatenate_to_verified_generate(generator: Generator):
    kept = np.concatenate(list(generator.batches(4, count=5, seed=2, verify=True, min_confidence=0.5)))
    np.testing.assert_array_equal(kept, generator.generate(4, count=5, seed=2, verify=True, min_confidence=0.5))


def test_batches_check_arguments_before_the_first_batch(generator: Generator):
    with pytest.raises(InputError, match="count must be an integer"):
        generator.batches(6, count=0)
    with pytest.raises(InputError, match="min_confidence must be a number"):
        generator.batches(6, count=1, verify=True, min_confidence=2)


def test_images_are_grayscale_pil(generator: Generator):
    pictures = generator.images(8, count=2, seed=3)
    assert [(p.mode, p.size) for p in pictures] == [("L", (28, 28))] * 2
    np.testing.assert_array_equal(np.asarray(pictures[1]), generator.generate(8, count=2, seed=3)[1])


def test_info_is_decoded_metadata_and_a_copy(generator: Generator):
    info = generator.info
    assert info["kind"] == "generator"
    assert info["labels"] == [str(d) for d in range(10)]
    assert int(info["latent_dim"]) == generator.latent_dim
    info["kind"] = "changed"
    assert generator.info["kind"] == "generator"
    assert {"generate", "numbers", "verify", "style-walk"} <= set(generator.capabilities)


def test_threads_share_one_generator_and_match_serial(generator: Generator):
    seeds = list(range(8))
    serial = {seed: generator.generate(seed % 10, count=20, seed=seed) for seed in seeds}
    parallel: dict[int, np.ndarray] = {}

    def work(seed: int) -> None:
        parallel[seed] = generator.generate(seed % 10, count=20, seed=seed)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in seeds]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for seed in seeds:
        np.testing.assert_array_equal(parallel[seed], serial[seed])


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("digit", [-1, 10, 3.0, "3", True, None])
def test_bad_digit(generator: Generator, digit):
    with pytest.raises(InputError, match="digit must be an integer 0-9"):
        generator.generate(digit)


@pytest.mark.parametrize("count", [0, -1, MAX_COUNT + 1, 2.5, "3"])
def test_bad_count(generator: Generator, count):
    with pytest.raises(InputError, match=f"count must be an integer 1-{MAX_COUNT}"):
        generator.generate(1, count=count)


@pytest.mark.parametrize("seed", [-1, 1.5, "7"])
def test_bad_seed(generator: Generator, seed):
    with pytest.raises(InputError, match="seed must be a non-negative integer"):
        generator.generate(1, seed=seed)


def test_bad_latents(generator: Generator):
    with pytest.raises(InputError, match="latents must be an array of shape"):
        generator.generate(1, latents=np.zeros((2, generator.latent_dim + 1)))
    with pytest.raises(InputError, match="finite"):
        generator.generate(1, latents=np.full((1, generator.latent_dim), np.nan))
    with pytest.raises(InputError, match="either latents or a seed"):
        generator.generate(1, seed=1, latents=np.zeros((1, generator.latent_dim)))
    with pytest.raises(InputError, match="must match the number of latents"):
        generator.generate(1, count=3, latents=np.zeros((2, generator.latent_dim)))


@pytest.mark.parametrize("threads", [0, -2, 1.5])
def test_bad_threads(generator_path: Path, threads):
    with pytest.raises(InputError, match="threads must be a positive integer"):
        Generator(generator_path, threads=threads)


def test_missing_model(tmp_path: Path):
    with pytest.raises(ModelError, match="model file not found"):
        Generator(tmp_path / "nope.onnx")


def test_corrupt_model(tmp_path: Path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"this is not a protobuf")
    with pytest.raises(ModelError, match="not a valid ONNX file"):
        Generator(broken)
    with pytest.raises(ModelError, match="not a valid ONNX file"):
        Classifier(broken)


def test_wrong_kind_of_model(generator_path: Path, classifier_path: Path):
    with pytest.raises(ModelError, match="not an mnistgen generator model"):
        Generator(classifier_path)
    with pytest.raises(ModelError, match="not an mnistgen classifier model"):
        Classifier(generator_path)


def test_image_size_comes_from_the_model(tmp_path: Path, classifier: Classifier):
    pytest.importorskip("onnx")
    generator = Generator(tiny_generator(tmp_path / "wide.onnx", size=(20, 24)), threads=1, classifier=classifier)
    assert generator.image_shape == (20, 24) and classifier.image_shape == (28, 28)
    assert generator.generate(3, count=2, seed=0).shape == (2, 20, 24)
    assert generator.number("12", count=2, seed=0).shape == (2, 20, 48)
    assert generator.style_walk(3, steps=4, seed=0).shape == (4, 20, 24)
    with pytest.raises(InputError, match=r"shape \(N, 28, 28\)"):  # this classifier reads 28x28 only
        generator.generate(3, verify=True)


@pytest.mark.parametrize("shape", [["N", 1, "H", "W"], ["N", 784], ["N", 3, 28, 28], None])
def test_image_size_must_be_fixed_in_the_graph(shape):
    tensor = SimpleNamespace(name="image", shape=shape)  # what onnxruntime's NodeArg offers
    with pytest.raises(ModelError, match=r"image must have shape \[N, 1, height, width\] with fixed sizes"):
        image_shape(tensor, Path("model.onnx"))


def test_opening_a_model_is_quiet_and_leaves_onnxruntime_logging_alone(generator_path: Path):
    """Load-time warnings are silenced per session, not for the whole process (the embedding app's)."""
    script = f"""
import sys
import onnxruntime
import mnistgen
generator = mnistgen.Generator({str(generator_path)!r}, threads=1)
print("opened", file=sys.stderr, flush=True)
onnxruntime.InferenceSession({str(generator_path)!r}, providers=["CPUExecutionProvider"])
print(sorted(generator.spec.defaulted_inputs))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    ours, theirs = result.stderr.split("opened\n")
    assert ours == ""
    # only a model with overridable initializers makes onnxruntime warn, which is what shows that
    # the silence above was per session
    require_with_shipped_models(result.stdout.strip() != "[]", "the model has overridable initializers")
    assert "Initializer" in theirs


def test_missing_shipped_model_is_a_clear_error():
    with pytest.raises(ModelError, match="no shipped no-such-model.onnx"):
        default_model_path("no-such-model.onnx")


def test_model_errors_are_value_errors():
    assert issubclass(ModelError, ValueError) and issubclass(InputError, ValueError)


# --- classifier --------------------------------------------------------------------------------


def test_classifier_outputs(classifier: Classifier, generator: Generator):
    images = generator.generate(6, count=5, seed=0)
    labels, confidences = classifier.predict(images)
    assert labels.shape == (5,) and labels.dtype == np.int64 and ((0 <= labels) & (labels <= 9)).all()
    probabilities = classifier.probabilities(images)
    assert probabilities.shape == (5, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    np.testing.assert_allclose(confidences, probabilities.max(axis=1))
    assert classifier.features(images).shape[0] == 5
    assert classifier.predict(images[0])[0].shape == (1,)  # a single (28, 28) image


@pytest.mark.parametrize("images", [np.zeros((2, 28, 28), np.float32), np.zeros((2, 27, 28), np.uint8),
                                    np.zeros((0, 28, 28), np.uint8)])
def test_classifier_bad_images(classifier: Classifier, images):
    with pytest.raises(InputError, match=r"images must be uint8 arrays of shape \(N, 28, 28\)"):
        classifier.predict(images)


# --- verify, numbers, morphs, style walks (mechanics; quality is in test_features) ---------------


def test_verified_is_plain_stream_filtered_by_the_classifier(generator: Generator, classifier: Classifier):
    digit, count, threshold = 4, 3, 0.2
    candidates = generator.generate(digit, count=VERIFY_DRAW_FACTOR * count, seed=11)
    labels, confidences = classifier.predict(candidates)
    passing = candidates[(labels == digit) & (confidences >= threshold)]
    require_with_shipped_models(len(passing) >= count, f"{count} of the first {len(candidates)} 4s pass verification")
    kept = generator.generate(digit, count=count, seed=11, verify=True, min_confidence=threshold)
    np.testing.assert_array_equal(kept, passing[:count])


def test_verification_error_names_what_passed_within_the_draw_limit(generator: Generator, classifier: Classifier):
    count = 2
    digit, passing = digit_short_of_certainty(generator, classifier, count, seed=0)
    message = (f"only {passing} of {count} samples of digit {digit} reached confidence 1.0 "
               f"in {VERIFY_DRAW_FACTOR * count} draws (limit {VERIFY_DRAW_FACTOR}x count)")
    with pytest.raises(VerificationError, match=re.escape(message)):
        generator.generate(digit, count=count, seed=0, verify=True, min_confidence=1.0)


@pytest.mark.parametrize("confidence", [-0.1, 1.5, float("nan"), "0.5"])
def test_bad_min_confidence(generator: Generator, confidence):
    with pytest.raises(InputError, match="min_confidence must be a number from 0 to 1"):
        generator.generate(1, verify=True, min_confidence=confidence)


def test_number_shape_determinism_and_one_digit_case(generator: Generator):
    numbers = generator.number("2026", count=3, seed=8)
    assert numbers.shape == (3, 28, 4 * 28) and numbers.dtype == np.uint8
    np.testing.assert_array_equal(numbers, generator.number("2026", count=3, seed=8))
    np.testing.assert_array_equal(numbers[:2], generator.number("2026", count=2, seed=8))
    # a one-digit "number" has no neighbours to jitter against: it is exactly generate()
    np.testing.assert_array_equal(generator.number("5", count=2, seed=8), generator.generate(5, count=2, seed=8))


@pytest.mark.parametrize("text", ["", "12a", "-1", "1" * (MAX_NUMBER_LENGTH + 1), 2026, "٣"])
def test_bad_number(generator: Generator, text):
    with pytest.raises(InputError, match=f"number must be 1-{MAX_NUMBER_LENGTH} digits"):
        generator.number(text)


def test_number_count_limit_counts_every_digit(generator: Generator):
    with pytest.raises(InputError, match=f"count must be an integer 1-{MAX_COUNT // 4}"):
        generator.number("2026", count=MAX_COUNT // 4 + 1)


def test_morph(generator: Generator):
    require_with_shipped_models("morph" in generator.capabilities, "the generator can morph")
    frames = generator.morph(3, 8, steps=6, seed=2)
    assert frames.shape == (6, 28, 28) and frames.dtype == np.uint8
    start, end = generator.generate(3, seed=2)[0], generator.generate(8, seed=2)[0]
    assert np.abs(frames[0].astype(int) - start).max() <= 1  # same latent, pure 'from' label
    assert np.abs(frames[-1].astype(int) - end).max() <= 1


def test_style_walk(generator: Generator):
    walk = generator.style_walk(5, steps=7, seed=2)
    assert walk.shape == (7, 28, 28)
    np.testing.assert_array_equal(walk, generator.style_walk(5, steps=7, seed=2))
    assert np.abs(walk[0].astype(int) - generator.generate(5, seed=2)[0]).max() <= 1


@pytest.mark.parametrize("steps", [1, 257, 2.0])
def test_bad_steps(generator: Generator, steps):
    with pytest.raises(InputError, match="steps must be an integer 2-256"):
        generator.style_walk(5, steps=steps)


def test_public_names():
    assert {"Generator", "Classifier", "ModelError", "InputError", "MAX_COUNT"} <= set(mnistgen.__all__)
