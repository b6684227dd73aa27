"""`mnistgen-train`: train the conditional WGAN-GP into a run directory."""
from __future__ import annotations

import sys
from dataclasses import fields
from pathlib import Path
from typing import Optional

import torch
import typer

from mnistgen import console
from mnistgen.training.checkpoint import CheckpointError
from mnistgen.training.data import DataError
from mnistgen.training.config import TrainConfig, apply_overrides
from mnistgen.training.train import RunOptions, train

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
DEFAULTS = TrainConfig()


def _fail(message: str, code: int = 2) -> None:
    raise console.fail("mnistgen-train", message, code)


def _command_line() -> str:
    # what a user would type: the console name, not the module path python ran
    return " ".join(["mnistgen-train", *sys.argv[1:]])


def _asked(ctx: typer.Context, overrides: list[str]) -> frozenset[str]:
    # the recipe fields typed on this command line (not defaults), which --resume checks; the
    # source's name, since typer has moved click's ParameterSource enum into a private module
    recipe = {f.name for f in fields(TrainConfig)}
    typed = {name for name in ctx.params
             if name in recipe and getattr(ctx.get_parameter_source(name), "name", None) == "COMMANDLINE"}
    return frozenset(typed | {assignment.partition("=")[0].strip() for assignment in overrides})


@app.command()
def run(
    ctx: typer.Context,
    out: Path = typer.Option(Path("runs/gan"), "--out", help="Run directory (checkpoint, grids, metrics)."),
    data_dir: Optional[str] = typer.Option(None, help="MNIST directory (default $MNISTGEN_DATA, else the cache)."),
    steps: Optional[int] = typer.Option(
        None, min=1, help="Generator steps to reach, then stop (the release recipe; also with --resume). "
                   "Without it the run trains --epochs."),
    epochs: int = typer.Option(DEFAULTS.epochs, min=1, help="Total epochs to reach when there is no --steps."),
    batch_size: int = typer.Option(DEFAULTS.batch_size, min=1),
    lr: float = typer.Option(DEFAULTS.lr, min=0.0, help="Adam learning rate, generator and critic."),
    critic_steps: int = typer.Option(DEFAULTS.critic_steps, min=1, help="Critic steps per generator step."),
    ema_decay: float = typer.Option(
        DEFAULTS.ema_decay, min=0.0, max=1.0, help="Decay of the generator's weight average (what is exported)."),
    precision: str = typer.Option(DEFAULTS.precision, help="fp32 or bf16 (autocast of the forward passes)."),
    seed: int = typer.Option(DEFAULTS.seed, min=0),
    overrides: list[str] = typer.Option(
        [], "--set", help="KEY=VALUE: any training config field (e.g. critic_class_weight=0.3, "
                          "generator.channels=48); repeatable."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
    threads: int = typer.Option(2, min=1, help="torch intra-op threads (part of reproducibility)."),
    time_budget: Optional[float] = typer.Option(
        None, min=0.0, help="Safety cap: stop (with a checkpoint to resume) after MINUTES."),
    snapshot_every: Optional[int] = typer.Option(
        None, min=1, help="Also keep RUN_DIR/snapshots/step_N.pt (EMA weights) every N generator steps."),
    resume: bool = typer.Option(
        False, help="Continue from RUN_DIR's checkpoint up to --steps or --epochs (the recipe comes from the "
                    "checkpoint; recipe options given again must match it)."),
    limit: Optional[int] = typer.Option(None, min=1, help="Train on the first N images (smoke tests)."),
) -> None:
    """Train the class-conditional WGAN-GP on MNIST."""
    if device not in ("cpu", "cuda"):
        _fail(f"--device takes cpu or cuda, not {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        _fail("--device cuda: no CUDA device is available to torch here; use --device cpu")
    try:
        config = apply_overrides(TrainConfig(steps=steps, epochs=epochs, batch_size=batch_size, lr=lr,
                                             critic_steps=critic_steps, ema_decay=ema_decay, precision=precision,
                                             seed=seed, limit=limit), overrides)
    except ValueError as error:
        _fail(str(error))
    options = RunOptions(out=out, data_dir=data_dir, threads=threads, time_budget_minutes=time_budget,
                         resume=resume, device=device, snapshot_every=snapshot_every, command=_command_line(),
                         asked=_asked(ctx, overrides))
    try:
        result = train(config, options)
    except (DataError, CheckpointError, FileExistsError, ValueError) as error:
        _fail(str(error))
    except OSError as error:  # an --out that cannot be created or written
        _fail(f"cannot write the run to {out}: {error.strerror or error}; --out takes a writable directory")
    end = f"--steps {config.steps}" if config.steps is not None else f"--epochs {epochs}"
    if result.stopped_early:
        why = "interrupted" if result.interrupted else "the --time-budget cap cut the run short"
        typer.echo(f"{why}: stopped at generator step {result.generator_step} after {result.seconds:.0f} s of "
                   f"training; checkpoint {result.checkpoint}; continue with: "
                   f"mnistgen-train --out {out} {end} --resume", err=True)
        raise typer.Exit(130 if result.interrupted else 0)  # a spent budget is the run the user asked for
    typer.echo(f"done: {result.generator_step} generator steps, {result.epoch} full epochs, "
               f"{result.seconds:.0f} s of training; checkpoint {result.checkpoint}")


def main() -> None:
    console.run(app, "mnistgen-train")


if __name__ == "__main__":
    sys.exit(main())
