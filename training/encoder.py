"""Train the encoder E(image, digit) -> latent against the frozen shipped generator.

What it learns from, each step (half the batch each):
- the generator's own pairs: z ~ N(0, I), x = G(z, y); E must give z back (latent loss), which
  anchors E's outputs in the region of latent space the generator was trained on;
- real MNIST training digits, which have no true latent: only the redrawing G(E(x), y) can be
  compared with x.
For both halves the redrawing is compared with the input in pixels and in the shipped
classifier's feature space (the space the evaluation measures digits in), and one more term asks
that the same latent, given another digit, draws a digit the classifier reads as that digit:
the encoded hand must write every digit, not only the one it was read from.

The generator and the classifier are frozen (gradients pass through them to E only). The run
stops at a step count, never the clock, so the same command gives the same weights; the wall
time is recorded in the checkpoint.
"""
from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
import typer

from mnistgen import console
from mnistgen.images import signed_to_unit
from mnistgen.training.checkpoint import CheckpointError, build_generator, load_checkpoint, save_checkpoint, slim
from mnistgen.training.data import NUM_CLASSES, DataError, load_split
from mnistgen.training.models import Classifier, Encoder, EncoderConfig, Generator
from mnistgen.training.onnx_classifier import torch_classifier
from mnistgen.training.threads import torch_threads

DEFAULT_OUT = Path("runs/encoder/encoder.pt")
VALIDATION = 2000  # the last training digits, held out of the encoder's training for its log
LOG_EVERY = 250


@dataclass(frozen=True)
class EncoderRecipe:
    steps: int = 4000
    batch_size: int = 64  # half generated pairs, half real digits
    lr: float = 1e-3
    decay_from: float = 0.5  # the learning rate falls linearly to 0 over the last half of the steps
    latent_weight: float = 1.0
    pixel_weight: float = 10.0  # mean squared error in 0..1 pixels
    feature_weight: float = 1.0  # squared feature distance over the mean squared feature norm of real digits
    cross_weight: float = 0.1  # cross-entropy of the classifier's reading of G(E(x, y), y') as y'
    seed: int = 0
    encoder: EncoderConfig = EncoderConfig()


@dataclass(frozen=True)
class Losses:
    total: torch.Tensor
    parts: dict[str, float]


Log = Callable[[str], None]


class EncoderTraining:
    """The frozen generator and classifier, and the losses that train an encoder against them."""

    def __init__(self, generator: Generator, classifier: Classifier, recipe: EncoderRecipe, real_images: torch.Tensor):
        self.generator = generator.eval().requires_grad_(False)
        self.classifier = classifier.eval().requires_grad_(False)
        self.recipe = recipe
        with torch.no_grad():  # the feature loss's unit: how far real digits' features are from 0
            sample = real_images[: 1000]
            self.feature_scale = float(self.classifier.features(sample).pow(2).sum(1).mean())

    def draw(self, w: torch.Tensor, digit: torch.Tensor) -> torch.Tensor:
        """G(w, digit) in 0..1 (the runtime's pixels before rounding)."""
        return torch.clamp(signed_to_unit(self.generator(w, digit)), 0.0, 1.0)

    def losses(self, encoder: Encoder, real: torch.Tensor, real_digit: torch.Tensor, rng: torch.Generator) -> Losses:
        half = len(real)
        latent_dim = encoder.config.latent_dim
        z = torch.randn(half, latent_dim, generator=rng)
        fake_digit = torch.randint(0, NUM_CLASSES, (half,), generator=rng)
        with torch.no_grad():
            fake = self.draw(z, fake_digit)
        images, digits = torch.cat([fake, real]), torch.cat([fake_digit, real_digit])
        w = encoder(images, digits)
        latent = F.mse_loss(w[:half], z)
        redrawn = self.draw(w, digits)
        pixel = F.mse_loss(redrawn, images)
        with torch.no_grad():
            target_features = self.classifier.features(images)
        feature = (self.classifier.features(redrawn) - target_features).pow(2).sum(1).mean() / self.feature_scale
        other = (digits + torch.randint(1, NUM_CLASSES, digits.shape, generator=rng)) % NUM_CLASSES
        cross = F.cross_entropy(self.classifier(self.draw(w, other)), other)
        r = self.recipe
        total = r.latent_weight * latent + r.pixel_weight * pixel + r.feature_weight * feature + r.cross_weight * cross
        parts = {"latent": latent.item(), "pixel": pixel.item(), "feature": feature.item(), "cross": cross.item()}
        return Losses(total, parts)

    @torch.no_grad()
    def validate(self, encoder: Encoder, images: torch.Tensor, digits: torch.Tensor) -> dict[str, float]:
        """Real digits through E then G: pixel MSE and feature distance, as in the loss."""
        redrawn = self.draw(encoder(images, digits), digits)
        feature = (self.classifier.features(redrawn) - self.classifier.features(images)).pow(2).sum(1).mean()
        return {"val_pixel": F.mse_loss(redrawn, images).item(), "val_feature": float(feature) / self.feature_scale}


def lr_at(recipe: EncoderRecipe, step: int) -> float:
    start = int(recipe.decay_from * recipe.steps)
    if step < start:
        return recipe.lr
    return recipe.lr * max(0.0, (recipe.steps - step) / max(1, recipe.steps - start))


@dataclass(frozen=True)
class EncoderResult:
    encoder: Encoder
    seconds: float
    metrics: dict[str, float]


def train_encoder(generator: Generator, classifier: Classifier, images: np.ndarray, labels: np.ndarray,
                  recipe: EncoderRecipe, log: Optional[Log] = None) -> EncoderResult:
    """Train a fresh encoder on unit-range real digits (N, 1, 28, 28) and their labels; the last
    VALIDATION of them are held out for the log. Deterministic for a recipe and thread count."""
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    held = min(VALIDATION, len(x) // 5)
    train_x, train_y, val_x, val_y = x[: len(x) - held], y[: len(y) - held], x[len(x) - held:], y[len(y) - held:]
    half = recipe.batch_size // 2
    if len(train_x) < half:
        raise ValueError(f"need at least {half} training digits, got {len(train_x)}")
    rng = torch.Generator().manual_seed(recipe.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.seed)
        encoder = Encoder(replace(recipe.encoder, latent_dim=generator.config.latent_dim))
    setup = EncoderTraining(generator, classifier, recipe, train_x)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=recipe.lr, betas=(0.9, 0.99))
    order, cursor = torch.randperm(len(train_x), generator=rng), 0
    metrics: dict[str, float] = {}
    start = time.perf_counter()
    encoder.train()
    for step in range(recipe.steps):
        if cursor + half > len(order):
            order, cursor = torch.randperm(len(train_x), generator=rng), 0
        index = order[cursor: cursor + half]
        cursor += half
        for group in optimizer.param_groups:
            group["lr"] = lr_at(recipe, step)
        losses = setup.losses(encoder, train_x[index], train_y[index], rng)
        optimizer.zero_grad(set_to_none=True)
        losses.total.backward()
        optimizer.step()
        if (step + 1) % LOG_EVERY == 0 or step + 1 == recipe.steps:
            metrics = {"step": step + 1, **losses.parts, **setup.validate(encoder, val_x, val_y),
                       "seconds": time.perf_counter() - start}
            if log:
                log("  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items()))
    return EncoderResult(encoder.eval(), time.perf_counter() - start, metrics)


def checkpoint_state(result: EncoderResult, recipe: EncoderRecipe, generator_state: dict[str, Any],
                     command: str, wall_seconds: float) -> dict[str, Any]:
    """The encoder checkpoint dict (format in training/checkpoint.py)."""
    return {
        "kind": "encoder",
        "config": {**asdict(recipe), "encoder": asdict(result.encoder.config)},
        "epoch": 0,
        "generator_step": recipe.steps,  # the encoder's own steps
        "seconds": result.seconds,  # the training loop
        "wall_seconds": wall_seconds,  # the whole command up to the checkpoint: data, setup, loop
        "commands": [command],
        "metrics": result.metrics,
        "model": result.encoder.state_dict(),
        "generator": slim(generator_state),
    }


PROG = "mnistgen-train-encoder"
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False,
                  help="Train the encoder (image, digit -> latent) for a trained generator.")


@app.command()
def train(
    data_dir: Optional[Path] = typer.Option(None, help="MNIST directory (default: $MNISTGEN_DATA or the cache)."),
    generator: Path = typer.Option(Path("models/generator.pt"), help="The generator's weights (a gan checkpoint or "
                                   "the slim models/generator.pt): the generator the encoder inverts."),
    classifier: Path = typer.Option(Path("models/classifier.onnx"), help="The classifier whose features the "
                                    "loss measures (the shipped ONNX file)."),
    out: Path = typer.Option(DEFAULT_OUT, help="Checkpoint to write (atomically)."),
    steps: int = typer.Option(EncoderRecipe.steps, min=1, help="Encoder steps: the run stops exactly there."),
    batch_size: int = typer.Option(EncoderRecipe.batch_size, min=2),
    lr: float = typer.Option(EncoderRecipe.lr, min=0.0),
    latent_weight: float = typer.Option(EncoderRecipe.latent_weight, min=0.0, help="Weight of the latent loss on the generator's pairs."),
    pixel_weight: float = typer.Option(EncoderRecipe.pixel_weight, min=0.0, help="Weight of the pixel reconstruction loss."),
    feature_weight: float = typer.Option(EncoderRecipe.feature_weight, min=0.0, help="Weight of the classifier-feature reconstruction loss."),
    cross_weight: float = typer.Option(EncoderRecipe.cross_weight, min=0.0, help="Weight of the other-digit classification loss."),
    seed: int = typer.Option(EncoderRecipe.seed, min=0),
    threads: int = typer.Option(2, min=1, help="torch intra-op threads (part of reproducibility)."),
    limit: Optional[int] = typer.Option(None, min=1, help="Train on the first N training digits only (smoke runs)."),
) -> None:
    """Train E against the frozen generator; the checkpoint records the generator and the wall time."""
    began = time.perf_counter()
    command = " ".join([PROG, *sys.argv[1:]])
    try:
        generator_state = load_checkpoint(generator)
        if generator_state["kind"] != "gan":
            raise CheckpointError(f"{generator}: holds a {generator_state['kind']} checkpoint; --generator takes "
                                  "a gan checkpoint or models/generator.pt")
        network = build_generator(generator_state, str(generator))
        split = load_split("train", data_dir, limit=limit)
        real = split.unit_images()
        with torch_threads(threads):
            reader = torch_classifier(classifier, split.images)
            recipe = replace(EncoderRecipe(), steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                             latent_weight=latent_weight, pixel_weight=pixel_weight, feature_weight=feature_weight,
                             cross_weight=cross_weight)
            typer.echo(f"training the encoder on {len(split)} digits and generated pairs, {recipe}")
            result = train_encoder(network, reader, real, split.labels, recipe, log=typer.echo)
        state = checkpoint_state(result, recipe, generator_state, command, time.perf_counter() - began)
        path = save_checkpoint(state, out)
    except (CheckpointError, DataError, ValueError) as error:
        raise console.fail(PROG, str(error)) from None
    except OSError as error:
        raise console.fail(PROG, f"cannot write {out} ({error.strerror or error}); --out takes a writable "
                                 "file path") from None
    typer.echo(f"done: {steps} steps, {result.seconds:.0f} s of training ({state['wall_seconds']:.0f} s for the "
               f"whole command); checkpoint {path}")


def main() -> None:
    console.run(app, PROG)


if __name__ == "__main__":
    main()
