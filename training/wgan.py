"""The adversarial objectives (WGAN-GP, or the relativistic pairing loss with R1 and R2), with an
auxiliary class head, the coverage and mode-seeking terms, and the generator's moving average."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from mnistgen.training.batchnorm import frozen_statistics, measuring_statistics
from mnistgen.training.data import NUM_CLASSES
from mnistgen.training.models import Generator


@dataclass
class CriticStep:
    loss: torch.Tensor
    wasserstein: float  # E[D(real)] - E[D(fake)]: for WGAN-GP the critic's estimate of the W1 distance
    penalty: float


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, digit: torch.Tensor,
                     alpha: torch.Tensor) -> torch.Tensor:
    """Mean over samples of (||grad_x D(x_hat, y)||_2 - 1)^2 at x_hat = alpha*real + (1-alpha)*fake.

    Per sample (Gulrajani et al. 2017): each interpolate's own gradient norm is pushed to 1,
    which is why the critic has no BatchNorm. ``create_graph`` makes it differentiable (the
    double backward that dominates a critic step's cost).
    """
    x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    scores = critic(x_hat, digit)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def pair_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, digit: torch.Tensor) -> torch.Tensor:
    """R1 + R2: the mean squared gradient norm of the critic at the real images plus that at the
    fakes (Mescheder et al. 2018; R3GAN penalises both). One pass over both, as the loss does."""
    x = torch.cat([real, fake]).requires_grad_(True)
    scores = critic(x, torch.cat([digit, digit]))
    (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    squared = grad.flatten(1).pow(2).sum(dim=1)
    return squared[:len(real)].mean() + squared[len(real):].mean()


def critic_step(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, digit: torch.Tensor,
                alpha: torch.Tensor | None, penalty_weight: float, class_weight: float = 0.0,
                objective: str = "wgan", component: torch.Tensor | None = None,
                mixture_weight: float = 0.0) -> CriticStep:
    """The critic's loss; ``alpha=None`` skips the penalty on this step (lazy regularisation).

    ``objective`` "wgan": -(E[D(real)] - E[D(fake)]) and the gradient penalty at interpolates by
    ``alpha``; "rpgan": the mean of softplus(-(D(real_i) - D(fake_i))) over the batch's pairs, and
    R1 + R2 (``alpha`` then only says that this step pays the penalty).

    For a mixture, ``component`` says which generator drew each fake, and the class head learns
    to tell them apart (weighted ``mixture_weight``).

    The penalty's double backward costs about as much as the rest of the step, so applying it
    every k-th step with k times the weight (as StyleGAN2 does for R1) keeps the constraint on
    average at a fraction of the cost.
    """
    # One forward over real and fake together: one larger batch is cheaper on CPU than two.
    scores, logits = critic.score_and_logits(torch.cat([real, fake]), torch.cat([digit, digit]))
    real_score, fake_score = scores.chunk(2)
    wasserstein = real_score.mean() - fake_score.mean()
    adversarial = -wasserstein if objective == "wgan" else F.softplus(fake_score - real_score).mean()
    # the class head learns from real digits only, so it never learns to name a bad fake
    loss = adversarial + class_weight * F.cross_entropy(logits[:len(real), :NUM_CLASSES], digit)
    if component is not None:
        loss = loss + mixture_weight * F.cross_entropy(logits[len(real):, NUM_CLASSES:], component)
    if alpha is None:
        return CriticStep(loss=loss, wasserstein=wasserstein.item(), penalty=float("nan"))
    penalty = (gradient_penalty(critic, real, fake, digit, alpha) if objective == "wgan"
               else pair_penalty(critic, real, fake, digit))
    return CriticStep(loss=loss + penalty_weight * penalty, wasserstein=wasserstein.item(), penalty=penalty.item())


def generator_loss(critic: nn.Module, fake: torch.Tensor, digit: torch.Tensor,
                   class_weight: float = 0.0, keep: float = 1.0, real: torch.Tensor | None = None,
                   component: torch.Tensor | None = None, mixture_weight: float = 0.0) -> torch.Tensor:
    """-E[D(fake)], plus the class head's cross-entropy: a fake must read as its digit. With
    ``real`` (the relativistic pairing objective), softplus(-(D(fake_i) - D(real_i))) in place of
    -D(fake_i): each fake is judged against the real digit it is paired with.

    ``keep`` < 1: only that share of the fakes, those the critic scores highest, count (top-k
    updates, Sinha et al. 2020): the worst fakes' gradients point towards the mean of the real
    digits, which late in training pulls samples into blurred in-between shapes.

    ``component`` (a mixture): each fake also pays ``mixture_weight`` times the class head's
    cross-entropy on the generator that drew it, so the components draw hands that can be told
    apart (MGAN's term; the critic keeps every component's hands real).
    """
    scores, logits = critic.score_and_logits(fake, digit)
    if real is None:
        adversarial = -scores
    else:
        with torch.no_grad():
            real_scores = critic(real, digit)
        adversarial = F.softplus(real_scores - scores)
    per_sample = adversarial + class_weight * F.cross_entropy(logits[:, :NUM_CLASSES], digit, reduction="none")
    if component is not None:
        per_sample = per_sample + mixture_weight * F.cross_entropy(logits[:, NUM_CLASSES:], component, reduction="none")
    if keep < 1.0:
        k = max(1, round(keep * len(fake)))
        per_sample = per_sample[torch.topk(scores.detach(), k).indices]
    return per_sample.mean()


def _critic_features(critic: nn.Module, images: torch.Tensor) -> torch.Tensor:
    # unit length: the critic's features grow in scale over training, their directions are what match
    return F.normalize(critic.features(images), dim=1)


def nearest_samples(generator: nn.Module, critic: nn.Module, real: torch.Tensor, digit: torch.Tensor,
                    candidates: torch.Tensor) -> torch.Tensor:
    """For each real image, the sample of its candidate latents (N, M, latent), drawn as its digit,
    that lies nearest to it in the critic's feature space (IMLE's search, Li & Malik 2018).

    The samples come back as rendered in the search, gradients attached: under train-mode
    BatchNorm a second render of the chosen latents, in a batch of N, is another image (up to
    0.08 apart on the -1..1 scale), so it would pull a sample the search never chose. The
    search's batch leaves the running statistics alone.
    """
    n, m = candidates.shape[:2]
    with frozen_statistics(generator):
        fake = generator(candidates.flatten(0, 1), digit.repeat_interleave(m))
    with torch.no_grad():
        similarity = torch.einsum("nmf,nf->nm", _critic_features(critic, fake).view(n, m, -1),
                                  _critic_features(critic, real))
    return fake.view(n, m, *fake.shape[1:])[torch.arange(n), similarity.argmax(dim=1)]


def coverage_loss(generator: nn.Module, critic: nn.Module, real: torch.Tensor, digit: torch.Tensor,
                  candidates: torch.Tensor) -> torch.Tensor:
    """Pull, for each real digit, the nearest of M fresh samples of that digit towards it.

    The adversarial loss alone only asks every sample to look real, so hands the generator
    rarely draws are never asked for (recall). Matching in the critic's features, not in pixels,
    keeps the pull off the blur of a pixel average (the naive pixel IMLE lost on every figure).
    """
    pulled = nearest_samples(generator, critic, real, digit, candidates)
    target = _critic_features(critic, real).detach()
    return (_critic_features(critic, pulled) - target).pow(2).sum(dim=1).mean()


def mode_seeking_loss(fake: torch.Tensor, z: torch.Tensor, digit: torch.Tensor) -> torch.Tensor:
    """1 / (image distance per latent distance) over pairs of same-digit fakes (Mao et al. 2019).

    A generator that maps different latents of one digit to the same handwriting pays for it,
    which is meant to counter the dropping of a digit's rarer styles (crossed sevens, here).
    Pairs are neighbours in the batch sorted by digit, so no extra samples are drawn; a batch
    without a pair costs nothing.
    """
    order = torch.argsort(digit, stable=True)
    same = digit[order][1:] == digit[order][:-1]
    a, b = order[:-1][same], order[1:][same]
    if len(a) == 0:
        return fake.new_zeros(())
    ratio = (fake[a] - fake[b]).abs().flatten(1).mean(1) / (z[a] - z[b]).abs().mean(1)
    return 1 / (ratio.mean() + 1e-5)


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, step: int, decay: float) -> None:
    """EMA of the weights, warmed up so that early steps are not dominated by the random init.

    Only parameters: the BatchNorm statistics of the average are measured on the average
    itself (``standing_statistics``): the training generator's statistics describe other weights.
    """
    d = min(decay, (1 + step) / (10 + step))
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p, 1 - d)


@torch.no_grad()
def standing_statistics(generator: Generator, samples: int = 10_240, batch_size: int = 512, seed: int = 0) -> None:
    """Re-measure every BatchNorm's running statistics on the generator's own outputs.

    The averaged weights never ran a training batch, so statistics copied from the training
    generator (the usual shortcut) belong to weights up to ~1/(1-decay) steps away. That
    mismatch made quality swing from one checkpoint to the next (docs/training.md's "standing
    statistics" paragraph); measured statistics removed the swing (Brock et al. 2019 call them
    standing statistics). Latents are drawn untruncated, as in training; fixed seed, own CPU RNG,
    so the statistics are the same whatever the device.
    """
    rng = torch.Generator().manual_seed(seed)
    device = next(generator.parameters()).device
    with measuring_statistics(generator):
        for _ in range(samples // batch_size):
            z = torch.randn(batch_size, generator.config.latent_dim, generator=rng)
            digit = torch.randint(0, NUM_CLASSES, (batch_size,), generator=rng)
            component = None
            if generator.config.components > 1:  # every component's share, as sampling draws them
                component = torch.randint(0, generator.config.components, (batch_size,), generator=rng).to(device)
            generator(z.to(device), digit.to(device), component)
