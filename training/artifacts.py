"""What a run leaves after each epoch besides the checkpoint: sample grid, metrics, loss plot.

Drawn with Pillow so training needs no plotting library; every file is written atomically.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from mnistgen.files import write_atomic
from mnistgen.images import grid, png_bytes, signed_to_unit, unit_to_uint8

CURVES = (("critic_loss", (200, 60, 60)), ("generator_loss", (60, 90, 200)),
          ("wasserstein", (40, 150, 70)), ("gradient_penalty", (160, 120, 20)))


def save_grid(images: torch.Tensor, path: Path) -> None:
    """``images``: (100, 1, 28, 28) in the generator's signed range -> a 10x10 grid, row-major."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = unit_to_uint8(signed_to_unit(images.detach().cpu().numpy()))[:, 0]
    write_atomic(path, png_bytes(grid(pixels)))


def append_metrics(metrics: dict, path: Path) -> None:
    """Rewrites the whole (small) file atomically rather than appending, so a crash can't tear a line."""
    previous = path.read_bytes() if path.exists() else b""
    write_atomic(path, previous + (json.dumps(metrics) + "\n").encode())


def read_metrics(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def save_loss_plot(metrics_path: Path, path: Path, size: tuple[int, int] = (640, 360)) -> None:
    rows = read_metrics(metrics_path)
    width, height = size
    margin = 40
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle([margin, margin // 2, width - margin // 2, height - margin], outline=(0, 0, 0))
    values = np.array([[row[key] for key, _ in CURVES] for row in rows], dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    span = high - low or 1.0
    epochs = [row["epoch"] for row in rows]

    def xy(i: int, v: float) -> tuple[float, float]:
        x = margin + (width - 1.5 * margin) * (i / max(len(rows) - 1, 1))
        return x, (height - margin) - (height - 1.5 * margin) * (v - low) / span

    for column, (name, colour) in enumerate(CURVES):
        points = [xy(i, values[i, column]) for i in range(len(rows))]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        for x, y in points:
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
        draw.text((margin + 5 + 150 * column, height - margin + 18), name, fill=colour)
    draw.text((2, margin // 2), f"{high:.2f}", fill=(0, 0, 0))
    draw.text((2, height - margin - 10), f"{low:.2f}", fill=(0, 0, 0))
    draw.text((margin, height - margin + 4), f"epoch {epochs[0]}", fill=(0, 0, 0))
    draw.text((width - margin - 40, height - margin + 4), f"epoch {epochs[-1]}", fill=(0, 0, 0))
    write_atomic(path, png_bytes(np.asarray(image)))
