"""Writing in the hand of one sample (issue 28): picture preparation, the encoder (runtime and
torch parity), Generator.encode/hand, and `mnistgen --like` with all its bad input.

Models: the shipped ones (generator, classifier, encoder and its torch weights), or the
MNISTGEN_TEST_* overrides of tests/conftest.py.
"""
from __future__ import annotations

import importlib
import io
import json
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

from mnistgen import Classifier, Encoder, Generator, InputError, ModelError, prepare, prepare_file, variations
from mnistgen.export.encoder import export_encoder
from mnistgen.export.errors import ExportError
from mnistgen.export.parity import ATOL, RTOL
from mnistgen.files import file_identity
from mnistgen.prepare import BOX, CENTRE, MAX_PIXELS
from mnistgen.training.checkpoint import build_encoder, build_generator, load_checkpoint
from mnistgen.training.data import load_split
from tests.conftest import option, release_commands, require_with_shipped_models
from tests.phone_photo import phone_photo
from tests.test_cli import assert_one_line_error, cli
from tests.tiny_models import tiny_generator


@pytest.fixture(scope="module")
def test_digits(mnist_dir: Path):
    split = load_split("test", mnist_dir)
    return split.images[:200], split.labels[:200]


@pytest.fixture(scope="module")
def generator(generator_path: Path, classifier_path: Path, encoder_path: Path) -> Generator:
    return Generator(generator_path, threads=1, classifier=classifier_path, encoder=encoder_path)


@pytest.fixture(scope="module")
def classifier(classifier_path: Path) -> Classifier:
    return Classifier(classifier_path, threads=1)


@pytest.fixture(scope="module")
def photo(tmp_path_factory, test_digits) -> tuple[Path, int, np.ndarray]:
    """A phone photo (sideways JPEG, shadow, tinted paper) of the first MNIST test digit (a 7)."""
    images, labels = test_digits
    path = phone_photo(images[0], tmp_path_factory.mktemp("photo") / "my7.jpg")
    return path, int(labels[0]), images[0]


def models(generator_path: Path, classifier_path: Path, encoder_path: Path) -> list[str]:
    return ["--model", str(generator_path), "--classifier", str(classifier_path), "--encoder", str(encoder_path)]


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    mass = image.astype(np.float64)
    rows, cols = np.indices(image.shape)
    return float((mass * rows).sum() / mass.sum()), float((mass * cols).sum() / mass.sum())


# --- preparing a picture as MNIST prepared its digits -----------------------------------------


def test_mnist_digits_come_back_as_they_were(test_digits, classifier):
    images, labels = test_digits
    prepared = np.stack([prepare(1.0 - image / 255.0) for image in images])  # as dark ink on paper
    assert np.abs(prepared.astype(np.int16) - images).mean() < 10  # grey levels
    read, _ = classifier.predict(prepared)
    assert (read == labels).mean() >= 0.99


def test_light_ink_on_dark_is_detected(test_digits):
    image = test_digits[0][3]
    np.testing.assert_array_equal(prepare(image / 255.0), prepare(1.0 - image / 255.0))


def test_crop_scale_and_centre_follow_mnist():
    grey = np.ones((300, 120), dtype=np.float32)
    grey[40:260, 50:70] = 0.0  # a tall bar off centre: 220 x 20 ink
    prepared = prepare(grey)
    rows, cols = np.nonzero(prepared > 0)
    assert rows.max() - rows.min() + 1 == BOX  # the long side fills the 20 px box
    assert cols.max() - cols.min() + 1 <= 4  # the aspect is kept
    row, col = centre_of_mass(prepared)
    assert abs(row - CENTRE) <= 0.5 and abs(col - CENTRE) <= 0.5


# MNIST's own numbers, written out: a test that read them from mnistgen.prepare would follow a wrong value there
MNIST_BOX, MNIST_CENTRE, MNIST_STROKE = 20, 14.0, 1.8


def stroke_width(image: np.ndarray) -> float:
    """2 x area / perimeter of the ink >= 128 (4-neighbour edges): a stroke of width w and length L
    has area w L and perimeter about 2 L. MNIST's test digits: median 1.86, quartiles 1.58-2.24."""
    mask = np.pad(image >= 128, 1)
    perimeter = (mask[1:] != mask[:-1]).sum() + (mask[:, 1:] != mask[:, :-1]).sum()
    return 2.0 * mask.sum() / perimeter


def drawn(width: int, side: int = 200, shape: tuple = ((50, 40), (150, 40), (100, 170)), shift: int = 0) -> np.ndarray:
    """A 7 drawn with a pen `width` px wide, dark on white paper, as luminance 0..1."""
    from PIL import ImageDraw

    picture = Image.new("L", (side, side), 255)
    ImageDraw.Draw(picture).line([(x + shift, y + shift) for x, y in shape], fill=0, width=width)
    return np.asarray(picture, dtype=np.float32) / 255.0


@pytest.mark.parametrize("pen", (1, 3))
def test_thin_strokes_come_out_with_mnists_stroke_width(pen):
    # a 1 px pen over a 130 px digit is a 0.15 px stroke once scaled into the box: thickened, not lost
    assert abs(stroke_width(prepare(drawn(pen))) - MNIST_STROKE) <= 0.3


def test_thick_strokes_keep_their_width():
    # a 32 px pen over a 162 px digit (stroke included) is about 4 px in the box: not thinned to MNIST's
    assert stroke_width(prepare(drawn(32))) >= 3.0


def test_prepared_digit_is_white_on_black_in_mnists_box_at_its_centre_of_mass():
    grey = np.ones((240, 320), dtype=np.float32)
    grey[30:210, 60:70] = 0.0  # an L: its centre of mass lies 4 px below and 3 px left of
    grey[195:210, 60:180] = 0.0  # the middle of its box once scaled
    prepared = prepare(grey)
    rows, cols = np.nonzero(prepared)
    assert prepared[0, 0] == 0 and prepared.max() == 255  # white ink on black, the core full
    assert np.ptp(rows) + 1 == MNIST_BOX  # the long side (180 px of ink) fills the box, no more
    assert 12 <= np.ptp(cols) + 1 <= 14  # the aspect kept: 120 px of ink is 13.3 of the box
    row, col = centre_of_mass(prepared)
    assert abs(row - MNIST_CENTRE) <= 0.5 and abs(col - MNIST_CENTRE) <= 0.5


def test_a_speck_far_from_the_digit_is_cropped_off():
    clean = drawn(12, side=300)
    specked = clean.copy()
    specked[290:292, 290:292] = 0.0  # a speck of dust in a far corner: 4 of the digit's ~2,900 px of ink
    # the box may move by a pixel (the ink mass cut off each side changes a little), not shrink to take the speck in
    assert np.abs(prepare(specked).astype(np.int16) - prepare(clean)).mean() < 4


@pytest.mark.parametrize("bad", (np.nan, np.inf, -np.inf))
def test_non_finite_pixels_are_refused(generator, tmp_path, bad):
    grey = drawn(8)
    grey[5, 5] = bad
    with pytest.raises(InputError, match="^the picture has non-finite pixels .*; --like takes"):
        prepare(grey)
    with pytest.raises(InputError, match="^the picture has non-finite pixels"):
        generator.hand(grey, digit=7)
    with pytest.raises(InputError, match="^the picture has non-finite pixels"):
        generator.hand(Image.fromarray(grey, "F"), digit=7)
    tiff = tmp_path / "float.tiff"
    Image.fromarray(grey, "F").save(tiff)  # Pillow mode F: the float TIFF a scanner or a script may write
    with pytest.raises(InputError, match=f"^--like {tiff} has non-finite pixels"):
        prepare_file(tiff)


def test_a_picture_over_the_byte_limit_is_refused(photo, monkeypatch):
    data = photo[0].read_bytes()
    prepare_module = importlib.import_module("mnistgen.prepare")  # the module: mnistgen.prepare is also the function
    monkeypatch.setattr(prepare_module, "MAX_PICTURE_BYTES", len(data) - 1)
    refusal = f"is too large ({len(data):,} bytes; a picture may be at most {(len(data) - 1) / 2**20:g} MiB); --like takes"
    with pytest.raises(InputError, match=f"^{re.escape(f'--like {photo[0]} {refusal}')}"):
        prepare_file(photo[0])
    with pytest.raises(InputError, match=f"^{re.escape(f'the picture {refusal}')}"):
        prepare_file(data)
    monkeypatch.setattr(prepare_module, "MAX_PICTURE_BYTES", len(data))
    prepare_file(data)  # the limit itself is allowed


def test_a_phone_photo_with_a_shadow_is_read(photo, classifier, generator):
    path, digit, original = photo
    prepared = prepare_file(path)
    assert np.abs(prepared.astype(np.int16) - original).mean() < 15
    labels, confidence = classifier.predict(prepared)
    assert labels[0] == digit and confidence[0] >= 0.9
    # the photo's hand is the original's: both redraw alike
    photo_redrawn = generator.generate(digit, latents=generator.encode(prepared, digit))
    original_redrawn = generator.generate(digit, latents=generator.encode(original, digit))
    assert np.abs(photo_redrawn.astype(np.int16) - original_redrawn).mean() < 15


@pytest.mark.parametrize("orientation", range(1, 9))
def test_each_exif_orientation_is_turned_as_pillow_turns_it(tmp_path, orientation):
    from PIL import ImageOps

    grey = np.full((90, 60), 255, dtype=np.uint8)
    grey[10:70, 8:20] = 0  # an L: no turn or flip of it looks like another
    grey[58:70, 8:50] = 0
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(grey).save(tmp_path / "l.jpg", format="JPEG", quality=95, exif=exif)
    with Image.open(tmp_path / "l.jpg") as stored:
        expected = prepare(np.asarray(ImageOps.exif_transpose(stored), dtype=np.float32) / 255.0)
    np.testing.assert_array_equal(prepare_file(tmp_path / "l.jpg"), expected)


def test_colour_png_with_transparency(tmp_path, test_digits, classifier):
    image, digit = test_digits[0][1], test_digits[1][1]
    big = np.asarray(Image.fromarray(image).resize((200, 200), Image.Resampling.BICUBIC))
    rgba = np.zeros((200, 200, 4), dtype=np.uint8)
    rgba[..., :3] = (200, 30, 30)  # red ink on a transparent sheet
    rgba[..., 3] = big
    Image.fromarray(rgba, "RGBA").save(tmp_path / "red.png")
    labels, _ = classifier.predict(prepare_file(tmp_path / "red.png"))
    assert labels[0] == digit


def test_every_accepted_format_is_read_by_its_bytes_not_its_name(tmp_path, test_digits):
    image = 255 - np.asarray(Image.fromarray(test_digits[0][2]).resize((112, 112), Image.Resampling.BICUBIC))
    reference = prepare_file(_saved(Image.fromarray(image), tmp_path / "digit.png", "PNG"))
    for form in ("JPEG", "GIF", "BMP", "TIFF", "WEBP"):
        # each saved under a misleading name: the file's first bytes pick the decoder
        path = _saved(Image.fromarray(image), tmp_path / f"{form.lower()}.png.jpg", form, quality=95)
        assert np.abs(prepare_file(path).astype(np.int16) - reference).mean() < 6, form
    Image.fromarray(image).save(tmp_path / "digit.ico", format="ICO")  # a format that is not accepted
    with pytest.raises(InputError, match="is not an image; --like takes"):
        prepare_file(tmp_path / "digit.ico")


def _saved(picture: Image.Image, path: Path, form: str, **options) -> Path:
    picture.save(path, format=form, **(options if form == "JPEG" else {}))
    return path


# --- the encoder: runtime, API and torch parity -------------------------------------------------


def test_encoder_records_its_generator(encoder_path, generator_path):
    encoder = Encoder(encoder_path)
    assert encoder.generator_sha256 == file_identity(generator_path)["sha256"]
    encoder.check_pair(generator_path, encoder.latent_dim)


def test_encode_shapes_and_digits(generator, test_digits):
    images, labels = test_digits
    latents = generator.encode(images[:5], labels[:5])
    assert latents.shape == (5, generator.latent_dim) and latents.dtype == np.float32
    np.testing.assert_array_equal(generator.encode(images[0], int(labels[0])), latents[:1])
    np.testing.assert_array_equal(generator.encode(images[:2], int(labels[0]))[0], latents[0])
    with pytest.raises(InputError, match="one per image"):
        generator.encode(images[:3], [1, 2])
    with pytest.raises(InputError, match="digit must be an integer 0-9"):
        generator.encode(images[:1], 10)
    with pytest.raises(InputError, match="uint8"):
        generator.encode(images[:1].astype(np.float32), 1)


def test_reconstruction_beats_random_latents(generator, classifier, test_digits):
    images, labels = test_digits[0][:50], test_digits[1][:50]
    latents = generator.encode(images, labels)
    redrawn = np.stack([generator.generate(int(d), latents=z[None])[0] for z, d in zip(latents, labels)])
    encoded = np.linalg.norm(classifier.features(images) - classifier.features(redrawn), axis=1)
    rng = np.random.default_rng(0)
    random = np.stack([generator.generate(int(d), latents=rng.standard_normal((1, generator.latent_dim),
                                                                              dtype=np.float32))[0] for d in labels])
    chance = np.linalg.norm(classifier.features(images) - classifier.features(random), axis=1)
    require_with_shipped_models(encoded.mean() < 0.6 * chance.mean(), "the encoder redraws digits far closer than chance")


def test_a_hand_writes_every_digit(generator, classifier, test_digits):
    images, labels = test_digits[0][:20], test_digits[1][:20]
    latents = generator.encode(images, labels)
    correct = [(classifier.predict(generator.generate(d, latents=latents))[0] == d).mean() for d in range(10)]
    require_with_shipped_models(np.mean(correct) >= 0.97, "the encoded hands write digits the classifier reads")


def test_a_picture_file_and_its_bytes_give_the_same_hand(generator, photo):
    path = photo[0]
    np.testing.assert_array_equal(prepare_file(path.read_bytes()), prepare_file(path))
    by_bytes, by_path = generator.hand(path.read_bytes()), generator.hand(path)
    np.testing.assert_array_equal(by_bytes.latent, by_path.latent)
    with pytest.raises(InputError, match="^the picture is not an image; --like takes"):
        generator.hand(b"not a picture")


def test_in_hand_is_the_hand_then_variations_around_it(generator, photo):
    hand = generator.hand(photo[0])
    np.testing.assert_array_equal(generator.in_hand("7", hand.latent), generator.generate(7, latents=hand.latent[None]))
    latents = variations(hand.latent, 3, 0.5, 2)
    np.testing.assert_array_equal(generator.in_hand("2026", hand, count=3, spread=0.5, seed=2),
                                  generator.number("2026", seed=2, latents=latents))


def test_hand_reads_the_digit_and_says_when_unsure(generator, photo, test_digits):
    path, digit, _ = photo
    hand = generator.hand(path)
    assert hand.digit == digit and hand.confidence >= 0.9 and hand.image.shape == (28, 28)
    told = generator.hand(path, digit=digit)
    assert told.confidence is None
    np.testing.assert_array_equal(told.latent, hand.latent)
    blend = ambiguous_sample(generator.classifier(), test_digits[0])
    with pytest.raises(InputError, match="cannot tell which digit"):
        generator.hand(blend)
    assert generator.hand(blend, digit=3).digit == 3


def ambiguous_sample(classifier: Classifier, images: np.ndarray) -> np.ndarray:
    """Two test digits of different classes laid over each other, one the classifier reads with
    less than 90% confidence (looked up, so it does not depend on the classifier's quirks)."""
    labels, _ = classifier.predict(images)
    for i in range(len(images)):
        for j in range(i + 1, len(images)):
            if labels[i] != labels[j]:
                blend = np.maximum(images[i], images[j])
                if classifier.predict(blend)[1][0] < 0.9:
                    return blend
    raise AssertionError("no overlay of two test digits left the classifier unsure")


def test_variations_start_at_the_hand_and_are_seeded():
    latent = np.arange(8, dtype=np.float32) / 8
    ten = variations(latent, 10, 0.3, seed=4)
    np.testing.assert_array_equal(ten[0], latent)
    np.testing.assert_array_equal(variations(latent, 4, 0.3, seed=4), ten[:4])  # prefix-stable
    assert not np.allclose(ten[1], ten[2])
    np.testing.assert_array_equal(variations(latent, 5, 0.0, seed=1), np.repeat(latent[None], 5, axis=0))
    with pytest.raises(InputError, match="spread"):
        variations(latent, 2, 1.5, seed=0)


def test_number_and_morph_take_a_hand(generator, photo):
    hand = generator.hand(photo[0])
    number = generator.number("2026", seed=1, latents=hand.latent[None])
    assert number.shape == (1, 28, 112)
    strip = generator.morph(3, 8, steps=5, latent=hand.latent)
    np.testing.assert_array_equal(strip[0], generator.generate(3, latents=hand.latent[None])[0])
    with pytest.raises(InputError, match="count"):
        generator.number("12", count=3, latents=np.zeros((2, generator.latent_dim), np.float32))


@pytest.fixture(scope="module")
def torch_pair(encoder_checkpoint_path: Path):
    state = load_checkpoint(encoder_checkpoint_path, kind="encoder")
    return state, build_encoder(state), build_generator(state["generator"])


def test_onnx_encoder_matches_torch(torch_pair, encoder_path, test_digits):
    _, encoder, _ = torch_pair
    runtime = Encoder(encoder_path, threads=1)
    scale = latent_scale(encoder_path)
    images, labels = test_digits
    for n in (1, 7, 64, 200):
        expected = encoder(torch.from_numpy(images[:n] / np.float32(255))[:, None], torch.from_numpy(labels[:n]))
        np.testing.assert_allclose(runtime.encode(images[:n], labels[:n]), expected.detach().numpy() / scale,
                                   rtol=RTOL, atol=ATOL)


def latent_scale(model: Path) -> float:
    return float({p.key: p.value for p in onnx.load(str(model)).metadata_props}["latent_scale"])


def test_runtime_redraws_what_torch_redraws(torch_pair, generator, test_digits):
    _, encoder, torch_generator = torch_pair
    images, labels = test_digits[0][:32], test_digits[1][:32]
    with torch.no_grad():
        w = encoder(torch.from_numpy(images / np.float32(255))[:, None], torch.from_numpy(labels))
        expected = torch.clamp((torch_generator(w, torch.from_numpy(labels)) + 1) / 2, 0, 1).numpy()[:, 0]
    latents = generator.encode(images, labels)
    actual = np.stack([generator.generate(int(d), latents=z[None])[0] for z, d in zip(latents, labels)])
    assert np.abs(actual.astype(np.float32) - np.rint(expected * 255)).max() <= 1  # rounding only


def test_shipped_encoder_is_what_its_recipe_makes(encoder_path, generator_path):
    meta = {p.key: p.value for p in onnx.load(str(encoder_path)).metadata_props}
    training = json.loads(meta["training"])
    require_with_shipped_models(bool(training.get("commands")), "the encoder names the command that trained it")
    train = release_commands()["mnistgen-train-encoder"]
    assert training["commands"] == [" ".join(train)]
    assert training["generator_step"] == int(option(train, "--steps"))
    assert float(meta["wall_seconds"]) <= 15 * 60  # the budget, as the run recorded it
    assert meta["generator_sha256"] == file_identity(generator_path)["sha256"]


def test_export_refuses_another_generator(tmp_path, encoder_checkpoint_path, generator_path):
    state = load_checkpoint(encoder_checkpoint_path, kind="encoder")
    other = tiny_generator(tmp_path / "other.onnx", latent_dim=64, metadata={"latent_scale": "1.0"})
    with pytest.raises(ExportError, match="not the generator this encoder was trained against"):
        export_encoder(state, tmp_path / "encoder.onnx", generator=other)
    with pytest.raises(ExportError, match="not an mnistgen generator"):
        export_encoder(state, tmp_path / "encoder.onnx", generator=generator_path.with_name("classifier.onnx"))
    assert not (tmp_path / "encoder.onnx").exists()


# --- the command line ------------------------------------------------------------------------


def test_cli_writes_a_number_in_the_hand(tmp_path, photo, generator, generator_path, classifier_path, encoder_path):
    path, digit, _ = photo
    result = cli("2026", "--like", str(path), "--seed", "1", "--out", "out",
                 *models(generator_path, classifier_path, encoder_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "out" / "2026_0.png") as picture:
        written = np.asarray(picture)
    hand = generator.hand(path)
    np.testing.assert_array_equal(written, generator.number("2026", seed=1, latents=hand.latent[None])[0])
    labels, _ = generator.classifier().predict(np.stack([written[:, 28 * i: 28 * (i + 1)] for i in range(4)]))
    require_with_shipped_models(labels.tolist() == [2, 0, 2, 6], "the photo's hand writes 2026 legibly")


def test_cli_variations_are_seeded_and_stray_by_spread(tmp_path, photo, generator_path, classifier_path, encoder_path):
    path = str(photo[0])
    common = ["7", "--like", path, "--format", "npy", *models(generator_path, classifier_path, encoder_path)]
    runs = {}
    for name, extra in (("a", ["--count", "100", "--seed", "3"]), ("b", ["--count", "100", "--seed", "3"]),
                        ("near", ["--count", "20", "--seed", "3", "--spread", "0.1"]),
                        ("same", ["--count", "5", "--seed", "3", "--spread", "0"])):
        result = cli(*common, *extra, "--out", name, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        runs[name] = np.load(tmp_path / name / "7.npy")
    np.testing.assert_array_equal(runs["a"], runs["b"])
    assert len({images.tobytes() for images in runs["a"]}) == 100  # varied
    assert (runs["same"] == runs["same"][0]).all()
    np.testing.assert_array_equal(runs["near"][0], runs["a"][0])  # the first is the hand itself
    strays = lambda images: np.abs(images[1:].astype(np.int16) - images[0]).mean()
    assert strays(runs["near"]) < strays(runs["a"][:20])


def test_cli_morph_from_the_hand(tmp_path, photo, generator, generator_path, classifier_path, encoder_path):
    result = cli("3", "--like", str(photo[0]), "--morph", "8", "--steps", "6", "--out", "out",
                 *models(generator_path, classifier_path, encoder_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "out" / "3_to_8.png") as picture:
        strip = np.asarray(picture)
    hand = generator.hand(photo[0])
    np.testing.assert_array_equal(strip, np.concatenate(list(generator.morph(3, 8, 6, latent=hand.latent)), axis=1))


def test_cli_unsure_digit_exits_2_and_like_digit_settles_it(tmp_path, test_digits, classifier, generator_path,
                                                              classifier_path, encoder_path):
    Image.fromarray(255 - ambiguous_sample(classifier, test_digits[0])).save(tmp_path / "unsure.png")
    flags = models(generator_path, classifier_path, encoder_path)
    result = cli("5", "--like", "unsure.png", "--out", "out", *flags, cwd=tmp_path)
    assert_one_line_error(result, "cannot tell which digit", "--like-digit")
    assert not (tmp_path / "out").exists()
    result = cli("5", "--like", "unsure.png", "--like-digit", "3", "--out", "out", *flags, cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_info_says_whether_an_encoder_is_present(tmp_path, generator_path, encoder_path):
    result = cli("--info", "--model", str(generator_path), "--encoder", str(encoder_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["encoder"]["usable"] is True


def png_bomb(path: Path, side: int = 100_000) -> Path:
    """A PNG whose header claims side x side pixels (10 gigapixels) in a file of a few bytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1024))
                     + chunk(b"IEND", b""))
    return path


def bad_pictures(folder: Path, good: Path) -> dict[str, tuple[Path, str]]:
    """Each bad --like input and a fragment of the one line it must give."""
    folder.mkdir()
    (folder / "notes.txt").write_text("not a picture\n")
    data = good.read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])
    Image.new("L", (64, 64), 255).save(folder / "blank.png")
    Image.new("RGB", (64, 64), (5, 5, 10)).save(folder / "all_ink.png")
    frames = [Image.new("L", (32, 32), v) for v in (0, 255)]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:], duration=100)
    frames[0].save(folder / "pages.tiff", save_all=True, append_images=frames[1:])
    (folder / "damaged.tiff").write_bytes(damaged_tiff())
    for name, value in (("nan", np.nan), ("inf", np.inf)):
        grey = np.ones((64, 64), dtype=np.float32)
        grey[20:44, 30:34], grey[3, 3] = 0.0, value  # a stroke, and one pixel no grey can be read from
        Image.fromarray(grey, "F").save(folder / f"{name}.tiff")
    with (folder / "huge.png").open("wb") as huge:  # over 16 MiB, sparse where the file system allows
        huge.write(b"\x89PNG\r\n\x1a\n")
        huge.truncate(16 * 1024 * 1024 + 1)
    return {
        "missing": (folder / "nope.png", "no such file"),
        "directory": (folder, "is a directory"),
        "not an image": (folder / "notes.txt", "is not an image"),
        "truncated": (folder / "truncated.jpg", "truncated or corrupt"),
        "blank": (folder / "blank.png", "is blank"),
        "all ink": (folder / "all_ink.png", "is all ink"),
        "bomb": (png_bomb(folder / "bomb.png"), "too large to decode safely"),
        "animated": (folder / "animated.gif", "animated GIF"),
        "multi-page": (folder / "pages.tiff", "multi-page TIFF"),
        "damaged TIFF": (folder / "damaged.tiff", "truncated or corrupt"),
        "NaN TIFF": (folder / "nan.tiff", "has non-finite pixels"),
        "inf TIFF": (folder / "inf.tiff", "has non-finite pixels"),
        "over 16 MiB": (folder / "huge.png", "is too large (16,777,217 bytes; a picture may be at most 16 MiB)"),
    }


def damaged_tiff() -> bytes:
    """A 40 x 40 TIFF whose next-directory offset points past its end: Pillow raises TypeError
    (not OSError) while counting its frames, and warns of corrupt EXIF data on stderr."""
    buffer = io.BytesIO()
    Image.new("L", (40, 40), 200).save(buffer, "TIFF")
    data = bytearray(buffer.getvalue())
    entries = int.from_bytes(data[8:10], "little")  # the first directory is at offset 8
    end = 10 + 12 * entries
    data[end : end + 4] = (0x6E00).to_bytes(4, "little")
    return bytes(data)


BAD_CASES = ("missing", "directory", "not an image", "truncated", "blank", "all ink", "bomb", "animated", "multi-page",
             "damaged TIFF", "NaN TIFF", "inf TIFF", "over 16 MiB")


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_pictures_get_one_line_and_write_nothing(tmp_path, case, photo, generator_path, classifier_path,
                                                     encoder_path):
    picture, fragment = bad_pictures(tmp_path / "pictures", photo[0])[case]
    result = cli("7", "--like", str(picture), "--out", "out", *models(generator_path, classifier_path, encoder_path),
                 cwd=tmp_path)
    assert_one_line_error(result, fragment, "--like")
    assert not (tmp_path / "out").exists()


def test_bomb_is_refused_from_its_header(tmp_path):
    with pytest.raises(InputError, match=f"over {MAX_PIXELS:,}"):
        prepare_file(png_bomb(tmp_path / "bomb.png"))


def other_generator(tmp_path: Path, generator_path: Path) -> Path:
    """The shipped generator's graph with one metadata value changed: a different file."""
    model = onnx.load(str(generator_path))
    for prop in model.metadata_props:
        if prop.key == "created":
            prop.value = "2000-01-01T00:00:00Z"
    path = tmp_path / "generator-other.onnx"
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("case", ("style walk", "verify", "like-digit alone", "spread alone", "not an encoder",
                                  "another generator's encoder"))
def test_bad_combinations_and_models(tmp_path, case, photo, generator_path, classifier_path, encoder_path):
    like = ["--like", str(photo[0])]
    args, fragment = {
        "style walk": (["7", *like, "--style-walk"], "--like and --style-walk"),
        "verify": (["7", *like, "--verify"], "--verify does not combine with --like"),
        "like-digit alone": (["7", "--like-digit", "3"], "--like-digit applies only with --like"),
        "spread alone": (["7", "--spread", "0.5"], "--spread applies only with --like"),
        "not an encoder": (["7", *like, "--encoder", str(classifier_path)], "not an mnistgen encoder"),
        "another generator's encoder": (["7", *like, "--encoder", str(encoder_path), "--model",
                                         str(other_generator(tmp_path, generator_path))], "encoder for another generator"),
    }[case]
    result = cli(*args, "--out", "out", cwd=tmp_path)
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "out").exists()


def test_api_refuses_a_mismatched_pair(tmp_path, generator_path, encoder_path, test_digits):
    generator = Generator(other_generator(tmp_path, generator_path), encoder=encoder_path)
    with pytest.raises(ModelError, match="encoder for another generator"):
        generator.encode(test_digits[0][:1], 7)
