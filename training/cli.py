"""`mnistgen-train`: train the conditional WGAN-GP into a run directory."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from mnistgen import console
from mnistgen.training.checkpoint import CheckpointError
from mnistgen.training.data import DataError
from mnistgen.training.train import RunOptions, TrainConfig, train

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
DEFAULTS = TrainConfig()


def _fail(message: str, code: int = 2) -> None:
    raise console.fail("mnistgen-train", message, code)


@app.command()
def run(
    out: Path = typer.Option(Path("runs/gan"), "--out", help="Run directory (checkpoint, grids, metrics)."),
    data_dir: Optional[str] = typer.Option(None, help="MNIST directory (default $MNISTGEN_DATA, else the cache)."),
    epochs: int = typer.Option(DEFAULTS.epochs, min=1, help="Total epochs to reach (also with --resume)."),
    batch_size: int = typer.Option(DEFAULTS.batch_size, min=1),
    lr: float = typer.Option(DEFAULTS.lr, min=0.0, help="Adam learning rate, generator and critic."),
    critic_steps: int = typer.Option(DEFAULTS.critic_steps, min=1, help="Critic steps per generator step."),
    ema_decay: float = typer.Option(
        DEFAULTS.ema_decay, min=0.0, max=1.0, help="Decay of the generator's weight average (what is exported)."),
    seed: int = typer.Option(DEFAULTS.seed, min=0),
    threads: int = typer.Option(2, min=1, help="torch intra-op threads (part of reproducibility)."),
    time_budget: Optional[float] = typer.Option(None, min=0.0, help="Stop (with a checkpoint) after MINUTES."),
    resume: bool = typer.Option(
        False, help="Continue from RUN_DIR's checkpoint up to --epochs (the recipe comes from the checkpoint)."),
    limit: Optional[int] = typer.Option(None, min=1, help="Train on the first N images (smoke tests)."),
) -> None:
    """Train the class-conditional WGAN-GP on MNIST."""
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, critic_steps=critic_steps, ema_decay=ema_decay,
                         seed=seed,
                         limit=limit)
    options = RunOptions(out=out, data_dir=data_dir, threads=threads, time_budget_minutes=time_budget,
                         resume=resume)
    try:
        result = train(config, options)
    except (DataError, CheckpointError, FileExistsError, ValueError) as error:
        _fail(str(error))
    except OSError as error:  # an --out that cannot be created or written
        _fail(f"cannot write the run to {out}: {error.strerror or error}; --out takes a writable directory")
    resume_hint = f"mnistgen-train --out {out} --epochs {epochs} --resume"
    if result.stopped_early:
        why = "interrupted" if result.interrupted else "time budget reached"
        typer.echo(f"{why}: stopped after {result.seconds:.0f} s of training in epoch {result.epoch + 1}; "
                   f"checkpoint {result.checkpoint}; continue with: {resume_hint}", err=True)
        raise typer.Exit(130 if result.interrupted else 0)  # a spent budget is the run the user asked for
    typer.echo(f"done: {result.epoch} epochs, {result.seconds:.0f} s of training; checkpoint {result.checkpoint}")


def main() -> None:
    console.run(app, "mnistgen-train")


if __name__ == "__main__":
    sys.exit(main())
