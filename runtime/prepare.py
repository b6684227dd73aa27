"""Any picture of one handwritten digit -> a 28x28 digit prepared the way MNIST prepared its own.

MNIST's recipe (LeCun et al.): the digit is cropped to its ink, scaled into a 20x20 box with its
aspect kept (anti-aliased, hence grey edges), and placed in a 28x28 field so that its centre of
mass is the field's centre; white ink on black. The encoder reads exactly such images, so a
photo or a scan must become one first. Before the MNIST steps, a picture taken in the world is
turned into clean ink:

- orientation from the EXIF tag (phone photos are stored sideways), alpha composited away;
- polarity: the paper is what most of the picture is (its median); light paper means dark ink,
  and the picture is inverted so that the paper is always the light side;
- the paper's own brightness is estimated everywhere (a local maximum over blocks of about a
  quarter of the picture, smoothed), and ink is how much darker than its paper a pixel is, as a
  fraction: a shadow darkens paper and ink alike and so cancels;
- strokes thinner than MNIST's (a fine pen photographed from afar) are thickened to MNIST's
  stroke width at the 20x20 scale; thicker ones are kept.

numpy and Pillow only, like the rest of the runtime. Every refusal is an InputError whose
message says what was wrong and what is accepted.
"""
from __future__ import annotations

import importlib
import io
import math
import os
import warnings
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from mnistgen.limits import InputError

SIDE = 28
BOX = 20
CENTRE = 14.0  # MNIST's mean centre of mass is row 13.99, column 14.00 (pixel indices, test set)
MAX_PIXELS = 64_000_000
"""Largest picture decoded (64 megapixels: any phone camera); beyond it a small file may expand
to gigabytes in memory (a decompression bomb), so it is refused from its header, undecoded."""
MAX_PICTURE_BYTES = 16 * 1024 * 1024
"""Largest picture file read, from a path or a request body: a phone photo of a digit is a few
MB. The one limit for --like, Generator.hand, the command's cache of hands and the server's POSTs."""
PAPER_SIDE = 128
"""The paper's brightness is estimated on a copy at most this many pixels a side."""
PAPER_WINDOW = 1 / 6
"""The closing's window, as a fraction of the picture's short side: wider than any stroke."""
WORK_SIDE = 512
"""Pictures are shrunk to at most this many pixels a side before cleaning: the digit ends at 20."""
TONE_SAMPLE = 65_536
"""Pictures of more pixels than this have their tones (paper, ink, contrast) read on every other
row and column."""
FORMATS = {  # Pillow's name of each accepted format: (its plugin module, the signatures its files start with)
    "PNG": ("PngImagePlugin", (b"\x89PNG\r\n\x1a\n",)),
    "JPEG": ("JpegImagePlugin", (b"\xff\xd8\xff",)),
    "GIF": ("GifImagePlugin", (b"GIF87a", b"GIF89a")),
    "BMP": ("BmpImagePlugin", (b"BM",)),
    "TIFF": ("TiffImagePlugin", (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")),
    "WEBP": ("WebPImagePlugin", (b"RIFF",)),
}
"""Only the plugin for the file's own format is imported, picked by its first bytes (Pillow
checks them again). Opening a format Pillow has not loaded yet would make it import all of its
~45 plugins (Image.init): 17 ms of a --like call."""
EXIF_ORIENTATION = 0x0112
UPRIGHT = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE", 6: "ROTATE_270",
           7: "TRANSVERSE", 8: "ROTATE_90"}
"""EXIF orientation -> the PIL.Image.Transpose that undoes it, as in ImageOps.exif_transpose."""
PICTURE_BYTES = (bytes, bytearray, memoryview)
"""What read_picture takes as a picture file's bytes rather than its path."""
LIKE_TAKES = "--like takes"
"""How a refusal of a picture ends, before ACCEPTED: the command line's option by default."""
ACCEPTED = "a still PNG or JPEG (or single-frame GIF, BMP, TIFF, WebP) of one digit, dark on light or light on dark"
MIN_CONTRAST = 0.1  # below this spread of grey the picture is one flat tone
MIN_INK = 0.2  # the darkest marks must be this much darker than their paper (as a fraction) to be ink
MNIST_STROKE = 1.8  # median stroke width of MNIST digits in pixels (2 x area / perimeter of ink > 127)
MIN_STROKE = 1.5  # MNIST's lower quartile: thinner strokes are thickened to MNIST_STROKE
TRIM = 0.002  # ink mass cut off each side when cropping: specks far from the digit do not widen the box


def read_picture(source: str | os.PathLike | bytes, where: str | None = None, takes: str = LIKE_TAKES) -> np.ndarray:
    """The luminance of a picture, float32 0..1 (h, w), at most WORK_SIDE a side: from the file
    at a path, or from the bytes of one (a picture sent to `mnistgen serve`). ``where`` names the
    picture in a refusal (default: "--like PATH", or "the picture" for bytes) and ``takes`` ends
    it before ACCEPTED."""
    where = where or picture_name(source)
    if isinstance(source, PICTURE_BYTES):
        _check_bytes(memoryview(source).nbytes, where, takes)
        return _decoded(io.BytesIO(source), where, takes)
    path = Path(source)
    if not path.exists():
        raise InputError(f"{where}: no such file; {takes} {ACCEPTED}")
    if path.is_dir():
        raise InputError(f"{where} is a directory; {takes} {ACCEPTED}")
    try:
        file = path.open("rb")
    except OSError as error:  # unreadable (permissions): not a write error for the CLI to report
        raise InputError(f"{where} cannot be read ({error.strerror or error}); {takes} {ACCEPTED}") from None
    with file:
        _check_bytes(os.fstat(file.fileno()).st_size, where, takes)  # the opened file's size: no race with a rename
        return _decoded(file, where, takes)


def _check_bytes(size: int, where: str, takes: str) -> None:
    """Refuse a picture file over MAX_PICTURE_BYTES before any of it is decoded."""
    if size > MAX_PICTURE_BYTES:
        raise InputError(f"{where} is too large ({size:,} bytes; a picture may be at most "
                         f"{MAX_PICTURE_BYTES / 2**20:g} MiB); {takes} {ACCEPTED}")


def _decoded(file: BinaryIO, where: str, takes: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError  # deferred: only --like pays for Pillow here

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns of damaged metadata: a second line on stderr
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # only the accepted formats' decoders ever see the bytes: nothing exotic parses user files
            with Image.open(file, formats=[_sniff_format(file)]) as picture:
                _check_header(picture, where, takes)
                # JPEG: decode at the smallest of 1/2, 1/4, 1/8 scale that keeps the long side >= WORK_SIDE
                shrink = WORK_SIDE / max(picture.size)
                picture.draft("L", (math.ceil(picture.width * shrink), math.ceil(picture.height * shrink)))
                picture.load()
                return luminance(_upright(picture), where, takes)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(f"{where} is too large to decode safely (over {MAX_PIXELS:,} pixels); "
                         f"{takes} {ACCEPTED}") from None
    except UnidentifiedImageError:
        raise InputError(f"{where} is not an image; {takes} {ACCEPTED}") from None
    except InputError:
        raise
    except Exception as error:  # noqa: BLE001  Pillow's decoders raise many types for broken data (OSError, TypeError...)
        reason = str(error).strip().splitlines()[0][:80] if str(error).strip() else type(error).__name__
        raise InputError(f"{where} is truncated or corrupt ({reason}); {takes} {ACCEPTED}") from None


def _sniff_format(file: BinaryIO) -> str:
    """The accepted format the file's first bytes name, its Pillow plugin imported; the file is
    left at its start for Pillow to read."""
    from PIL import UnidentifiedImageError

    head = file.read(16)
    file.seek(0)
    for name, (plugin, signatures) in FORMATS.items():
        if head.startswith(signatures) and (name != "WEBP" or head[8:12] == b"WEBP"):
            importlib.import_module(f"PIL.{plugin}")
            return name
    raise UnidentifiedImageError(getattr(file, "name", "the picture"))


def _check_header(picture: Any, where: str, takes: str) -> None:
    width, height = picture.size
    if width * height > MAX_PIXELS:
        raise InputError(f"{where} is too large to decode safely ({width}x{height} pixels, over {MAX_PIXELS:,}); "
                         f"{takes} {ACCEPTED}")
    frames = getattr(picture, "n_frames", 1)
    if frames > 1:
        what = "a multi-page" if picture.format == "TIFF" else "an animated"
        raise InputError(f"{where} is {what} {picture.format} ({frames} frames); {takes} {ACCEPTED}")


def _upright(picture: Any) -> Any:
    """The picture turned the way its EXIF orientation says the camera was held: the pixels of
    ImageOps.exif_transpose, whose import (2-4 ms) would be a visible share of a --like command."""
    from PIL import Image

    try:
        turn = UPRIGHT.get(picture.getexif().get(EXIF_ORIENTATION))
    except Exception:  # a damaged EXIF block only costs the orientation; Pillow raises various types
        return picture
    return picture if turn is None else picture.transpose(Image.Transpose[turn])


def luminance(picture: Any, where: str = "the picture", takes: str = LIKE_TAKES) -> np.ndarray:
    """A PIL image's grey 0..1, shrunk to WORK_SIDE; transparency composited over the paper the ink is not."""
    from PIL import Image

    if picture.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit and float greys: scaled to 0..1 first
        grey = np.asarray(picture, dtype=np.float32)
        check_finite(grey, where, takes)  # a float TIFF may hold NaN or infinity: no grey to scale by
        top = 65535.0 if picture.mode.startswith("I;16") else max(float(grey.max()), 1.0)
        picture = Image.fromarray(np.clip(grey / top, 0.0, 1.0).astype(np.float32))
    elif picture.mode == "P":  # palette: its colours (and any transparent index) before resampling
        picture = picture.convert("RGBA")
    elif picture.mode not in ("L", "LA", "RGB", "RGBA"):  # 1-bit, CMYK, YCbCr...
        picture = picture.convert("RGB")
    if max(picture.size) > WORK_SIDE:
        scale = WORK_SIDE / max(picture.size)
        size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
        picture = picture.resize(size, Image.Resampling.BOX)
    if picture.mode == "F":
        return np.asarray(picture, dtype=np.float32)
    if picture.mode not in ("LA", "RGBA") and "transparency" not in picture.info:
        return np.asarray(picture.convert("L"), dtype=np.float32) / 255.0
    rgba = picture.convert("RGBA")
    grey = np.asarray(rgba.convert("L"), dtype=np.float32) / 255.0
    alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255.0
    if alpha.sum() < 1e-6:
        return np.ones_like(grey)  # fully transparent: nothing drawn
    # drawn ink on a transparent sheet: put it on paper of the opposite tone, so it stays visible
    ink_tone = float((grey * alpha).sum() / alpha.sum())
    paper = 1.0 if ink_tone < 0.5 else 0.0
    return grey * alpha + paper * (1.0 - alpha)


def prepare(grey: np.ndarray, where: str = "the picture", takes: str = LIKE_TAKES) -> np.ndarray:
    """Luminance 0..1 (h, w) of one digit -> uint8 (28, 28), white on black, as MNIST's."""
    grey = np.asarray(grey, dtype=np.float32)
    check_finite(grey, where, takes)
    low, middle, high = _quantiles(grey, (0.005, 0.5, 0.995))
    if high - low < MIN_CONTRAST:
        if float(grey.mean()) >= 0.5:
            raise InputError(f"{where} is blank (one light tone, no ink); {takes} {ACCEPTED}")
        raise InputError(f"{where} is all ink (one dark tone, no paper); {takes} {ACCEPTED}")
    if middle < 0.5:
        grey = 1.0 - grey  # light ink on dark paper: make the paper the light side
    ink = _ink(grey)
    peak = _peak(ink)
    if peak < MIN_INK:
        raise InputError(f"{where} is blank (no marks darker than the paper around them); {takes} {ACCEPTED}")
    ink = np.clip((ink - 0.3 * peak) / (0.45 * peak), 0.0, 1.0)  # paper texture to 0, the stroke's core to 1
    if float((ink >= 0.5).mean()) > 0.6:
        raise InputError(f"{where} is all ink (ink covers most of it, no digit on paper); {takes} {ACCEPTED}")
    crop = _crop(ink)
    thick = _thicken(crop, BOX / max(crop.shape))
    if thick is not crop:
        crop = _crop(thick)
    return _place(_resize(crop, BOX / max(crop.shape)))


def check_finite(grey: np.ndarray, where: str, takes: str) -> None:
    """Refuse NaN and infinite pixels: no tone, paper or ink can be read from them."""
    if not np.isfinite(grey).all():
        raise InputError(f"{where} has non-finite pixels (NaN or infinity; greys must be finite numbers); "
                         f"{takes} {ACCEPTED}")


def _quantiles(values: np.ndarray, fractions: tuple[float, ...]) -> list[float]:
    """The values at these fractions of the sorted values (nearest rank), of every other row and
    column of a large picture: tones spread over many pixels, a quarter of them tell the same
    (0.9 ms less for a photo). np.percentile and np.median would do, but their first call imports
    numpy.ma: 7 ms of a --like call."""
    flat = (values[::2, ::2] if values.size > TONE_SAMPLE else values).ravel()
    ranks = [round(q * (flat.size - 1)) for q in fractions]
    picked = np.partition(flat, ranks)
    return [float(picked[rank]) for rank in ranks]


def _peak(ink: np.ndarray, rank: int = 20) -> float:
    """The rank-th largest value: the darkest marks' ink, ignoring a few hot pixels. Looked for
    among the values of at least half the maximum when there are enough of them (the same value):
    np.partition over a whole drawing, mostly equal zeros, takes 25 times as long."""
    flat = ink.ravel()
    rank = min(rank, flat.size)
    candidates = flat[flat >= 0.5 * flat.max()]
    if candidates.size < rank:
        candidates = flat
    return float(np.partition(candidates, -rank)[-rank])


def prepare_file(source: str | os.PathLike | bytes, where: str | None = None, takes: str = LIKE_TAKES) -> np.ndarray:
    """The picture at a path, or in bytes, prepared as an MNIST digit: uint8 (28, 28), white on
    black (read_picture says how refusals name it)."""
    where = where or picture_name(source)
    return prepare(read_picture(source, where, takes), where, takes)


def picture_name(source: Any) -> str:
    """How a refusal names a picture by default: "--like PATH" for a file, "the picture" otherwise."""
    return f"--like {Path(source)}" if isinstance(source, (str, os.PathLike)) else "the picture"


def _ink(grey: np.ndarray) -> np.ndarray:
    """How much darker than its local paper each pixel is, as a fraction of the paper's brightness.

    The paper is a morphological closing of the picture (a maximum, then a minimum, over a window
    wider than a stroke): it erases the strokes but keeps the edge of a shadow where it is, so
    a shadow is not taken for ink. It is computed on a small copy (at most PAPER_SIDE a side),
    since lighting varies slowly, and smoothed.
    """
    from PIL import Image

    height, width = grey.shape
    picture = Image.fromarray(grey)
    scale = min(1.0, PAPER_SIDE / max(height, width))
    small = np.asarray(picture.resize((max(1, round(width * scale)), max(1, round(height * scale))),
                                      Image.Resampling.BOX), dtype=np.float32)
    window = max(3, round(min(small.shape) * PAPER_WINDOW)) | 1
    paper = _box_filter(_min_filter(_max_filter(small, window), window), 3)
    smooth = Image.fromarray(paper.astype(np.float32)).resize((width, height), Image.Resampling.BILINEAR)
    paper = np.maximum(np.asarray(smooth, dtype=np.float32), grey)  # paper is never darker than what lies on it
    return np.clip((paper - grey) / np.maximum(paper, 0.05), 0.0, 1.0)


def _max_filter(array: np.ndarray, size: int) -> np.ndarray:
    """Separable maximum over a size x size window (edges padded with the edge value)."""
    return _rank_filter(array, size, np.maximum)


def _min_filter(array: np.ndarray, size: int) -> np.ndarray:
    return _rank_filter(array, size, np.minimum)


def _rank_filter(array: np.ndarray, size: int, pick: np.ufunc) -> np.ndarray:
    reach = size // 2
    out = array
    for axis in (0, 1):
        padded = np.pad(out, [(reach, size - 1 - reach) if a == axis else (0, 0) for a in (0, 1)], mode="edge")
        length = out.shape[axis]
        window = [padded[k : k + length] if axis == 0 else padded[:, k : k + length] for k in range(size)]
        out = window[0]
        for shifted in window[1:]:  # views, no copies: 3x faster than np.take, the same values
            out = pick(out, shifted)
    return out


def _box_filter(array: np.ndarray, size: int) -> np.ndarray:
    reach = size // 2
    padded = np.pad(array, reach, mode="edge")
    height, width = array.shape
    return np.mean([padded[i : i + height, j : j + width] for i in range(size) for j in range(size)], axis=0)


def _crop(ink: np.ndarray) -> np.ndarray:
    """The rows and columns holding all but TRIM of the ink mass at each side."""

    def span(profile: np.ndarray) -> tuple[int, int]:
        cumulative = np.cumsum(profile)
        total = cumulative[-1]
        start = int(np.searchsorted(cumulative, TRIM * total, side="right"))
        stop = int(np.searchsorted(cumulative, (1.0 - TRIM) * total, side="left")) + 1
        return start, max(stop, start + 1)

    top, bottom = span(ink.sum(axis=1))
    left, right = span(ink.sum(axis=0))
    return ink[top:bottom, left:right]


def _thicken(crop: np.ndarray, scale: float) -> np.ndarray:
    """Dilate strokes that would be thinner than MNIST's lower quartile once scaled into the box."""
    mask = crop >= 0.5
    area = float(mask.sum())
    perimeter = float((mask[1:] != mask[:-1]).sum() + (mask[:, 1:] != mask[:, :-1]).sum())
    if area == 0 or perimeter == 0:
        return crop
    width = 2.0 * area / perimeter  # a stroke of width w and length L: area w L, perimeter 2 L
    if width * scale >= MIN_STROKE:
        return crop
    grow = round(MNIST_STROKE / scale - width)
    return _max_filter(np.pad(crop, grow), grow + 1) if grow >= 1 else crop


def _resize(crop: np.ndarray, scale: float) -> np.ndarray:
    from PIL import Image

    height, width = crop.shape
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    box = Image.fromarray(crop.astype(np.float32)).resize(size, Image.Resampling.BILINEAR)
    box = np.clip(np.asarray(box, dtype=np.float32), 0.0, None)
    return box / max(float(box.max()), 1e-6)  # the stroke's core is full ink, as in MNIST


def _place(box: np.ndarray) -> np.ndarray:
    """Into 28x28 with the centre of mass at MNIST's (whole-pixel shifts, inside the field)."""
    height, width = box.shape
    mass = float(box.sum())
    row = float((box.sum(axis=1) * np.arange(height)).sum() / mass)
    col = float((box.sum(axis=0) * np.arange(width)).sum() / mass)
    top = int(np.clip(round(CENTRE - row), 0, SIDE - height))
    left = int(np.clip(round(CENTRE - col), 0, SIDE - width))
    field = np.zeros((SIDE, SIDE), dtype=np.float32)
    field[top : top + height, left : left + width] = box
    return np.clip(np.rint(field * 255.0), 0, 255).astype(np.uint8)
