"""The `mnistgen` command, run in a subprocess with torch and onnx blocked.

Models: the shipped ones, or MNISTGEN_TEST_GENERATOR / MNISTGEN_TEST_CLASSIFIER.
"""
from __future__ import annotations

import hashlib
import inspect
import io
import json
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image

from mnistgen import Classifier, Generator
from mnistgen.model_file import default_model_path
from mnistgen.progress import MIN_ITEMS, Bar, bar_for
from tests.conftest import digit_short_of_certainty, require_with_shipped_models, style_target

BLOCKED = "import sys; sys.modules['torch'] = None; sys.modules['onnx'] = None; from mnistgen.cli import main; main()"


@pytest.fixture(scope="module")
def generator(generator_path: Path) -> Generator:
    return Generator(generator_path, threads=1)


def cli(*args: str, cwd: Path, binary: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCKED, *args], cwd=cwd, capture_output=True, text=not binary, timeout=120
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str, code: int = 2) -> None:
    stderr = result.stderr if isinstance(result.stderr, str) else result.stderr.decode()
    assert result.returncode == code, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mnistgen: error: "), stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert names_as_the_api_does(lines[0]) == [], lines[0]


def _api_names() -> frozenset[str]:
    """The names the Python API gives what the commands take: each command's parameters
    (count, min_confidence, per_digit, ...) and the default name of each check in limits (digit,
    number), so an option or check added later is covered too."""
    from mnistgen import cli as command_line, dataset_cli, limits

    names = {param.name for app in (command_line.app, dataset_cli.app) for param in typer.main.get_command(app).params}
    for function in vars(limits).values():
        name = inspect.signature(function).parameters.get("name") if inspect.isfunction(function) else None
        if name is not None and isinstance(name.default, str):
            names.add(name.default)
    return frozenset(names)


API_NAMES = _api_names()


def names_as_the_api_does(line: str) -> list[str]:
    """The names in a command's message written as the API writes them, not as typed (--count,
    DIGIT): the subject of "... must", "... applies" or "... is required", what a value applies
    "only with", and anywhere an API name with an underscore (never a word of prose)."""
    found = []
    for name in API_NAMES:
        bare = rf"(?<![\w-]){re.escape(name)}(?![\w-])"
        if re.search(rf"{bare}(?= must\b| applies\b| is required\b)|only with {bare}", line) or (
                "_" in name and re.search(bare, line)):
            found.append(name)
    return sorted(found)


def test_the_naming_rule_tells_api_names_from_options():
    assert names_as_the_api_does("count must be an integer 1-100000, got 0") == ["count"]
    assert names_as_the_api_does("min_confidence applies only with verify") == ["min_confidence", "verify"]
    assert names_as_the_api_does("number must be 1-32 digits 0-9") == ["number"]
    assert names_as_the_api_does("per_digit is required") == ["per_digit"]
    assert names_as_the_api_does("write in the hand: give like_digit=3") == ["like_digit"]
    for typed in ("--count must be an integer 1-100000, got 0", "--min-confidence applies only with --verify",
                  "DIGIT must be 1-32 digits 0-9", "--out - writes one image: use --count 1, or --format npy/gif"):
        assert names_as_the_api_does(typed) == [], typed


# --- writing files ---------------------------------------------------------------------------


def test_writes_one_png_per_sample_and_prints_paths(tmp_path: Path, generator_path: Path, generator: Generator):
    result = cli("5", "--count", "3", "--seed", "4", "--out", "out", "--model", str(generator_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    expected = [Path("out") / f"5_{i}.png" for i in range(3)]
    assert result.stdout.splitlines() == [str(p) for p in expected]
    assert result.stderr == ""
    reference = generator.generate(5, count=3, seed=4)
    for index, path in enumerate(expected):
        with Image.open(tmp_path / path) as picture:
            assert (picture.format, picture.mode, picture.size) == ("PNG", "L", (28, 28))
            np.testing.assert_array_equal(np.asarray(picture), reference[index])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [p.name for p in expected]  # no temp files


def test_grid_npy_quiet_and_number(tmp_path: Path, generator_path: Path, generator: Generator):
    model = ("--model", str(generator_path))
    assert cli("2", "-n", "5", "--grid", "-s", "1", "-o", "g", *model, cwd=tmp_path).stdout.strip() == "g/2_grid.png"
    with Image.open(tmp_path / "g" / "2_grid.png") as picture:
        assert picture.size == (3 * 28, 2 * 28)
        np.testing.assert_array_equal(np.asarray(picture)[:28, :28], generator.generate(2, seed=1)[0])
    quiet = cli("2", "-n", "4", "--format", "npy", "-s", "1", "-o", "n", "--quiet", *model, cwd=tmp_path)
    assert quiet.returncode == 0 and quiet.stdout == ""
    np.testing.assert_array_equal(np.load(tmp_path / "n" / "2.npy"), generator.generate(2, count=4, seed=1))
    number = cli("2026", "-n", "2", "-s", "3", *model, cwd=tmp_path)
    assert number.stdout.split() == ["2026_0.png", "2026_1.png"]
    with Image.open(tmp_path / "2026_1.png") as picture:
        np.testing.assert_array_equal(np.asarray(picture), generator.number("2026", count=2, seed=3)[1])


def test_style_walk_strip(tmp_path: Path, generator_path: Path, generator: Generator):
    model = ("--model", str(generator_path))
    walk = cli("4", "--style-walk", "--steps", "5", "-s", "0", *model, cwd=tmp_path)
    assert walk.stdout.strip() == "4_walk.png"
    with Image.open(tmp_path / "4_walk.png") as picture:
        np.testing.assert_array_equal(np.asarray(picture), np.hstack(generator.style_walk(4, 5, seed=0)))


def test_morph_strip_and_gif(tmp_path: Path, generator_path: Path, generator: Generator):
    require_with_shipped_models("morph" in generator.capabilities, "the generator can morph")
    model = ("--model", str(generator_path))
    strip = cli("3", "--morph", "8", "--steps", "6", "-s", "0", *model, cwd=tmp_path)
    assert strip.stdout.strip() == "3_to_8.png"
    with Image.open(tmp_path / "3_to_8.png") as picture:
        np.testing.assert_array_equal(np.asarray(picture), np.hstack(generator.morph(3, 8, 6, seed=0)))
    gif = cli("3", "--morph", "8", "--format", "gif", *model, cwd=tmp_path)
    assert gif.stdout.strip() == "3_to_8.gif"
    with Image.open(tmp_path / "3_to_8.gif") as picture:
        assert picture.n_frames == 16 and picture.size == (28, 28)


def test_verify_writes_samples(tmp_path: Path, generator_path: Path, classifier_path: Path):
    result = cli("1", "-n", "2", "--verify", "--min-confidence", "0", "-s", "0", "--model", str(generator_path),
                 "--classifier", str(classifier_path), cwd=tmp_path)
    # an untrained stand-in classifier may never say "1"; the shipped one must
    require_with_shipped_models(result.returncode != 1, "--verify finds two 1s at confidence 0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1_0.png", "1_1.png"]
    expected = Generator(generator_path, threads=1, classifier=classifier_path).generate(
        1, count=2, seed=0, verify=True, min_confidence=0)
    for index, picture in enumerate(expected):
        with Image.open(tmp_path / f"1_{index}.png") as written:
            np.testing.assert_array_equal(np.asarray(written), picture)


def test_verify_that_runs_out_of_draws_exits_1_and_writes_nothing(tmp_path: Path, generator: Generator,
                                                                  generator_path: Path, classifier_path: Path):
    digit, passing = digit_short_of_certainty(generator, Classifier(classifier_path, threads=1), count=2, seed=0)
    result = cli(str(digit), "-n", "2", "--verify", "--min-confidence", "1", "-s", "0", "--model", str(generator_path),
                 "--classifier", str(classifier_path), cwd=tmp_path)
    assert_one_line_error(result, f"only {passing} of 2 samples", "lower the minimum confidence", code=1)
    assert result.stdout == "" and list(tmp_path.iterdir()) == []


def test_stdout_png_and_npy(tmp_path: Path, generator_path: Path, generator: Generator):
    png = cli("9", "-s", "2", "-o", "-", "--model", str(generator_path), cwd=tmp_path, binary=True)
    assert png.returncode == 0, png.stderr
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png.stdout))), generator.generate(9, seed=2)[0])
    npy = cli("9", "-n", "3", "-s", "2", "-f", "npy", "-o", "-", "--model", str(generator_path), cwd=tmp_path, binary=True)
    np.testing.assert_array_equal(np.load(io.BytesIO(npy.stdout)), generator.generate(9, count=3, seed=2))
    assert list(tmp_path.iterdir()) == []


def test_info_without_digit(tmp_path: Path, generator_path: Path):
    result = cli("--info", "--model", str(generator_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["kind"] == "generator" and info["model"] == str(generator_path)
    # the package version and the model that draws, by name and content
    assert info["mnistgen_version"] == metadata.version("mnistgen")
    assert info["model_file"] == generator_path.name
    assert info["model_sha256"] == hashlib.sha256(generator_path.read_bytes()).hexdigest()
    assert {"generate", "numbers", "verify", "style-walk"} <= set(info["capabilities"])
    assert info["limits"]["count"] == 100_000


def test_version_names_the_package_version_and_the_shipped_model(tmp_path: Path):
    result = cli("--version", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (0, "")
    shipped = default_model_path("generator.onnx")
    sha256 = hashlib.sha256(shipped.read_bytes()).hexdigest()
    assert result.stdout == f"mnistgen {metadata.version('mnistgen')} (model generator.onnx, sha256 {sha256[:12]})\n"
    assert not list(tmp_path.iterdir())


def test_version_without_a_shipped_model_still_answers(tmp_path: Path):
    # a source tree whose models/ was never filled: the version is still printed, saying so
    code = ("import sys, mnistgen.model_file as m, mnistgen.cli as c; m.resources.files = lambda name: "
            f"__import__('pathlib').Path({str(tmp_path)!r}); c.main(['--version'])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"mnistgen {metadata.version('mnistgen')} (no shipped model)\n"


def test_module_and_console_script_entry_points(tmp_path: Path):
    assert subprocess.run([sys.executable, "-m", "mnistgen", "--help"], capture_output=True).returncode == 0
    script = shutil.which("mnistgen", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("console script not installed beside this interpreter")
    assert subprocess.run([script, "--help"], capture_output=True).returncode == 0


# --- bad input: one line, exit 2, nothing written -----------------------------------------------

BAD_ARGUMENTS = [
    ((), "DIGIT is required"),
    (("",), "DIGIT must be 1-32 digits"),
    (("12a",), "DIGIT must be 1-32 digits"),
    (("1" * 33,), "DIGIT must be 1-32 digits"),
    (("-5",), "No such option"),
    (("1", "2"), "DIGIT is one argument: write the number 12 as `mnistgen 12`"),
    (("20", "2", "6", "--count", "3"), "write the number 2026 as `mnistgen 2026`"),
    (("7", "serve"), "unexpected extra argument(s) (serve): mnistgen takes one DIGIT"),  # not a number: no 7serve
    (("x", "2"), "unexpected extra argument(s) (2)"),
    (("5", "--count", "0"), "--count must be an integer 1-100000, got 0"),
    (("5", "--count", "100001"), "--count must be an integer 1-100000"),
    (("2026", "--count", "25001"), "--count must be an integer 1-25000"),
    (("5", "--count", "many"), "--count must be an integer 1-100000, got 'many'"),
    (("5", "--count", "10.5"), "--count must be an integer 1-100000, got '10.5'"),
    (("5", "--seed", "-1"), "--seed must be a non-negative integer"),
    (("5", "--seed", "1.5"), "--seed must be a non-negative integer (or omitted for fresh randomness), got '1.5'"),
    (("5", "--threads", "0"), "--threads must be a positive integer"),
    (("5", "--threads", "two"), "--threads must be a positive integer (or omitted for onnxruntime's default), got 'two'"),
    (("--info", "--threads", "0"), "--threads must be a positive integer"),
    (("--info", "--threads", "1.5"), "--threads must be a positive integer"),
    (("5", "--verify", "--min-confidence", "1.5"), "--min-confidence must be a number from 0 to 1, got 1.5"),
    (("5", "--verify", "--min-confidence", "high"), "--min-confidence must be a number from 0 to 1, got 'high'"),
    (("5", "--min-confidence", "0.5"), "--min-confidence applies only with --verify"),
    (("5", "--morph", "8", "--steps", "1"), "--steps must be an integer 2-256"),
    (("5", "--morph", "8", "--steps", "257"), "--steps must be an integer 2-256"),
    (("5", "--morph", "8", "--steps", "2.5"), "--steps must be an integer 2-256, got '2.5'"),
    (("5", "--morph", "10"), "--morph must be an integer 0-9, got 10"),
    (("5", "--morph", "eight"), "--morph must be an integer 0-9, got 'eight'"),
    (("5", "--steps", "4"), "--steps applies only with --morph or --style-walk"),
    (("5", "--morph", "8", "--style-walk"), "--morph and --style-walk are alternatives"),
    (("5", "--morph", "8", "--count", "2"), "--morph/--style-walk take a single DIGIT"),
    (("25", "--verify"), "--verify works with a single DIGIT"),
    (("5", "--format", "jpg"), "--format must be one of png, npy, gif"),
    (("5", "--grid", "--format", "npy"), "--grid applies only to --format png"),
    (("5", "--count", "2", "--out", "-"), "--out - writes one image"),
    # --like's options are checked before the picture is opened: x.png need not exist
    (("5", "--like", "x.png", "--like-digit", "12"), "--like-digit must be an integer 0-9, got 12"),
    (("5", "--like", "x.png", "--like-digit", "7.0"), "--like-digit must be an integer 0-9, got '7.0'"),
    (("5", "--like", "x.png", "-n", "3", "--spread", "2"), "--spread must be a number from 0 (the hand itself) to 1"),
    (("5", "--like", "x.png", "-n", "3", "--spread", "wide"), "--spread must be a number from 0", "got 'wide'"),
    (("5", "--like-digit", "3"), "--like-digit applies only with --like"),
    (("5", "--spread", "0.5"), "--spread applies only with --like"),
    (("5", "--encoder", "e.onnx"), "--encoder applies only with --like"),
    (("5", "--like", "x.png", "--style-walk"), "--like and --style-walk are alternatives"),
    (("5", "--like", "x.png", "--verify"), "--verify does not combine with --like"),
    (("5", "--like", "x.png", "--morph", "8", "--seed", "1"), "--like with --morph", "no --seed or --spread"),
    # style: numbers first (before any model opens), then each digit's range from the model
    (("7", "--stroke-width", "9"), "--stroke-width for digit 7 must be", "px (legible there), got 9"),
    (("7", "--slant", "-80"), "--slant for digit 7 must be", "degrees (legible there), got -80"),
    (("2026", "--slant", "44"), "--slant for digit", "got 44"),
    (("7", "--slant", "left"), "--slant must be a number within the digit's range (--info lists them), got 'left'"),
    (("7", "--stroke-width", "nan"), "--stroke-width must be a number"),
    (("7", "--legibility", "2"), "--legibility must be a number from 0 to 1, got 2"),
    (("7", "--legibility", "clear"), "--legibility must be a number from 0 to 1, got 'clear'"),
    (("5", "--like", "x.png", "--slant", "x"), "--slant must be a number"),
]


@pytest.mark.parametrize("arguments,messages", [(arguments, messages) for arguments, *messages in BAD_ARGUMENTS],
                         ids=[" ".join(arguments) or "nothing" for arguments, *_ in BAD_ARGUMENTS])
def test_bad_arguments(tmp_path: Path, generator_path: Path, arguments, messages):
    # every refusal of the command's own options is a row here; assert_one_line_error also checks
    # that the line names each option as typed, so a message worded as the API's fails its row
    result = cli(*arguments, "--model", str(generator_path), cwd=tmp_path)
    assert_one_line_error(result, *messages)
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_bad_out_paths(tmp_path: Path, generator_path: Path):
    (tmp_path / "file").write_text("x")
    for out in ("file", "file/sub"):
        result = cli("5", "--out", out, "--model", str(generator_path), cwd=tmp_path)
        assert_one_line_error(result, f"--out {out} is", "directory")
    if Path("/proc/self").is_dir():  # unwritable even for root, so this runs in containers too
        assert_one_line_error(cli("5", "--out", "/proc/mnistgen-test", "--model", str(generator_path), cwd=tmp_path),
                              "/proc/mnistgen-test")
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_bad_models(tmp_path: Path, classifier_path: Path):
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    cases = [("missing.onnx", "model file not found"), ("broken.onnx", "not a valid ONNX file"),
             (str(classifier_path), "not an mnistgen generator model")]
    for model, message in cases:
        assert_one_line_error(cli("5", "--model", model, "-o", "out", cwd=tmp_path), message)
        assert_one_line_error(cli("--info", "--model", model, cwd=tmp_path), message)
    assert [p.name for p in tmp_path.iterdir()] == ["broken.onnx"]


def test_failure_midway_removes_files_already_written(tmp_path: Path, generator_path: Path):
    (tmp_path / "out" / "5_2.png").mkdir(parents=True)  # the third file cannot be written
    (tmp_path / "out" / "5_0.png").write_bytes(b"older file, kept")
    result = cli("5", "-n", "4", "-o", "out", "--model", str(generator_path), cwd=tmp_path)
    assert_one_line_error(result, "cannot write output to out")
    assert result.stdout == ""
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["5_0.png", "5_2.png"]
    assert (tmp_path / "out" / "5_0.png").read_bytes() == b"older file, kept"


def test_failure_midway_leaves_overwritten_files_as_they_were(tmp_path: Path):
    from mnistgen.outputs import Artifact, write_directory

    def disk_full(stream) -> None:
        raise OSError(28, "No space left on device")

    before = {"5_0.png": b"older 0", "5_1.png": b"older 1"}
    for name, data in before.items():
        (tmp_path / name).write_bytes(data)
    items = [Artifact(f"5_{i}.png", lambda stream: stream.write(b"new")) for i in range(3)]
    with pytest.raises(OSError):
        write_directory(tmp_path, [*items, Artifact("5_3.png", disk_full)], progress=None)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_progress_bar_only_for_long_runs_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    assert bar_for("x", MIN_ITEMS, quiet=False, stream=io.StringIO()) is None  # not a terminal
    assert bar_for("x", MIN_ITEMS - 1, quiet=False, stream=terminal) is None
    assert bar_for("x", MIN_ITEMS, quiet=True, stream=terminal) is None
    bar = bar_for("x", MIN_ITEMS, quiet=False, stream=terminal)
    bar(MIN_ITEMS, MIN_ITEMS)
    assert terminal.getvalue().endswith(f"{MIN_ITEMS}/{MIN_ITEMS}\n")


def test_progress_bar_off_a_terminal_writes_one_line_when_closed():
    log = io.StringIO()
    bar = Bar("epoch 1/2", 10, start=3, stream=log)  # training's use: a log file, resumed mid-epoch
    bar.update(4, "W +0.100")
    assert log.getvalue() == ""
    bar.update(10, "W +0.200")
    bar.close()
    assert log.getvalue() == f"epoch 1/2 [{'#' * 30}] 10/10 W +0.200\n"


def test_long_run_without_terminal_writes_nothing_to_stderr(tmp_path: Path, generator_path: Path):
    result = cli("0", "-n", str(MIN_ITEMS), "-f", "npy", "-o", "-", "--model", str(generator_path), cwd=tmp_path,
                 binary=True)
    assert result.returncode == 0 and result.stderr == b""


# --- style controls -------------------------------------------------------------------------


def test_style_options_give_the_apis_images(tmp_path: Path, generator_path: Path, generator: Generator):
    model = ("--model", str(generator_path))
    width, slant = style_target(generator, 7, "stroke_width", 0.8), style_target(generator, 7, "slant", 0.3)
    result = cli("7", "-n", "16", "-s", "4", "--stroke-width", str(width), "--slant", str(slant), "--legibility", "0.8",
                 "--format", "npy", "-o", "s", *model, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    expected = generator.generate(7, 16, seed=4, stroke_width=width, slant=slant, legibility=0.8)
    np.testing.assert_array_equal(np.load(tmp_path / "s" / "7.npy"), expected)
    assert not np.array_equal(expected, generator.generate(7, 16, seed=4))
    lean = style_target(generator, 4, "slant", 0.8)
    walk = cli("4", "--style-walk", "--steps", "5", "-s", "1", "--slant", str(lean), "--format", "npy", "-o", "w", *model,
               cwd=tmp_path)
    assert walk.returncode == 0, walk.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "w" / "4_walk.npy"), generator.style_walk(4, 5, seed=1, slant=lean))


def test_style_options_with_like(tmp_path: Path, generator_path: Path, generator: Generator):
    picture = tmp_path / "seven.png"
    Image.fromarray(generator.generate(7, 1, seed=0)[0]).save(picture)
    width = style_target(generator, 7, "stroke_width", 0.7)
    result = cli("7", "--like", str(picture), "--like-digit", "7", "-n", "3", "-s", "2", "--stroke-width", str(width),
                 "--format", "npy", "-o", "h", "--model", str(generator_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    hand = generator.hand(picture, digit=7)
    np.testing.assert_array_equal(np.load(tmp_path / "h" / "7.npy"),
                                  generator.in_hand("7", hand, count=3, seed=2, stroke_width=width))


def test_info_lists_the_style_controls_and_their_ranges(tmp_path: Path, generator_path: Path, generator: Generator):
    result = cli("--info", "--model", str(generator_path), cwd=tmp_path)
    info = json.loads(result.stdout)
    assert "style" in info["capabilities"]
    space = generator.style_space()
    for control, name in enumerate(("stroke_width", "slant")):
        assert info["style"][name]["range"] == {str(d): list(space.ranges[d, control]) for d in range(10)}
        by_legibility = info["style"][name]["by_legibility"]
        assert list(by_legibility) == [f"{level:g}" for level in space.levels]
        for k, level in enumerate(space.levels):
            spans = space.level_ranges[:, control, k]  # an empty one (no target holds there) is null
            assert by_legibility[f"{level:g}"] == {str(d): None if spans[d, 0] > spans[d, 1] else list(spans[d])
                                                   for d in range(10)}
    assert info["style"]["legibility"]["range"] == [0.0, 1.0]
    assert len(result.stdout) < 20_000, "--info shows the ranges, not the fit's directions"


def test_a_model_without_style_refuses_the_options_in_one_line(tmp_path: Path):
    from tests.tiny_models import tiny_generator

    model = ("--model", str(tiny_generator(tmp_path / "plain.onnx")))
    assert_one_line_error(cli("3", "--slant", "5", *model, cwd=tmp_path), "has no style directions")
    assert cli("3", "--legibility", "0.5", *model, cwd=tmp_path).returncode == 0
    assert cli("3", *model, cwd=tmp_path).returncode == 0
