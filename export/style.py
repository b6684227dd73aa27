"""The style fit an exported generator carries (mnistgen-export --style): per digit, a linear fit of
stroke width and slant on z, the plane steering moves in, and the range each control keeps the
digit legible in. Fitted on the exported ONNX file itself with the runtime's own measures and
steering (mnistgen.style), so what the file promises is what the runtime does.

The ranges are found on a grid of targets (STEPS apart, within LIMITS): a target holds when at
least MIN_ON_TARGET of the steered samples meet the tolerance and the shipped classifier reads
them as their digit at least as often as MIN_LABEL_ACCURACY, or, for a digit the model itself
draws less legibly than that, as often as its own uncontrolled samples less LABEL_MARGIN (the
model's 7s read at about 99.2 %, its 3s at 99.4 %: no control can lift them to 99.5 %). A digit's
range is the run of holding targets around its median.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from mnistgen.export.errors import ExportError
from mnistgen.export.metadata import as_json, read_generator_file
from mnistgen.export.writer import check_destination, write_atomic
from mnistgen.generator import Generator
from mnistgen.style import TOLERANCE, StyleSpace, measure, steer

MIN_LABEL_ACCURACY = 0.995
LABEL_MARGIN = 0.005
"""Below a less legible digit's own accuracy, what its targets may read: about five standard errors
of a smoothed target's 9,000 samples at 99 %, so a target in the digit's middle passes while one
that costs the label half a point fails."""
MIN_ON_TARGET = 0.95
STEPS = (0.1, 2.5)
"""The search's step per control: 0.1 px of stroke width, 2.5 degrees of slant."""
SMOOTHING = 9
"""A target's label accuracy is the mean of its own and its eight nearest targets' (9,000 samples
in all, a standard error of 0.07 points at 99.5 %): one target's 1,000 are too few to tell
99.5 % from 99 % (0.3 points), and the last target to pass among many noisy ones is the luckiest,
not the soundest. Five targets (0.1 points) were too few: a slanted 1 reads about 99.55 % across
its whole range, and noise alone failed its centre."""
LIMITS = ((1.0, 4.0), (-40.0, 45.0))
"""The search's bounds per control: MNIST's test digits span 1.07-3.76 px and -27-36 degrees
(1st-99th percentile), so no range need go past these."""


@dataclass(frozen=True)
class StyleFit:
    """How the fit is made: ``samples`` per digit for the regression, ``range_samples`` steered per
    probed target, from ``seed``."""

    samples: int = 4000
    range_samples: int = 1000
    seed: int = 0


def fit_style(model: Path, classifier: Path | None, fit: StyleFit = StyleFit()) -> StyleSpace:
    """The StyleSpace of the generator file at ``model``, its ranges judged by ``classifier``
    (default: the shipped one)."""
    generator = Generator(model, threads=1, classifier=classifier)
    rng = np.random.default_rng(fit.seed)
    intercept, gradient, directions = [], [], []
    for digit in range(10):
        z = rng.standard_normal((fit.samples, generator.latent_dim), dtype=np.float32)
        design = np.concatenate([np.ones((len(z), 1)), z], axis=1)
        coefficients, *_ = np.linalg.lstsq(design, measure(generator.render(z, digit)), rcond=None)  # (1+d, 2)
        intercept.append(coefficients[0])
        gradient.append(coefficients[1:].T)
        directions.append(_orthonormal(coefficients[1:].T))
    space = StyleSpace(np.array(intercept), np.array(gradient), np.array(directions), np.zeros((10, 2, 2)))
    ranges = [[_range(generator, space, digit, control, rng, fit) for control in range(2)] for digit in range(10)]
    return StyleSpace(space.intercept, space.gradient, space.directions, np.array(ranges))


def _orthonormal(gradient: np.ndarray) -> np.ndarray:
    """Rows spanning the two gradients, orthonormal, each pointing the way its control grows
    (the first is the stroke width's own direction; the second its slant part orthogonal to it)."""
    q, _ = np.linalg.qr(gradient.T)
    rows = q.T
    return rows * np.sign(np.sum(rows * gradient, axis=1, keepdims=True))


def _range(generator: Generator, space: StyleSpace, digit: int, control: int, rng: np.random.Generator,
           fit: StyleFit) -> list[float]:
    """The run of grid targets around the digit's median that holds (see the module's docstring),
    the label accuracy averaged over SMOOTHING neighbouring targets. Each target steers latents of
    its own: with one set shared by all, neighbours' errors would come from the same hands, and
    their mean would be no surer than one target's."""
    shape = (fit.range_samples, generator.latent_dim)
    low, high = LIMITS[control]
    grid = np.round(np.arange(low, high + STEPS[control] / 2, STEPS[control]), 6)
    scores = np.array([_scores(generator, space, digit, control, float(target),
                               rng.standard_normal(shape, dtype=np.float32)) for target in grid])
    accuracy = np.convolve(np.pad(scores[:, 1], SMOOTHING // 2, mode="edge"), np.ones(SMOOTHING) / SMOOTHING,
                           mode="valid")
    plain = generator.render(rng.standard_normal(shape, dtype=np.float32), digit)
    needed = label_bar(_plain_accuracy(generator, digit, rng, SMOOTHING * fit.range_samples))
    holds = (scores[:, 0] >= MIN_ON_TARGET) & (accuracy >= needed)
    centre = int(np.argmin(np.abs(grid - np.median(measure(plain)[:, control]))))
    if not holds[centre]:
        return [float(grid[centre])] * 2
    first = last = centre
    while first > 0 and holds[first - 1]:
        first -= 1
    while last < len(grid) - 1 and holds[last + 1]:
        last += 1
    return [float(grid[first]), float(grid[last])]


def label_bar(plain: float) -> float:
    """The label accuracy a target must keep, given the digit's own uncontrolled ``plain`` accuracy:
    MIN_LABEL_ACCURACY, or for a digit drawn less legibly than that, its own less LABEL_MARGIN.
    (Never plain less the margin for a legible digit: a 2 read at 99.9 % would then pass targets
    at 98.9 %.)"""
    return MIN_LABEL_ACCURACY if plain >= MIN_LABEL_ACCURACY else plain - LABEL_MARGIN


def _plain_accuracy(generator: Generator, digit: int, rng: np.random.Generator, samples: int) -> float:
    """How often the classifier reads the model's own samples of ``digit`` as it, over as many
    samples as a smoothed target has: the bar a steered target is held to must not be noisier
    than the targets' own accuracy."""
    z = rng.standard_normal((samples, generator.latent_dim), dtype=np.float32)
    labels, _ = generator.classifier().predict(generator.render(z, digit))
    return float((labels == digit).mean())


def _scores(generator: Generator, space: StyleSpace, digit: int, control: int, target: float,
            z: np.ndarray) -> tuple[float, float]:
    """(share on target, label accuracy) of ``z`` steered to ``target``."""
    targets = (target, None) if control == 0 else (None, target)
    _, images = steer(lambda latents: generator.render(latents, digit), z, space, digit, targets)
    on_target = np.abs(measure(images)[:, control] - target) <= TOLERANCE[control]
    labels, _ = generator.classifier().predict(images)
    return float(on_target.mean()), float((labels == digit).mean())


def with_style(model: onnx.ModelProto, classifier: Path | None, fit: StyleFit = StyleFit()) -> onnx.ModelProto:
    """``model`` with its style fit in the metadata ('style'), fitted on the model's own bytes."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "generator.onnx"
        path.write_bytes(model.SerializeToString())
        space = fit_style(path, classifier, fit)
    props = {p.key: p.value for p in model.metadata_props}
    props["style"] = as_json(space.as_json())
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, props)
    return model


def refit(model: str | Path, out: str | Path | None = None, fit: StyleFit = StyleFit()) -> Path:
    """Fit the style controls of the generator file ``model`` again (after a change to the fit
    itself), keeping the rest of the file as it is; written atomically to ``out`` (default: in
    place). Raises ExportError for a file that is not an mnistgen generator."""
    model, out = Path(model), Path(model if out is None else out)
    check_destination(out)
    if not model.is_file():
        raise ExportError(f"{model}: no such file")
    payload, _ = read_generator_file(model, "--style refits a generator .onnx or exports a gan checkpoint")
    return write_atomic(out, with_style(onnx.load_from_string(payload), None, fit).SerializeToString())
