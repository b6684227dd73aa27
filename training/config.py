"""The training recipe: one dataclass of everything that decides the weights, and its overrides.

``mnistgen-train --set key=value`` reaches any field (``generator.channels=48`` for the nested
network configs), checked against the dataclass, as nanoGPT's configurator does, so that every
row of the experiment tables in docs/training.md is one command line.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field, fields, replace
from typing import Any

from mnistgen.training.models import CriticConfig, GeneratorConfig

PRECISIONS = ("fp32", "bf16")
OBJECTIVES = ("wgan", "rpgan")


@dataclass
class TrainConfig:
    """What determines the weights (with the data and the thread count).

    Why the defaults: 2 critic steps per generator step and a penalty on every 4th critic step
    buy more generator steps per minute than the paper's 5 steps with a penalty on each, which
    matters more on a CPU than a sharper critic; beta1 = 0.5 (not the paper's 0) because with
    only 2 critic steps some momentum steadies the critic between generator updates; batch 32
    gives more generator steps for the same time than 64. docs/training.md's experiment table has the
    measurements behind each choice.
    """

    # A run ends at generator step `steps` when it is set (the release recipe), else after
    # `epochs` passes over the data. A step count, not the clock, so anyone can rerun it.
    steps: int | None = None
    epochs: int = 20
    batch_size: int = 32
    lr: float = 2e-4
    # Linear decay of both learning rates from `lr` at generator step lr_decay_from down to 0 at
    # lr_decay_to (as in Gulrajani et al.'s code). Fixed by step numbers, not by `steps`, so a
    # step still computes the same whatever the run's length, and resume stays exact.
    lr_decay_from: int | None = None
    lr_decay_to: int | None = None
    beta1: float = 0.5
    beta2: float = 0.9
    critic_steps: int = 2
    # The adversarial objective. "wgan": WGAN-GP, the critic's mean score gap, its gradient norm
    # pushed to 1 at interpolates (gp_weight). "rpgan": the relativistic pairing loss with R1 and
    # R2 penalties (R3GAN, Huang et al. 2024): softplus of each real-fake pair's score gap, and
    # r_weight / 2 times the squared gradient norm at the real and at the fake images. Issue 37
    # measured it sharper per minute than WGAN-GP; it is meant with one critic step and beta1 = 0.
    objective: str = "wgan"
    gp_weight: float = 10.0
    r_weight: float = 0.1
    gp_every: int = 4  # apply the penalty every k-th critic step, weighted k times
    # An auxiliary class head on the critic (AC-GAN, Odena et al. 2017), trained on real digits;
    # the generator pays (generator_class_weight) for fakes it cannot read as their digit.
    critic_class_weight: float = 1.0
    generator_class_weight: float = 1.0
    mode_seeking_weight: float = 0.0  # see wgan.mode_seeking_loss
    # Coverage (wgan.coverage_loss): every `coverage_every`-th generator step, each real digit of
    # the batch picks the nearest of `coverage_candidates` fresh samples of its digit in the
    # critic's feature space and pulls it towards itself, so that real hands the generator
    # rarely draws keep a sample near them. 0 turns it off.
    coverage_weight: float = 0.0
    coverage_every: int = 4
    coverage_candidates: int = 8
    # A mixture (generator.components > 1, MGAN): the weight of the term that makes the
    # components' fakes tell apart by the critic's class head, in the critic's and the
    # generator's loss alike. Each fake's component is drawn uniformly.
    mixture_weight: float = 1.0
    # Two time scales (Heusel et al. 2017): the critic's learning rate is this many times `lr`.
    critic_lr_ratio: float = 1.0
    # Top-k generator updates (Sinha et al. 2020): in epoch e the generator learns from the
    # fraction max(topk_gamma**e, topk_min) of its fakes that the critic scores highest. 1, 1: all.
    topk_gamma: float = 1.0
    topk_min: float = 1.0
    ema_decay: float = 0.999
    # bf16 autocast of the forward passes (weights, optimizer and the exported model stay fp32)
    precision: str = "fp32"
    seed: int = 0
    limit: int | None = None
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    critic: CriticConfig = field(default_factory=CriticConfig)

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "critic_steps", "gp_every", "coverage_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps must be at least 1, not {self.steps}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, not {self.objective!r}")
        if (self.lr_decay_from is None) != (self.lr_decay_to is None):
            raise ValueError("lr_decay_from and lr_decay_to are set together or not at all")
        if self.lr_decay_from is not None and not 0 <= self.lr_decay_from < self.lr_decay_to:
            raise ValueError(f"lr decay needs 0 <= lr_decay_from < lr_decay_to, not {self.lr_decay_from} and "
                             f"{self.lr_decay_to}")
        if not 0.0 <= self.ema_decay <= 1.0:
            raise ValueError(f"ema_decay must be in 0..1, not {self.ema_decay}")
        for name in ("coverage_weight", "mode_seeking_weight", "gp_weight", "r_weight", "mixture_weight"):
            # a NaN would pass a plain "< 0" and turn every weight into NaN at the first step
            if not 0.0 <= getattr(self, name) < math.inf:
                raise ValueError(f"{name} must be a finite number >= 0, not {getattr(self, name)}")
        if self.coverage_candidates < 2:
            raise ValueError(f"coverage_candidates must be at least 2, not {self.coverage_candidates}")
        if not 0.0 < self.critic_lr_ratio < math.inf:
            raise ValueError(f"critic_lr_ratio must be a finite number > 0, not {self.critic_lr_ratio}")
        if self.generator.components > 1 and self.coverage_weight:
            raise ValueError("coverage_weight must be 0 for a mixture (generator.components > 1): "
                             "the coverage search draws no components")
        group = self.critic.minibatch_std
        if group and self.batch_size % group:
            raise ValueError(f"critic.minibatch_std ({group}) must divide batch_size ({self.batch_size})")
        for name in ("topk_gamma", "topk_min"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], not {getattr(self, name)}")

    @property
    def penalty_weight(self) -> float:
        """The weight of the objective's penalty on the critic steps that compute it (every gp_every-th)."""
        weight = self.gp_weight if self.objective == "wgan" else self.r_weight / 2
        return weight * self.gp_every

    def topk_fraction(self, epoch: int) -> float:
        """The share of fakes the generator learns from in this epoch (top-k updates)."""
        return max(self.topk_gamma ** epoch, self.topk_min)

    def lr_at(self, generator_step: int) -> float:
        """The generator's learning rate at this generator step (the critic's is critic_lr_ratio times it)."""
        if self.lr_decay_from is None or generator_step <= self.lr_decay_from:
            return self.lr
        left = max(self.lr_decay_to - generator_step, 0) / (self.lr_decay_to - self.lr_decay_from)
        return self.lr * left

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "TrainConfig":
        raw = dict(raw)
        raw["generator"] = GeneratorConfig(**raw["generator"])
        raw["critic"] = CriticConfig(**raw["critic"])
        return cls(**raw)


def _parse(text: str, hint: Any, key: str) -> Any:
    """``text`` as a value of type ``hint`` (int, float, str, bool, or one of them | None)."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union \
        else (hint,)
    if type(None) in options and text.lower() == "none":
        return None
    kind = next(option for option in options if option is not type(None))
    if kind is bool:
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
    else:
        try:
            return kind(text)
        except ValueError:
            pass
    raise ValueError(f"--set {key}={text}: expected {kind.__name__}{' or none' if type(None) in options else ''}")


def _fields_of(config_type: type) -> dict[str, Any]:
    hints = typing.get_type_hints(config_type)
    return {f.name: hints[f.name] for f in fields(config_type)}


def apply_overrides(config: TrainConfig, assignments: list[str]) -> TrainConfig:
    """``config`` with each ``key=value`` applied; one-line ValueError for an unknown key or bad value.

    The values are gathered first and checked together, so fields that only make sense as a pair
    (lr_decay_from and lr_decay_to) can be set by two --set options.
    """
    known = _fields_of(TrainConfig)
    changes: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        key = key.strip()
        if not sep:
            raise ValueError(f"--set takes key=value, not {assignment!r}")
        top, _, sub = key.partition(".")
        if top not in known:
            raise ValueError(f"--set {key}: unknown key; TrainConfig has {', '.join(known)}")
        hint = known[top]
        if dataclasses.is_dataclass(hint):
            inner = _fields_of(hint)
            if sub not in inner:
                raise ValueError(f"--set {key}: unknown key; {top} has {', '.join(f'{top}.{k}' for k in inner)}")
            nested.setdefault(top, {})[sub] = _parse(text.strip(), inner[sub], key)
        elif sub:
            raise ValueError(f"--set {key}: {top} has no fields")
        else:
            changes[top] = _parse(text.strip(), hint, key)
    for top, values in nested.items():
        changes[top] = replace(getattr(config, top), **values)
    return replace(config, **changes)
