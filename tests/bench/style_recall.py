"""A probe for issue 37 (recall): steer each sample to a stroke width and slant drawn from real
training digits of its class (clipped to the digit's range), so the samples' marginal style
matches MNIST's, and score the result as mnistgen-eval does (1,000 per digit, seed 0, no CAS).

    python -m tests.bench.style_recall --data-dir ../shared/mnist
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from mnistgen import Generator
from mnistgen.evaluation.cli import Request, evaluate
from mnistgen.style import measure
from mnistgen.training.data import load_split

MODES = {"plain": (), "stroke width": (0,), "slant": (1,), "both": (0, 1)}
FIGURES = ("label_accuracy", "fid", "fid_per_digit_mean", "precision", "recall")


def styled_samples(generator: Generator, real: np.ndarray, labels: np.ndarray, controls: tuple[int, ...],
                   per_digit: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ranges = generator.style_space().ranges
    out = []
    for digit in range(10):
        drawn = real[labels == digit][rng.integers(0, int((labels == digit).sum()), per_digit)]
        targets = np.clip(drawn, ranges[digit, :, 0], ranges[digit, :, 1])
        options = {("stroke_width", "slant")[c]: targets[:, c] for c in controls}
        out.append(generator.generate(digit, per_digit, seed=0, **options))
    return np.concatenate(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--per-digit", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0, help="of the targets drawn")
    args = parser.parse_args()
    generator = Generator(threads=2)
    train = load_split("train", args.data_dir)
    real = measure(train.images)
    print("| samples | " + " | ".join(FIGURES) + " |\n|---|" + "---:|" * len(FIGURES))
    for name, controls in MODES.items():
        images = styled_samples(generator, real, train.labels, controls, args.per_digit, args.seed)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "samples.npz"
            np.savez(path, images=images, labels=np.repeat(np.arange(10), args.per_digit))
            document, _ = evaluate(Request(None, path, args.per_digit, 0, None, args.data_dir, False, False, 2),
                                   echo=lambda *_: None)
        print(f"| {name} | " + " | ".join(f"{document['model'][key]:.4f}" for key in FIGURES) + " |", flush=True)


if __name__ == "__main__":
    main()
