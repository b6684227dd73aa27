"""The four networks: conditional generator, projection critic, reference classifier, and the
encoder that inverts the generator (image, digit -> latent).

Sized for a 2-core CPU: every layer is a native 28x28 (or 14x14, 7x7) convolution. Wider
networks cost more per step than they gave back in the time budget (docs/training.md's experiment
table).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mnistgen.training.data import IMAGE_SIDE, NUM_CLASSES


@dataclass(frozen=True)
class GeneratorConfig:
    latent_dim: int = 64
    embed_dim: int = 32
    channels: int = 32  # width at 14x14; 2x at 7x7, 1/2 at 28x28
    # A mixture of generators (MGAN, Hoang et al. 2018): this many first layers on one shared
    # body, each sample drawn by the component it is given. 1: one generator.
    components: int = 1

    def __post_init__(self) -> None:
        if self.components < 1:
            raise ValueError(f"generator.components must be at least 1, not {self.components}")


@dataclass(frozen=True)
class CriticConfig:
    channels: int = 32  # width at 14x14; 2x at 7x7, 4x at 4x4
    # Minibatch standard deviation (Karras et al. 2018): the score also reads how much the
    # features vary within each group of this many consecutive samples, so a generator that
    # draws one hand for every latent is told apart from real variety. 0 turns it off.
    minibatch_std: int = 0

    def __post_init__(self) -> None:
        if self.minibatch_std < 0 or self.minibatch_std == 1:
            raise ValueError(f"critic.minibatch_std must be 0 (off) or a group of at least 2, not {self.minibatch_std}")


@dataclass(frozen=True)
class EncoderConfig:
    latent_dim: int = 64  # the generator's
    channels: int = 32  # width at 14x14; 2x at 7x7, 4x at 4x4
    embed_dim: int = 16
    hidden: int = 256


@dataclass(frozen=True)
class ClassifierConfig:
    channels: int = 32
    feature_dim: int = 128


def strided_features(c: int) -> nn.Sequential:
    """28x28 image -> flat features (4c x 4 x 4) by three strided convolutions, no normalisation:
    what the critic and the encoder read a digit with."""
    return nn.Sequential(
        nn.Conv2d(1, c, 4, 2, 1),  # 28 -> 14
        nn.LeakyReLU(0.2),
        nn.Conv2d(c, 2 * c, 4, 2, 1),  # 14 -> 7
        nn.LeakyReLU(0.2),
        nn.Conv2d(2 * c, 4 * c, 3, 2, 1),  # 7 -> 4
        nn.LeakyReLU(0.2),
        nn.Flatten(),
    )


class Generator(nn.Module):
    """G(z, digit) -> image in -1..1 (tanh), shape (N, 1, 28, 28).

    Why this shape: the label enters as a learned embedding concatenated to z, so the rest of
    the network is shared "handwriting" that the label steers; ``embed`` and ``synthesize`` are
    separate so that interpolating two label embeddings (morphs) needs no second network.
    Transposed convolutions measured fastest on CPU among the upsamplers tried (nearest+conv
    was slower); BatchNorm is allowed here (not in the critic) and steadies early training.
    """

    def __init__(self, config: GeneratorConfig = GeneratorConfig()):
        super().__init__()
        self.config = config
        c = config.channels
        self.embedding = nn.Embedding(NUM_CLASSES, config.embed_dim)
        # a mixture's components are slices of one projection: all of them in one matrix product
        self.project = nn.Linear(config.latent_dim + config.embed_dim, config.components * 2 * c * 7 * 7)
        self.body = nn.Sequential(
            nn.BatchNorm2d(2 * c),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * c, c, 4, 2, 1),  # 7 -> 14
            nn.BatchNorm2d(c),
            nn.ReLU(),
            nn.ConvTranspose2d(c, c // 2, 4, 2, 1),  # 14 -> 28
            nn.BatchNorm2d(c // 2),
            nn.ReLU(),
            nn.Conv2d(c // 2, 1, 3, 1, 1),
            nn.Tanh(),
        )

    def embed(self, digit: torch.Tensor) -> torch.Tensor:
        return self.embedding(digit)

    def synthesize(self, z: torch.Tensor, label_embedding: torch.Tensor,
                   component: torch.Tensor | None = None) -> torch.Tensor:
        h = self.project(torch.cat([z, label_embedding], dim=1))
        if self.config.components > 1:
            if component is None:
                raise ValueError(f"a mixture of {self.config.components} generators draws each sample by its component")
            h = h.view(len(h), self.config.components, -1)[torch.arange(len(h), device=h.device), component]
        return self.body(h.view(-1, 2 * self.config.channels, 7, 7))

    def forward(self, z: torch.Tensor, digit: torch.Tensor, component: torch.Tensor | None = None) -> torch.Tensor:
        return self.synthesize(z, self.embed(digit), component)


class Critic(nn.Module):
    """D(x, digit) -> unbounded score (N,), higher = more real.

    No BatchNorm: the gradient penalty is per sample, and batch statistics would couple the
    samples (WGAN-GP paper, section 4). The label enters by projection (Miyato & Koyama 2018):
    score = w.h + embed(digit).h, which is cheaper than label channels and conditions better.
    A class head on the same features reads the digit (see ``TrainConfig.critic_class_weight``)
    and, for a mixture of ``components`` generators, which one drew a fake: its logits are the
    10 digits' followed by the components' (MGAN's classifier, sharing the critic's body).
    """

    def __init__(self, config: CriticConfig = CriticConfig(), components: int = 1):
        super().__init__()
        c = config.channels
        self.features = strided_features(c)
        width = 4 * c * 4 * 4
        self.group = config.minibatch_std
        self.linear = nn.Linear(width + (1 if self.group else 0), 1)
        self.projection = nn.Embedding(NUM_CLASSES, width)
        self.classify = nn.Linear(width, NUM_CLASSES + (components if components > 1 else 0))

    def forward(self, x: torch.Tensor, digit: torch.Tensor) -> torch.Tensor:
        return self._score(self.features(x), digit)  # no class head: the penalty pass needs none

    def score_and_logits(self, x: torch.Tensor, digit: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The critic's score and, from the same features, its reading of the digit (AC head)."""
        h = self.features(x)
        return self._score(h, digit), self.classify(h)

    def _score(self, h: torch.Tensor, digit: torch.Tensor) -> torch.Tensor:
        read = torch.cat([h, group_spread(h, self.group)], dim=1) if self.group else h
        return self.linear(read).squeeze(1) + (self.projection(digit) * h).sum(dim=1)


def group_spread(h: torch.Tensor, group: int) -> torch.Tensor:
    """(N, 1): the mean over features of their standard deviation within each sample's group of
    ``group`` consecutive samples. Groups are consecutive so that a batch of reals followed by as
    many fakes (the critic step's one forward) never mixes the two; N must be a multiple of the group.
    """
    if len(h) % group:
        raise ValueError(f"a batch of {len(h)} does not split into minibatch_std groups of {group}")
    grouped = h.view(-1, group, h.shape[1])
    spread = (grouped.var(dim=1, unbiased=False) + 1e-8).sqrt().mean(dim=1)  # eps: sqrt's gradient at 0
    return spread.repeat_interleave(group).unsqueeze(1)


class Classifier(nn.Module):
    """Reference CNN: image in 0..1 (N, 1, 28, 28) -> logits (N, 10).

    Its penultimate activations (``features``) are the space FID and precision/recall are
    measured in, so it is trained once, shipped, and never changed lightly.
    """

    def __init__(self, config: ClassifierConfig = ClassifierConfig()):
        super().__init__()
        self.config = config
        c = config.channels

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, 1, 1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]

        self.body = nn.Sequential(
            *block(1, c),  # 28 -> 14
            *block(c, 2 * c),  # 14 -> 7
            *block(2 * c, 4 * c),  # 7 -> 3
            nn.Flatten(),
            nn.Linear(4 * c * 3 * 3, config.feature_dim),
            nn.ReLU(),
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(config.feature_dim, NUM_CLASSES)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x - 0.1307)  # centre on the MNIST mean so the first layer starts balanced

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


class Encoder(nn.Module):
    """E(image, digit) -> the generator's latent w, so that G(w, digit) redraws the image.

    ``image`` is in 0..1 (N, 1, 28, 28), white on black, as the classifier reads it. The digit
    enters after the convolutions: the convolutions read the stroke (the hand), and the label
    tells the head which digit's strokes they were, since the same hand draws a 1 and an 8 with
    very different pixels. No BatchNorm: an encoded latent must not depend on its batch.
    """

    def __init__(self, config: EncoderConfig = EncoderConfig()):
        super().__init__()
        self.config = config
        c = config.channels
        self.features = strided_features(c)
        self.embedding = nn.Embedding(NUM_CLASSES, config.embed_dim)
        self.head = nn.Sequential(
            nn.Linear(4 * c * 4 * 4 + config.embed_dim, config.hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(config.hidden, config.latent_dim),
        )

    def forward(self, image: torch.Tensor, digit: torch.Tensor) -> torch.Tensor:
        # centred like the classifier's input, so the first layer starts balanced
        h = self.features(image - 0.1307)
        return self.head(torch.cat([h, self.embedding(digit)], dim=1))


assert IMAGE_SIDE == 28  # the layer arithmetic above (7 -> 14 -> 28) assumes it
