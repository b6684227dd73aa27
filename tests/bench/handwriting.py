"""What --like costs: the steps in process (warm), what a first call opens, and whole commands
with and without --like side by side.

A --like command either reads its picture (first sight) or takes the hand an earlier command
remembered (seen before; mnistgen.hand_cache): both are measured, each with a cache of its own.

Pictures: a phone photo (900 x 1200 JPEG, sideways, with a shadow; tests/phone_photo.py) and a
280 x 280 PNG like the web page's drawing pad, both of a digit the generator drew (no MNIST
needed). Each whole-command repetition runs the plain command and the --like ones back to back
in fresh processes, so drifting machine load hits all alike.
"""
from __future__ import annotations

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
from tests.bench.stats import median
from tests.phone_photo import phone_photo

NUMBER = "2026"


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
    plain = commands.pop("plain")
    return {
        "repeats": repeats,
        "first_use_ms": {"open encoder and check the pair": open_encoder_ms, "open classifier": open_classifier_ms},
        "steps_ms": steps,
        "whole_command": {"plain": plain, **commands},
        "added_ms": {name: (None if c["median_s"] is None or plain["median_s"] is None
                            else 1000 * (c["median_s"] - plain["median_s"])) for name, c in commands.items()},
        "added_paired_ms": {name: paired_ms(c["wall_s"], plain["wall_s"]) for name, c in commands.items()},
    }


def remembered(generator: Generator, picture: Path, folder: Path) -> Callable[[], object]:
    """What a --like command seen before does instead of reading its picture: the key, then the entry."""
    cache = HandCache(folder)
    models = (generator.path, generator.encoder().path, generator.classifier().path)
    cache.remember(cache.key(picture, None, models), generator.hand(picture))
    return lambda: cache.recall(cache.key(picture, None, models))


def paired_ms(walls: list[float], plain: list[float]) -> float | None:
    """Median of the differences between each repetition's command and the plain one beside it:
    the machine's drift between repetitions cancels."""
    pairs = [1000 * (a - b) for a, b in zip(walls, plain)]
    return median(pairs) if len(pairs) == len(walls) == len(plain) and pairs else None


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
