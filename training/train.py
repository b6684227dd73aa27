"""The training loop: MNIST in, a run directory of checkpoints, grids and metrics out.

One pass of the critic over the training set is an epoch; the generator steps once every
``critic_steps`` critic steps. All randomness after the weight init comes from one CPU
``torch.Generator`` whose state is checkpointed, so a resumed run continues bit for bit, and a
run stopped at generator step k holds exactly what a run to step k holds at that point: nothing
in a step depends on how long the run will be.
"""
from __future__ import annotations

import copy
import json
import signal
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from mnistgen.images import unit_to_signed
from mnistgen.files import write_atomic
from mnistgen.progress import Bar
from mnistgen.training.artifacts import append_metrics, save_grid, save_loss_plot
from mnistgen.training.checkpoint import (
    CheckpointError,
    build_critic,
    build_generator,
    load_checkpoint,
    save_checkpoint,
    slim,
)
from mnistgen.training.config import TrainConfig
from mnistgen.training.data import NUM_CLASSES, Split, load_split
from mnistgen.training.models import Critic, Generator
from mnistgen.training.threads import torch_threads
from mnistgen.training.wgan import (
    coverage_loss, critic_step, ema_update, generator_loss, mode_seeking_loss, standing_statistics,
)

CHECKPOINT_NAME = "checkpoint.pt"
GRID_SEED = 20260  # fixed latents for the per-epoch grid, independent of the training seed


@dataclass
class RunOptions:
    """How a run is carried out; none of these change what a given step computes."""

    out: Path
    data_dir: str | None = None
    threads: int = 2
    time_budget_minutes: float | None = None  # a safety cap; the recipe's end is its step count
    resume: bool = False
    device: str = "cpu"
    # every this many generator steps, also keep the slim checkpoint (EMA and config) of that
    # step in snapshots/: the same weights a run with --steps at that step would end with
    snapshot_every: int | None = None
    command: str | None = None  # the command line, recorded in the checkpoint and the export
    # the recipe fields (TrainConfig keys, dotted for nested ones) the command line set itself:
    # a resume must not silently drop them, since the recipe comes from the checkpoint
    asked: frozenset[str] = frozenset()


@dataclass
class RunResult:
    epoch: int
    generator_step: int
    seconds: float
    stopped_early: bool  # by Ctrl-C or the time budget, with a checkpoint to resume from
    interrupted: bool  # by Ctrl-C
    checkpoint: Path


@dataclass
class _State:
    generator: Generator
    ema: Generator
    critic: Critic
    opt_g: torch.optim.Optimizer
    opt_c: torch.optim.Optimizer
    rng: torch.Generator
    epoch: int = 0  # epochs completed
    batch: int = 0  # batches done in the epoch in progress (non-zero only after a stop)
    perm: torch.Tensor | None = None  # that epoch's order
    critic_step: int = 0
    generator_step: int = 0
    seconds: float = 0.0
    commands: list[str] = field(default_factory=list)  # what ran it: the first, then each resume


def _optimizers(config: TrainConfig, generator: Generator, critic: Critic):
    betas = (config.beta1, config.beta2)
    return (torch.optim.Adam(generator.parameters(), config.lr, betas=betas),
            torch.optim.Adam(critic.parameters(), config.lr * config.critic_lr_ratio, betas=betas))


def _place(device: str, *nets: torch.nn.Module) -> None:
    """Move the networks before any optimizer sees them, so Adam's state lives beside them.

    channels_last: oneDNN's kernels for these narrow convolutions run faster on a 2-core CPU
    than in the default NCHW layout (docs/training.md). Only the layout changes, not what is computed.
    """
    for net in nets:
        net.to(device=device, memory_format=torch.channels_last)


def _fresh_state(config: TrainConfig, device: str = "cpu") -> _State:
    # default weight init draws from the global RNG: seed it in a fork so the caller's is untouched
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        generator, critic = Generator(config.generator), Critic(config.critic, config.generator.components)
    ema = copy.deepcopy(generator).eval()
    _place(device, generator, ema, critic)
    opt_g, opt_c = _optimizers(config, generator, critic)
    rng = torch.Generator().manual_seed(config.seed)
    return _State(generator, ema, critic, opt_g, opt_c, rng)


def _state_dict(config: TrainConfig, state: _State) -> dict[str, Any]:
    return {
        "kind": "gan",
        "config": asdict(config),
        "epoch": state.epoch,
        "batch": state.batch,
        # the order is saved as soon as it is drawn: a stop before the epoch's first batch must
        # not redraw it on resume, since drawing advanced the RNG
        "perm": state.perm if state.perm is not None else torch.zeros(0, dtype=torch.int64),
        "critic_step": state.critic_step,
        "generator_step": state.generator_step,
        "seconds": state.seconds,
        "commands": list(state.commands),
        "generator": state.generator.state_dict(),
        "ema_generator": state.ema.state_dict(),
        "critic": state.critic.state_dict(),
        "opt_generator": state.opt_g.state_dict(),
        "opt_critic": state.opt_c.state_dict(),
        "rng": state.rng.get_state(),
    }


def _restore(path: Path, device: str = "cpu") -> tuple[TrainConfig, _State]:
    raw = load_checkpoint(path, kind="gan")
    try:
        config = TrainConfig.from_dict(raw["config"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: training config is incomplete or unknown ({error})") from None
    generator = build_generator(raw, str(path), which="generator").train()
    ema = build_generator(raw, str(path), which="ema_generator")
    critic = build_critic(raw, str(path))
    _place(device, generator, ema, critic)
    opt_g, opt_c = _optimizers(config, generator, critic)
    opt_g.load_state_dict(raw["opt_generator"])
    opt_c.load_state_dict(raw["opt_critic"])
    rng = torch.Generator()
    rng.set_state(raw["rng"])
    state = _State(generator, ema, critic, opt_g, opt_c, rng, epoch=raw["epoch"], batch=raw["batch"],
                   perm=raw["perm"] if len(raw["perm"]) else None, critic_step=raw["critic_step"],
                   generator_step=raw["generator_step"], seconds=raw["seconds"],
                   commands=list(raw.get("commands", [])))
    return config, state


def grid_latents(latent_dim: int, per_row: int = 10) -> torch.Tensor:
    """The same latents every epoch; one column = one "hand" across all ten digits."""
    z = torch.randn(per_row, latent_dim, generator=torch.Generator().manual_seed(GRID_SEED))
    return z.repeat(NUM_CLASSES, 1)


class _StopFlag:
    """Turns Ctrl-C into a request honoured between steps, so a checkpoint is never half a step."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self) -> "_StopFlag":
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.requested = True

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGINT, self._previous)


@dataclass
class _Fakes:
    images: torch.Tensor  # with gradients back to the generator
    z: torch.Tensor
    component: torch.Tensor | None  # which of a mixture's generators drew each


class Trainer:
    def __init__(self, config: TrainConfig, state: _State, data: Split, options: RunOptions):
        self.config, self.state, self.options = config, state, options
        self.device = options.device
        self.images = unit_to_signed(torch.from_numpy(data.unit_images())).to(self.device).contiguous(
            memory_format=torch.channels_last)
        self.labels = torch.from_numpy(data.labels).to(self.device)
        self.batches_per_epoch = len(self.labels) // config.batch_size
        if self.batches_per_epoch == 0:
            raise ValueError(f"batch size {config.batch_size} is larger than the {len(self.labels)} images")
        self.fixed_z = grid_latents(config.generator.latent_dim).to(self.device)
        self.fixed_digits = torch.arange(NUM_CLASSES, device=self.device).repeat_interleave(10)
        components = config.generator.components  # a mixture's grid: its columns drawn by each component in turn
        self.fixed_components = (torch.arange(len(self.fixed_z), device=self.device) % components
                                 if components > 1 else None)
        self._standing_at: int | None = None  # the generator step the EMA's statistics were measured at

    def _autocast(self):
        """bf16 for the forward passes (and so their backward); fp32 weights and optimizer."""
        if self.config.precision == "bf16":
            return torch.autocast(torch.device(self.device).type, dtype=torch.bfloat16)
        return nullcontext()

    def _draw(self, *shape: int, normal: bool = True) -> torch.Tensor:
        # drawn on the CPU generator whatever the device: the same seed, the same run on cpu and cuda
        rng = self.state.rng
        values = torch.randn(*shape, generator=rng) if normal else torch.rand(*shape, generator=rng)
        return values.to(self.device)

    def _set_lr(self, lr: float) -> None:
        for optimizer, rate in ((self.state.opt_g, lr), (self.state.opt_c, lr * self.config.critic_lr_ratio)):
            for group in optimizer.param_groups:
                group["lr"] = rate

    # -- one step of each network -------------------------------------------------------
    def _critic_step(self, real: torch.Tensor, digit: torch.Tensor) -> tuple[float, float, float, _Fakes | None]:
        """One critic update; on the step before a generator step, also returns its fake batch.

        That batch is drawn with gradients and handed on to the generator step: with 2 critic
        steps this is 2 generator forwards per generator step instead of 3. The generator has
        not changed in between, only the critic that judges it. Its digits are the real batch's,
        so the generator sees the training set's label frequencies.
        """
        s, cfg = self.state, self.config
        self._set_lr(cfg.lr_at(s.generator_step))
        z = self._draw(len(digit), cfg.generator.latent_dim)
        component = None
        if cfg.generator.components > 1:  # drawn only for a mixture, so other runs keep their random stream
            component = torch.randint(0, cfg.generator.components, (len(digit),), generator=s.rng).to(self.device)
        shared = (s.critic_step + 1) % cfg.critic_steps == 0
        with torch.set_grad_enabled(shared), self._autocast():
            fake = s.generator(z, digit, component)
        alpha = None
        if s.critic_step % cfg.gp_every == 0:
            alpha = self._draw(len(digit), 1, 1, 1, normal=False)
        with self._autocast():
            out = critic_step(s.critic, real, fake.detach(), digit, alpha, cfg.penalty_weight,
                              cfg.critic_class_weight, cfg.objective, component, cfg.mixture_weight)
        s.opt_c.zero_grad(set_to_none=True)
        out.loss.backward()
        s.opt_c.step()
        s.critic_step += 1
        return out.loss.item(), out.wasserstein, out.penalty, _Fakes(fake, z, component) if shared else None

    def _generator_step(self, fakes: _Fakes, digit: torch.Tensor, real: torch.Tensor) -> float:
        s, cfg = self.state, self.config
        for p in s.critic.parameters():
            p.requires_grad_(False)  # the critic is a fixed judge here; skip its weight grads
        with self._autocast():
            loss = generator_loss(s.critic, fakes.images, digit, cfg.generator_class_weight,
                                  keep=cfg.topk_fraction(s.epoch), real=real if cfg.objective == "rpgan" else None,
                                  component=fakes.component, mixture_weight=cfg.mixture_weight)
            if cfg.mode_seeking_weight:
                loss = loss + cfg.mode_seeking_weight * mode_seeking_loss(fakes.images, fakes.z, digit)
            if cfg.coverage_weight and s.generator_step % cfg.coverage_every == 0:
                candidates = self._draw(len(digit), cfg.coverage_candidates, cfg.generator.latent_dim)
                loss = loss + cfg.coverage_weight * coverage_loss(s.generator, s.critic, real, digit, candidates)
        s.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        s.opt_g.step()
        for p in s.critic.parameters():
            p.requires_grad_(True)
        ema_update(s.ema, s.generator, s.generator_step, cfg.ema_decay)
        s.generator_step += 1
        if self.options.snapshot_every and s.generator_step % self.options.snapshot_every == 0:
            self._snapshot()
        return loss.item()

    def _snapshot(self) -> None:
        s = self.state
        self._stand()  # what a run ending here would measure
        state = slim(_state_dict(self.config, s))
        state["seconds"] = s.seconds + time.perf_counter() - self._stretch_started  # training time so far
        save_checkpoint(state, self.options.out / "snapshots" / f"step_{s.generator_step:06d}.pt")

    def _stand(self) -> None:
        """Standing statistics for the EMA as it is now, measured once per generator step.

        They depend only on the EMA weights (own RNG, no training state), which change only at a
        generator step: a step that is both a snapshot and the run's end measures them once.
        """
        if self._standing_at != self.state.generator_step:
            standing_statistics(self.state.ema)
            self._standing_at = self.state.generator_step

    def _finished(self) -> bool:
        steps = self.config.steps
        if steps is not None:
            return self.state.generator_step >= steps
        return self.state.epoch >= self.config.epochs

    # -- epochs --------------------------------------------------------------------------
    def _run_epoch(self, stop: _StopFlag, deadline: float | None) -> tuple[dict[str, float], bool]:
        """Train one epoch, or its rest, or up to the run's last step; returns its metrics and
        whether it was cut short by Ctrl-C or the time budget."""
        s, cfg = self.state, self.config
        if s.perm is None:
            s.perm = torch.randperm(len(self.labels), generator=s.rng)  # CPU indices work on any device
        sums = {"critic_loss": 0.0, "generator_loss": 0.0, "wasserstein": 0.0, "gradient_penalty": 0.0}
        counts = {"critic": 0, "generator": 0, "penalty": 0}
        progress = Bar(f"epoch {s.epoch + 1}", self.batches_per_epoch, start=s.batch)
        started = self._stretch_started = time.perf_counter()
        cut = False
        while s.batch < self.batches_per_epoch and not self._finished():
            if stop.requested or (deadline is not None and time.perf_counter() > deadline):
                cut = True
                break
            idx = s.perm[s.batch * cfg.batch_size:(s.batch + 1) * cfg.batch_size]
            digit = self.labels[idx]
            real = self.images[idx]
            loss, w, gp, fakes = self._critic_step(real, digit)
            sums["critic_loss"] += loss
            sums["wasserstein"] += w
            counts["critic"] += 1
            if gp == gp:  # NaN on steps without the penalty
                sums["gradient_penalty"] += gp
                counts["penalty"] += 1
            if fakes is not None:
                sums["generator_loss"] += self._generator_step(fakes, digit, real)
                counts["generator"] += 1
            s.batch += 1
            rate = counts["critic"] * cfg.batch_size / max(time.perf_counter() - started, 1e-9)
            progress.update(s.batch, f"step {s.generator_step} W {w:+.3f} gp {gp:.3f} {rate:.0f} img/s")
        seconds = time.perf_counter() - started
        progress.close()
        s.seconds += seconds
        if s.batch == self.batches_per_epoch:
            s.epoch, s.batch, s.perm = s.epoch + 1, 0, None
        per = {"generator_loss": "generator", "gradient_penalty": "penalty"}
        metrics = {k: v / max(counts[per.get(k, "critic")], 1) for k, v in sums.items()}
        # a row per stretch of training: a whole epoch, or the part before a stop or the last step
        return {"epoch": s.epoch + (s.batch / self.batches_per_epoch), **metrics, "seconds": round(seconds, 3),
                "total_seconds": round(s.seconds, 3),
                "images_per_second": round(counts["critic"] * cfg.batch_size / max(seconds, 1e-9), 1),
                "generator_steps": s.generator_step}, cut

    def _save_artifacts(self, metrics: dict[str, float]) -> None:
        out = self.options.out
        with torch.no_grad():
            grid = self.state.ema(self.fixed_z, self.fixed_digits, self.fixed_components)
        append_metrics(metrics, out / "metrics.jsonl")
        save_loss_plot(out / "metrics.jsonl", out / "losses.png")
        if self.state.batch == 0:  # grids at epoch ends, named by the epoch
            save_grid(grid, out / "grids" / f"epoch_{self.state.epoch:03d}.png")
        else:
            save_grid(grid, out / "grids" / f"step_{self.state.generator_step:06d}.png")

    def run(self) -> RunResult:
        options = self.options
        deadline = None
        if options.time_budget_minutes is not None:
            deadline = time.perf_counter() + options.time_budget_minutes * 60
        checkpoint = options.out / CHECKPOINT_NAME
        cut = False
        with _StopFlag() as stop:
            while not self._finished() and not cut:
                metrics, cut = self._run_epoch(stop, deadline)
                self._stand()
                save_checkpoint(_state_dict(self.config, self.state), checkpoint)
                if not cut:
                    self._save_artifacts(metrics)
            interrupted = stop.requested
        s = self.state
        return RunResult(s.epoch, s.generator_step, s.seconds, cut, cut and interrupted, checkpoint)


def _refuse_recipe_changes(saved: TrainConfig, asked: TrainConfig, keys: frozenset[str]) -> None:
    """One-line ValueError when the command asks a resumed run for another recipe than it has.

    Otherwise ``--resume --set lr_decay_from=...`` would be ignored without a word, and the
    weights would not be those of a straight run of the command as typed.
    """
    def value(config: TrainConfig, key: str) -> object:
        top, _, sub = key.partition(".")
        return getattr(getattr(config, top), sub) if sub else getattr(config, top)

    fixed = sorted(keys - {"steps", "epochs"})  # the run's end is what a resume may move
    changes = [f"{key}={value(saved, key)} (asked {value(asked, key)})"
               for key in fixed if value(saved, key) != value(asked, key)]
    if changes:
        raise ValueError(f"--resume continues the checkpoint's recipe, which has {', '.join(changes)}; "
                         "drop those options, or start a new --out to train another recipe")


def train(config: TrainConfig, options: RunOptions) -> RunResult:
    """Start a run in ``options.out``, or continue it (``options.resume``) up to ``config.steps``
    (or ``config.epochs`` when it has no step count): the rest of the recipe comes from the
    checkpoint."""
    with torch_threads(options.threads):
        checkpoint = options.out / CHECKPOINT_NAME
        if options.resume:
            saved, state = _restore(checkpoint, options.device)
            _refuse_recipe_changes(saved, config, options.asked)
            # the new end: a step count when given (extending or finishing a run), else the saved one
            config = replace(saved, epochs=config.epochs, steps=config.steps if config.steps is not None else saved.steps)
        else:
            if checkpoint.exists():
                raise FileExistsError(
                    f"{options.out} already holds a run; pass --resume to continue it or choose another --out")
            state = _fresh_state(config, options.device)
        if options.command:
            state.commands.append(options.command)
        trainer = Trainer(config, state, load_split("train", options.data_dir, limit=config.limit), options)
        options.out.mkdir(parents=True, exist_ok=True)
        write_atomic(options.out / "config.json", (json.dumps(asdict(config), indent=2) + "\n").encode())
        return trainer.run()
