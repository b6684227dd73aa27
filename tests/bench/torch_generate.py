"""The torch way, for the cold-start comparison: what a user without the runtime would run.

    python tests/bench/torch_generate.py CHECKPOINT DIGIT COUNT OUT

Imports torch, loads the EMA generator from a (slim) checkpoint, generates COUNT images of
DIGIT and saves one PNG each, named like the CLI's. Run as a script (not -m) so that it pays
for no package imports that `mnistgen` itself would not.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch
from PIL import Image

from mnistgen.images import signed_to_unit, unit_to_uint8
from mnistgen.training.checkpoint import build_generator, load_checkpoint


def generate(checkpoint: str, digit: int, count: int) -> "torch.Tensor":
    generator = build_generator(load_checkpoint(checkpoint, "gan"), checkpoint)
    with torch.inference_mode():
        z = torch.randn(count, generator.config.latent_dim)
        labels = torch.full((count,), digit, dtype=torch.long)
        return torch.clamp(signed_to_unit(generator(z, labels)), 0.0, 1.0)


def main(argv: list[str]) -> None:
    checkpoint, digit, count, out = argv[0], int(argv[1]), int(argv[2]), Path(argv[3])
    pixels = unit_to_uint8(generate(checkpoint, digit, count).numpy().reshape(count, 28, 28))
    out.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(pixels):
        Image.fromarray(image).save(out / f"{digit}_{index}.png")


if __name__ == "__main__":
    main(sys.argv[1:])
