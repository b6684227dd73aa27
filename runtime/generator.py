"""mnistgen.Generator: handwritten digits from the ONNX generator, torch-free."""
from __future__ import annotations

import threading
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from mnistgen import compose, latents as latent_ops
from mnistgen.errors import InputError, ModelError
from mnistgen.limits import BATCH_SIZE, DEFAULT_MIN_CONFIDENCE, DEFAULT_STEPS
from mnistgen.model_spec import GeneratorSpec, read_generator_spec
from mnistgen.pixels import unit_to_uint8
from mnistgen.session import open_session, resolve_model_path
from mnistgen.validation import check_count, check_digit, check_min_confidence, check_seed, check_threads
from mnistgen.verify import draw_verified

if TYPE_CHECKING:
    from PIL.Image import Image

    from mnistgen.classifier import Classifier

Progress = Callable[[int, int], None]
"""Called as progress(done, total) after each batch."""

GENERATOR_FILENAME = "generator.onnx"


class Generator:
    """Class-conditional digit generator.

    ``model``: path to a generator .onnx (default: the model shipped in mnistgen.models).
    ``threads``: onnxruntime intra-op threads (default: onnxruntime's choice).
    ``classifier``: Classifier or path used by ``verify=True`` (default: the shipped classifier,
    opened on first use).

    One InferenceSession is created here and shared; ``run`` on it is thread-safe and the
    generator keeps no per-call state, so one instance may serve many threads.
    """

    def __init__(
        self,
        model: str | PathLike[str] | None = None,
        threads: int | None = None,
        classifier: "Classifier | str | PathLike[str] | None" = None,
    ):
        self._threads = check_threads(threads)
        path = resolve_model_path(model, GENERATOR_FILENAME)
        self._session = open_session(path, self._threads)
        self.spec: GeneratorSpec = read_generator_spec(self._session, path)
        self._classifier_source = classifier
        self._classifier: Classifier | None = None
        self._classifier_lock = threading.Lock()  # one lazy classifier even if threads race to it

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
        return ("generate", "numbers", "verify") + (("morph",) if self.spec.can_morph else ()) + ("style-walk",)

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
    ) -> np.ndarray:
        """uint8 array (count, 28, 28), white digit on black.

        Latents are one (count, latent_dim) draw from np.random.default_rng(seed), so with one
        seed the first 10 of 20 equal a count of 10. Pass ``latents`` (count, latent_dim) instead
        to render your own. count is 1-MAX_COUNT (default 1, or len(latents)).
        ``verify=True`` keeps only samples the classifier reads as ``digit`` with confidence
        >= min_confidence, drawing up to VERIFY_DRAW_FACTOR x count candidates
        (VerificationError past that).
        """
        digit = check_digit(digit)
        seed = check_seed(seed)
        if latents is not None:
            return self._generate_from(digit, count, seed, latents, verify, progress)
        count = check_count(1 if count is None else count)
        if verify:
            confidence = check_min_confidence(min_confidence)
            return draw_verified(self, self.classifier(), digit, count, seed, confidence, progress)
        z = latent_ops.draw(np.random.default_rng(seed), count, self.latent_dim)
        return self.render(z, digit, progress=progress)

    def _generate_from(self, digit: int, count: int | None, seed: int | None, latents: Any, verify: bool,
                       progress: Progress | None) -> np.ndarray:
        if seed is not None or verify:
            raise InputError("latents cannot be combined with seed or verify: pass either latents or a seed")
        z = latent_ops.check_latents(latents, self.latent_dim)
        if count is not None and count != len(z):
            raise InputError(f"count ({count!r}) must match the number of latents ({len(z)}) or be omitted")
        return self.render(z, digit, progress=progress)

    def images(self, digit: int, count: int | None = None, seed: int | None = None, latents: Any = None,
               **options: Any) -> "list[Image]":
        """Like generate(), as 28x28 PIL images (mode "L")."""
        from PIL import Image  # deferred: PIL is the slowest import and most callers want arrays

        return [Image.fromarray(a) for a in self.generate(digit, count, seed, latents, **options)]

    def number(self, digits: str, count: int = 1, seed: int | None = None) -> np.ndarray:
        """uint8 (count, 28, 28*len(digits)): each sample writes all digits in one hand.

        digits: 1-MAX_NUMBER_LENGTH characters 0-9; count x len(digits) <= MAX_COUNT.
        """
        return compose.number(self, digits, count, seed)

    def morph(self, digit_from: int, digit_to: int, steps: int = DEFAULT_STEPS, seed: int | None = None) -> np.ndarray:
        """uint8 (steps, 28, 28): one latent, label blended from digit_from to digit_to."""
        return compose.morph(self, digit_from, digit_to, steps, seed)

    def style_walk(self, digit: int, steps: int = DEFAULT_STEPS, seed: int | None = None) -> np.ndarray:
        """uint8 (steps, 28, 28): one digit, latent moving smoothly through a few random styles."""
        return compose.style_walk(self, digit, steps, seed)

    def classifier(self) -> "Classifier":
        """The classifier used for verification (opened on first use)."""
        with self._classifier_lock:
            if self._classifier is None:
                self._classifier = _open_classifier(self._classifier_source, self._threads)
            return self._classifier

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
        z, digit = latent_ops.check_latents(z, self.latent_dim), check_digit(digit)
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


def _open_classifier(source: Any, threads: int | None) -> "Classifier":
    from mnistgen.classifier import Classifier

    return source if isinstance(source, Classifier) else Classifier(source, threads=threads)
