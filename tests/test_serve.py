"""`mnistgen serve`: a real server process on a free port, spoken to over a real socket.

Pixels against Generator for the same seed, every refusal as a 4xx with the API's message in
JSON, 503 (not a hang) past the pool and queue, and a clean exit 0 on SIGTERM / Ctrl-C with the
requests in flight answered. Figures under load are the benchmark's (python -m tests.bench
--only serve), never asserted here.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pytest
from PIL import Image

from mnistgen import VERIFY_DRAW_FACTOR, Generator
from mnistgen.limits import (
    DEFAULT_SPREAD,
    InputError,
    check_count,
    check_digit,
    check_min_confidence,
    check_number,
    check_number_count,
    check_seed,
    check_spread,
    check_steps,
)
from tests.conftest import digit_short_of_certainty, model_path, style_target
from tests.serve_process import TIMEOUT_S, AppServer, Client, ServerProcess
from tests.test_handwriting import BAD_CASES, bad_pictures

REPO = Path(__file__).resolve().parents[1]
MAX_IMAGES = 1024


def start(*options: str) -> ServerProcess:
    return ServerProcess([sys.executable, "-m", "mnistgen", "serve", "--port", "0", "--model", str(model_path("generator")),
                          "--classifier", str(model_path("classifier")), "--encoder", str(model_path("encoder")), *options])


def get_ok(server: ServerProcess, path: str) -> bytes:
    status, _, body = server.request(path)
    assert status == 200, (path, status, body[:300])
    return body


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    running = start("--workers", "2", "--max-images", str(MAX_IMAGES))
    yield running
    assert running.stop() == 0
    assert "Traceback" not in running.stderr_text, running.stderr_text


@pytest.fixture(scope="module")
def generator() -> Generator:
    return Generator(model_path("generator"), classifier=model_path("classifier"))


def _npy(body: bytes) -> np.ndarray:
    return np.load(io.BytesIO(body), allow_pickle=False)


def _png(body: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(body)))


# --- the pixels: the same seed gives what Generator gives -----------------------------------


def test_png_is_generate_for_the_same_seed(server: ServerProcess, generator: Generator):
    assert np.array_equal(_png(get_ok(server, "/v1/digits/7?seed=3")), generator.generate(7, 1, seed=3)[0])
    grid = _png(get_ok(server, "/v1/digits/7?seed=3&count=9&grid=true"))
    assert grid.shape == (84, 84)
    assert np.array_equal(grid[:28, 28:56], generator.generate(7, 9, seed=3)[1])


def test_npy_is_the_generator_array(server: ServerProcess, generator: Generator):
    assert np.array_equal(_npy(get_ok(server, "/v1/digits/7?count=20&seed=3&format=npy")), generator.generate(7, 20, seed=3))
    assert np.array_equal(_npy(get_ok(server, "/v1/digits/2026?count=3&seed=5&format=npy")), generator.number("2026", 3, seed=5))
    verified = _npy(get_ok(server, "/v1/digits/4?count=5&seed=1&format=npy&verify=true&min_confidence=0.8"))
    assert np.array_equal(verified, generator.generate(4, 5, seed=1, verify=True, min_confidence=0.8))


def test_morph_and_walk_are_the_generator_frames(server: ServerProcess, generator: Generator):
    assert np.array_equal(_npy(get_ok(server, "/v1/morph/3/8?steps=6&seed=2&format=npy")), generator.morph(3, 8, 6, seed=2))
    assert np.array_equal(_npy(get_ok(server, "/v1/walk/5?steps=7&seed=2&format=npy")), generator.style_walk(5, 7, seed=2))
    strip = _png(get_ok(server, "/v1/morph/3/8?steps=6&seed=2"))
    assert strip.shape == (28, 6 * 28)
    assert get_ok(server, "/v1/walk/5?seed=2&format=gif")[:6] == b"GIF89a"


def test_style_parameters_steer_as_the_api_does(server: ServerProcess, generator: Generator, drawing: bytes):
    width, slant = style_target(generator, 7, "stroke_width", 0.8), style_target(generator, 7, "slant", 0.3)
    styled = f"stroke_width={width}&slant={slant}&legibility=0.3"
    assert np.array_equal(_npy(get_ok(server, f"/v1/digits/7?count=8&seed=3&format=npy&{styled}")),
                          generator.generate(7, 8, seed=3, stroke_width=width, slant=slant, legibility=0.3))
    both = style_target(generator, "47", "stroke_width", 0.2)
    assert np.array_equal(_npy(get_ok(server, f"/v1/digits/47?count=3&seed=5&format=npy&stroke_width={both}")),
                          generator.number("47", 3, seed=5, stroke_width=both))
    lean = style_target(generator, 4, "slant", 0.8)
    assert np.array_equal(_npy(get_ok(server, f"/v1/walk/4?steps=5&seed=1&format=npy&slant={lean}")),
                          generator.style_walk(4, 5, seed=1, slant=lean))
    thin = style_target(generator, 3, "stroke_width", 0.2)
    assert np.array_equal(_npy(get_ok(server, f"/v1/morph/3/8?steps=4&seed=1&format=npy&stroke_width={thin}")),
                          generator.morph(3, 8, 4, seed=1, stroke_width=thin))
    _, body = post_ok(server, f"/v1/digits/7?count=3&seed=2&format=npy&like_digit=7&stroke_width={width}", drawing)
    hand = generator.hand(drawing, digit=7)
    assert np.array_equal(_npy(body), generator.in_hand("7", hand, 3, seed=2, stroke_width=width))


def test_zip_holds_the_files_the_cli_writes(server: ServerProcess, tmp_path: Path):
    out = tmp_path / "cli"
    subprocess.run([sys.executable, "-m", "mnistgen", "4", "--count", "3", "--seed", "2", "--quiet", "--out", str(out),
                    "--model", str(model_path("generator"))], cwd=REPO, check=True)
    status, headers, body = server.request("/v1/digits/4?count=3&seed=2&format=zip")
    assert status == 200 and headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        served = {name: archive.read(name) for name in archive.namelist()}
    assert served == {path.name: path.read_bytes() for path in out.iterdir()}


def test_info_is_what_the_cli_prints(server: ServerProcess):
    printed = json.loads(subprocess.run([sys.executable, "-m", "mnistgen", "--info", "--model", str(model_path("generator")),
                                         "--encoder", str(model_path("encoder"))],
                                        cwd=REPO, check=True, capture_output=True, text=True).stdout)
    served = json.loads(get_ok(server, "/v1/info"))
    assert served.pop("server")["max_images_per_request"] == MAX_IMAGES
    del printed["hand_cache"]  # the command's own cache of --like hands, left out by the server
    # file names, not their paths on the server's disk
    printed["encoder"]["path"] = model_path("encoder").name
    assert served == {**printed, "model": model_path("generator").name}


def test_start_runs_no_second_process_and_scans_no_hand_cache(monkeypatch):
    from typer.main import get_command

    from mnistgen import serve_cli

    def forbidden(*_: Any, **__: Any) -> None:
        raise AssertionError("mnistgen serve started a process or looked into the command's cache of hands")

    monkeypatch.setattr(subprocess, "Popen", forbidden)
    monkeypatch.setattr("mnistgen.hand_cache.HandCache.from_environment", forbidden)
    started: dict[str, Any] = {}

    def serve(listener: socket.socket, _generator: Generator, limits: Any, info: dict, _access_log: bool) -> None:
        listener.close()
        started.update(limits=limits, info=info)

    monkeypatch.setattr(serve_cli, "_serve", serve)
    get_command(serve_cli.app).main(["--port", "0", "--hands", "0", "--model", str(model_path("generator")),
                                     "--encoder", str(model_path("encoder"))], standalone_mode=False)
    assert started["limits"].hands == 0
    assert "hand_cache" not in started["info"] and started["info"]["encoder"]["usable"] is True


def test_health_and_openapi(server: ServerProcess):
    assert json.loads(get_ok(server, "/healthz")) == {"status": "ok", "running": 0, "waiting": 0}
    document = json.loads(get_ok(server, "/openapi.json"))
    assert set(document["paths"]) == {"/v1/digits/{digits}", "/v1/morph/{digit}/{to}", "/v1/walk/{digit}", "/v1/info",
                                      "/healthz"}
    assert {path: set(operations) for path, operations in document["paths"].items() if "post" in operations} == {
        "/v1/digits/{digits}": {"get", "post"}, "/v1/morph/{digit}/{to}": {"get", "post"}}


def test_cross_origin_is_off_by_default(server: ServerProcess):
    _, headers, _ = server.request("/healthz", headers={"Origin": "http://elsewhere.example"})
    assert "access-control-allow-origin" not in headers


# --- a POSTed picture: written in its hand, as `mnistgen --like PICTURE` writes it ---------------


def drawn(generator: Generator, digit: int) -> bytes:
    """A 280 x 280 drawing of ``digit``, dark on light, as a drawing pad saves it: PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(255 - generator.generate(digit, seed=0)[0]).resize((280, 280), Image.Resampling.BICUBIC).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def drawing(generator: Generator) -> bytes:
    """A drawing of a 7."""
    return drawn(generator, 7)


def post_ok(server: ServerProcess, path: str, picture: bytes) -> tuple[dict[str, str], bytes]:
    status, headers, body = server.request(path, method="POST", body=picture)
    assert status == 200, (path, status, body[:300])
    return headers, body


def like_cli(tmp_path: Path, picture: bytes, *args: str) -> np.ndarray:
    """What `mnistgen ARGS --like PICTURE --format npy` writes, with the server's models."""
    (tmp_path / "my7.png").write_bytes(picture)
    out = tmp_path / "cli"
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "mnistgen", *args, "--like", str(tmp_path / "my7.png"), "--format", "npy",
                    "--quiet", "--out", str(out), *(f"--{name}={model_path(which)}" for name, which in
                                                   (("model", "generator"), ("classifier", "classifier"),
                                                    ("encoder", "encoder")))],
                   cwd=REPO, check=True)
    [written] = out.iterdir()
    return np.load(written)


def test_a_posted_picture_writes_what_the_cli_writes_in_its_hand(server: ServerProcess, drawing: bytes, tmp_path: Path):
    headers, body = post_ok(server, "/v1/digits/2026?count=3&seed=1&spread=0.4&format=npy", drawing)
    assert np.array_equal(_npy(body), like_cli(tmp_path, drawing, "2026", "--count", "3", "--seed", "1", "--spread", "0.4"))
    assert headers["x-mnistgen-hand-digit"] == "7" and float(headers["x-mnistgen-hand-confidence"]) >= 0.9
    _, body = post_ok(server, "/v1/morph/3/8?steps=5&format=npy", drawing)
    assert np.array_equal(_npy(body), like_cli(tmp_path, drawing, "3", "--morph", "8", "--steps", "5"))
    headers, body = post_ok(server, "/v1/digits/5?like_digit=7&count=2&seed=4&format=npy", drawing)
    assert np.array_equal(_npy(body), like_cli(tmp_path, drawing, "5", "--like-digit", "7", "--count", "2", "--seed", "4"))
    assert headers["x-mnistgen-hand-digit"] == "7" and "x-mnistgen-hand-confidence" not in headers  # given, not read
    _, body = post_ok(server, "/v1/digits/4", drawing)
    assert np.array_equal(_png(body), like_cli(tmp_path, drawing, "4")[0])


def test_a_picture_sent_again_is_not_read_again(generator: Generator, drawing: bytes, monkeypatch):
    from mnistgen.serve_app import Hands

    reads = []
    hand = generator.hand
    monkeypatch.setattr(generator, "hand", lambda *args, **kw: reads.append(args[1]) or hand(*args, **kw))
    hands = Hands(generator, size=2)
    first = hands.read(drawing, None)
    assert hands.read(drawing, None) is first and reads == [None]
    told = hands.read(drawing, 7)  # the digit given is part of what was read
    assert told.confidence is None and reads == [None, 7]
    hands.read(drawing + b"\0", None)  # a third hand: the least recently used (the first) goes
    hands.read(drawing, None)
    assert reads == [None, 7, None, None]
    never = Hands(generator, size=0)
    never.read(drawing, None), never.read(drawing, None)
    assert reads[-2:] == [None, None]


@pytest.fixture(scope="module")
def writer() -> Generator:
    """The server's three models, opened in this process."""
    return Generator(model_path("generator"), classifier=model_path("classifier"), encoder=model_path("encoder"))


def app_server(generator: Generator, **limits: Any) -> AppServer:
    from mnistgen.cli import info_report
    from mnistgen.serve_app import ServeLimits, create_app

    chosen = ServeLimits(**{"workers": 1, "queue": 4, "max_images": 64, "hands": 256, **limits})
    return AppServer(create_app(generator, chosen, info_report(generator, str(model_path("encoder")), hand_cache=False)))


ASKED = {  # a picture and the like_digit given with it
    "7": ("seven", None), "3": ("three", None), "7 as 7": ("seven", 7), "7 as 1": ("seven", 1)}
SENT = ("7", "3", "7", "7 as 1", "7", "3", "3", "7 as 7", "7")
READ = {  # which of SENT are read (the others recalled), with room for this many hands
    0: SENT,
    1: ("7", "3", "7", "7 as 1", "7", "3", "7 as 7", "7"),
    2: ("7", "3", "7 as 1", "3", "7 as 7", "7"),  # the least recently used goes, not the oldest stored
    256: ("7", "3", "7 as 1", "7 as 7"),
}


@pytest.mark.parametrize("hands", sorted(READ))
def test_each_picture_gets_its_own_hand_whatever_was_kept(writer: Generator, drawing: bytes, hands: int, monkeypatch):
    pictures = {"seven": drawing, "three": drawn(writer, 3)}
    expected = {label: writer.hand(pictures[name], like_digit) for label, (name, like_digit) in ASKED.items()}
    reads: list[str] = []
    read = writer.hand

    def counted(picture: bytes, like_digit: Any = None, **kw: Any) -> Any:
        reads.append(next(label for label, (name, digit) in ASKED.items()
                          if pictures[name] == picture and digit == like_digit))
        return read(picture, like_digit, **kw)

    monkeypatch.setattr(writer, "hand", counted)
    with app_server(writer, hands=hands) as served:
        for label in SENT:
            name, like_digit = ASKED[label]
            query = "" if like_digit is None else f"&like_digit={like_digit}"
            headers, body = post_ok(served, f"/v1/digits/2026?count=2&seed=1&format=npy{query}", pictures[name])
            hand = expected[label]
            assert np.array_equal(_npy(body), writer.in_hand("2026", hand, 2, DEFAULT_SPREAD, 1)), label
            assert headers["x-mnistgen-hand-digit"] == str(hand.digit), label
            told = None if hand.confidence is None else f"{hand.confidence:.4f}"
            assert headers.get("x-mnistgen-hand-confidence") == told, label
    assert tuple(reads) == READ[hands]


# a body is always there; one over 16 MiB is refused unread, 413 (test_oversized_body_is_refused_unread)
BAD_POSTED = tuple(case for case in BAD_CASES if case not in ("missing", "directory", "over 16 MiB"))


@pytest.mark.parametrize("case", BAD_POSTED)
def test_a_bad_posted_picture_is_400_with_its_line(server: ServerProcess, drawing: bytes, tmp_path: Path, case: str):

    (tmp_path / "good.png").write_bytes(drawing)
    path, fragment = bad_pictures(tmp_path / "bad", tmp_path / "good.png")[case]
    status, headers, body = server.request("/v1/digits/2026", method="POST", body=path.read_bytes())
    error = json.loads(body)["error"]
    assert status == 400 and headers["content-type"] == "application/json", body
    assert error.startswith("the request body ") and fragment in error and "; the body must be a still PNG" in error
    assert "--like" not in error  # the server's words, not the command's


def test_a_wrong_method_on_an_endpoint_that_takes_a_post_allows_it(server: ServerProcess):
    status, headers, _ = server.request("/v1/digits/5", method="PUT")
    assert status == 405 and headers["allow"] == "GET, HEAD, POST"
    status, headers, _ = server.request("/v1/walk/5", method="POST")
    assert status == 405 and "POST" not in headers["allow"]


@pytest.fixture(scope="module")
def other_generator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generator the shipped encoder was not made for (and that cannot morph), by its absolute path."""
    from tests.tiny_models import tiny_generator

    return tiny_generator(tmp_path_factory.mktemp("server-disk") / "other.onnx", latent_dim=64,
                          metadata={"latent_scale": "1.0"}).resolve()


@pytest.fixture(scope="module")
def other_server(other_generator: Path) -> Iterator[ServerProcess]:
    """Serving the other generator with the shipped encoder, not asked for: it runs, refusing pictures."""
    running = ServerProcess([sys.executable, "-m", "mnistgen", "serve", "--port", "0", "--model", str(other_generator)])
    yield running
    assert running.stop() == 0


def test_an_encoder_for_another_generator(other_generator: Path, other_server: ServerProcess, drawing: bytes):
    # given with --encoder: refused at start, in one line
    result = _serve_command("--model", str(other_generator), "--encoder", str(model_path("encoder")))
    assert result.returncode == 2 and "is an encoder for another generator" in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1
    # the shipped one, not asked for: the server runs, and only a POSTed picture is refused
    assert other_server.request("/v1/digits/5")[0] == 200
    status, _, body = other_server.request("/v1/digits/5", method="POST", body=drawing)
    assert status == 400 and "is an encoder for another generator" in json.loads(body)["error"]
    assert json.loads(get_ok(other_server, "/v1/info"))["encoder"]["usable"] is False


def _places(*files: Path) -> set[str]:
    """The folders holding ``files`` (all but the root), each as its path and as a name joined to a
    separator: none may appear in an answer of the server's."""
    folders = {folder for file in files for path in (file, file.resolve()) for folder in path.parents[:-1]}
    return {str(folder) for folder in folders} | {folder.name + os.sep for folder in folders}


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


def _answers_name_no_place(running: ServerProcess, places: set[str], asked: list[tuple[str, str, int, str]],
                           picture: bytes) -> None:
    answers = [("GET /v1/info", json.loads(get_ok(running, "/v1/info")))]
    for method, path, status, words in asked:
        got, _, body = running.request(path, method=method, body=picture if method == "POST" else None)
        document = json.loads(body)
        assert got == status and words in document["error"], (method, path, got, document)
        answers.append((f"{method} {path}", document))
    for asked_for, document in answers:
        for text in _strings(document):
            named = [place for place in places if place in text]
            assert not named and not os.path.isabs(text), (asked_for, text, named)


def test_no_answer_names_a_place_on_the_servers_disk(other_generator: Path, other_server: ServerProcess,
                                                     server: ServerProcess, drawing: bytes):
    _answers_name_no_place(other_server, _places(other_generator, model_path("encoder")), [
        ("POST", "/v1/digits/5", 400, "encoder.onnx is an encoder for another generator"),
        ("POST", "/v1/morph/3/8", 400, "this generator other.onnx is"),
        ("GET", "/v1/morph/3/8", 400, "other.onnx cannot morph"),
        ("GET", "/v1/digits/5?count=0", 400, "count"),
        ("PUT", "/v1/digits/5", 405, "not allowed"),
    ], drawing)
    _answers_name_no_place(server, _places(*(model_path(which) for which in ("generator", "classifier", "encoder"))), [
        ("POST", "/v1/digits/5", 400, "the request body is not an image"),
        ("GET", "/v1/walk/5?steps=1", 400, "steps"),
    ], b"not a picture")


def test_an_unsure_picture_asks_for_like_digit(server: ServerProcess, generator: Generator, mnist_dir: Path):
    from mnistgen.training.data import load_split
    from tests.test_handwriting import ambiguous_sample

    buffer = io.BytesIO()
    Image.fromarray(255 - ambiguous_sample(generator.classifier(), load_split("test", mnist_dir).images[:200])).save(buffer, "PNG")
    status, _, body = server.request("/v1/digits/5", method="POST", body=buffer.getvalue())
    error = json.loads(body)["error"]
    assert status == 400 and error.startswith("cannot tell which digit the request body shows"), error
    assert error.endswith("say which digit it is with the query parameter like_digit=D")
    assert server.request("/v1/digits/5?like_digit=3", method="POST", body=buffer.getvalue())[0] == 200


# --- bad requests: a 4xx, and the message the CLI gives for the same mistake ----------------


def _message(check: Callable[..., Any], *args: Any) -> str:
    with pytest.raises(InputError) as caught:
        check(*args)
    return str(caught.value)


UNKNOWN = "unknown path"
BAD = [
    # (method, path, status, the message or the start of it)
    ("GET", "/v1/digits/x", 400, _message(check_number, "x")),
    ("GET", "/v1/digits/12a", 400, _message(check_number, "12a")),
    ("GET", "/v1/digits/-1", 400, _message(check_number, "-1")),
    ("GET", "/v1/digits/%C2%B2", 400, _message(check_number, "\u00b2")),  # superscript two: a digit, not 0-9
    ("GET", "/v1/digits/" + "1" * 33, 400, _message(check_number, "1" * 33)),
    ("GET", "/v1/digits/5?count=0", 400, _message(check_count, 0)),
    ("GET", "/v1/digits/5?count=-3", 400, _message(check_count, -3)),
    ("GET", "/v1/digits/5?count=abc", 400, _message(check_count, "abc")),
    ("GET", "/v1/digits/5?count=1.5", 400, _message(check_count, "1.5")),
    ("GET", "/v1/digits/5?count=100001&format=npy", 400, _message(check_count, 100001)),
    ("GET", "/v1/digits/12?count=50001&format=npy", 400, _message(check_number_count, 50001, 2)),
    ("GET", "/v1/digits/5?count=2000&format=npy", 413, f"count x digits = 2000 x 1 = 2000 images; this server returns at most {MAX_IMAGES}"),
    ("GET", "/v1/digits/1234?count=300&format=zip", 413, f"count x digits = 300 x 4 = 1200 images; this server returns at most {MAX_IMAGES}"),
    ("GET", "/v1/morph/3/8?steps=257", 400, _message(check_steps, 257)),
    ("GET", "/v1/digits/5?seed=abc", 400, _message(check_seed, "abc")),
    ("GET", "/v1/digits/5?seed=-1", 400, _message(check_seed, -1)),
    ("GET", "/v1/digits/5?seed=1e3", 400, _message(check_seed, "1e3")),
    ("GET", "/v1/digits/5?format=bmp", 400, "format must be one of png, zip, npy, gif, got 'bmp'"),
    ("GET", "/v1/digits/5?format=", 400, "format must be one of png, zip, npy, gif, got ''"),
    ("GET", "/v1/digits/5?grid=maybe", 400, "grid must be true or false, got 'maybe'"),
    ("GET", "/v1/digits/5?grid=true&format=npy", 400, "grid applies only to format png"),
    ("GET", "/v1/digits/5?count=3", 400, "format png returns one image: add grid=true, use count=1, or format zip, npy or gif"),
    ("GET", "/v1/digits/12?verify=true", 400, "verify works with a single digit 0-9"),
    ("GET", "/v1/digits/5?min_confidence=0.5", 400, "min_confidence applies only with verify=true"),
    ("GET", "/v1/digits/5?verify=true&min_confidence=2", 400, _message(check_min_confidence, 2.0)),
    ("GET", "/v1/digits/5?verify=true&min_confidence=abc", 400, _message(check_min_confidence, "abc")),
    ("GET", "/v1/digits/5?model=/etc/passwd", 400, "unknown query parameter 'model'; /v1/digits/5 accepts count, seed"),
    ("GET", "/v1/digits/5?count=1&count=2", 400, "query parameter 'count' given more than once"),
    ("GET", "/v1/morph/3/x", 400, _message(check_digit, "x")),
    ("GET", "/v1/morph/10/3", 400, _message(check_digit, 10)),
    ("GET", "/v1/morph/3/8?steps=1", 400, _message(check_steps, 1)),
    ("GET", "/v1/walk/3?steps=abc", 400, _message(check_steps, "abc")),
    ("GET", "/v1/walk/3?format=zip", 400, "format must be one of png, npy, gif, got 'zip'"),
    ("GET", "/v1/walk/3?count=2", 400, "unknown query parameter 'count'; /v1/walk/3 accepts steps, seed, format"),
    ("GET", "/v1/info?model=x.onnx", 400, "unknown query parameter 'model'"),
    ("GET", "/v1/digits/7?stroke_width=9", 400, "stroke_width for digit 7 must be"),
    ("GET", "/v1/digits/2026?slant=44", 400, "slant for digit"),
    ("GET", "/v1/walk/7?slant=left", 400, "slant must be a number within the digit's range"),
    ("GET", "/v1/morph/3/8?legibility=2", 400, "legibility must be a number from 0 to 1, got 2"),
    ("POST", "/v1/digits/7?stroke_width=nan", 400, "stroke_width must be a number"),
    ("GET", "/nope", 404, UNKNOWN),
    ("GET", "/v1/digits", 404, UNKNOWN),
    ("GET", "/v1/digits/5/extra", 404, UNKNOWN),
    ("GET", "/../../etc/passwd", 404, UNKNOWN),
    ("GET", "/v1/digits/..%2F..%2Fetc%2Fpasswd", 404, UNKNOWN),
    ("GET", "/static/..%2f..%2fmodels/generator.onnx", 404, UNKNOWN),
    ("POST", "/v1/digits/5?spread=2", 400, _message(check_spread, 2.0)),
    ("POST", "/v1/digits/5?like_digit=12", 400, _message(check_digit, 12)),
    ("POST", "/v1/digits/5?verify=true", 400, "unknown query parameter 'verify'; /v1/digits/5 accepts count, seed, spread, like_digit"),
    ("POST", "/v1/morph/3/8?seed=1", 400, "unknown query parameter 'seed'; /v1/morph/3/8 accepts steps, like_digit, format"),
    ("POST", "/v1/digits/5?count=3", 400, "format png returns one image"),
    ("POST", "/v1/digits/5", 400, "the request body is not an image; the body must be a still PNG or JPEG"),
    ("POST", "/v1/walk/5", 405, "method POST is not allowed on /v1/walk/5; use GET"),
    ("PUT", "/v1/digits/5", 405, "method PUT is not allowed on /v1/digits/5; use GET, or POST with a picture"),
    ("POST", "/v1/info", 405, "method POST is not allowed on /v1/info; use GET"),
    ("DELETE", "/v1/info", 405, "method DELETE is not allowed on /v1/info; use GET"),
    ("PUT", "/healthz", 405, "method PUT is not allowed on /healthz; use GET"),
]


@pytest.mark.parametrize(("method", "path", "status", "message"), BAD, ids=[f"{m} {p}"[:60] for m, p, _, _ in BAD])
def test_bad_request_gets_its_4xx_and_message(server: ServerProcess, method: str, path: str, status: int, message: str):
    got, headers, body = server.request(path, method=method)
    assert got == status, body
    assert headers["content-type"] == "application/json"
    document = json.loads(body)
    assert document["status"] == status and document["error"].startswith(message), document


def test_verification_short_of_samples_is_422_with_the_cli_message(server: ServerProcess, generator: Generator):
    digit, passing = digit_short_of_certainty(generator, generator.classifier(), count=5, seed=0)
    status, _, body = server.request(f"/v1/digits/{digit}?count=5&seed=0&verify=true&min_confidence=1&format=npy")
    assert status == 422
    assert json.loads(body)["error"] == (
        f"only {passing} of 5 samples of digit {digit} reached confidence 1.0 in {VERIFY_DRAW_FACTOR * 5} draws "
        f"(limit {VERIFY_DRAW_FACTOR}x count); lower the minimum confidence")


def _raw(server: Client, data: bytes) -> bytes:
    """Send bytes as they are and read the whole answer (the server closes after an error)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT_S) as connection:
        connection.sendall(data)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_oversized_body_is_refused_unread(server: ServerProcess):
    # a picture declared at 20 MB, 1 KiB of it sent: refused on the header, the rest never read
    answer = _raw(server, b"POST /v1/digits/5 HTTP/1.1\r\nHost: x\r\nContent-Length: 20000000\r\nConnection: close\r\n\r\n"
                  + b"x" * 1024)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert json.loads(body)["error"] == "request body of 20000000 bytes; at most 16777216 accepted (one picture)"
    status, _, body = server.request("/v1/digits/5", body=b"y" * 5000)  # a GET takes none
    assert status == 413
    assert json.loads(body)["error"] == "request body of 5000 bytes; at most 1024 accepted (only a POST takes a body)"


def test_chunked_body_is_refused(server: ServerProcess):
    answer = _raw(server, b"GET /v1/digits/5 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                  b"5\r\nhello\r\n0\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 411") and "Content-Length" in json.loads(body)["error"]


# --- overload, cross-origin on request, shutdown ----------------------------------------------

HEAVY = "/v1/digits/5?count=5000&seed=1&format=npy"  # ~0.8 s of inference on one thread


def test_requests_past_pool_and_queue_get_503_not_a_hang(drawing: bytes):
    busy = start("--workers", "1", "--queue", "1", "--max-images", "5000", "--cors-origin", "http://app.example")
    try:
        together = threading.Barrier(10)

        def call(_: int) -> tuple[int, dict[str, str], bytes, float]:
            together.wait()
            began = time.perf_counter()
            status, headers, body = busy.request(HEAVY)
            return status, headers, body, time.perf_counter() - began

        with ThreadPoolExecutor(10) as pool:
            results = list(pool.map(call, range(10)))
        refused = [r for r in results if r[0] == 503]
        served = [r for r in results if r[0] == 200]
        assert len(refused) + len(served) == 10
        assert len(served) >= 2 and len(refused) >= 1, [r[0] for r in results]  # one running + one waiting always fit
        for _, headers, body, _seconds in refused:
            assert headers["retry-after"] == "1"
            assert json.loads(body)["error"].startswith("server busy: 1 requests running and 1 waiting")
        assert max(r[3] for r in refused) < min(r[3] for r in served)  # refused at once, not after waiting
        assert busy.request("/v1/digits/5?seed=1")[0] == 200  # and it still answers
        _, headers, _ = busy.request("/healthz", headers={"Origin": "http://app.example"})
        assert headers["access-control-allow-origin"] == "http://app.example"
        status, headers, _ = busy.request("/v1/digits/5", method="POST", body=drawing, headers={"Origin": "http://app.example"})
        assert status == 200 and headers["access-control-allow-origin"] == "http://app.example"
        exposed = {name.strip().lower() for name in headers["access-control-expose-headers"].split(",")}
        assert {"x-mnistgen-hand-digit", "x-mnistgen-hand-confidence"} <= exposed  # a page may read them
    finally:
        assert busy.stop() == 0


def test_slow_uploads_are_bounded_and_never_hold_a_get_back(drawing: bytes):
    # one worker and a queue of one, so two pictures at once: two clients that send half a picture
    # and stall hold both places, the third POST is refused unread, and a GET is still answered
    narrow = start("--workers", "1", "--queue", "1")
    try:
        head = b"POST /v1/digits/7 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(drawing)
        stalled = [socket.create_connection(("127.0.0.1", narrow.port), timeout=TIMEOUT_S) for _ in range(2)]
        for client in stalled:
            client.sendall(head + drawing[:100])
        deadline = time.monotonic() + TIMEOUT_S
        while (answer := narrow.request("/v1/digits/7", method="POST", body=drawing))[0] != 503:
            assert time.monotonic() < deadline, "the stalled uploads never filled the places for pictures"
            time.sleep(0.02)
        assert json.loads(answer[2])["error"].startswith(f"server busy: 2 pictures of {2 * len(drawing):,} bytes already"), answer
        assert narrow.request("/v1/digits/7?seed=1")[0] == 200  # the pool is free for everything else
        for client in stalled:
            client.close()  # hanging up frees the places
        while narrow.request("/v1/digits/7", method="POST", body=drawing)[0] != 200:
            assert time.monotonic() < deadline, "the places never came back"
            time.sleep(0.02)
    finally:
        assert narrow.stop() == 0
    assert "Traceback" not in narrow.stderr_text and "ERROR" not in narrow.stderr_text, narrow.stderr_text


def test_a_stalled_picture_is_answered_408_on_its_socket(writer: Generator, drawing: bytes):
    with app_server(writer, body_timeout_s=0.2) as served:
        head = b"POST /v1/digits/7 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(drawing)
        answer = _raw(served, head + drawing[:100])  # the rest never comes
        status_line, _, rest = answer.partition(b"\r\n")
        headers, _, body = rest.partition(b"\r\n\r\n")
        assert status_line == b"HTTP/1.1 408 Request Timeout", answer[:300]
        assert b"content-type: application/json" in headers.lower()
        assert json.loads(body) == {"status": 408, "error": "the request body did not arrive within 0.2 s; send the "
                                                            "picture at once, with its Content-Length"}
        assert post_ok(served, "/v1/digits/7", drawing)  # its place came back


def test_pictures_held_are_bounded_in_number_and_bytes():
    import asyncio

    from mnistgen import serve_app

    uploads = serve_app.Uploads(count=2, budget=1000)

    async def scenario() -> None:
        with pytest.raises(RuntimeError, match="the first"):
            async with uploads.hold(600):
                with pytest.raises(serve_app.Overloaded):
                    async with uploads.hold(500):  # a second place, but past the bytes allowed
                        pass
                async with uploads.hold(400):
                    with pytest.raises(serve_app.Overloaded):
                        async with uploads.hold(0):  # both places taken
                            pass
                raise RuntimeError("the first fails")
        assert (uploads.held, uploads.bytes) == (0, 0)  # given back, however the hold ended

    asyncio.run(scenario())


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_signal_lets_requests_in_flight_finish_then_exits_0(signum: int, generator: Generator):
    stopping = start("--workers", "1", "--queue", "8", "--max-images", "5000")
    in_flight = 4
    with ThreadPoolExecutor(in_flight) as pool:
        futures = [pool.submit(stopping.request, HEAVY) for _ in range(in_flight)]
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:  # all four admitted: one running, three waiting
            load = stopping.load()
            if load["running"] + load["waiting"] == in_flight:
                break
            time.sleep(0.02)
        else:
            pytest.fail(f"the {in_flight} requests never were in flight together: {load}")
        stopping.process.send_signal(signum)
        results = [future.result(timeout=TIMEOUT_S) for future in futures]
    assert stopping.process.wait(timeout=TIMEOUT_S) == 0
    expected = generator.generate(5, 5000, seed=1)
    for status, _, body in results:
        assert status == 200 and np.array_equal(_npy(body), expected)
    assert "Traceback" not in stopping.stderr_text, stopping.stderr_text
    with pytest.raises(OSError):  # no longer listening
        stopping.request("/healthz")


def test_a_signal_before_uvicorn_takes_over_still_stops_it(writer: Generator, monkeypatch):
    # the listening line is written just before uvicorn installs its signal handlers: a SIGTERM
    # sent on reading it may land in between, and must stop the server all the same
    import uvicorn

    from mnistgen import serve_cli
    from mnistgen.cli import info_report
    from mnistgen.serve_app import ServeLimits

    run, stopped_by_watchdog = uvicorn.Server.run, []

    def signalled_first(self: Any, sockets: Any = None) -> None:
        signal.raise_signal(signal.SIGTERM)
        # only so that a lost signal fails the test instead of hanging it
        watchdog = threading.Timer(TIMEOUT_S, lambda: stopped_by_watchdog.append(setattr(self, "should_exit", True)))
        watchdog.start()
        try:
            run(self, sockets=sockets)
        finally:
            watchdog.cancel()

    monkeypatch.setattr(uvicorn.Server, "run", signalled_first)
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        limits = ServeLimits(workers=1, queue=1, max_images=1, hands=0)
        serve_cli._serve(serve_cli.listen("127.0.0.1", 0), writer, limits,
                         info_report(writer, str(model_path("encoder")), hand_cache=False), access_log=False)
    finally:
        for signum, handler in before.items():  # pytest's own again
            signal.signal(signum, handler)
    assert not stopped_by_watchdog


# --- the command itself ------------------------------------------------------------------------


def _serve_command(*args: str, prelude: str = "") -> subprocess.CompletedProcess:
    code = f"import sys; {prelude}from mnistgen.cli import main; main(['serve', *sys.argv[1:]])"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("args", "message"), [
    (["--workers", "0"], "mnistgen serve: error: --workers must be an integer 1-64, got 0"),
    (["--port", "70000"], "mnistgen serve: error: --port must be an integer 0-65535, got 70000"),
    (["--port", "-1"], "mnistgen serve: error: --port must be an integer 0-65535, got -1"),
    (["--queue", "-1"], "mnistgen serve: error: --queue must be an integer 0-10000, got -1"),
    (["--max-images", "100001"], "mnistgen serve: error: --max-images must be an integer 1-100000, got 100001"),
    (["--threads", "0"], "mnistgen serve: error: --threads must be a positive integer"),
    (["--threads", "1.5"], "mnistgen serve: error: --threads must be a positive integer"),
    (["--workers", "many"], "mnistgen serve: error: --workers must be an integer 1-64, got 'many'"),
    (["--port", "80.5"], "mnistgen serve: error: --port must be an integer 0-65535, got '80.5'"),
    (["--queue", "x"], "mnistgen serve: error: --queue must be an integer 0-10000, got 'x'"),
    (["--max-images", "1e3"], "mnistgen serve: error: --max-images must be an integer 1-100000, got '1e3'"),
    (["--hands", "2.0"], "mnistgen serve: error: --hands must be an integer 0-10000, got '2.0'"),
    (["--model", "/nonexistent.onnx"], "mnistgen serve: error: model file not found: /nonexistent.onnx"),
    (["--encoder", "/nonexistent.onnx"], "mnistgen serve: error: model file not found: /nonexistent.onnx"),
    (["--hands", "-1"], "mnistgen serve: error: --hands must be an integer 0-10000, got -1"),
    (["--bogus"], "mnistgen serve: error: No such option: --bogus"),
])
def test_bad_option_is_one_line_exit_2(args: list[str], message: str):
    result = _serve_command(*args)
    assert result.returncode == 2 and result.stderr.startswith(message), result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_without_the_extra_it_says_what_to_install():
    result = _serve_command(prelude="sys.modules['uvicorn'] = None; ")
    assert result.returncode == 2
    assert result.stderr == ("mnistgen serve: error: needs the serve extra (uvicorn not installed): "
                             "pip install 'mnistgen[serve]'\n")


def test_port_in_use_is_one_line(server: ServerProcess):
    result = _serve_command("--port", str(server.port))
    assert result.returncode == 2 and f"cannot listen on 127.0.0.1:{server.port}" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_the_address_is_reused_on_posix_only(monkeypatch):
    # on Windows SO_REUSEADDR lets a second server bind a port in use, so "cannot listen" would never come
    from mnistgen import serve_cli

    for name, reused in (("posix", True), ("nt", False)):
        with monkeypatch.context() as patch:
            patch.setattr(serve_cli.os, "name", name)
            listener = serve_cli.listen("127.0.0.1", 0)
        try:
            assert bool(listener.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)) == reused, name
        finally:
            listener.close()
