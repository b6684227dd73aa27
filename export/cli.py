"""mnistgen-export CHECKPOINT [--out PATH] [--eval-json FILE] [--weights PATH] [--latent-scale S] [--style] [--generator PATH]."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from mnistgen import console
from mnistgen.export.errors import BAD_INPUT, ExportError
from mnistgen.export.from_checkpoint import export_checkpoint
from mnistgen.training.checkpoint import CheckpointError

PROG = "mnistgen-export"
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def export(
    checkpoint: Path = typer.Argument(..., help="A gan checkpoint (exports the EMA generator), a classifier or an "
                                                "encoder checkpoint; or, with --style, a generator .onnx whose "
                                                "style controls to fit again."),
    out: Optional[Path] = typer.Option(
        None,
        "--out",
        help="Where to write the .onnx file.",
        show_default="models/generator.onnx, models/classifier.onnx or models/encoder.onnx, by the checkpoint's kind",
    ),
    eval_json: Optional[Path] = typer.Option(
        None, "--eval-json", help="Evaluation figures (JSON from mnistgen-eval) to embed in the metadata."
    ),
    latent_scale: Optional[float] = typer.Option(
        None, "--latent-scale", help="Generator only: multiply z by this in the graph (truncation, 0-1; default 1)."
    ),
    weights: Optional[Path] = typer.Option(
        None, "--weights", help="Also write the weights the parity tests compare with here: the slim EMA generator (models/generator.pt) or the encoder (models/encoder.pt)."
    ),
    style: bool = typer.Option(
        False, "--style", help="Generator only: fit the stroke width and slant controls (mnistgen --stroke-width, "
                               "--slant) into the model's metadata, with their legible range per digit (minutes)."
    ),
    generator: Optional[Path] = typer.Option(
        None, "--generator", help="Encoder only: the generator .onnx it is paired with (checked to be the one it "
                                  "was trained against; its sha256 goes into the metadata). Default models/generator.onnx."
    ),
) -> None:
    """Export a checkpoint to a single-file ONNX model, verified against torch before it is written."""
    try:
        path = export_checkpoint(checkpoint, out, eval_json, weights, latent_scale, generator, style)
    except CheckpointError as error:
        raise console.fail(PROG, str(error), BAD_INPUT) from None
    except ExportError as error:
        raise console.fail(PROG, str(error), error.exit_code) from None
    how = "its style controls fitted again" if checkpoint.suffix == ".onnx" else "verified against torch"
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, {how})")


def main() -> None:
    console.run(app, PROG)


if __name__ == "__main__":
    main()
