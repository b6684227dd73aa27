"""What --like costs: the steps in process (warm), what a first call opens, whole commands
with and without --like side by side, and calls to a running `mnistgen serve` with and without a
POSTed picture.

A --like command either reads its picture (first sight) or takes the hand an earlier command
remembered (seen before; mnistgen.hand_cache): both are measured, each with a cache of its own.

Pictures: a phone photo (900 x 1200 JPEG, sideways, with a shadow; tests/phone_photo.py) and a
280 x 280 PNG like the web page's drawing pad, both of a digit the generator drew (no MNIST
needed). Each whole-command repetition runs the plain command and the --like ones back to back
in fresh processes, so drifting machine load hits all alike; the server's calls likewise take
turns on one kept-alive connection, one at a time.
"""
from __future__ import annotations

import http.client
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from mnistgen import Classifier, Encoder, Generator, prepare_file
from mnistgen.hand_cache import HandCache
from tests.bench.children import run_child
from tests.bench.cold_start import mnistgen_command
from tests.bench.options import REPO, Options
from tests.bench.serve import LUA as WRK_REPORT, start_wrk, wrk_report
from tests.bench.stats import median, median_interval
from tests.phone_photo import phone_photo
from tests.serve_process import TIMEOUT_S, ServerProcess

NUMBER = "2026"
WRK_POST = Path(__file__).with_name("serve_post.lua")


def pictures(generator: Generator, folder: Path) -> dict[str, Path]:
    digit = generator.generate(7, seed=0)[0]
    pad = Image.fromarray(255 - digit).resize((280, 280), Image.Resampling.BICUBIC)
    pad.save(folder / "pad.png")
    return {"phone photo 900x1200 JPEG": phone_photo(digit, folder / "photo.jpg"), "pad 280x280 PNG": folder / "pad.png"}


def timed_ms(call: Callable[[], object], repeats: int) -> float:
    """Median milliseconds of ``call`` after one warm-up call."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(1000 * (time.perf_counter() - start))
    return float(np.median(times))


def run(options: Options) -> dict:
    repeats = max(3, options.sizes.repeats) * 4
    with tempfile.TemporaryDirectory(prefix="mnistgen-bench-like-") as scratch:
        folder = Path(scratch)
        generator = Generator(options.generator, threads=1, classifier=options.classifier, encoder=options.encoder)
        paths = pictures(generator, folder)
        start = time.perf_counter()
        encoder = Encoder(options.encoder, threads=1)
        encoder.check_pair(generator.path, generator.latent_dim)
        open_encoder_ms = 1000 * (time.perf_counter() - start)
        start = time.perf_counter()
        classifier = Classifier(options.classifier, threads=1)
        open_classifier_ms = 1000 * (time.perf_counter() - start)
        prepared = prepare_file(paths["phone photo 900x1200 JPEG"])
        steps = {f"prepare {name}": timed_ms(lambda p=path: prepare_file(p), repeats) for name, path in paths.items()}
        steps["classifier reads the digit"] = timed_ms(lambda: classifier.predict(prepared), repeats)
        steps["encoder, one digit"] = timed_ms(lambda: encoder.encode(prepared, 7), repeats)
        steps["file hash for the pair check"] = timed_ms(lambda: encoder.check_pair(generator.path, generator.latent_dim),
                                                         repeats)
        steps["a hand seen before: its key and recall"] = timed_ms(
            remembered(generator, paths["phone photo 900x1200 JPEG"], folder / "hands"), repeats)
        commands = whole_commands(options, paths, folder)
        server = {"read each time (--hands 0)": served(options, paths, "0", repeats),
                  "remembered (--hands 256)": served(options, paths, "256", repeats)}
    plain = commands.pop("plain")
    return {
        "repeats": repeats,
        "first_use_ms": {"open encoder and check the pair": open_encoder_ms, "open classifier": open_classifier_ms},
        "steps_ms": steps,
        "whole_command": {"plain": plain, **commands},
        "added_ms": {name: (None if c["median_s"] is None or plain["median_s"] is None
                            else 1000 * (c["median_s"] - plain["median_s"])) for name, c in commands.items()},
        "added_paired_ms": {name: paired_ms(c["wall_s"], plain["wall_s"]) for name, c in commands.items()},
        "added_paired_ci95_ms": {name: paired_interval(c["wall_s"], plain["wall_s"]) for name, c in commands.items()},
        "server": server,
    }


def remembered(generator: Generator, picture: Path, folder: Path) -> Callable[[], object]:
    """What a --like command seen before does instead of reading its picture: the key, then the entry."""
    cache = HandCache(folder)
    models = (generator.path, generator.encoder().path, generator.classifier().path)
    cache.remember(cache.key(picture, None, models), generator.hand(picture))
    return lambda: cache.recall(cache.key(picture, None, models))


def paired_ms(walls: list[float], plain: list[float], scale: float = 1000) -> float | None:
    """Median of the differences between each repetition's command and the plain one beside it,
    in ms (``scale``: 1000 for times in seconds, 1 for times in ms already): the machine's drift
    between repetitions cancels."""
    pairs = _pairs_ms(walls, plain, scale)
    return median(pairs) if pairs else None


def paired_interval(walls: list[float], plain: list[float], scale: float = 1000) -> tuple[float, float] | None:
    """The 95% interval of paired_ms's median (stats.median_interval): one that holds 0 is no
    measurable difference, however the median falls."""
    pairs = _pairs_ms(walls, plain, scale)
    return median_interval(pairs) if pairs else None


def _pairs_ms(walls: list[float], plain: list[float], scale: float) -> list[float]:
    # a failed run leaves the lists of unequal length: their pairs would not be pairs
    return [scale * (a - b) for a, b in zip(walls, plain)] if len(walls) == len(plain) else []


def whole_commands(options: Options, paths: dict[str, Path], folder: Path) -> dict[str, dict]:
    """Each --like command twice: on first sight of its picture (an empty cache of hands, so the
    picture is read) and seen before (the hand remembered by an earlier command, hand_cache)."""
    base = mnistgen_command() + [NUMBER, "--quiet", "--model", str(options.generator)]
    like = ["--classifier", str(options.classifier), "--encoder", str(options.encoder)]
    variants: dict[str, tuple[list[str], str | None]] = {"plain": (base, None)}  # the plain one reads no hand
    for name, path in paths.items():
        for sight in ("first sight", "seen before"):
            variants[f"--like {name}, {sight}"] = (base + ["--like", str(path), *like], sight)
    seen = folder / "cache-seen"
    for argv, _ in variants.values():  # the hands that "seen before" takes
        run_child(argv + ["--out", str(folder / "warm-up")], cwd=REPO, env=_cache_env(seen))
    walls: dict[str, list[float]] = {name: [] for name in variants}
    errors: dict[str, str | None] = {name: None for name in variants}
    for repeat in range(options.sizes.repeats):
        for name, (argv, sight) in variants.items():
            out, fresh = folder / f"out-{repeat}", folder / f"cache-{repeat}"
            run = run_child(argv + ["--out", str(out)], cwd=REPO, env=_cache_env(seen if sight == "seen before" else fresh))
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(fresh, ignore_errors=True)
            if run.ok:
                walls[name].append(run.wall_s)
            else:
                errors[name] = f"exit {run.returncode}: {run.stderr_tail.strip()}"
    return {name: {"command": " ".join(argv), "wall_s": walls[name], "median_s": median(walls[name]),
                   "error": errors[name]} for name, (argv, _) in variants.items()}


def _cache_env(folder: Path) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k != "MNISTGEN_NO_CACHE"}, "MNISTGEN_CACHE_DIR": str(folder)}


def served(options: Options, paths: dict[str, Path], hands: str, repeats: int) -> dict:
    """`mnistgen serve` with one worker of one thread, on 127.0.0.1: the number as a GET, and as a
    POST with each picture, taking turns on one kept-alive connection, ``repeats`` rounds after a
    warm-up round (whose POSTs, the server's first, are reported apart). ``hands`` is --hands: 0
    reads each picture anew, otherwise a picture sent before is remembered."""
    path = f"/v1/digits/{NUMBER}?seed=1"
    calls = {"plain GET": ("GET", None), **{f"POST {name}": ("POST", picture.read_bytes()) for name, picture in paths.items()}}
    server = ServerProcess(mnistgen_command() + [
        "serve", "--port", "0", "--workers", "1", "--threads", "1", "--hands", hands, "--model", str(options.generator),
        "--classifier", str(options.classifier), "--encoder", str(options.encoder)])
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT_S)
        first = {name: _call_ms(connection, method, path, body) for name, (method, body) in calls.items()}
        times: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(repeats):
            for name, (method, body) in calls.items():
                times[name].append(_call_ms(connection, method, path, body))
        connection.close()
        load = under_load(server.url + path, paths["pad 280x280 PNG"], options)
    finally:
        server.stop()
    plain = times.pop("plain GET")
    return {"first_call_ms": first, "plain_median_ms": median(plain),
            "median_ms": {name: median(t) for name, t in times.items()},
            "added_paired_ms": {name: paired_ms(t, plain, scale=1) for name, t in times.items()},
            "added_paired_ci95_ms": {name: paired_interval(t, plain, scale=1) for name, t in times.items()},
            "under_load": load}


def under_load(url: str, picture: Path, options: Options) -> dict | None:
    """wrk against the server: the GET, then the POST of ``picture``, at concurrency 1 and 8, one
    wrk thread, bounded in time (None without wrk)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    seconds = 1 if options.quick else 5
    env = {**os.environ, "MNISTGEN_BENCH_BODY": str(picture), "MNISTGEN_BENCH_REPORT": str(WRK_REPORT)}
    rows = {}
    for connections in (1, 8):
        for name, script in (("GET", WRK_REPORT), ("POST pad 280x280 PNG", WRK_POST)):
            report = wrk_report(start_wrk(wrk, url, connections, seconds, script, env), timeout=seconds + 60)
            rows[f"{name}, concurrency {connections}"] = {k: report[k] for k in ("requests_per_s", "p50_ms", "p99_ms", "failed")}
    return rows


def _call_ms(connection: http.client.HTTPConnection, method: str, path: str, body: bytes | None) -> float:
    start = time.perf_counter()
    connection.request(method, path, body=body)
    response = connection.getresponse()
    data = response.read()
    if response.status != 200:
        raise RuntimeError(f"{method} {path} answered {response.status}: {data[:200]!r}")
    return 1000 * (time.perf_counter() - start)
