"""How well the shipped encoder reads a hand: `python -m mnistgen.evaluation.handwriting`.

Measured with the runtime (the ONNX encoder, generator and classifier: what users get), on the
first N real MNIST test digits, which are prepared as MNIST prepared them already:

- reconstruction: each digit through E, then G with its own label; the distance to the original
  in the shipped classifier's feature space (Euclidean) and in pixels (mean absolute difference
  in grey levels 0-255), against the best of K random latents for the same digit, the best
  picked separately for each distance (what a user gets by picking by eye, at best);
- the hand across digits: each digit's latent writes 0-9; the classifier's label accuracy on
  those 10 x N images, beside the same figure for N random latents;
- the same reconstruction with each test digit passed through mnistgen.prepare first (what
  --like does to a picture), to show the preparation keeps MNIST's own digits as they are.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from mnistgen import Classifier, Generator
from mnistgen.files import file_identity, write_atomic
from mnistgen.prepare import prepare
from mnistgen.training.data import NUM_CLASSES, load_split


def redraw(generator: Generator, latents: np.ndarray, digits: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28): latent i drawn as digit i."""
    out = np.empty((len(latents), *generator.image_shape), dtype=np.uint8)
    for digit in np.unique(digits):
        rows = digits == digit
        out[rows] = generator.generate(int(digit), latents=latents[rows])
    return out


def distances(classifier: Classifier, originals: np.ndarray, copies: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(feature distance, mean absolute pixel difference in grey levels), one each per pair."""
    features = classifier.features(originals) - classifier.features(copies)
    pixels = np.abs(originals.astype(np.float32) - copies.astype(np.float32)).mean(axis=(1, 2))
    return np.linalg.norm(features, axis=1), pixels


def best_of_random(generator: Generator, classifier: Classifier, images: np.ndarray, digits: np.ndarray,
                   candidates: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per image, the smallest feature distance and the smallest pixel distance among
    ``candidates`` random latents drawn as its digit (each picked on its own)."""
    rng = np.random.default_rng(seed)
    best_feature, best_pixel = np.empty(len(images)), np.empty(len(images))
    for i, (image, digit) in enumerate(zip(images, digits)):
        drawn = generator.generate(int(digit), latents=rng.standard_normal((candidates, generator.latent_dim),
                                                                            dtype=np.float32))
        feature, pixel = distances(classifier, np.repeat(image[None], candidates, axis=0), drawn)
        best_feature[i], best_pixel[i] = feature.min(), pixel.min()
    return best_feature, best_pixel


def hand_accuracy(generator: Generator, classifier: Classifier, latents: np.ndarray) -> tuple[float, list[float]]:
    """Label accuracy of every latent written as each digit 0-9: overall and per digit."""
    per_digit = []
    for digit in range(NUM_CLASSES):
        labels, _ = classifier.predict(generator.generate(digit, latents=latents))
        per_digit.append(float((labels == digit).mean()))
    return float(np.mean(per_digit)), per_digit


def summary(feature: np.ndarray, pixel: np.ndarray) -> dict[str, float]:
    return {"feature_mean": float(feature.mean()), "feature_median": float(np.median(feature)),
            "pixel_mean": float(pixel.mean()), "pixel_median": float(np.median(pixel))}


def evaluate(data_dir: str | None, count: int, candidates: int, seed: int, generator: Generator,
             classifier: Classifier) -> dict[str, Any]:
    test = load_split("test", data_dir)
    images, digits = test.images[:count], test.labels[:count]
    latents = generator.encode(images, digits)
    encoded = distances(classifier, images, redraw(generator, latents, digits))
    best = best_of_random(generator, classifier, images, digits, candidates, seed)
    prepared = np.stack([prepare(1.0 - image.astype(np.float32) / 255.0) for image in images])
    via_prepare = distances(classifier, images, redraw(generator, generator.encode(prepared, digits), digits))
    random_latents = np.random.default_rng(seed + 1).standard_normal((count, generator.latent_dim), dtype=np.float32)
    accuracy, per_digit = hand_accuracy(generator, classifier, latents)
    random_accuracy, _ = hand_accuracy(generator, classifier, random_latents)
    wins = float(np.mean(encoded[0] < best[0]))
    return {
        "digits": count, "candidates": candidates, "seed": seed,
        "generator": file_identity(generator.path), "encoder": file_identity(generator.encoder().path),
        "reconstruction": {"encoder": summary(*encoded), f"best_of_{candidates}_random": summary(*best),
                           "encoder_after_prepare": summary(*via_prepare),
                           "encoder_feature_closer_than_best_random": wins},
        "hand_accuracy": {"encoded": accuracy, "encoded_per_digit": per_digit, "random_latents": random_accuracy},
    }


def report_table(result: dict[str, Any]) -> str:
    rows = result["reconstruction"]
    k = result["candidates"]
    names = {"encoder": "E then G, own label", f"best_of_{k}_random": f"best of {k} random latents, per distance",
             "encoder_after_prepare": "mnistgen.prepare, then E then G"}
    lines = [f"{result['digits']} MNIST test digits | feature distance mean (median) | pixel distance mean (median), grey levels",
             "|---|---:|---:|"]
    for key, name in names.items():
        r = rows[key]
        lines.append(f"| {name} | {r['feature_mean']:.3f} ({r['feature_median']:.3f}) | "
                     f"{r['pixel_mean']:.2f} ({r['pixel_median']:.2f}) |")
    hand = result["hand_accuracy"]
    lines.append(f"encoded closer than the best of {k} in feature space: {100 * rows['encoder_feature_closer_than_best_random']:.1f}% of digits")
    lines.append(f"hand kept across digits: label accuracy {100 * hand['encoded']:.2f}% on {10 * result['digits']:,} "
                 f"images (per digit {', '.join(f'{100 * a:.1f}' for a in hand['encoded_per_digit'])}); "
                 f"random latents {100 * hand['random_latents']:.2f}%")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m mnistgen.evaluation.handwriting", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="MNIST directory (default $MNISTGEN_DATA, else the cache).")
    parser.add_argument("--count", type=int, default=1000, help="Test digits (the first N), default 1000.")
    parser.add_argument("--candidates", type=int, default=100, help="Random latents per digit to pick the best of.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", help="Generator .onnx (default: the shipped one).")
    parser.add_argument("--encoder", help="Encoder .onnx (default: the shipped one).")
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parser.parse_args()
    generator = Generator(args.model, encoder=args.encoder)
    result = evaluate(args.data_dir, args.count, args.candidates, args.seed, generator, Classifier())
    print(report_table(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        print(write_atomic(args.json, (json.dumps(result, indent=2) + "\n").encode()))


if __name__ == "__main__":
    main()
