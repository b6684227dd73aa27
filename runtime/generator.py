"""mnistgen.Generator: handwritten digits from the ONNX generator, torch-free.

Everything the generator makes is here: plain samples, verified samples (kept only when the
classifier agrees), and the compositions (numbers, morphs, style walks), each built on
``Generator.render``. The latent helpers at the bottom say how latents are drawn and mixed.
"""
from __future__ import annotations

import threading
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from mnistgen.classifier import Classifier
from mnistgen.encoder import Encoder
from mnistgen.handwriting import COMMAND_LINE, Hand, Wording, prepared_sample, variations
from mnistgen.images import unit_to_uint8
from mnistgen.limits import (
    BATCH_SIZE,
    DEFAULT_MIN_CONFIDENCE,
    DEFAULT_SPREAD,
    DEFAULT_STEPS,
    LIKE_MIN_CONFIDENCE,
    MAX_COUNT,
    VERIFY_DRAW_FACTOR,
    InputError,
    ModelError,
    VerificationError,
    check_count,
    check_digit,
    check_min_confidence,
    check_number,
    check_number_count,
    check_seed,
    check_steps,
    check_threads,
)
from mnistgen.model_file import GeneratorSpec, decode_value, open_session, read_generator_spec, resolve_model_path
from mnistgen.style import NO_STYLE, Style, StyleSpace, check_style, legible, steer

if TYPE_CHECKING:
    from PIL.Image import Image

Progress = Callable[[int, int], None]
"""Called as progress(done, total) after each batch."""

GENERATOR_FILENAME = "generator.onnx"

NUMBER_JITTER = 2
"""Each digit of a number is shifted by a seeded -2..2 px so the spacing looks handwritten."""

STYLE_KEYFRAMES = 4
"""Latents a style walk passes through."""


class Generator:
    """Class-conditional digit generator.

    ``model``: path to a generator .onnx (default: the model shipped in mnistgen.models).
    ``threads``: onnxruntime intra-op threads (default: onnxruntime's choice).
    ``classifier``: Classifier or path used by ``verify=True`` and to read a sample's digit
    (default: the shipped classifier, opened on first use).
    ``encoder``: Encoder or path for ``encode`` and ``hand`` (default: the shipped encoder, opened
    on first use and checked to be trained for this generator).

    One InferenceSession is created here and shared; ``run`` on it is thread-safe and the
    generator keeps no per-call state, so one instance may serve many threads.
    """

    def __init__(
        self,
        model: str | PathLike[str] | None = None,
        threads: int | None = None,
        classifier: Classifier | str | PathLike[str] | None = None,
        encoder: Encoder | str | PathLike[str] | None = None,
    ):
        self._threads = check_threads(threads)
        path = resolve_model_path(model, GENERATOR_FILENAME)
        self._session = open_session(path, self._threads)
        self.spec: GeneratorSpec = read_generator_spec(self._session, path)
        self._classifier_source = classifier
        self._classifier: Classifier | None = None
        self._classifier_lock = threading.Lock()  # one lazy classifier even if threads race to it
        self._encoder_source = encoder
        self._encoder: Encoder | None = None
        self._encoder_lock = threading.Lock()
        self._style_space: StyleSpace | None = None

    @property
    def path(self) -> Path:
        return self.spec.path

    @property
    def latent_dim(self) -> int:
        return self.spec.latent_dim

    @property
    def image_shape(self) -> tuple[int, int]:
        """(height, width) of one image, as the model's output defines it."""
        return self.spec.image_shape

    @property
    def info(self) -> dict[str, Any]:
        """The model's metadata, JSON values decoded (a fresh copy each time)."""
        return self.spec.metadata()

    @property
    def capabilities(self) -> tuple[str, ...]:
        """What this runtime can do with this model."""
        return (("generate", "numbers", "verify") + (("morph",) if self.spec.can_morph else ()) + ("style-walk",)
                + (("style",) if self.spec.raw_style is not None else ()))

    def style_space(self) -> StyleSpace:
        """The model's style fit (read on first use); ModelError for a model without one."""
        if self._style_space is None:  # two threads may both parse it: the same value, no lock needed
            raw = self.spec.raw_style
            if raw is None:
                raise ModelError(f"{self.path.name} has no style directions, so stroke width and slant cannot "
                                 f"be asked for; use a model exported with mnistgen-export --style")
            self._style_space = StyleSpace.from_metadata(decode_value(raw), self.latent_dim, self.path.name)
        return self._style_space

    def style(self, digits: str | int, stroke_width: object = None, slant: object = None, legibility: object = None,
              names: tuple[str, str, str] = ("stroke_width", "slant", "legibility")) -> Style:
        """The checked Style for drawing ``digits``: numbers, legibility 0-1, each target within the
        model's range for every digit drawn (InputError naming the range). ``names``: how refusals
        name the three controls (the CLI passes its options)."""
        style = check_style(stroke_width, slant, legibility, names)
        if style.steered:
            space = self.style_space()
            for digit in sorted({int(d) for d in str(digits)}):
                space.check(digit, style.targets, names[:2])
        return style

    def encoder(self) -> Encoder:
        """The encoder (opened on first use); ModelError if it was trained for another generator."""
        with self._encoder_lock:
            if self._encoder is None:
                source = self._encoder_source
                encoder = source if isinstance(source, Encoder) else Encoder(source, threads=self._threads)
                encoder.check_pair(self.path, self.latent_dim)
                self._encoder = encoder
            return self._encoder

    def encode(self, images: Any, digits: Any) -> np.ndarray:
        """float32 (N, latent_dim): the latents of prepared digit images (uint8 (N, 28, 28) or one
        (28, 28), white on black, as mnistgen.prepare makes them), each read as its digit (one
        digit for all, or one per image). ``generate(d, latents=...)`` redraws them as digit d."""
        return self.encoder().encode(images, digits)

    def hand(self, sample: Any, digit: int | None = None,
             min_confidence: float = LIKE_MIN_CONFIDENCE, wording: Wording = COMMAND_LINE) -> Hand:
        """The hand of one sample: a path to a picture (PNG, JPEG...), a picture file's bytes, a PIL
        image, or a grey array (a uint8 (28, 28) array is taken as prepared already). ``digit`` is
        the digit it shows; without it the classifier reads it, and InputError says so when it is
        not sure to ``min_confidence``. ``wording``: how refusals name the sample and the fixes.
        The hand's latent writes any digit: generate(d, latents=[hand.latent])."""
        image, where = prepared_sample(sample, wording)
        confidence = None
        if digit is None:
            labels, confidences = self.classifier().predict(image)
            digit, confidence = int(labels[0]), float(confidences[0])
            if confidence < check_min_confidence(min_confidence):
                raise InputError(
                    f"cannot tell which digit {where} shows: the classifier reads a {digit} at only "
                    f"{100 * confidence:.0f}% confidence (needs {100 * min_confidence:.0f}%); "
                    f"say which digit it is with {wording.say_digit}"
                )
        digit = check_digit(digit)
        return Hand(latent=self.encode(image, digit)[0], digit=digit, confidence=confidence, image=image)

    def generate(
        self,
        digit: int,
        count: int | None = None,
        seed: int | None = None,
        latents: Any = None,
        *,
        verify: bool = False,
        min_confidence: float = DEFAULT_MIN_CONFIDENCE,
        progress: Progress | None = None,
        stroke_width: float | None = None,
        slant: float | None = None,
        legibility: float | None = None,
    ) -> np.ndarray:
        """uint8 array (count, 28, 28), white digit on black.

        Latents are one (count, latent_dim) draw from np.random.default_rng(seed), so with one
        seed the first 10 of 20 equal a count of 10. Pass ``latents`` (count, latent_dim) instead
        to render your own. count is 1-MAX_COUNT (default 1, or len(latents)).
        ``verify=True`` keeps only samples the classifier reads as ``digit`` with confidence
        >= min_confidence, drawing up to VERIFY_DRAW_FACTOR x count candidates
        (VerificationError past that).
        ``stroke_width`` (px), ``slant`` (degrees) and ``legibility`` (0-1) steer every sample
        (mnistgen.style); without them the samples are the model's own.
        """
        digit, seed = check_digit(digit), check_seed(seed)  # in this order: the first bad argument is named
        style = self.style(digit, stroke_width, slant, legibility)
        if latents is not None:
            return self._generate_from(digit, count, seed, latents, verify, progress, style)
        count = check_count(1 if count is None else count)
        batches = self._checked_batches(digit, count, seed, verify, min_confidence, style)
        out = np.empty((count, *self.image_shape), dtype=np.uint8)  # preallocated: memory stays bounded by the batch
        done = 0
        for batch in batches:
            out[done : done + len(batch)] = batch
            done += len(batch)
            if progress is not None:
                progress(done, count)
        return out

    def batches(
        self,
        digit: int,
        count: int | None = None,
        seed: int | None = None,
        *,
        verify: bool = False,
        min_confidence: float = DEFAULT_MIN_CONFIDENCE,
        stroke_width: float | None = None,
        slant: float | None = None,
        legibility: float | None = None,
    ) -> Iterator[np.ndarray]:
        """generate()'s samples, a batch of at most BATCH_SIZE at a time, for more images than
        should sit in memory at once: concatenated, the batches are exactly
        generate(digit, count, seed, verify=verify, min_confidence=min_confidence).

        Arguments are checked here, before the first batch is asked for. With ``verify`` a batch
        may be empty (no candidate passed); VerificationError comes from the batch that ends the
        draw budget.
        """
        digit, count = check_digit(digit), check_count(1 if count is None else count)
        style = self.style(digit, stroke_width, slant, legibility)
        return self._checked_batches(digit, count, seed, verify, min_confidence, style)

    def _checked_batches(self, digit: int, count: int, seed: int | None, verify: bool, min_confidence: float,
                         style: Style) -> Iterator[np.ndarray]:
        rng = np.random.default_rng(check_seed(seed))
        return self._batches(digit, count, rng, self._verifier(verify, min_confidence), style)

    def _verifier(self, verify: bool, min_confidence: float) -> tuple[Classifier, float] | None:
        if not verify:
            return None
        confidence = check_min_confidence(min_confidence)  # before opening the classifier: a bad value fails fast
        return self.classifier(), confidence

    def _batches(self, digit: int, count: int, rng: np.random.Generator,
                 verifier: tuple[Classifier, float] | None, style: Style = NO_STYLE) -> Iterator[np.ndarray]:
        """The first ``count`` samples (that pass ``verifier``) of the rng's latent stream, in order.

        Latents are drawn a batch at a time from one stream; numpy's batched draws continue each
        other exactly, so this is one (count, latent_dim) draw cut into pieces. Verified samples
        are the same sequence with failures removed: deterministic and prefix-stable, with at
        most VERIFY_DRAW_FACTOR x count candidates drawn.
        """
        budget = count if verifier is None else VERIFY_DRAW_FACTOR * count
        found = drawn = 0
        while found < count:
            if drawn >= budget:
                assert verifier is not None  # unverified, every draw is kept
                raise VerificationError(
                    f"only {found} of {count} samples of digit {digit} reached confidence {verifier[1]} "
                    f"in {drawn} draws (limit {VERIFY_DRAW_FACTOR}x count); lower the minimum confidence"
                )
            size = min(BATCH_SIZE, budget - drawn)
            images = self.styled(_draw(rng, size, self.latent_dim), digit, style, first=drawn)
            drawn += size
            if verifier is not None:
                classifier, min_confidence = verifier
                labels, confidences = classifier.predict(images)
                images = images[(labels == digit) & (confidences >= min_confidence)]
            images = images[: count - found]
            found += len(images)
            yield images

    def _generate_from(self, digit: int, count: int | None, seed: int | None, latents: Any, verify: bool,
                       progress: Progress | None, style: Style = NO_STYLE) -> np.ndarray:
        if seed is not None or verify:
            raise InputError("latents cannot be combined with seed or verify: pass either latents or a seed")
        z = _check_latents(latents, self.latent_dim)
        if count is not None and count != len(z):
            raise InputError(f"count ({count!r}) must match the number of latents ({len(z)}) or be omitted")
        if not style.empty:
            return self.styled(z, digit, style)
        return self.render(z, digit, progress=progress)

    def images(self, digit: int, count: int | None = None, seed: int | None = None, latents: Any = None,
               **options: Any) -> "list[Image]":
        """Like generate(), as 28x28 PIL images (mode "L")."""
        from PIL import Image  # deferred: PIL is the slowest import and most callers want arrays

        return [Image.fromarray(a) for a in self.generate(digit, count, seed, latents, **options)]

    def number(self, digits: str, count: int | None = None, seed: int | None = None, latents: Any = None,
               **style: float | None) -> np.ndarray:
        """uint8 (count, 28, 28*len(digits)): each sample writes all digits in one hand.

        digits: 1-MAX_NUMBER_LENGTH characters 0-9; count x len(digits) <= MAX_COUNT.
        ``latents`` (count, latent_dim) gives each sample's hand (e.g. a Hand's latent, or
        variations of it) instead of drawing it; the seed still decides the spacing.
        All digits of one sample share its latent, so they read as one person's hand; a seeded
        -2..2 px shift per digit (from a separate stream, so prefix-stable) breaks the grid spacing.
        Overlaps merge with max, which is what ink on ink looks like in white-on-black.
        ``stroke_width``, ``slant`` and ``legibility`` steer each digit of the number alike.
        """
        digits = check_number(digits)
        checked = self.style(digits, **style)
        latent_rng, jitter_rng = _seed_streams(check_seed(seed), 2)
        if latents is None:
            count = check_number_count(1 if count is None else count, len(digits))
            z = _draw(latent_rng, count, self.latent_dim)
        else:
            z = _check_latents(latents, self.latent_dim)
            if count is not None and count != len(z):
                raise InputError(f"count ({count!r}) must match the number of latents ({len(z)}) or be omitted")
            count = check_number_count(len(z), len(digits))
        shifts = jitter_rng.integers(-NUMBER_JITTER, NUMBER_JITTER + 1, size=(count, len(digits)))
        shifts[:, 0] = np.maximum(shifts[:, 0], 0)  # the outer digits only move inwards: nothing is cut off
        shifts[:, -1] = np.minimum(shifts[:, -1], 0)
        height, width = self.image_shape
        canvas = np.zeros((count, height, width * len(digits)), dtype=np.uint8)
        rendered = {char: self.styled(z, int(char), checked) for char in set(digits)}  # "1111" renders once
        for position, char in enumerate(digits):
            tiles = rendered[char]
            for shift in np.unique(shifts[:, position]):
                rows = shifts[:, position] == shift
                _paste_max(canvas, rows, tiles[rows], width * position + int(shift))
        return canvas

    def in_hand(self, digits: str, hand: Hand | Any, count: int | None = None, spread: float = DEFAULT_SPREAD,
                seed: int | None = None, **style: float | None) -> np.ndarray:
        """``digits`` written in one hand (a Hand, or its latent): the first sample in the hand
        itself, the others variations around it (mnistgen.variations: ``spread`` 0 repeats the
        hand, 1 strays to random hands), from ``seed``. What `mnistgen DIGITS --like PICTURE`
        writes: uint8 (count, 28, 28) for one digit, (count, 28, 28 x digits) for a number.
        ``stroke_width``, ``slant`` and ``legibility``: the hand made bolder, upright, neater."""
        digits = check_number(digits)
        latent = hand.latent if isinstance(hand, Hand) else hand
        latents = variations(latent, 1 if count is None else count, spread, seed)
        if len(digits) > 1:
            return self.number(digits, seed=seed, latents=latents, **style)
        return self.generate(int(digits), latents=latents, **style)

    def morph(self, digit_from: int, digit_to: int, steps: int = DEFAULT_STEPS, seed: int | None = None,
              latent: Any = None, **style: float | None) -> np.ndarray:
        """uint8 (steps, 28, 28): one latent, label embedding blended from digit_from to digit_to.
        ``latent`` (latent_dim,) is the hand to morph in (e.g. a Hand's latent) instead of a seeded draw.
        ``stroke_width``, ``slant`` and ``legibility`` steer the hand as digit_from shows it."""
        digit_from, digit_to, steps = check_digit(digit_from), check_digit(digit_to), check_steps(steps)
        checked = self.style(digit_from, **style)
        if latent is not None:
            if seed is not None:
                raise InputError("latent cannot be combined with seed: pass either a latent or a seed")
            z = _check_latents(np.asarray(latent, dtype=np.float32).reshape(1, -1), self.latent_dim)
        else:
            z = _draw(np.random.default_rng(check_seed(seed)), 1, self.latent_dim)
        z = self.styled_latents(z, digit_from, checked)
        mix = np.linspace(0.0, 1.0, steps, dtype=np.float32)
        return self.render(np.repeat(z, steps, axis=0), digit_from, digit_to=digit_to, mix=mix)

    def style_walk(self, digit: int, steps: int = DEFAULT_STEPS, seed: int | None = None,
                   **style: float | None) -> np.ndarray:
        """uint8 (steps, 28, 28): one digit, the latent travelling along great-circle arcs through
        a few random styles; ``stroke_width``, ``slant`` and ``legibility`` hold every frame to them."""
        digit, steps = check_digit(digit), check_steps(steps)
        checked = self.style(digit, **style)
        keys = _draw(np.random.default_rng(check_seed(seed)), STYLE_KEYFRAMES, self.latent_dim)
        position = np.linspace(0.0, STYLE_KEYFRAMES - 1, steps)
        segment = np.minimum(position.astype(int), STYLE_KEYFRAMES - 2)
        z = np.empty((steps, self.latent_dim), dtype=np.float32)
        for index in np.unique(segment):
            rows = segment == index
            z[rows] = _slerp(keys[index], keys[index + 1], position[rows] - index)
        return self.styled(z, digit, checked)

    def classifier(self) -> Classifier:
        """The classifier used for verification (opened on first use)."""
        with self._classifier_lock:
            if self._classifier is None:
                source = self._classifier_source
                self._classifier = source if isinstance(source, Classifier) else Classifier(source, threads=self._threads)
            return self._classifier

    def styled(self, z: np.ndarray, digit: int, style: Style, first: int = 0) -> np.ndarray:
        """render(), with a checked Style applied (self.style checks one): legibility scales the
        latents, a stroke width or slant steers each sample to it (mnistgen.style.steer).
        ``first``: which sample of the Style's per-sample targets z's first row is."""
        return self._styled(z, digit, style, first)[1]

    def styled_latents(self, z: np.ndarray, digit: int, style: Style) -> np.ndarray:
        """The latents ``styled`` renders."""
        return z if style.empty else self._styled(z, digit, style)[0]

    def _styled(self, z: np.ndarray, digit: int, style: Style, first: int = 0) -> tuple[np.ndarray, np.ndarray]:
        z = _check_latents(z, self.latent_dim)
        if not style.steered:
            z = legible(z, style.legibility)
            return z, self.render(z, digit)
        goals = style.goals(first, first + len(z))
        return steer(lambda latents: self.render(latents, digit), z, self.style_space(), digit, goals, style.legibility)

    def render(
        self,
        z: np.ndarray,
        digit: int,
        digit_to: int | None = None,
        mix: np.ndarray | None = None,
        progress: Progress | None = None,
    ) -> np.ndarray:
        """Low level: latents z (n, latent_dim) -> uint8 (n, 28, 28), in batches of BATCH_SIZE.

        ``digit_to`` and ``mix`` (n,) blend the label embedding: lerp(embed(digit),
        embed(digit_to), mix); they need a model whose capabilities include "morph".
        """
        z, digit = _check_latents(z, self.latent_dim), check_digit(digit)
        if digit_to is not None or mix is not None:
            digit_to, mix = self._check_blend(digit, digit_to, mix, len(z))
        out = np.empty((len(z), *self.image_shape), dtype=np.uint8)  # preallocated: memory stays bounded by the batch
        for start in range(0, len(z), BATCH_SIZE):
            stop = min(start + BATCH_SIZE, len(z))
            part_mix = None if mix is None else mix[start:stop]
            out[start:stop] = self._run(z[start:stop], digit, digit_to, part_mix)
            if progress is not None:
                progress(stop, len(z))
        return out

    def _check_blend(self, digit: int, digit_to: int | None, mix: Any, rows: int) -> tuple[int, np.ndarray]:
        if not self.spec.can_morph:
            raise ModelError(
                f"{self.path} cannot morph (no digit_to/mix inputs); use a model whose capabilities include 'morph'"
            )
        mix = np.zeros(rows, np.float32) if mix is None else np.asarray(mix, dtype=np.float32)
        if mix.shape != (rows,) or not np.isfinite(mix).all():
            raise InputError(f"mix must be {rows} finite numbers (one per latent, 0 = digit, 1 = digit_to)")
        return (digit if digit_to is None else check_digit(digit_to)), mix

    def _run(self, z: np.ndarray, digit: int, digit_to: int | None, mix: np.ndarray | None) -> np.ndarray:
        feeds = {"z": z, "digit": np.full(len(z), digit, dtype=np.int64)}
        morphing = digit_to is not None or mix is not None
        # a model may require digit_to/mix even for plain digits: then blend a label with itself
        if morphing or "digit_to" in self.spec.graph_inputs:
            feeds["digit_to"] = np.full(len(z), digit if digit_to is None else digit_to, dtype=np.int64)
        if morphing or "mix" in self.spec.graph_inputs:
            feeds["mix"] = np.zeros(len(z), np.float32) if mix is None else np.asarray(mix, np.float32)
        (image,) = self._session.run(["image"], feeds)
        return unit_to_uint8(image.reshape(len(z), *self.image_shape))


def _paste_max(canvas: np.ndarray, rows: np.ndarray, tiles: np.ndarray, left: int) -> None:
    start, stop = max(left, 0), min(left + tiles.shape[2], canvas.shape[2])
    region = canvas[rows, :, start:stop]
    canvas[rows, :, start:stop] = np.maximum(region, tiles[:, :, start - left : stop - left])


# --- latents: seeded draws, caller-supplied arrays, and interpolation between them ----------


def _seed_streams(seed: int | None, count: int) -> list[np.random.Generator]:
    """`count` independent generators; the first is exactly np.random.default_rng(seed).

    Separate streams keep each quantity prefix-stable: drawing more latents never shifts
    what a second stream (e.g. a number's spacing jitter) produces for the first samples.
    """
    sequence = np.random.SeedSequence(seed)
    return [np.random.default_rng(sequence)] + [np.random.default_rng(s) for s in sequence.spawn(count - 1)]


def _draw(rng: np.random.Generator, count: int, latent_dim: int) -> np.ndarray:
    """(count, latent_dim) standard normals as ONE draw, so a larger count extends a smaller one."""
    return rng.standard_normal((count, latent_dim), dtype=np.float32)


def _check_latents(latents: object, latent_dim: int) -> np.ndarray:
    array = np.asarray(latents, dtype=np.float32)
    if array.ndim != 2 or array.shape[1] != latent_dim or not 1 <= array.shape[0] <= MAX_COUNT:
        raise InputError(
            f"latents must be an array of shape (count, {latent_dim}) with count 1-{MAX_COUNT}, got shape {array.shape}"
        )
    if not np.isfinite(array).all():
        raise InputError("latents must be finite numbers (no NaN or inf)")
    return np.ascontiguousarray(array)


def _slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation rows: keeps the norm near that of typical Gaussian samples,
    where a straight line through the middle of the ball would drift to atypically short latents."""
    t = np.asarray(t, dtype=np.float64)[:, None]
    cos = np.dot(a, b) / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if np.sin(omega) < 1e-6:  # (anti)parallel: the sphere path is undefined, the line is fine
        return ((1 - t) * a + t * b).astype(np.float32)
    mixed = (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)
    return mixed.astype(np.float32)
