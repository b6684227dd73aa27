"""Style controls: a stroke width and a slant asked for in units a person reads, and legibility.

Both are measured on the 28x28 output, so "3 px" means what the picture shows:
- stroke width, in pixels: 2 x ink area / ink perimeter over the pixels >= 128, the perimeter
  counted as 4-neighbour edges between ink and paper (a stroke of width w and length L has area
  wL and perimeter about 2L);
- slant, in degrees from vertical: the angle of the ink's principal axis from its
  intensity-weighted second moments, atan(-mu_xy / mu_yy) with y pointing down, so a positive
  slant leans right (the top right of the bottom).

The generator holds both factors linearly enough (a linear fit on z explains ~85 % of the stroke
width's variance and ~93 % of the slant's), so the model file carries, per digit, that fit
(intercept and gradient, ``StyleSpace``) and two orthonormal directions in z. A sample is steered
by moving its own latent in that plane, along each control's own axis: a first step from the
fit, aimed past a far target by what the fit is known to miss it by (``aim_offsets``), then a
secant step per control and sample, each one batched generator call over the samples
still off target, until the measured values are within TOLERANCE. A control left unset is held
near the sample's own value (from the fit's reading of it and its first render), so asking for a
slant keeps the stroke width and the other way round.

Legibility is the latent scale made a user's control: 0 is the model's own spread (as without
the control), 1 halves it (typical, clean hands; fewer rare ones). Far targets cost the label
(a thick 1 strays from how 1s are read), and typical hands keep it: the model file says, per
digit and control, the range each of a few legibilities keeps the label in (``StyleSpace.levels``
and ``level_ranges``), and a target beyond the range of the legibility asked is drawn at the
least legibility whose range holds it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from mnistgen.limits import InputError, ModelError

CONTROLS = ("stroke_width", "slant")
UNITS = {"stroke_width": "px", "slant": "degrees"}
INK_LEVEL = 128
"""Pixels at or above this grey level are ink for the stroke width."""
TOLERANCE = np.array([0.2, 3.0])
"""A steered sample is on target when each asked control is this close: 0.2 px, 3 degrees."""
MAX_ROUNDS = 8
"""Secant steps after the first; the rare sample still off target then is kept as it is."""
MAX_STEP = 6.0
"""Largest move along an axis in one step, in latent units: a bad secant cannot fling a sample to
the edge of the latent space."""
HOLD_BLEND = 0.5
"""How far a free control's goal moves from the fit's reading of the sample towards what its
first render measured, for a sample drawn at the legibility asked. (For one drawn more typically
the first render is a different hand: blended so, 1s leaning -20 degrees changed their stroke
width by 11 % median, against 7 % held at the fit's reading.)"""
SLOPES = (0.25, 4.0)
"""A secant's slope is kept within these multiples of the fit's: a sample whose control saturates
(a 1 cannot get much thinner) still steps, and a jumpy render does not stall the next step."""
LIMITS = np.array([[1.0, 4.0], [-40.0, 45.0]])
"""The widest any control may go, per control: the fit searches for ranges within it, and a free
control is held within it (the fit reads a few hands thinner than any pen draws; pushed there,
they broke: 8s leaning left at legibility 1 read 99.3 %, and 100 % so kept). MNIST's test digits
span 1.07-3.76 px and -27 to 36 degrees (1st-99th percentile)."""
EMPTY = (0.0, -1.0)
"""A level's range that holds no target (its low above its high): the legibility levels below
the first that keeps a digit's label, for a digit the model draws less legibly than the bar."""
LEGIBILITY_SHRINK = 0.5
"""Legibility 1 multiplies the latents by 1 - LEGIBILITY_SHRINK."""
AIM_GRID = 35
"""The targets the first step's aim is calibrated at, per control: evenly over LIMITS, 0.088 px and
2.5 degrees apart (StyleSpace.aim_offsets)."""


def stroke_widths(images: np.ndarray) -> np.ndarray:
    """float64 (n,): each uint8 image's stroke width in pixels (0 where there is no ink)."""
    ink = np.asarray(images) >= INK_LEVEL
    inner = (ink[:, 1:, :] != ink[:, :-1, :]).sum((1, 2)) + (ink[:, :, 1:] != ink[:, :, :-1]).sum((1, 2))
    border = ink[:, 0, :].sum(1) + ink[:, -1, :].sum(1) + ink[:, :, 0].sum(1) + ink[:, :, -1].sum(1)  # the field's edge is paper
    return 2.0 * ink.sum((1, 2)) / np.maximum(inner + border, 1)


def slants(images: np.ndarray) -> np.ndarray:
    """float64 (n,): each uint8 image's slant in degrees (positive leans right; 0 without ink).

    The second moments come from raw ones: integer sums, exact in any order (so one matrix
    product serves, and the web module's loops give the same), centred afterwards."""
    images = np.asarray(images)
    rows, cols = (axis.ravel().astype(np.float64) for axis in np.mgrid[0 : images.shape[1], 0 : images.shape[2]])
    basis = np.stack([np.ones_like(rows), rows, cols, rows * cols, rows * rows], axis=1)
    mass, row, col, row_col, row_row = (images.reshape(len(images), len(basis)).astype(np.float64) @ basis).T
    mass = np.maximum(mass, 1e-12)
    mean_row, mean_col = row / mass, col / mass
    mu_xy = row_col / mass - mean_row * mean_col
    mu_yy = row_row / mass - mean_row * mean_row
    return np.degrees(np.arctan(-mu_xy / np.maximum(mu_yy, 1e-12)))


def measure(images: np.ndarray) -> np.ndarray:
    """float64 (n, 2): stroke width and slant of each image, in CONTROLS' order."""
    return np.stack([stroke_widths(images), slants(images)], axis=1)


FIELDS = ("intercept", "gradient", "directions", "ranges", "levels", "level_ranges", "aim_offsets")


@dataclass(frozen=True)
class StyleSpace:
    """What a model file says of its style, per digit: the linear fit of each control on z
    (``intercept`` (10, 2), ``gradient`` (10, 2, latent_dim)), the plane steering moves in
    (``directions`` (10, 2, latent_dim), orthonormal rows), and the range each control keeps the
    digit legible in: ``level_ranges`` (10, 2, L, 2), low and high per digit and control at each
    legibility of ``levels`` (L,: 0 first, rising; each range holds the one before), and
    ``ranges`` (10, 2, 2), the last and widest, which is what a target may ask for.

    ``aim_offsets`` (10, 2, L, AIM_GRID, 2): how far past its goals the first step aims, per digit,
    asked control and legibility level, at targets evenly over LIMITS, for each control (the asked
    one's own; the other's, when it is free, held); zeros: at the goals. The fit is linear and the
    generator is not: 4s steered to -35 degrees by the fit alone came out at -29.7 on average, so
    the first step missed almost every sample far from the median, and 6s steered to -27.5
    degrees came out 0.31 px thinner than their own hands."""

    intercept: np.ndarray
    gradient: np.ndarray
    directions: np.ndarray
    ranges: np.ndarray
    levels: np.ndarray
    level_ranges: np.ndarray
    aim_offsets: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.aim_offsets is None:  # a file fitted before the calibration aims at the target itself
            object.__setattr__(self, "aim_offsets", np.zeros((10, 2, len(np.atleast_1d(self.levels)), AIM_GRID, 2)))

    @classmethod
    def from_metadata(cls, value: Any, latent_dim: int, where: str) -> StyleSpace:
        try:
            value = dict(value)
            if "levels" not in value:  # a file fitted before the levels: its ranges hold at legibility 0
                ranges = np.asarray(value["ranges"], dtype=np.float64)
                value = {**value, "levels": [0.0], "level_ranges": ranges[:, :, None] if ranges.ndim == 3 else ranges}
            # a field missing fails in cls() (TypeError) but aim_offsets, which older files lack
            space = cls(**{name: np.asarray(value[name], dtype=np.float64) for name in FIELDS if name in value})
        except (TypeError, KeyError, ValueError, IndexError):
            raise ModelError(f"{where}: metadata 'style' must hold intercept, gradient, directions and ranges") from None
        levels = len(space.levels) if space.levels.ndim == 1 else -1
        shapes = {"intercept": (10, 2), "gradient": (10, 2, latent_dim), "directions": (10, 2, latent_dim),
                  "ranges": (10, 2, 2), "levels": (levels,), "level_ranges": (10, 2, levels, 2),
                  "aim_offsets": (10, 2, levels, AIM_GRID, 2)}
        for name, shape in shapes.items():
            array = getattr(space, name)
            if array.shape != shape or not np.isfinite(array).all():
                raise ModelError(f"{where}: metadata style {name} must be finite numbers of shape {shape}, "
                                 f"got {array.shape}")
        if levels < 1 or space.levels[0] != 0 or (np.diff(space.levels) <= 0).any() or space.levels[-1] > 1:
            raise ModelError(f"{where}: metadata style levels must rise from 0 to at most 1")
        if not np.array_equal(space.level_ranges[:, :, -1], space.ranges) or (space.ranges[..., 0] > space.ranges[..., 1]).any():
            raise ModelError(f"{where}: metadata style ranges must be the last of level_ranges, none of them empty")
        return space

    def as_json(self) -> dict[str, Any]:
        """The metadata value: plain lists (float32 precision is plenty for a direction)."""
        return {name: np.round(getattr(self, name), 7).tolist() for name in FIELDS}

    def info(self) -> dict[str, Any]:
        """The controls and their ranges per digit, as --info lists them: ``range``, what may be
        asked; ``by_legibility``, the range each legibility holds, None where it holds none (a
        target beyond the range of the legibility asked is drawn at the least legibility whose
        range holds it)."""
        controls = {name: {"unit": UNITS[name], "tolerance": float(TOLERANCE[i]),
                           "range": {str(d): [float(v) for v in self.ranges[d, i]] for d in range(10)},
                           "by_legibility": {_number(level): {str(d): _span(self.level_ranges[d, i, k]) for d in range(10)}
                                             for k, level in enumerate(self.levels)}}
                    for i, name in enumerate(CONTROLS)}
        controls["legibility"] = {"unit": "0-1", "range": [0.0, 1.0]}
        return controls

    def reading(self, digit: int, z: np.ndarray) -> np.ndarray:
        """float64 (n, 2): the fit's stroke width and slant for latents ``z`` of ``digit``."""
        return self.intercept[digit] + _dot(z.astype(np.float64)[:, None, :], self.gradient[digit][None])

    def needed_legibility(self, digit: int, goals: np.ndarray) -> np.ndarray:
        """float (n,): the least legibility of ``levels`` whose ranges hold each sample's targets
        (``goals`` (n, 2), NaN for a free control); targets must lie within ``ranges`` (``check``)."""
        needed = np.zeros(len(goals))
        for control in range(2):
            target = goals[:, control, None]
            low, high = self.level_ranges[digit, control, :, 0], self.level_ranges[digit, control, :, 1]
            inside = (target >= low - 1e-9) & (target <= high + 1e-9)  # (n, L); a NaN target is inside none
            level = np.where(inside.any(axis=1), self.levels[np.argmax(inside, axis=1)], 0.0)
            needed = np.maximum(needed, level)
        return needed

    def check(self, digit: int, targets: tuple[Any, Any], names: tuple[str, str]) -> None:
        """InputError naming the range when a target (or any of an array's) lies outside ``digit``'s."""
        for i, target in enumerate(targets):
            if target is None:
                continue
            low, high = self.ranges[digit, i]
            values = np.atleast_1d(target)
            outside = values[(values < low - 1e-9) | (values > high + 1e-9)]
            if len(outside):
                raise InputError(f"{names[i]} for digit {digit} must be from {_number(low)} to {_number(high)} "
                                 f"{UNITS[CONTROLS[i]]} (legible there), got {_number(float(outside[0]))}")


@dataclass(frozen=True, eq=False)
class Style:
    """What a caller asks for, checked by ``check_style``: None leaves a control free. A stroke
    width or slant is one number for every sample, or an array of each sample's own (a dataset
    drawn over a range of them)."""

    stroke_width: float | np.ndarray | None = None
    slant: float | np.ndarray | None = None
    legibility: float | None = None

    @property
    def empty(self) -> bool:
        return self.stroke_width is None and self.slant is None and not self.legibility

    @property
    def steered(self) -> bool:
        return self.stroke_width is not None or self.slant is not None

    @property
    def targets(self) -> tuple[Any, Any]:
        return self.stroke_width, self.slant

    def keywords(self) -> dict[str, Any]:
        """As the Generator methods take it: stroke_width=, slant=, legibility=."""
        return {"stroke_width": self.stroke_width, "slant": self.slant, "legibility": self.legibility}

    def goals(self, start: int, stop: int) -> np.ndarray:
        """float64 (stop - start, 2): samples start..stop's targets, NaN for a free control;
        InputError when a per-sample array has not that many."""
        columns = []
        for value, name in zip(self.targets, CONTROLS):
            if isinstance(value, np.ndarray):
                if len(value) < stop:
                    raise InputError(f"{name} gives {len(value)} targets, one per sample: {stop} are needed")
                columns.append(value[start:stop])
            else:
                columns.append(np.full(stop - start, np.nan if value is None else value))
        return np.stack(columns, axis=1)


NO_STYLE = Style()


def check_style(stroke_width: object = None, slant: object = None, legibility: object = None,
                names: tuple[str, str, str] = ("stroke_width", "slant", "legibility")) -> Style:
    """A Style of finite numbers (or 1-D arrays of them, for the stroke width and slant), legibility
    0-1; ranges per digit are the model's (StyleSpace.check)."""
    values: list[Any] = []
    for index, (value, name) in enumerate(zip((stroke_width, slant, legibility), names)):
        accepted = "from 0 to 1" if index == 2 else "within the digit's range (--info lists them)"
        if index < 2 and isinstance(value, (list, tuple, np.ndarray)):
            array = np.asarray(value, dtype=object)
            if array.ndim != 1 or not len(array) or not all(_finite(v) for v in array):
                raise InputError(f"{name} must be a number {accepted}, or one per sample")
            values.append(array.astype(np.float64))
            continue
        if value is not None and not _finite(value):
            raise InputError(f"{name} must be a number {accepted}, got {value!r}")
        values.append(None if value is None else float(value))
    if values[2] is not None and not 0.0 <= values[2] <= 1.0:
        raise InputError(f"{names[2]} must be a number from 0 to 1, got {_number(values[2])}")
    return Style(*values)


def _finite(value: object) -> bool:
    return (not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
            and math.isfinite(float(value)))


def legible(z: np.ndarray, legibility: float | np.ndarray | None) -> np.ndarray:
    """The latents pulled towards the typical hand: unchanged for None or 0; ``legibility`` one
    number for all, or each sample's own (n,)."""
    if legibility is None or not np.any(legibility):
        return z
    factor = (1.0 - LEGIBILITY_SHRINK * np.asarray(legibility, dtype=np.float64)).astype(np.float32)
    return (z * (factor[:, None] if factor.ndim else factor)).astype(np.float32)


Render = Callable[[np.ndarray], np.ndarray]
"""latents (n, latent_dim) float32 -> uint8 images (n, h, w), for one digit."""


def steer(render: Render, z: np.ndarray, space: StyleSpace, digit: int,
          targets: tuple[float | None, float | None] | np.ndarray, legibility: float | None = None,
          drawn: float | np.ndarray | None = None, rounds: int = MAX_ROUNDS) -> tuple[np.ndarray, np.ndarray]:
    """(latents, images): each sample of ``z`` (as drawn without style) moved in its digit's style
    plane until its measured stroke width and slant are on ``targets``: one (stroke width, slant)
    pair for all, None leaving a control free, or an array (n, 2) of each sample's own, NaN leaving
    it free. ``legibility`` is the one asked; ``drawn`` the one each sample is drawn at, by default
    the least legibility whose ranges hold its targets, or the one asked if that is more
    (StyleSpace.needed_legibility). A free control is held near its own value at the legibility
    asked, estimated from the fit and the first render (HOLD_BLEND), within LIMITS: asking for a
    slant keeps each sample's stroke width (to within 10 %, median), even where a far slant draws a
    more typical hand.

    The sample moves along its controls' own axes (``_axes``: by the fit, a move along one leaves
    the other control unchanged): a first step aimed past its goals by the file's calibration
    (``aim_offsets``), then a secant per control and sample. No render is spent on reading a free
    control: one control cost 1.7 renders a sample on average over the bench's settings
    (docs/style.md), where reading each sample's own value first cost one more. ``rounds`` caps
    the secant steps (0: the first render alone, as the fit calibrates it).

    Each sample's path depends on its own latent and targets only (the renders are
    batch-invariant), so seeds stay prefix-stable: 10 of 20 samples are the first 10 steered alone."""
    gradient = space.gradient[digit]
    axes = _axes(space.directions[digit], gradient)
    limit = MAX_STEP / np.sqrt(_dot(axes, axes))  # the largest move per control, in its own units
    if isinstance(targets, tuple):
        targets = Style(*targets).goals(0, len(z))
    goal = np.array(targets, dtype=np.float64)
    asked_level = legibility or 0.0
    if drawn is None:
        drawn = np.maximum(asked_level, space.needed_legibility(digit, goal))
    free = np.isnan(goal)
    plain, z = z, legible(z, drawn)
    # the first step aims past its goals by what the fit is known to miss them by there
    offsets = aim_offsets(space, digit, goal, drawn)
    start = space.reading(digit, z)  # where the fit says each sample is, as drawn
    goal = np.where(free, space.reading(digit, legible(plain, asked_level)), goal)
    step = np.clip(goal + offsets - start, -limit, limit)
    latents = _moved(z, step, axes)
    images = render(latents)
    measured = measure(images)
    # a free control's own value, two ways: the fit's reading errs by the fit's residual (holding
    # a sample there costs the label some: 1s steered to their median slant read 99.26 % against
    # 99.48 % halfway), the first render's by what the step did to it, more for a far target drawn
    # more typically; so halfway, where the sample is drawn at the legibility asked
    more = np.broadcast_to(np.asarray(drawn) > asked_level, (len(z),))
    goal = np.where(free & ~more[:, None], goal + HOLD_BLEND * (measured - goal), goal)
    goal = np.where(free, np.clip(goal, LIMITS[:, 0], LIMITS[:, 1]), goal)
    slopes = _secant(np.ones_like(step), step, measured - start)
    for _ in range(rounds):
        error = goal - measured
        rows = np.flatnonzero((np.abs(error) > TOLERANCE).any(axis=1))
        if len(rows) == 0:
            break
        move = np.clip(error[rows] / slopes[rows], -limit, limit)
        moved = _moved(z[rows], step[rows] + move, axes)
        again = render(moved)
        now = measure(again)
        slopes[rows] = _secant(slopes[rows], move, now - measured[rows])
        step[rows] += move
        latents[rows], images[rows], measured[rows] = moved, again, now
    return latents, images


def aim_grid(control: int) -> np.ndarray:
    """The AIM_GRID targets ``StyleSpace.aim_offsets`` holds a control's offsets at."""
    return np.linspace(LIMITS[control, 0], LIMITS[control, 1], AIM_GRID)


def aim_offsets(space: StyleSpace, digit: int, targets: np.ndarray, drawn: float | np.ndarray) -> np.ndarray:
    """float64 (n, 2): how far past each sample's goals (``targets`` (n, 2), NaN for a free control)
    its first step aims, at the legibility it is ``drawn`` at: each asked control's own offset at
    its target, plus, for the other control (held or asked), the offset that target calls for
    (the move to a far slant thins a stroke); linear between grid targets and between levels.
    Written out, not np.interp, so the web module computes the very same numbers."""
    levels = space.levels
    drawn = np.broadcast_to(np.asarray(drawn, dtype=np.float64), (len(targets),))
    k = np.clip(np.searchsorted(levels, drawn, side="right") - 1, 0, max(len(levels) - 2, 0))
    upper = np.minimum(k + 1, len(levels) - 1)
    weight = np.clip((drawn - levels[k]) / np.where(upper > k, levels[upper] - levels[k], 1.0), 0.0, 1.0)[:, None]
    free = np.isnan(targets)
    out = np.zeros((len(targets), 2))
    for control in range(2):
        low, high = LIMITS[control]
        position = (np.nan_to_num(targets[:, control], nan=low) - low) / ((high - low) / (AIM_GRID - 1))
        i = np.clip(np.floor(position).astype(int), 0, AIM_GRID - 2)
        t = (position - i)[:, None]
        table = space.aim_offsets[digit, control]  # (L, AIM_GRID, 2): both controls' offsets

        def at(level: np.ndarray) -> np.ndarray:
            return table[level, i] + t * (table[level, i + 1] - table[level, i])

        value = at(k) + weight * (at(upper) - at(k))  # (n, 2): this control's own, and its pull on the other
        out = np.where(free[:, control, None], out, out + value)
    return out


def _axes(directions: np.ndarray, gradient: np.ndarray) -> np.ndarray:
    """(2, d): the move in the style plane that changes one control by one unit (px or degree)
    and, by the fit, the other not at all: the rows of J^-1 applied to the directions, where J
    (2x2) is what a unit move along each direction does to each control. In closed form and
    elementwise, as the web module computes it."""
    (a, b), (c, d) = _dot(gradient[:, None, :], directions[None]).tolist()
    det = a * d - b * c
    inverse = ((d / det, -b / det), (-c / det, a / det))  # inverse[j][i]: direction j's share of axis i
    return np.stack([inverse[0][i] * directions[0] + inverse[1][i] * directions[1] for i in range(2)])


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dot products along the last axis by numpy's pairwise sum, not BLAS: the web module sums in
    the same order, so both runtimes steer a sample along the same path."""
    return (a * b).sum(axis=-1)


def _moved(z: np.ndarray, step: np.ndarray, axes: np.ndarray) -> np.ndarray:
    # z + (s0 a0 + s1 a1) in float64, elementwise (no BLAS, whose FMAs the web module lacks)
    return (z.astype(np.float64) + (step[:, :1] * axes[0] + step[:, 1:] * axes[1])).astype(np.float32)


def _secant(slopes: np.ndarray, step: np.ndarray, change: np.ndarray) -> np.ndarray:
    """Each control's slope (measured change per unit asked) from what the last step did, kept
    where the step was nil or moved the wrong way or barely (a saturated sample), and held within
    SLOPES so one odd render cannot send the next step far."""
    moved = np.abs(step) > 1e-9
    ratio = np.divide(change, step, out=np.zeros_like(step), where=moved)
    return np.where(moved & (ratio > SLOPES[0]), np.minimum(ratio, SLOPES[1]), slopes)


def _span(bounds: np.ndarray) -> list[float] | None:
    """[low, high], or None for an empty range (EMPTY)."""
    return None if bounds[0] > bounds[1] else [float(bounds[0]), float(bounds[1])]


def _number(value: float) -> str:
    return f"{value:g}"
