"""Shared fixtures: where MNIST is, and which models the tests use.

Models default to the shipped ones in models/; MNISTGEN_TEST_GENERATOR, MNISTGEN_TEST_CLASSIFIER,
MNISTGEN_TEST_CHECKPOINT, MNISTGEN_TEST_ENCODER and MNISTGEN_TEST_ENCODER_CHECKPOINT point
elsewhere (e.g. while developing without trained models).
A missing model fails, never skips: a release without working models must not pass.
"""
from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from typing import Callable, Iterator

import pytest

REPO = Path(__file__).resolve().parents[1]
MODELS = {
    "generator": ("MNISTGEN_TEST_GENERATOR", "generator.onnx"),
    "classifier": ("MNISTGEN_TEST_CLASSIFIER", "classifier.onnx"),
    "checkpoint": ("MNISTGEN_TEST_CHECKPOINT", "generator.pt"),
    "encoder": ("MNISTGEN_TEST_ENCODER", "encoder.onnx"),
    "encoder_checkpoint": ("MNISTGEN_TEST_ENCODER_CHECKPOINT", "encoder.pt"),
}


def model_path(which: str) -> Path:
    env, filename = MODELS[which]
    path = Path(os.environ[env]) if os.environ.get(env) else REPO / "models" / filename
    if not path.is_file():
        pytest.fail(f"no model at {path}: ship models/{filename} (see docs/training.md) or set {env}")
    return path


def require_with_shipped_models(holds: bool, what: str) -> None:
    """A result the shipped models must give: without it the test fails; with a stand-in model
    (an MNISTGEN_TEST_* override) it may legitimately not hold, and the test is skipped, saying why.
    """
    if holds:
        return
    stand_ins = [env for env, _ in MODELS.values() if os.environ.get(env)]
    if stand_ins:
        pytest.skip(f"{what}: not with the stand-in models of {', '.join(stand_ins)}")
    pytest.fail(f"{what}: required of the shipped models")


def digit_short_of_certainty(generator, classifier, count: int, seed: int) -> tuple[int, int]:
    """(digit, how many pass) for a digit of which fewer than ``count`` of the first
    VERIFY_DRAW_FACTOR x count seeded draws reach confidence 1.0, so verification must run out.

    Confidence 1.0 needs a float32 softmax rounded up to exactly 1: some digits of a model get
    there often, others never. Which ones is the model's business, so the digit is looked up.
    """
    from mnistgen import VERIFY_DRAW_FACTOR

    passing = {}
    for digit in range(10):
        labels, confidence = classifier.predict(generator.generate(digit, count=VERIFY_DRAW_FACTOR * count, seed=seed))
        passing[digit] = int(((labels == digit) & (confidence >= 1.0)).sum())
    digit = min(passing, key=passing.get)
    assert passing[digit] < count, f"every digit reached confidence 1.0 at least {count} times: {passing}"
    return digit, passing[digit]


def release_commands(document: str = "README.md", marker: str = "release") -> dict[str, list[str]]:
    """A release recipe (between its markers, in README.md by default), each command split into
    words and keyed by the command (the first line of each: the generator's export comes before
    the encoder's): the one place the shipped models' recipe is written down."""
    text = (REPO / document).read_text(encoding="utf-8")
    block = re.search(rf"<!-- {marker}:start -->\n```bash\n(.*?)```\n<!-- {marker}:end -->", text, re.S)
    assert block, f"{document} has no release recipe between <!-- {marker}:start --> and <!-- {marker}:end -->"
    lines = [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]
    commands: dict[str, list[str]] = {}
    for line in lines:
        commands.setdefault(shlex.split(line)[0], shlex.split(line))
    return commands


def option(words: list[str], name: str) -> str:
    """The value that follows ``name`` in a command's words."""
    assert name in words, f"{name} missing from {' '.join(words)}"
    return words[words.index(name) + 1]


def _cache_of_hands(patch: pytest.MonkeyPatch, folder: Path) -> Path:
    """Point mnistgen.hand_cache, here and in every command started, at ``folder``."""
    patch.setenv("MNISTGEN_CACHE_DIR", str(folder))
    patch.delenv("MNISTGEN_NO_CACHE", raising=False)
    return folder


@pytest.fixture(scope="session", autouse=True)
def session_hand_cache(tmp_path_factory) -> Iterator[Path]:
    """The cache of hands for what session- and module-scoped fixtures start (servers, pages),
    which are set up before each test's own ``hand_cache``."""
    with pytest.MonkeyPatch.context() as patch:
        yield _cache_of_hands(patch, tmp_path_factory.mktemp("session-cache"))


@pytest.fixture(autouse=True)
def hand_cache(tmp_path_factory, monkeypatch) -> Path:
    """Each test's own cache of hands (mnistgen.hand_cache), also for the commands it starts: no
    test reads what another remembered, and none writes into the user's ~/.cache."""
    return _cache_of_hands(monkeypatch, tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def generator_path() -> Path:
    return model_path("generator")


@pytest.fixture(scope="session")
def classifier_path() -> Path:
    return model_path("classifier")


@pytest.fixture(scope="session")
def checkpoint_path() -> Path:
    return model_path("checkpoint")


@pytest.fixture(scope="session")
def encoder_path() -> Path:
    return model_path("encoder")


@pytest.fixture(scope="session")
def encoder_checkpoint_path() -> Path:
    return model_path("encoder_checkpoint")


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """Real MNIST: $MNISTGEN_DATA, else ../shared/mnist beside the repo (CI and dev machines)."""
    path = Path(os.environ.get("MNISTGEN_DATA") or REPO.parent / "shared" / "mnist")
    if not (path / "train-images-idx3-ubyte.gz").exists() and not (path / "train-images-idx3-ubyte").exists():
        pytest.fail(f"MNIST not found in {path}: set MNISTGEN_DATA")
    return path


def style_target(generator, digits: int | str, control: str, where: float = 0.5) -> float:
    """A target ``where`` of the way through the range of ``control`` (stroke_width or slant) that
    every digit of ``digits`` allows, rounded to a tenth: tests ask for values the shipped fit
    allows, whatever its ranges."""
    ranges = generator.style_space().ranges[[int(d) for d in str(digits)], ("stroke_width", "slant").index(control)]
    low, high = float(ranges[:, 0].max()), float(ranges[:, 1].min())
    return min(max(round(low + where * (high - low), 1), low), high)


def with_style(generator_path: Path, out: Path, edit: Callable[[dict], dict]) -> Path:
    """A copy of the generator file at ``out`` whose metadata style is ``edit(style)``: the same
    network steered by another fit (ranges narrowed, levels dropped)."""
    import json

    import onnx

    model = onnx.load(str(generator_path))
    for prop in model.metadata_props:
        if prop.key == "style":
            prop.value = json.dumps(edit(json.loads(prop.value)))
    onnx.save(model, str(out))
    return out


def thinner_fit(style: dict, digit: int = 4, by: float = 3.0) -> dict:
    """``style`` whose fit reads every ``digit`` ``by`` px thinner than it is: a free stroke width
    held at that reading would go below what any pen draws."""
    style["intercept"][digit][0] -= by
    return style
