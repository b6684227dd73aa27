"""web/ in the hand of one sample (issue 28): the module's encoder in Node gives Python's latents
and pixels for the same prepared digits, wrong encoders are refused, the module's prepare gives
Python's prepared digits for the same pictures, and the page's drawing pad, drawn on with
synthetic pointer events in headless Chromium, prepares the pad as Python would and writes the
number in that hand.

Same requirements and skips as tests/test_web.py (node, web/node_modules, chromium).
"""
from __future__ import annotations

import importlib
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mnistgen import Classifier, Generator, InputError, prepare, prepare_file
from mnistgen.export.parity import ATOL, RTOL
from mnistgen.training.data import load_split
from tests.conftest import require_with_shipped_models
from tests.phone_photo import phone_photo
from tests.test_handwriting import drawn, other_generator
from tests.test_web import RUNTIMES, TOLERANCE, WEB, assert_close, chromium, node, page_url  # noqa: F401 (fixtures)


@pytest.fixture(scope="module")
def python_generator(generator_path, classifier_path, encoder_path) -> Generator:
    return Generator(generator_path, threads=1, classifier=classifier_path, encoder=encoder_path)


@pytest.fixture(scope="module")
def prepared(mnist_dir, tmp_path_factory) -> tuple[np.ndarray, np.ndarray]:
    """20 real test digits and a phone photo of the first, prepared by Python: uint8 (21, 28, 28)."""
    split = load_split("test", mnist_dir)
    photo = phone_photo(split.images[0], tmp_path_factory.mktemp("photo") / "photo.jpg")
    images = np.concatenate([split.images[:20], prepare_file(photo)[None]])
    return images, np.concatenate([split.labels[:20], split.labels[:1]])


def node_encode(node: str, folder: Path, generator: Path, encoder: Path, images: np.ndarray, digits: np.ndarray,
                runtime: str) -> tuple[dict, np.ndarray | None, np.ndarray | None]:
    (folder / "images.u8").write_bytes(images.tobytes())
    job = {"generator": str(generator), "encoder": str(encoder), "options": {"runtime": runtime},
           "images": str(folder / "images.u8"), "digits": [int(d) for d in digits],
           "latents": str(folder / "latents.f32"), "pixels": str(folder / "pixels.u8")}
    (folder / "job.json").write_text(json.dumps(job))
    result = subprocess.run([node, str(WEB / "test" / "encode.mjs"), str(folder / "job.json")], capture_output=True,
                            text=True, timeout=300, cwd=WEB)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    if "error" in report:
        return report, None, None
    latents = np.frombuffer((folder / "latents.f32").read_bytes(), dtype=np.float32).reshape(len(images), -1)
    pixels = np.frombuffer((folder / "pixels.u8").read_bytes(), dtype=np.uint8).reshape(len(images), 28, 28)
    return report, latents, pixels


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_node_encode_matches_python(node, tmp_path, generator_path, encoder_path, python_generator, prepared, runtime):
    images, digits = prepared
    report, latents, pixels = node_encode(node, tmp_path, generator_path, encoder_path, images, digits, runtime)
    assert "error" not in report, report
    expected = python_generator.encode(images, digits)
    np.testing.assert_allclose(latents, expected, rtol=RTOL, atol=ATOL)
    redrawn = np.stack([python_generator.generate(int(d), latents=z[None])[0] for z, d in zip(expected, digits)])
    assert_close(pixels, redrawn, f"encoded digits redrawn on {runtime}")


@pytest.mark.parametrize("case", ("not an encoder", "another generator's encoder"))
def test_node_refuses_a_wrong_encoder(node, tmp_path, generator_path, encoder_path, prepared, case):
    images, digits = prepared
    generator, encoder, message = {
        "not an encoder": (generator_path, generator_path, "is not an mnistgen encoder model"),
        "another generator's encoder": (other_generator(tmp_path, generator_path), encoder_path,
                                        "is an encoder for another generator"),
    }[case]
    report, _, _ = node_encode(node, tmp_path, generator, encoder, images[:1], digits[:1], "node")
    assert report["error"]["error"] == "ModelError" and message in report["error"]["message"], report


# --- preparing a picture: the module's prepare against Python's ---------------------------------


@pytest.fixture(scope="module")
def pictures(mnist_dir, tmp_path_factory) -> dict[str, np.ndarray]:
    """Luminance 0..1 of the pictures both must prepare alike: drawings with thin and thick pens,
    off centre and tiny, MNIST digits both ways round, and the test phone photo as read_picture
    reads it (shadow, grain, 512 px)."""
    from mnistgen.prepare import read_picture

    split = load_split("test", mnist_dir)
    photo = phone_photo(split.images[0], tmp_path_factory.mktemp("photo") / "photo.jpg")
    return {
        "thin pen (thickened)": drawn(1),
        "thick pen": drawn(32),
        "pad-sized, 3 px pen": drawn(3, side=280),
        "off centre": drawn(8, side=300, shift=90),
        "tiny": drawn(2, side=40, shape=((5, 5), (15, 5), (10, 18))),
        "MNIST digit, dark on light": 1 - split.images[5] / np.float32(255),
        "MNIST digit, light on dark": split.images[7] / np.float32(255),
        "MNIST digit 4x, noisy paper": noisy(np.kron(split.images[9], np.ones((4, 4), np.uint8))),
        "phone photo": read_picture(photo),
    }


def noisy(image: np.ndarray) -> np.ndarray:
    """Dark grey ink on paper with seeded grain."""
    grain = np.random.default_rng(0).normal(0, 0.03, image.shape)
    return np.clip(1 - 0.8 * image / 255 + grain, 0, 1).astype(np.float32)


def node_prepare(node: str, folder: Path, greys: list[np.ndarray]) -> tuple[dict, np.ndarray]:
    greys = [np.ascontiguousarray(grey, dtype=np.float32) for grey in greys]
    (folder / "greys.f32").write_bytes(b"".join(grey.tobytes() for grey in greys))
    job = {"greys": str(folder / "greys.f32"), "shapes": [grey.shape for grey in greys], "out": str(folder / "out.u8")}
    (folder / "job.json").write_text(json.dumps(job))
    result = subprocess.run([node, str(WEB / "test" / "prepare.mjs"), str(folder / "job.json")], capture_output=True,
                            text=True, timeout=300, cwd=WEB)
    assert result.returncode == 0, result.stderr[-3000:]
    prepared = np.frombuffer((folder / "out.u8").read_bytes(), dtype=np.uint8).reshape(len(greys), 28, 28)
    return json.loads(result.stdout), prepared


def test_node_prepares_pictures_as_python_does(node, tmp_path, pictures):
    report, prepared = node_prepare(node, tmp_path, list(pictures.values()))
    for (name, grey), error, digit in zip(pictures.items(), report["errors"], prepared):
        assert error is None, (name, error)
        difference = np.abs(digit.astype(np.int16) - prepare(grey)).max()
        assert difference <= 1, f"{name}: the module's prepare is {difference} grey levels from Python's"


def test_node_prepare_has_pythons_constants_and_refusals(node, tmp_path):
    constants = {"box": "BOX", "centre": "CENTRE", "trim": "TRIM", "minContrast": "MIN_CONTRAST", "minInk": "MIN_INK",
                 "mnistStroke": "MNIST_STROKE", "minStroke": "MIN_STROKE", "paperSide": "PAPER_SIDE",
                 "paperWindow": "PAPER_WINDOW", "toneSample": "TONE_SAMPLE"}
    blank, all_ink, not_finite = np.ones((40, 40), np.float32), np.zeros((40, 40), np.float32), drawn(4)
    not_finite[3, 3] = np.nan
    report, _ = node_prepare(node, tmp_path, [blank, all_ink, not_finite])
    module = importlib.import_module("mnistgen.prepare")  # the module: mnistgen.prepare is also the function
    assert report["constants"] == {key: getattr(module, name) for key, name in constants.items()}
    for grey, error, fragment in zip((blank, all_ink, not_finite), report["errors"],
                                     ("is blank", "is all ink", "has non-finite pixels")):
        with pytest.raises(InputError, match=fragment):
            prepare(grey)
        assert error["error"] == "InputError" and error["message"].startswith(f"the picture {fragment}"), error


# --- the drawing pad in headless Chromium ------------------------------------------------------

# A 7 as a person draws it on the 280 px pad: the bar, then the stem, in the pad's own pixels
SEVEN = [[[70, 60], [130, 58], [210, 62]], [[210, 62], [180, 130], [150, 200], [130, 240]]]


def pad_visit(node: str, chromium: str, url: str, strokes: list, fill: dict, pointer: str = "touch") -> dict:
    job = {"url": url, "strokes": strokes, "fill": fill, "pointerType": pointer}
    result = subprocess.run([node, str(WEB / "test" / "pad.mjs"), json.dumps(job)], capture_output=True, text=True,
                            timeout=300, cwd=WEB, env={**os.environ, "CHROMIUM": chromium})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_the_pad_writes_the_number_in_the_drawn_hand(node, chromium, page_url, python_generator, classifier_path):
    result = pad_visit(node, chromium, page_url, SEVEN, {"digits": "2026", "count": "2", "seed": "3", "like_digit": "7"})
    assert result["status"] == "ready" and result["errors"] == [], result
    assert [image["name"] for image in result["images"]] == ["2026_0.png", "2026_1.png"]
    hand = result["hand"]
    drawn = np.array(hand["prepared"], dtype=np.uint8).reshape(28, 28)
    # the page prepared the pad with the module's prepare: Python's prepare of the pad's own pixels
    pad = np.array(result["padGrey"], dtype=np.uint8).reshape(280, 280) / np.float32(255)
    difference = np.abs(drawn.astype(np.int16) - prepare(pad)).max()
    assert difference <= 1, f"the page prepared the pad {difference} grey levels from Python's prepare"
    labels, _ = Classifier(classifier_path).predict(drawn)
    assert labels[0] == 7, "the synthetic strokes should draw a 7"
    latent = python_generator.encode(drawn, 7)
    np.testing.assert_allclose(np.array(hand["latent"], dtype=np.float32), latent[0], rtol=RTOL, atol=ATOL)
    first = np.array(result["images"][0]["grey"], dtype=np.uint8).reshape(28, 112)
    expected = np.concatenate([python_generator.generate(int(d), latents=latent)[0] for d in "2026"], axis=1)
    assert_close(first[None], expected[None], "the pad's hand on the page")  # the first sample is the hand itself
    written, _ = python_generator.classifier().predict(np.stack([first[:, 28 * i: 28 * (i + 1)] for i in range(4)]))
    require_with_shipped_models(written.tolist() == [2, 0, 2, 6], "the drawn hand writes 2026 legibly")


@pytest.mark.parametrize("case", ("empty pad", "no digit named"))
def test_the_pad_shows_an_error_not_a_blank_result(node, chromium, page_url, case):
    strokes, fill, message = {
        "empty pad": ([], {"digits": "2026", "like_digit": "7"}, "the pad is empty"),
        "no digit named": (SEVEN, {"digits": "2026", "like_digit": ""}, "say which digit you drew"),
    }[case]
    result = pad_visit(node, chromium, page_url, strokes, fill, pointer="mouse")
    assert result["status"].startswith("error: ") and message in result["status"], result
    assert result["message"] == result["status"].removeprefix("error: ")
    assert result["images"] == [] and result["hand"] is None
    assert not [error for error in result["errors"] if error.startswith("uncaught")], result["errors"]
