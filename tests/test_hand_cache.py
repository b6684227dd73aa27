"""Hands remembered between commands (mnistgen.hand_cache): a remembered hand gives the bits a
fresh reading gives, anything the hand depends on misses, and the cache never fails a command.

Each test has its own cache folder (the autouse ``hand_cache`` fixture of tests/conftest.py).
"""
from __future__ import annotations

import builtins
import importlib
import importlib.machinery
import io
import json
import os
import platform
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnistgen import Generator, Hand, variations
from mnistgen import hand_cache as hand_cache_module
from mnistgen.hand_cache import LIBRARIES, SOURCES, HandCache
from mnistgen.prepare import MAX_PICTURE_BYTES
from tests.test_cli import BLOCKED, assert_one_line_error, cli
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
    monkeypatch.setattr("mnistgen.hand_cache.MAX_ENTRIES", 3)
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


# --- the key, the folder and the guards, one file at a time -------------------------------------

KNOWN_FILES = (*(f"module {path.stem}" for path in SOURCES), *(f"library {name}" for name in LIBRARIES),
               "model generator", "model encoder", "model classifier")
"""Each file a key knows by its path, size and times, named as the ``known`` fixture names it."""
NO_UNAME = "import os, numpy; del os.uname; "  # as on Windows (numpy itself reads os.uname on Linux only)


def a_hand() -> Hand:
    """A hand made up for the cache (the cache keeps whatever hand it is given)."""
    return Hand(latent=np.linspace(-2, 2, 64, dtype=np.float32), digit=7, confidence=0.96875,
                image=(np.arange(28 * 28) % 251).astype(np.uint8).reshape(28, 28))


@pytest.fixture
def known(tmp_path, monkeypatch) -> dict[str, Path]:
    """Copies of every file a key knows (the runtime's modules, each library's package file, the
    three models) and a picture, so that a test may touch any one of them."""
    folder = tmp_path / "known"
    folder.mkdir()
    sources = tuple(Path(shutil.copy2(path, folder / path.name)) for path in SOURCES)
    monkeypatch.setattr(hand_cache_module, "SOURCES", sources)
    files = {f"module {path.stem}": path for path in sources}
    for name in LIBRARIES:
        module = importlib.import_module(name)  # find_spec answers an imported module from its __spec__
        origin = Path(shutil.copy2(module.__spec__.origin, folder / f"{name}.py"))
        monkeypatch.setattr(module, "__spec__", importlib.machinery.ModuleSpec(name, None, origin=str(origin)))
        files[f"library {name}"] = origin
    for name in ("generator", "encoder", "classifier"):
        files[f"model {name}"] = folder / f"{name}.onnx"
        files[f"model {name}"].write_bytes(name.encode())
    files["picture"] = folder / "my7.png"
    files["picture"].write_bytes(bytes(range(256)) * 4)
    return files


def key_of(known: dict[str, Path], picture: Path | None = None, digit: int | None = 7) -> str | None:
    models = tuple(known[f"model {name}"] for name in ("generator", "encoder", "classifier"))
    return HandCache(known["picture"].parent / "hands").key(picture or known["picture"], digit, models)


def touch(path: Path) -> None:
    later = path.stat().st_mtime_ns + 10**9
    os.utime(path, ns=(later, later))


@pytest.mark.parametrize("name", KNOWN_FILES)
def test_each_file_the_key_knows_matters(known, name):
    before = key_of(known)
    assert before is not None
    touch(known[name])  # edited, upgraded or replaced
    assert key_of(known) not in (None, before)


def test_the_key_covers_every_runtime_module_a_hand_goes_through(tmp_path, picture, generator_path,
                                                                  classifier_path, encoder_path):
    """SOURCES holds each module of the runtime that a fresh process loads to read a hand (and
    only files that exist: one missing would leave every key None, the cache silently off)."""
    loaded = subprocess.run([sys.executable, "-c", (
        "import sys\n"
        "from pathlib import Path\n"
        "from mnistgen import Classifier, Encoder, Generator\n"
        "model, encoder, classifier, picture = sys.argv[1:]\n"
        "Generator(model, threads=1, classifier=Classifier(classifier, threads=1),\n"
        "          encoder=Encoder(encoder, threads=1)).hand(picture)\n"
        "runtime = Path(sys.modules['mnistgen'].__file__).parent\n"
        "files = {Path(getattr(m, '__file__', None) or '') for m in list(sys.modules.values())}\n"
        "print('\\n'.join(sorted(path.name for path in files if path.parent == runtime)))\n"
        "print('libraries', *sorted({name.split('.')[0] for name in sys.modules}))\n"),
        str(generator_path), str(encoder_path), str(classifier_path), str(picture)],
        capture_output=True, text=True, timeout=120, check=True)
    *modules, libraries = loaded.stdout.splitlines()
    assert "generator.py" in modules and "prepare.py" in modules  # the listing itself works
    assert set(modules) <= {path.name for path in SOURCES}
    assert all(path.is_file() for path in SOURCES)
    # the libraries whose arithmetic and decoders shape a hand, each loaded to read one
    assert {"numpy", "PIL", "onnxruntime"} <= set(LIBRARIES) <= set(libraries.split()[1:])


def test_the_key_knows_the_picture_by_its_bytes(known):
    before = key_of(known)
    copy = Path(shutil.copy(known["picture"], known["picture"].with_name("renamed.png")))
    assert key_of(known, copy) == before  # another name, the same bytes
    touch(copy)
    assert key_of(known, copy) == before
    copy.write_bytes(b"\x01" + copy.read_bytes()[1:])  # one byte changed, the size kept
    assert key_of(known, copy) not in (None, before)


def test_the_key_knows_the_digit_the_readers_the_architecture_and_the_format(known, monkeypatch):
    keys = {key_of(known, digit=digit) for digit in (None, 1, 7)}
    assert len(keys) == 3 and None not in keys
    cache = HandCache(known["picture"].parent / "hands")
    generator, encoder, classifier = (known[f"model {name}"] for name in ("generator", "encoder", "classifier"))
    readers = {cache.key(known["picture"], 7, models)
               for models in ((generator, encoder, classifier), (generator, encoder, None), (encoder, generator, classifier))}
    assert len(readers) == 3 and None not in readers  # the classifier or none; which model is which
    before = key_of(known)
    with monkeypatch.context() as patch:  # its own context: undo() would also undo the ``known`` copies
        patch.setattr(platform, "machine", lambda: "another architecture")
        assert key_of(known) not in (None, before)
    assert key_of(known) == before
    monkeypatch.setattr(hand_cache_module, "FORMAT", hand_cache_module.FORMAT + 1)
    assert key_of(known) not in (None, before)


def test_the_cache_needs_no_os_uname(tmp_path, known, monkeypatch):
    monkeypatch.delattr(os, "uname", raising=False)  # Windows has none
    key = key_of(known)
    assert key is not None
    cache = HandCache(tmp_path / "hands")
    cache.remember(key, a_hand())
    np.testing.assert_array_equal(cache.recall(key).latent, a_hand().latent)
    assert cache.count() == 1


def test_like_runs_with_no_os_uname(tmp_path, hand_cache, picture, models):
    expected = like(tmp_path, picture, models, "with")
    for run in ("first", "again"):
        result = subprocess.run([sys.executable, "-c", NO_UNAME + BLOCKED, "2026", "--like", str(picture), "--count",
                                 "3", "--seed", "1", "--format", "npy", "--out", run, *flags(models)],
                                cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0 and result.stderr == "", result.stderr
        np.testing.assert_array_equal(np.load(tmp_path / run / "2026.npy"), expected)
        # remembered there too, under its own key (platform.machine is '' without os.uname on
        # Linux), and the second run takes it from there: no third
        assert len(entries(hand_cache)) == 2


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_the_hands_folder_is_its_owners_only(tmp_path):
    cache = HandCache(tmp_path / "cache" / "hands")
    mask = os.umask(0)  # the mode asked for, not what a umask leaves of it
    try:
        cache.remember("0" * 64, a_hand())
    finally:
        os.umask(mask)
    assert stat.S_IMODE(cache.folder.stat().st_mode) == 0o700
    assert cache.count() == 1


@pytest.fixture
def opened(monkeypatch) -> list[str]:
    """The paths opened from now on, by any of Python's ways of opening a file. A path under
    ``watched`` is recorded and refused, never opened: a pipe opened to be hashed would wait for a
    writer forever."""
    calls: list[str] = []
    for owner, name in ((builtins, "open"), (io, "open"), (os, "open")):
        real = getattr(owner, name)

        def spy(file, *args, _real=real, **kwargs):
            if isinstance(file, (str, os.PathLike)) and Path(file).name.startswith("watched"):
                calls.append(os.fspath(file))
                raise PermissionError("a watched file: not opened")
            return _real(file, *args, **kwargs)

        monkeypatch.setattr(owner, name, spy)
    return calls


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_a_pipe_has_no_key_and_is_never_opened(known, opened):
    fifo = known["picture"].with_name("watched.png")
    os.mkfifo(fifo)
    assert key_of(known, fifo) is None
    assert opened == []


def test_a_picture_over_the_limit_has_no_key_and_is_never_opened(known, opened):
    large = known["picture"].rename(known["picture"].with_name("watched.png"))
    os.truncate(large, MAX_PICTURE_BYTES + 1)  # sparse where the file system allows: no disk used
    assert key_of(known, large) is None
    assert opened == []
    os.truncate(large, MAX_PICTURE_BYTES)
    at_the_limit = large.rename(large.with_name("at-the-limit.png"))
    assert key_of(known, at_the_limit) is not None  # the limit itself is read, as --like reads it


def test_any_failure_is_a_miss_but_ctrl_c_still_stops(tmp_path, known, monkeypatch):
    cache = HandCache(tmp_path / "hands")
    key = key_of(known)
    cache.remember(key, a_hand())

    def fails(error: BaseException):
        def raising(*_args, **_kwargs):
            raise error
        return raising

    for error in (AttributeError("no such call here"), ValueError("unexpected")):
        with monkeypatch.context() as patch:
            patch.setattr(platform, "machine", fails(error))
            assert key_of(known) is None
        with monkeypatch.context() as patch:
            patch.setattr(hand_cache_module, "write_atomic", fails(error))
            cache.remember("1" * 64, a_hand())  # not remembered, and no error
        with monkeypatch.context() as patch:
            patch.setattr(os, "utime", fails(error))
            np.testing.assert_array_equal(cache.recall(key).latent, a_hand().latent)
        with monkeypatch.context() as patch:
            patch.setattr(os, "scandir", fails(error))
            assert cache.count() == 0
    assert cache.count() == 1
    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(platform, "machine", fails(KeyboardInterrupt()))
        key_of(known)
    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(hand_cache_module, "write_atomic", fails(KeyboardInterrupt()))
        cache.remember("1" * 64, a_hand())
