"""Hands remembered between commands (mnistgen.hand_cache): a remembered hand gives the bits a
fresh reading gives, anything the hand depends on misses, and the cache never fails a command.

Each test has its own cache folder (the autouse ``hand_cache`` fixture of tests/conftest.py).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnistgen import Generator, variations
from mnistgen.hand_cache import HandCache
from tests.test_cli import assert_one_line_error, cli
from tests.test_handwriting import other_generator


@pytest.fixture(scope="module")
def picture(tmp_path_factory, generator_path: Path) -> Path:
    """A 280 x 280 drawing of a 7, dark on light, as a drawing pad saves it."""
    digit = Generator(generator_path, threads=1).generate(7, seed=0)[0]
    path = tmp_path_factory.mktemp("picture") / "my7.png"
    Image.fromarray(255 - digit).resize((280, 280), Image.Resampling.BICUBIC).save(path)
    return path


@pytest.fixture
def models(tmp_path, generator_path, classifier_path, encoder_path) -> dict[str, Path]:
    """Copies of the models, so that a test may touch them."""
    folder = tmp_path / "models"
    folder.mkdir()
    return {name: Path(shutil.copy2(path, folder / path.name))
            for name, path in (("model", generator_path), ("classifier", classifier_path), ("encoder", encoder_path))}


def flags(models: dict[str, Path]) -> list[str]:
    return [f"--{name}={path}" for name, path in models.items()]


def like(tmp_path: Path, picture: Path, models: dict[str, Path], out: str, *extra: str) -> np.ndarray:
    """`mnistgen 2026 --like picture --count 3 --seed 1`, as an array."""
    result = cli("2026", "--like", str(picture), "--count", "3", "--seed", "1", "--format", "npy", "--out", out,
                 *flags(models), *extra, cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr  # the cache says nothing
    return np.load(tmp_path / out / "2026.npy")


def entries(cache: Path) -> list[Path]:
    return sorted((cache / "hands").glob("*.json")) if (cache / "hands").is_dir() else []


def test_a_remembered_hand_is_taken_and_gives_the_same_bits(tmp_path, hand_cache, picture, models):
    first = like(tmp_path, picture, models, "first")
    [entry] = entries(hand_cache)
    np.testing.assert_array_equal(like(tmp_path, picture, models, "second"), first)
    # the second command took the hand from the entry: another hand written there is obeyed
    remembered = json.loads(entry.read_text())
    remembered["latent"] = [0.0] * len(remembered["latent"])
    entry.write_text(json.dumps(remembered))
    latents = variations(np.zeros(len(remembered["latent"]), np.float32), 3, 0.3, 1)
    expected = Generator(models["model"], threads=1).number("2026", seed=1, latents=latents)
    np.testing.assert_array_equal(like(tmp_path, picture, models, "doctored"), expected)


def test_what_the_hand_depends_on_misses(tmp_path, hand_cache, picture, models):
    like(tmp_path, picture, models, "a")
    renamed = Path(shutil.copy(picture, tmp_path / "renamed.png"))
    like(tmp_path, renamed, models, "b")
    assert len(entries(hand_cache)) == 1  # the picture is known by its bytes, not its name
    like(tmp_path, picture, models, "c", "--like-digit", "7")
    like(tmp_path, picture, models, "c1", "--like-digit", "1")
    assert len(entries(hand_cache)) == 3  # the digit given rather than read, and which
    later = models["encoder"].stat().st_mtime_ns + 10**9
    os.utime(models["encoder"], ns=(later, later))  # a replaced encoder
    like(tmp_path, picture, models, "d")
    assert len(entries(hand_cache)) == 4
    models["encoder"].write_bytes(models["encoder"].read_bytes())  # rewritten, then its size and
    os.utime(models["encoder"], ns=(later, later))  # mtime put back, as cp -p would
    like(tmp_path, picture, models, "d2")
    assert len(entries(hand_cache)) == 5
    with Image.open(picture) as drawn:
        Image.fromarray(np.roll(np.asarray(drawn), 9, axis=1)).save(renamed)  # other bytes, a known name
    like(tmp_path, renamed, models, "e")
    assert len(entries(hand_cache)) == 6
    for count, name in enumerate(("classifier", "model"), start=7):  # the reader, the generator replaced
        os.utime(models[name], ns=(later, later))
        like(tmp_path, picture, models, f"f{count}")
        assert len(entries(hand_cache)) == count


def test_a_remembered_hand_does_not_pair_an_encoder_with_another_generator(tmp_path, picture, models):
    like(tmp_path, picture, models, "first")
    other = other_generator(tmp_path, models["model"])
    result = cli("2026", "--like", str(picture), "--out", "out", *flags({**models, "model": other}), cwd=tmp_path)
    assert_one_line_error(result, "encoder for another generator")
    assert not (tmp_path / "out").exists()


def test_a_picture_rewritten_while_it_is_read_is_not_remembered(tmp_path, hand_cache, picture, models, monkeypatch):
    from mnistgen import cli as command, generator as generator_module

    drawing = Path(shutil.copy(picture, tmp_path / "drawing.png"))
    read = generator_module.prepared_sample

    def rewritten_then_read(sample, *wording):
        with Image.open(picture) as drawn:  # another script saves a new drawing under the same name
            Image.fromarray(np.roll(np.asarray(drawn), 5, axis=0)).save(drawing)
        return read(sample, *wording)

    monkeypatch.setattr(generator_module, "prepared_sample", rewritten_then_read)
    with pytest.raises(SystemExit) as done:
        command.main(["2026", "--like", str(drawing), "--quiet", "--out", str(tmp_path / "out"), *flags(models)])
    assert done.value.code == 0
    assert entries(hand_cache) == []  # the old bytes' key would have named the new drawing's hand


@pytest.mark.parametrize("damage", ("truncated", "not a hand", "short latent", "deep", "too large", "not a number"))
def test_a_damaged_entry_is_read_again(tmp_path, hand_cache, picture, models, damage):
    first = like(tmp_path, picture, models, "first")
    [entry] = entries(hand_cache)
    remembered = json.loads(entry.read_text())
    entry.write_text({
        "truncated": '{"digit": 7, "latent": [',
        "not a hand": "[]",
        "short latent": json.dumps({**remembered, "latent": remembered["latent"][:-1]}),
        "deep": "[" * 100_000 + "]" * 100_000,
        "too large": json.dumps({**remembered, "latent": [1e39] * len(remembered["latent"])}),
        "not a number": json.dumps({**remembered, "latent": ["NaN"] * len(remembered["latent"])}),
    }[damage])
    np.testing.assert_array_equal(like(tmp_path, picture, models, "again"), first)
    assert json.loads(entry.read_text()) == remembered  # and remembered anew


def test_off_or_unwritable_the_command_still_works(tmp_path, hand_cache, picture, models, monkeypatch):
    first = like(tmp_path, picture, models, "first")
    monkeypatch.setenv("MNISTGEN_NO_CACHE", "1")
    monkeypatch.setenv("MNISTGEN_CACHE_DIR", str(tmp_path / "off-cache"))
    np.testing.assert_array_equal(like(tmp_path, picture, models, "off"), first)
    assert not (tmp_path / "off-cache").exists()
    monkeypatch.delenv("MNISTGEN_NO_CACHE")
    (tmp_path / "a file").write_text("not a folder")
    monkeypatch.setenv("MNISTGEN_CACHE_DIR", str(tmp_path / "a file"))
    np.testing.assert_array_equal(like(tmp_path, picture, models, "unwritable"), first)


def test_refused_pictures_are_not_remembered(tmp_path, hand_cache, models):
    Image.new("L", (100, 100), 255).save(tmp_path / "blank.png")
    result = cli("7", "--like", "blank.png", "--out", "out", *flags(models), cwd=tmp_path)
    assert_one_line_error(result, "is blank")
    assert entries(hand_cache) == [] and not (tmp_path / "out").exists()


def test_the_least_recently_used_hands_go_first(tmp_path, picture, generator_path, classifier_path, encoder_path,
                                               monkeypatch):
    monkeypatch.setattr("mnistgen.hand_cache.MAX_HANDS", 3)
    cache = HandCache(tmp_path / "hands")
    hand = Generator(generator_path, threads=1, classifier=classifier_path, encoder=encoder_path).hand(picture)
    keys = [f"{i:064x}" for i in range(5)]
    for age, key in enumerate(keys[:3]):
        cache.remember(key, hand)
        os.utime(cache.folder / f"{key}.json", ns=(age * 10**9, age * 10**9))
    assert cache.recall(keys[0]) is not None  # used now: no longer the oldest
    cache.remember(keys[3], hand)
    cache.remember(keys[4], hand)
    assert {path.stem for path in cache.folder.glob("*.json")} == {keys[0], keys[3], keys[4]}
    recalled = cache.recall(keys[4])
    np.testing.assert_array_equal(recalled.latent, hand.latent)
    np.testing.assert_array_equal(recalled.image, hand.image)
    assert (recalled.digit, recalled.confidence) == (hand.digit, hand.confidence)


def test_a_read_only_cache_still_serves_its_hands(tmp_path, picture, generator_path, classifier_path, encoder_path,
                                                  monkeypatch):
    cache = HandCache(tmp_path / "hands")
    hand = Generator(generator_path, threads=1, classifier=classifier_path, encoder=encoder_path).hand(picture)
    cache.remember("0" * 64, hand)

    def refused(*_args, **_kwargs):
        raise PermissionError("read-only")

    monkeypatch.setattr(os, "utime", refused)
    np.testing.assert_array_equal(cache.recall("0" * 64).latent, hand.latent)


def test_where_the_cache_is(tmp_path, monkeypatch):
    assert HandCache.from_environment({"MNISTGEN_CACHE_DIR": "/c", "XDG_CACHE_HOME": "/x"}).folder == Path("/c/hands")
    assert HandCache.from_environment({"XDG_CACHE_HOME": "/x"}).folder == Path("/x/mnistgen/hands")
    assert HandCache.from_environment({}).folder == Path.home() / ".cache" / "mnistgen" / "hands"
    assert HandCache.from_environment({"MNISTGEN_NO_CACHE": "1", "MNISTGEN_CACHE_DIR": "/c"}) is None
    assert HandCache.from_environment({"MNISTGEN_NO_CACHE": "0", "MNISTGEN_CACHE_DIR": "/c"}).folder == Path("/c/hands")
    relative = HandCache.from_environment({"XDG_CACHE_HOME": "cache"}).folder  # the XDG spec ignores it
    assert relative == Path.home() / ".cache" / "mnistgen" / "hands"

    def homeless():
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", homeless)
    assert HandCache.from_environment({}) is None  # nowhere to keep hands: the command reads each picture


def test_info_says_where_hands_are_remembered(tmp_path, hand_cache, picture, models, monkeypatch):
    info = lambda: json.loads(cli("--info", cwd=tmp_path).stdout)["hand_cache"]
    assert info() == {"on": True, "folder": str(hand_cache / "hands"), "hands": 0}
    like(tmp_path, picture, models, "out")
    assert info()["hands"] == 1
    monkeypatch.setenv("MNISTGEN_NO_CACHE", "1")
    assert info() == {"on": False}
