"""Issue 37's mixture question, measured before any mixture ships: do samples pooled from several
generators cover more real hands than each generator alone? Each generator, and their pool in
equal shares, is scored as mnistgen-eval scores a model (1,000 images per digit against the MNIST
test set, no CAS), for several sample seeds; the table gives each figure's mean and range.

    python -m tests.bench.pooled --data-dir ../shared/mnist runs/a.onnx runs/b.onnx [models/generator.onnx ...]

A pool's share of generator k for sample seed s is the dataset mnistgen-dataset writes with seed
s + 1000 k, so the shares are independent draws.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from mnistgen import Generator
from mnistgen.dataset import dataset_arrays
from mnistgen.evaluation.cli import Request, evaluate

FIGURES = ("label_accuracy", "fid", "fid_per_digit_mean", "precision", "recall")
SHARE_SEED_STEP = 1000


def pooled_samples(generators: list[Generator], per_digit: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    share = per_digit // len(generators)
    parts = [dataset_arrays(share, seed + SHARE_SEED_STEP * k, generator=g) for k, g in enumerate(generators)]
    return np.concatenate([images for images, _ in parts]), np.concatenate([labels for _, labels in parts])


def score(images: np.ndarray, labels: np.ndarray, data_dir: Path | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "samples.npz"
        np.savez(path, images=images, labels=labels.astype(np.int64))
        document, _ = evaluate(Request(None, path, 10, 0, None, data_dir, False, False, 2), echo=lambda *_: None)
    return {key: document["model"][key] for key in FIGURES}


def row(name: str, figures: list[dict[str, float]]) -> str:
    cells = []
    for key in FIGURES:
        values = np.array([f[key] for f in figures])
        scale, digits = (100, 2) if key == "label_accuracy" else (1, 3)
        cells.append(f"{scale * values.mean():.{digits}f} ({scale * values.min():.{digits}f}-{scale * values.max():.{digits}f})")
    return f"| {name} | " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("generators", type=Path, nargs="+", help="generator .onnx files (two or more)")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--per-digit", type=int, default=1000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="sample seeds")
    parser.add_argument("--alone", action="store_true", help="also score each generator alone")
    args = parser.parse_args()
    generators = [Generator(path, threads=2) for path in args.generators]
    rows: list[tuple[str, list[Generator]]] = [(" + ".join(str(p) for p in args.generators), generators)]
    if args.alone:
        rows = [(str(path), [g]) for path, g in zip(args.generators, generators)] + rows
    print(f"{args.per_digit} images per digit, sample seeds {args.seeds}: mean (min-max)")
    print("| samples | " + " | ".join(FIGURES) + " |\n|---|" + "---:|" * len(FIGURES))
    for name, members in rows:
        figures = [score(*pooled_samples(members, args.per_digit, seed), args.data_dir) for seed in args.seeds]
        print(row(name, figures), flush=True)


if __name__ == "__main__":
    main()
