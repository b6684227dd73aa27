"""Render the README's pictures from the shipped model with the runtime API (no torch).

    python docs/pictures.py [--out docs] [--data-dir ../shared/mnist]

stroke_width.png and slant.png (docs/style.md) need a model with its style fit (mnistgen-export --style).
handwriting.png (docs/handwriting.md) also needs the shipped encoder and the MNIST test digits,
and real_8.png, real_7.png and real_2.png (docs/training.md) the MNIST test digits.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mnistgen import Generator, images
from mnistgen.files import write_atomic
from mnistgen.training.data import load_split

REPO = Path(__file__).resolve().parents[1]

SEED = 2026
# The digits drawn worst before the release recipe (doubled, broken strokes), 100 of each for a
# person to look at: the same grids as `mnistgen D --count 100 --grid --seed 5`. The
# hundred_D_before.png beside them are fixed: that command run on the model shipped before the
# release recipe (git show fddfc8c:models/generator.onnx). real_D.png: the first 100 MNIST test
# images of D, so a reader can tell smudges from the odd shapes real writers make.
CLOSE_UP_DIGITS, CLOSE_UP_SEED = (8, 7, 2), 5


def digit_grid(generator: Generator, columns: int = 10) -> np.ndarray:
    """Rows are digits 0-9; each column keeps one latent, so a column is one hand."""
    z = np.random.default_rng(SEED).standard_normal((columns, generator.latent_dim), dtype=np.float32)
    return images.grid(np.concatenate([generator.generate(digit, latents=z) for digit in range(10)]))


def handwriting(generator: Generator, data_dir: Path | None) -> np.ndarray:
    """One row per real MNIST test digit (the first of each class): the digit, a grey rule, then
    0-9 written by the generator in its hand (its encoded latent)."""
    test = load_split("test", data_dir)
    firsts = [int(np.flatnonzero(test.labels == digit)[0]) for digit in range(10)]
    real, labels = test.images[firsts], test.labels[firsts]
    latents = generator.encode(real, labels)
    written = np.stack([generator.generate(digit, latents=latents) for digit in range(10)], axis=1)  # (10, 10, 28, 28)
    rule = np.full((len(real), 28, 2), 128, dtype=np.uint8)
    rows = [np.concatenate([real[i], rule[i], *written[i]], axis=1) for i in range(len(real))]
    return np.concatenate(rows, axis=0)


def style_rows(generator: Generator, control: str, steps: int = 9) -> np.ndarray:
    """One hand per digit (a row), steered from the low end of the digit's range of ``control``
    (stroke_width or slant) to its high end, left to right: mnistgen D --stroke-width / --slant."""
    index = ("stroke_width", "slant").index(control)
    hands = np.random.default_rng(SEED).standard_normal((10, generator.latent_dim), dtype=np.float32)
    rows = []
    for digit in range(10):
        low, high = generator.style_space().ranges[digit, index]
        targets = np.linspace(low, high, steps)
        row = generator.generate(digit, latents=np.repeat(hands[digit : digit + 1], steps, axis=0), **{control: targets})
        rows.append(np.concatenate(list(row), axis=1))
    return np.concatenate(rows, axis=0)


def real_grids(data_dir: Path | None) -> dict[str, np.ndarray]:
    """real_D.png for each close-up digit: its first 100 MNIST test images, in the test set's order."""
    test = load_split("test", data_dir)
    return {f"real_{digit}.png": images.grid(test.images[test.labels == digit][:100]) for digit in CLOSE_UP_DIGITS}


def default_data_dir() -> Path | None:
    """../shared/mnist beside the checkout, where the tests read MNIST; else load_split's default."""
    beside = REPO.parent / "shared" / "mnist"
    return beside if beside.is_dir() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    parser.add_argument("--data-dir", type=Path, default=default_data_dir(),
                        help="MNIST (for handwriting.png's real digits); default ../shared/mnist, else $MNISTGEN_DATA")
    args = parser.parse_args()
    out = args.out
    generator = Generator()
    pictures = {
        "grid.png": digit_grid(generator),
        "number.png": np.concatenate(list(generator.number("2026", count=3, seed=SEED)), axis=0),
        "morph.png": images.strip(generator.morph(3, 8, steps=12, seed=SEED)),
        "walk.png": images.strip(generator.style_walk(4, steps=12, seed=SEED)),
        "verified.png": images.strip(generator.generate(7, count=12, seed=SEED, verify=True)),
        "stroke_width.png": style_rows(generator, "stroke_width"),
        "slant.png": style_rows(generator, "slant"),
        **{f"hundred_{digit}.png": images.grid(generator.generate(digit, count=100, seed=CLOSE_UP_SEED))
           for digit in CLOSE_UP_DIGITS},
        **real_grids(args.data_dir),
        "handwriting.png": handwriting(generator, args.data_dir),
    }
    for name, pixels in pictures.items():
        print(write_atomic(out / name, images.png_bytes(pixels)))


if __name__ == "__main__":
    main()
