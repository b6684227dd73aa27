"""Generated datasets in MNIST's file format: `mnistgen-dataset` (run with torch and onnx blocked)
and its Python functions, mnistgen.dataset.write_dataset and dataset_arrays.

Models: the shipped ones, or MNISTGEN_TEST_GENERATOR / MNISTGEN_TEST_CLASSIFIER.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mnistgen import Classifier, Generator, InputError, VerificationError, dataset
from mnistgen.console import version
from mnistgen.dataset import dataset_arrays, digit_seed, write_dataset
from mnistgen.style import TOLERANCE, measure
from mnistgen.training.data import DataError, load_split
from tests.test_cli import names_as_the_api_does

PER_DIGIT = 24
BLOCKED = ("import sys; sys.modules['torch'] = None; sys.modules['onnx'] = None; "
           "from mnistgen.dataset_cli import main; main()")
IDX_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")


@pytest.fixture(scope="module")
def generator(generator_path: Path) -> Generator:
    return Generator(generator_path, threads=1)


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKED, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str, code: int = 2) -> None:
    assert result.returncode == code, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mnistgen-dataset: error: "), result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert names_as_the_api_does(lines[0]) == [], lines[0]  # the options as typed: --per-digit, not per_digit


def read_idx(path: Path) -> np.ndarray:
    """An IDX reader from the format's description alone (no project code): a big-endian header of
    two zero bytes, a type code (0x08: unsigned byte), the number of dimensions, one uint32 size
    per dimension, then the data."""
    raw = gzip.decompress(path.read_bytes())
    zero, type_code, dims = struct.unpack(">HBB", raw[:4])
    assert (zero, type_code) == (0, 0x08)
    shape = struct.unpack(f">{dims}I", raw[4 : 4 + 4 * dims])
    data = raw[4 + 4 * dims :]
    assert len(data) == int(np.prod(shape))
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def listing(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def written(tmp_path_factory, generator_path: Path) -> Path:
    """The CLI's dataset of PER_DIGIT per digit, seed 5, in train-images/labels + manifest.json."""
    cwd = tmp_path_factory.mktemp("dataset")
    result = cli("out", "--per-digit", str(PER_DIGIT), "--seed", "5", "--model", str(generator_path), cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"out/{name}" for name in (*IDX_NAMES, "manifest.json")]
    assert result.stderr == ""  # no progress bar off a terminal
    return cwd / "out"


# --- the format -----------------------------------------------------------------------------------


def test_idx_files_as_mnist_has_them(written: Path, generator: Generator):
    images, labels = read_idx(written / IDX_NAMES[0]), read_idx(written / IDX_NAMES[1])
    raw = gzip.decompress((written / IDX_NAMES[0]).read_bytes())
    assert struct.unpack(">IIII", raw[:16]) == (2051, 10 * PER_DIGIT, 28, 28)  # MNIST's own magic numbers
    assert struct.unpack(">II", gzip.decompress((written / IDX_NAMES[1]).read_bytes())[:8]) == (2049, 10 * PER_DIGIT)
    expected_images, expected_labels = dataset_arrays(PER_DIGIT, 5, generator=generator)
    np.testing.assert_array_equal(images, expected_images)
    np.testing.assert_array_equal(labels, expected_labels)
    assert np.median(images) == 0 and images.max() == 255  # white digits on black, like MNIST
    assert sorted(p.name for p in written.iterdir()) == sorted((*IDX_NAMES, "manifest.json"))  # no temporaries


def test_each_digits_images_are_its_seeded_generate_stream(written: Path, generator: Generator):
    images, labels = read_idx(written / IDX_NAMES[0]), read_idx(written / IDX_NAMES[1])
    for digit in range(10):
        np.testing.assert_array_equal(images[labels == digit],
                                      generator.generate(digit, PER_DIGIT, seed=digit_seed(5, digit)))


def test_classes_are_balanced_and_shuffled_by_the_seed(written: Path, generator: Generator):
    labels = read_idx(written / IDX_NAMES[1])
    assert np.bincount(labels, minlength=10).tolist() == [PER_DIGIT] * 10
    assert (np.diff(labels.astype(int)) != 0).sum() > 100  # shuffled, not digit by digit
    other = dataset.shuffled_labels(PER_DIGIT, 6)
    assert np.bincount(other).tolist() == [PER_DIGIT] * 10 and not np.array_equal(other, labels)


def test_the_same_seed_writes_the_same_bytes(written: Path, generator_path: Path, tmp_path: Path):
    again = cli("again", "--per-digit", str(PER_DIGIT), "--seed", "5", "--model", str(generator_path), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert listing(tmp_path / "again") == listing(written)
    other = cli("other", "--per-digit", str(PER_DIGIT), "--seed", "6", "--model", str(generator_path), "-q", cwd=tmp_path)
    assert other.returncode == 0 and other.stdout == ""
    assert all(listing(tmp_path / "other")[name] != data for name, data in listing(written).items())


def test_chunking_does_not_change_the_dataset(generator: Generator, monkeypatch):
    whole = dataset_arrays(PER_DIGIT, 2, generator=generator)
    monkeypatch.setattr(dataset, "CHUNK", 7)  # digits split across many chunks and batches
    pieces = dataset_arrays(PER_DIGIT, 2, generator=generator)
    for a, b in zip(whole, pieces):
        np.testing.assert_array_equal(a, b)


def test_manifest_describes_the_files_and_the_model(written: Path, generator: Generator, generator_path: Path):
    manifest = json.loads((written / "manifest.json").read_text())
    assert manifest["kind"] == "mnistgen-dataset" and list(manifest["splits"]) == ["train"]
    entry = manifest["splits"]["train"]
    assert entry["files"].keys() == set(IDX_NAMES)
    for name, record in entry["files"].items():
        path = written / name
        assert record["sha256"] == sha256(path) and record["bytes"] == path.stat().st_size
        assert record["md5_decompressed"] == hashlib.md5(gzip.decompress(path.read_bytes())).hexdigest()
        assert record["items"] == 10 * PER_DIGIT
    assert entry["model"]["sha256"] == sha256(generator_path) and entry["model"]["file"] == generator_path.name
    assert entry["model"]["format_version"] == generator.info["format_version"]
    assert entry["model"]["latent_scale"] == generator.info.get("latent_scale")
    assert entry["counts"] == [PER_DIGIT] * 10 and entry["count"] == 10 * PER_DIGIT
    assert (entry["seed"], entry["verify"], entry["min_confidence"], entry["format"]) == (5, False, None, "idx")
    assert entry["mnistgen_version"] == version() and entry["image_shape"] == [28, 28]


def test_without_a_seed_the_manifest_records_the_one_drawn(generator: Generator, tmp_path: Path):
    write_dataset(tmp_path / "a", 2, generator=generator)
    seed = json.loads((tmp_path / "a" / "manifest.json").read_text())["splits"]["train"]["seed"]
    write_dataset(tmp_path / "b", 2, seed, generator=generator)
    assert listing(tmp_path / "a") == listing(tmp_path / "b")


def test_npz_holds_the_same_dataset(written: Path, generator_path: Path, tmp_path: Path):
    args = ("--per-digit", str(PER_DIGIT), "--seed", "5", "--format", "npz", "--model", str(generator_path))
    result = cli("n", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["n/train.npz", "n/manifest.json"]
    with np.load(tmp_path / "n" / "train.npz", allow_pickle=False) as archive:
        assert sorted(archive.files) == ["images", "labels"]
        assert archive["images"].dtype == archive["labels"].dtype == np.uint8
        np.testing.assert_array_equal(archive["images"], read_idx(written / IDX_NAMES[0]))
        np.testing.assert_array_equal(archive["labels"], read_idx(written / IDX_NAMES[1]))
    record = json.loads((tmp_path / "n" / "manifest.json").read_text())["splits"]["train"]["files"]["train.npz"]
    assert record["sha256"] == sha256(tmp_path / "n" / "train.npz")
    assert cli("m", *args, cwd=tmp_path).returncode == 0
    assert listing(tmp_path / "m") == listing(tmp_path / "n")  # zip dates are fixed too


# --- our own loader, and the classifier trainer on top of it -------------------------------------


def test_our_mnist_loader_reads_both_splits(written: Path, generator: Generator, tmp_path: Path):
    directory = tmp_path / "both"
    write_dataset(directory, PER_DIGIT, 5, generator=generator)
    write_dataset(directory, 3, 8, generator=generator, split="t10k")  # added beside, same manifest
    train, test = load_split("train", directory), load_split("test", directory)
    np.testing.assert_array_equal(train.images, read_idx(written / IDX_NAMES[0]))
    np.testing.assert_array_equal(train.labels, read_idx(written / IDX_NAMES[1]))
    images, labels = dataset_arrays(3, 8, generator=generator)
    np.testing.assert_array_equal(test.images, images)
    np.testing.assert_array_equal(test.labels, labels)
    assert sorted(json.loads((directory / "manifest.json").read_text())["splits"]) == ["t10k", "train"]


def test_our_loader_checks_the_files_against_the_manifest(written: Path, tmp_path: Path):
    for name in (*IDX_NAMES, "manifest.json"):
        (tmp_path / name).write_bytes((written / name).read_bytes())
    labels = read_idx(written / IDX_NAMES[1]).copy()
    labels[0] = (labels[0] + 1) % 10  # right size and header, wrong content
    (tmp_path / IDX_NAMES[1]).write_bytes(gzip.compress(struct.pack(">II", 2049, len(labels)) + labels.tobytes()))
    with pytest.raises(DataError, match="checksum mismatch"):
        load_split("train", tmp_path)


def test_the_classifier_trainer_trains_on_a_written_dataset(written: Path, mnist_dir: Path, tmp_path: Path):
    from typer.testing import CliRunner

    from mnistgen.training import classifier as training

    out = tmp_path / "c.pt"
    args = ["--data-dir", str(written), "--test-data-dir", str(mnist_dir), "--out", str(out), "--epochs", "1",
            "--threads", "1"]
    result = CliRunner().invoke(training.app, args)
    assert result.exit_code == 0, result.output
    assert f"training on {10 * PER_DIGIT} images" in result.stdout and out.is_file()
    missing = CliRunner().invoke(training.app, ["--data-dir", str(written), "--out", str(tmp_path / "d.pt")])
    assert missing.exit_code == 2 and "t10k" in missing.stderr  # no test split there, and none named


# --- --verify --------------------------------------------------------------------------------------


def test_verify_keeps_only_what_the_classifier_reads(generator_path: Path, classifier_path: Path, tmp_path: Path):
    result = cli("v", "--per-digit", "10", "--seed", "1", "--verify", "--min-confidence", "0.95",
                 "--model", str(generator_path), "--classifier", str(classifier_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    images, labels = read_idx(tmp_path / "v" / IDX_NAMES[0]), read_idx(tmp_path / "v" / IDX_NAMES[1])
    predicted, confidence = Classifier(classifier_path, threads=1).predict(images)
    assert np.array_equal(predicted, labels) and confidence.min() >= 0.95
    assert np.bincount(labels, minlength=10).tolist() == [10] * 10
    verified = Generator(generator_path, threads=1, classifier=classifier_path)
    for digit in range(10):  # each digit's verified stream: the plain one with rejects skipped
        np.testing.assert_array_equal(images[labels == digit], verified.generate(
            digit, 10, seed=digit_seed(1, digit), verify=True, min_confidence=0.95))
    entry = json.loads((tmp_path / "v" / "manifest.json").read_text())["splits"]["train"]
    assert (entry["verify"], entry["min_confidence"]) == (True, 0.95)


def test_verify_that_runs_out_of_draws_exits_1_and_writes_nothing(generator: Generator, generator_path: Path,
                                                                  classifier_path: Path, tmp_path: Path):
    classifier = Classifier(classifier_path, threads=1)

    def short(seed: int) -> bool:  # some digit has fewer than 2 certain samples in its 40 draws
        return any(((labels == d) & (confidence >= 1.0)).sum() < 2 for d in range(10)
                   for labels, confidence in [classifier.predict(generator.generate(d, 40, seed=digit_seed(seed, d)))])

    seed = next((s for s in range(10) if short(s)), None)
    if seed is None:
        pytest.fail("every digit reached confidence 1.0 twice in 40 draws for seeds 0-9")
    result = cli("v", "--per-digit", "2", "--seed", str(seed), "--verify", "--min-confidence", "1",
                 "--model", str(generator_path), "--classifier", str(classifier_path), cwd=tmp_path)
    assert_one_line_error(result, "lower the minimum confidence", code=1)
    assert not (tmp_path / "v").exists() or list((tmp_path / "v").iterdir()) == []


def test_api_verification_error_leaves_nothing(generator_path: Path, tmp_path: Path):
    class NeverSure(Classifier):
        def __init__(self) -> None:  # no model: this stand-in reads every image as nothing
            pass

        def predict(self, images):
            return np.full(len(images), -1), np.zeros(len(images), np.float32)

    generator = Generator(generator_path, threads=1, classifier=NeverSure())
    with pytest.raises(VerificationError, match="only 0 of 3 samples"):
        write_dataset(tmp_path, 3, 0, generator=generator, verify=True)
    assert list(tmp_path.iterdir()) == []


# --- refusing to overwrite, and all-or-nothing ------------------------------------------------------


def test_an_existing_dataset_is_refused_without_force(written: Path, generator_path: Path, tmp_path: Path):
    target = tmp_path / "out"
    target.mkdir()
    for name in (*IDX_NAMES, "manifest.json"):
        (target / name).write_bytes((written / name).read_bytes())
    before = listing(target)
    model = ("--model", str(generator_path))
    refused = cli("out", "--per-digit", "3", "--seed", "9", *model, cwd=tmp_path)
    assert_one_line_error(refused, "out already holds a train dataset", "--force")
    assert listing(target) == before
    forced = cli("out", "--per-digit", "3", "--seed", "9", "--force", "-q", *model, cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert len(read_idx(target / IDX_NAMES[1])) == 30
    assert json.loads((target / "manifest.json").read_text())["splits"]["train"]["seed"] == 9


def test_real_mnist_files_and_foreign_manifests_are_refused(generator_path: Path, tmp_path: Path):
    model = ("--model", str(generator_path))
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "train-labels-idx1-ubyte").write_bytes(b"someone's real MNIST")  # unpacked, no manifest
    assert_one_line_error(cli("mnist", "--per-digit", "1", *model, cwd=tmp_path), "train-labels-idx1-ubyte")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "manifest.json").write_text('{"name": "not ours"}')
    assert_one_line_error(cli("other", "--per-digit", "1", "--split", "t10k", *model, cwd=tmp_path),
                          "is not an mnistgen dataset manifest", "--force")
    assert (tmp_path / "other" / "manifest.json").read_text() == '{"name": "not ours"}'
    assert [p.name for p in (tmp_path / "mnist").iterdir()] == ["train-labels-idx1-ubyte"]


def test_interrupted_write_leaves_the_directory_as_it_was(generator: Generator, tmp_path: Path, monkeypatch):
    write_dataset(tmp_path, 2, 0, generator=generator, split="t10k")
    before = listing(tmp_path)
    monkeypatch.setattr(dataset, "CHUNK", 50)

    def interrupt(done: int, total: int) -> None:
        if done >= 100:  # midway through the images, before the labels and the manifest
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_dataset(tmp_path, PER_DIGIT, 0, generator=generator, progress=interrupt)
    assert listing(tmp_path) == before  # no partial train files, no temporaries, the manifest unchanged


def test_a_failing_write_leaves_nothing(generator: Generator, tmp_path: Path, monkeypatch):
    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(dataset, "_write_npz", disk_full)
    with pytest.raises(OSError):
        write_dataset(tmp_path / "d", 2, 0, generator=generator, format="npz")
    assert list((tmp_path / "d").iterdir()) == []


# --- bad input: one line, exit 2, nothing written --------------------------------------------------

BAD_ARGUMENTS = [
    (("out",), "--per-digit is required"),
    (("--per-digit", "2"), "OUT_DIR is required"),
    (("out", "--per-digit", "0"), "--per-digit must be an integer 1-100000, got 0"),
    (("out", "--per-digit", "-3"), "--per-digit must be an integer 1-100000, got -3"),
    (("out", "--per-digit", "100001"), "--per-digit must be an integer 1-100000"),
    (("out", "--per-digit", "10000000000000"), "--per-digit must be an integer 1-100000"),
    (("out", "--per-digit", "many"), "--per-digit must be an integer 1-100000, got 'many'"),
    (("out", "--per-digit", "2.5"), "--per-digit must be an integer 1-100000, got '2.5'"),
    (("out", "--per-digit", "2", "--seed", "-1"), "--seed must be a non-negative integer"),
    (("out", "--per-digit", "2", "--seed", "0.5"), "--seed must be a non-negative integer", "got '0.5'"),
    (("out", "--per-digit", "2", "--split", "test"), "--split must be one of train, t10k, got 'test'"),
    (("out", "--per-digit", "2", "--format", "csv"), "--format must be one of idx, npz, got 'csv'"),
    (("out", "--per-digit", "2", "--min-confidence", "0.5"), "--min-confidence applies only with --verify"),
    (("out", "--per-digit", "2", "--verify", "--min-confidence", "1.5"), "--min-confidence must be a number from 0 to 1"),
    (("out", "--per-digit", "2", "--verify", "--min-confidence", "sure"), "--min-confidence must be", "got 'sure'"),
    (("out", "--per-digit", "2", "--threads", "0"), "--threads must be a positive integer"),
    (("out", "--per-digit", "2", "--threads", "1.5"), "--threads must be a positive integer", "got '1.5'"),
    (("out", "--per-digit", "2", "--stroke-width-range", "2"), "--stroke-width-range must be two numbers LOW:HIGH, got '2'"),
    (("out", "--per-digit", "2", "--slant-range", "30:-25"), "--slant-range must be two finite numbers LOW:HIGH with LOW <= HIGH"),
    (("out", "--per-digit", "2", "--slant-range", "a:b"), "--slant-range must be two numbers LOW:HIGH, got 'a:b'"),
    (("out", "--per-digit", "2", "--slant-range", "-25:nan"), "--slant-range must be two finite numbers"),
    (("out", "--per-digit", "2", "--stroke-width-range", "5:6"), "--stroke-width-range 5:6 misses digit", "legible range"),
    (("out", "--per-digit", "2", "--verify", "--slant-range", "-5:5"), "do not combine with --verify"),
]


@pytest.mark.parametrize("arguments,messages", [(arguments, messages) for arguments, *messages in BAD_ARGUMENTS],
                         ids=[" ".join(arguments) for arguments, *_ in BAD_ARGUMENTS])
def test_bad_arguments(tmp_path: Path, generator_path: Path, arguments, messages):
    assert_one_line_error(cli(*arguments, "--model", str(generator_path), cwd=tmp_path), *messages)
    assert list(tmp_path.iterdir()) == []


def test_bad_out_dirs_and_models(tmp_path: Path, generator_path: Path):
    (tmp_path / "file").write_text("x")
    model = ("--model", str(generator_path))
    assert_one_line_error(cli("file", "--per-digit", "1", *model, cwd=tmp_path), "OUT_DIR file is a file")
    assert_one_line_error(cli("file/sub", "--per-digit", "1", *model, cwd=tmp_path), "OUT_DIR file/sub is inside a file")
    if Path("/proc/self").is_dir():  # unwritable even for root, so this runs in containers too
        assert_one_line_error(cli("/proc/mnistgen-test", "--per-digit", "1", *model, cwd=tmp_path),
                              "/proc/mnistgen-test")
    assert_one_line_error(cli("out", "--per-digit", "1", "--model", "missing.onnx", cwd=tmp_path), "model file not found")
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_api_checks_its_arguments_before_opening_a_model(tmp_path: Path):
    with pytest.raises(InputError, match="per_digit must be an integer"):
        write_dataset(tmp_path, 0, generator=None)
    with pytest.raises(InputError, match="split must be one of"):
        write_dataset(tmp_path, 2, 0, generator=None, split="test")
    with pytest.raises(InputError, match="min_confidence applies only with verify"):
        dataset_arrays(2, 0, generator=None, min_confidence=0.5)
    assert list(tmp_path.iterdir()) == []


# --- the progress bar ------------------------------------------------------------------------------


def test_progress_bar_on_a_terminal_and_quiet(generator_path: Path, tmp_path: Path, monkeypatch, capsys):
    from mnistgen import dataset_cli

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for quiet, name in ((False, "loud"), (True, "quiet")):
        terminal = Terminal()
        monkeypatch.setattr(sys, "stderr", terminal)
        with pytest.raises(SystemExit) as exit_status:
            dataset_cli.main([str(tmp_path / name), "--per-digit", "100", "--seed", "0", "--model", str(generator_path),
                              *(["--quiet"] if quiet else [])])
        assert exit_status.value.code == 0
        printed = capsys.readouterr().out
        if quiet:
            assert terminal.getvalue() == "" and printed == ""
        else:
            assert printed.splitlines()[-1] == str(tmp_path / name / "manifest.json")
            assert terminal.getvalue().startswith("\rwriting dataset [") and terminal.getvalue().endswith("1000/1000\n")


def test_mnistgen_eval_scores_this_dataset(written: Path, generator: Generator):
    """Its figures, CAS included, are measured on what `mnistgen-dataset --per-digit N --seed S` writes."""
    from mnistgen.evaluation import samples

    scored = samples.generate(generator, PER_DIGIT, seed=5)
    np.testing.assert_array_equal(scored.images, read_idx(written / IDX_NAMES[0]))
    np.testing.assert_array_equal(scored.labels, read_idx(written / IDX_NAMES[1]))


def test_style_ranges_steer_each_sample_and_the_manifest_says_how(generator: Generator, generator_path: Path,
                                                                   tmp_path: Path):
    result = cli("out", "--per-digit", "30", "--seed", "3", "--stroke-width-range", "1.3:3.5",
                 "--slant-range", "-25:30", "--model", str(generator_path), "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    split = load_split("train", tmp_path / "out")
    images, labels = split.images, split.labels
    style = json.loads((tmp_path / "out" / "manifest.json").read_text())["splits"]["train"]["style"]
    targets, measured = np.array(style["targets"], dtype=float), np.array(style["measured"], dtype=float)
    assert targets.shape == measured.shape == (300, 2)
    np.testing.assert_allclose(measured, measure(images), atol=1e-4)  # what is recorded is what the files hold
    ranges = generator.style_space().ranges
    for digit in range(10):
        rows = labels == digit
        for control, asked in enumerate(((1.3, 3.5), (-25, 30))):
            low, high = max(asked[0], ranges[digit, control, 0]), min(asked[1], ranges[digit, control, 1])
            assert style["digit_ranges"][digit][control] == [low, high]
            assert (targets[rows, control] >= low - 1e-4).all() and (targets[rows, control] <= high + 1e-4).all()
            assert np.ptp(targets[rows, control]) > (high - low) / 3, "targets spread over the range"
    on_target = np.abs(measured - targets) <= TOLERANCE
    assert on_target.all(axis=1).mean() >= 0.9
    # the same seed without ranges draws the same latents: the targets come from a stream of their own
    plain = dataset_arrays(30, 3, generator=generator)[0]
    assert not np.array_equal(plain, images)
    again = cli("again", "--per-digit", "30", "--seed", "3", "--stroke-width-range", "1.3:3.5",
                "--slant-range", "-25:30", "--model", str(generator_path), "--quiet", cwd=tmp_path)
    assert again.returncode == 0
    assert (tmp_path / "again" / "train-images-idx3-ubyte.gz").read_bytes() == \
        (tmp_path / "out" / "train-images-idx3-ubyte.gz").read_bytes()
