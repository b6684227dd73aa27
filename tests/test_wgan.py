"""The gradient penalty against a hand computation, and the networks' shapes and ranges."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from mnistgen.training.batchnorm import frozen_statistics
from mnistgen.training.models import Classifier, Critic, CriticConfig, Generator, GeneratorConfig, group_spread
from mnistgen.training.data import NUM_CLASSES
from mnistgen.training.wgan import (coverage_loss, critic_step, ema_update, generator_loss, gradient_penalty,
                                   mode_seeking_loss, nearest_samples, pair_penalty, standing_statistics)


class LinearCritic(nn.Module):
    """D(x, y) = w_y . x: its input gradient is w_y, so the penalty is (||w_y|| - 1)^2."""

    def __init__(self, weights: torch.Tensor):
        super().__init__()
        self.weights = nn.Parameter(weights)

    def forward(self, x, digit):
        return (x.flatten(1) * self.weights[digit]).sum(1)


class SquareCritic(nn.Module):
    """D(x) = sum(x^2): gradient 2x, so the penalty depends on where the interpolate lies."""

    def forward(self, x, digit):
        return (x ** 2).flatten(1).sum(1)


def test_penalty_linear_critic_by_hand():
    weights = torch.zeros(10, 4)
    weights[0, 0] = 3.0  # ||w_0|| = 3 -> (3-1)^2 = 4
    weights[1, :] = 0.5  # ||w_1|| = 1 -> 0
    critic = LinearCritic(weights)
    real, fake = torch.randn(2, 1, 2, 2), torch.randn(2, 1, 2, 2)
    penalty = gradient_penalty(critic, real, fake, torch.tensor([0, 1]), torch.rand(2, 1, 1, 1))
    assert torch.isclose(penalty, torch.tensor(2.0))  # mean of 4 and 0


def test_penalty_is_per_sample_at_the_interpolate():
    real = torch.ones(2, 1, 1, 2)
    fake = torch.zeros(2, 1, 1, 2)
    alpha = torch.tensor([0.5, 1.0]).view(2, 1, 1, 1)
    # x_hat = (0.5, 0.5) and (1, 1); grad 2x = (1, 1) and (2, 2); norms sqrt2 and 2sqrt2
    expected = ((2 ** 0.5 - 1) ** 2 + (2 * 2 ** 0.5 - 1) ** 2) / 2
    penalty = gradient_penalty(SquareCritic(), real, fake, torch.zeros(2, dtype=torch.long), alpha)
    assert abs(penalty.item() - expected) < 1e-5


def test_penalty_is_differentiable_in_the_critic_weights():
    critic = LinearCritic(torch.full((10, 4), 1.0))  # ||w|| = 2 -> d/dw (||w||-1)^2 = 2(||w||-1) w/||w|| = w
    penalty = gradient_penalty(critic, torch.randn(1, 1, 2, 2), torch.randn(1, 1, 2, 2), torch.tensor([3]),
                               torch.rand(1, 1, 1, 1))
    penalty.backward()
    assert torch.allclose(critic.weights.grad[3], torch.full((4,), 1.0))


def test_critic_step_lazy_penalty_skips_it():
    critic = Critic()
    real, fake, digit = torch.rand(4, 1, 28, 28), torch.rand(4, 1, 28, 28), torch.arange(4)
    lazy = critic_step(critic, real, fake, digit, None, 10.0)
    full = critic_step(critic, real, fake, digit, torch.rand(4, 1, 1, 1), 10.0)
    assert lazy.penalty != lazy.penalty and full.penalty >= 0  # NaN marks "not computed"
    assert abs(lazy.wasserstein - full.wasserstein) < 1e-6


def test_shapes_and_ranges():
    torch.manual_seed(0)
    generator = Generator().eval()
    z = torch.randn(5, GeneratorConfig().latent_dim) * 10  # far out: tanh must still bound it
    images = generator(z, torch.arange(5))
    assert images.shape == (5, 1, 28, 28) and images.min() >= -1 and images.max() <= 1
    assert Critic()(images, torch.arange(5)).shape == (5,)
    classifier = Classifier().eval()
    assert classifier(images).shape == (5, 10) and classifier.features(images).shape == (5, 128)


def test_ema_warms_up_then_averages():
    model, ema = nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(1.0)
        ema.weight.fill_(0.0)
    ema_update(ema, model, step=0, decay=0.999)  # warm-up decay 0.1: mostly the model
    assert abs(ema.weight.item() - 0.9) < 1e-6
    ema_update(ema, model, step=10 ** 6, decay=0.5)
    assert abs(ema.weight.item() - 0.95) < 1e-6


def test_ema_leaves_batchnorm_statistics_alone():
    model, ema = nn.BatchNorm1d(2), nn.BatchNorm1d(2)
    model.train()(torch.randn(8, 2) + 5)  # the training copy's statistics move
    ema_update(ema, model, step=0, decay=0.999)
    assert torch.equal(ema.running_mean, torch.zeros(2)) and torch.equal(ema.running_var, torch.ones(2))


def test_standing_statistics_fit_the_weights_they_describe():
    torch.manual_seed(0)
    generator = Generator().eval()
    for m in generator.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.fill_(3.0)  # statistics of some other weights
            m.running_var.fill_(50.0)
    latent_dim = generator.config.latent_dim
    z, digit = torch.randn(2048, latent_dim), torch.arange(2048) % NUM_CLASSES
    with torch.no_grad():
        stale = generator(z, digit)
        batch = generator.train()(z, digit)  # what these weights' own statistics give
        generator.eval()
        standing_statistics(generator)
        fitted = generator(z, digit)
    assert not generator.training
    assert (stale - batch).abs().mean() > 0.1
    assert (fitted - batch).abs().mean() < 0.01
    assert all(m.momentum == 0.1 for m in generator.modules() if isinstance(m, nn.BatchNorm2d))
    before = [b.clone() for b in generator.buffers()]
    standing_statistics(generator)
    assert all(torch.equal(a, b) for a, b in zip(before, generator.buffers()))  # own fixed seed


def test_class_head_learns_from_real_digits_only():
    torch.manual_seed(0)
    critic = Critic()
    real, digit = torch.rand(4, 1, 28, 28), torch.arange(4)

    def head_grad(fake: torch.Tensor) -> torch.Tensor:
        critic.zero_grad()
        critic_step(critic, real, fake, digit, None, 10.0, class_weight=1.0).loss.backward()
        return critic.classify.weight.grad.clone()

    assert torch.equal(head_grad(torch.rand(4, 1, 28, 28)), head_grad(torch.rand(4, 1, 28, 28)))
    assert head_grad(torch.rand(4, 1, 28, 28)).abs().sum() > 0
    plain = critic_step(critic, real, torch.zeros(4, 1, 28, 28), digit, None, 10.0)
    weighted = critic_step(critic, real, torch.zeros(4, 1, 28, 28), digit, None, 10.0, class_weight=2.0)
    cross_entropy = F.cross_entropy(critic.score_and_logits(real, digit)[1], digit)
    assert torch.isclose(weighted.loss - plain.loss, 2.0 * cross_entropy)


def test_generator_loss_adds_the_class_heads_reading():
    torch.manual_seed(0)
    critic, fake, digit = Critic(), torch.rand(6, 1, 28, 28), torch.arange(6)
    scores, logits = critic.score_and_logits(fake, digit)
    assert torch.isclose(generator_loss(critic, fake, digit), -scores.mean())
    assert torch.isclose(generator_loss(critic, fake, digit, class_weight=0.1),
                         -scores.mean() + 0.1 * F.cross_entropy(logits, digit))


def test_critic_score_is_the_same_with_or_without_the_class_head():
    torch.manual_seed(0)
    critic, x, digit = Critic(), torch.rand(5, 1, 28, 28), torch.arange(5)
    assert torch.equal(critic(x, digit), critic.score_and_logits(x, digit)[0])


def test_mode_seeking_loss_pairs_same_digit_fakes_by_hand():
    fake = torch.zeros(4, 1, 28, 28)
    fake[1] += 0.5  # digit 3's pair: images 1 and 3, mean |difference| 0.5
    z = torch.zeros(4, 2)
    z[3] = torch.tensor([1.0, 3.0])  # mean |difference| 2
    digit = torch.tensor([0, 3, 1, 3])
    assert torch.isclose(mode_seeking_loss(fake, z, digit), torch.tensor(1 / (0.25 + 1e-5)))
    assert mode_seeking_loss(fake, z, torch.arange(4)) == 0  # no digit twice: no pair, no cost


def test_mode_seeking_loss_is_lower_for_varied_fakes():
    torch.manual_seed(0)
    z, digit = torch.randn(8, 64), torch.arange(8) % 2
    alike = torch.rand(1, 1, 28, 28).repeat(8, 1, 1, 1) + 0.01 * torch.rand(8, 1, 28, 28)
    assert mode_seeking_loss(torch.rand(8, 1, 28, 28), z, digit) < mode_seeking_loss(alike, z, digit)


def test_penalty_and_its_gradient_hold_under_bf16_autocast():
    # the release recipe may train under autocast: the penalty's double backward must still be
    # the fp32 one up to bf16 rounding, for both its value and the critic's weight gradients
    torch.manual_seed(0)
    critic = Critic()
    real, fake = torch.rand(8, 1, 28, 28) * 2 - 1, torch.rand(8, 1, 28, 28) * 2 - 1
    digit, alpha = torch.arange(8), torch.rand(8, 1, 1, 1)

    def penalty_and_grad(autocast: bool):
        critic.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            penalty = gradient_penalty(critic, real, fake, digit, alpha)
        penalty.backward()
        return penalty.detach().float(), critic.features[0].weight.grad.clone()

    exact, exact_grad = penalty_and_grad(False)
    mixed, mixed_grad = penalty_and_grad(True)
    assert torch.isclose(mixed, exact, rtol=0.05)
    cosine = F.cosine_similarity(exact_grad.flatten(), mixed_grad.flatten(), dim=0)
    assert cosine > 0.99


class _ScoreAndLogits(nn.Module):
    """A critic whose score is the image's mean and whose class head always reads digit 0."""

    def forward(self, x, digit):
        return x.flatten(1).mean(1)

    def score_and_logits(self, x, digit):
        return self(x, digit), torch.zeros(len(x), NUM_CLASSES)


def test_top_k_generator_loss_counts_only_the_best_scored_fakes():
    fake = torch.tensor([0.0, 3.0, 1.0, 2.0]).view(4, 1, 1, 1)
    digit = torch.zeros(4, dtype=torch.long)
    assert generator_loss(_ScoreAndLogits(), fake, digit).item() == pytest.approx(-1.5)
    assert generator_loss(_ScoreAndLogits(), fake, digit, keep=0.5).item() == pytest.approx(-2.5)  # 3 and 2
    assert generator_loss(_ScoreAndLogits(), fake, digit, keep=0.01).item() == pytest.approx(-3.0)  # at least one


class _ShiftGenerator(nn.Module):
    """G(z, y) = an image whose pixels are z's first value: its features say which latent drew it."""

    def forward(self, z, digit):
        return z[:, :1].view(-1, 1, 1, 1).expand(-1, 1, 2, 2)


class _FeatureCritic(nn.Module):
    """Features (x, 1): their direction tells the pixel value apart."""

    def features(self, x):
        value = x.flatten(1).mean(1, keepdim=True)
        return torch.cat([value, torch.ones_like(value)], dim=1)


def test_nearest_samples_pick_the_sample_nearest_each_real_image():
    candidates = torch.tensor([[[0.0], [2.0], [5.0]], [[-3.0], [0.9], [4.0]]])
    real = torch.tensor([4.5, 1.0]).view(2, 1, 1, 1).expand(-1, 1, 2, 2)
    picked = nearest_samples(_ShiftGenerator(), _FeatureCritic(), real, torch.zeros(2, dtype=torch.long), candidates)
    assert picked[:, 0, 0, 0].tolist() == pytest.approx([5.0, 0.9])


def test_coverage_loss_is_zero_on_a_real_image_the_generator_draws_and_pulls_towards_it():
    real = torch.full((1, 1, 2, 2), 2.0)
    exact = coverage_loss(_ShiftGenerator(), _FeatureCritic(), real, torch.zeros(1, dtype=torch.long),
                          torch.tensor([[[2.0], [7.0]]]))
    assert exact.item() == pytest.approx(0.0, abs=1e-7)
    generator = Generator(GeneratorConfig(channels=8, latent_dim=4, embed_dim=4))
    critic = Critic()
    real = torch.rand(4, 1, 28, 28) * 2 - 1
    digit = torch.tensor([1, 2, 3, 4])
    loss = coverage_loss(generator, critic, real, digit, torch.randn(4, 5, 4))
    loss.backward()
    assert loss.item() > 0 and generator.project.weight.grad.abs().sum() > 0


def test_top_k_gradients_reach_only_the_selected_fakes():
    fake = torch.tensor([0.0, 3.0, 1.0, 2.0]).view(4, 1, 1, 1).requires_grad_(True)
    generator_loss(_ScoreAndLogits(), fake, torch.zeros(4, dtype=torch.long), keep=0.5).backward()
    # the loss is -(score_1 + score_3) / 2 and a score is the pixel itself: -1/2 for the kept fakes only
    assert fake.grad.flatten().tolist() == pytest.approx([0.0, -0.5, 0.0, -0.5])


class _DigitGenerator(nn.Module):
    """G(z, y) = an image whose pixels are z's first value plus 10 y, recording the digits it drew:
    the same latent draws a different image for each digit, as the real generator's does."""

    def __init__(self):
        super().__init__()
        self.digits: list[list[int]] = []

    def forward(self, z, digit):
        self.digits.append(digit.tolist())
        return (z[:, :1] + 10 * digit[:, None].float()).view(-1, 1, 1, 1).expand(-1, 1, 2, 2)


def test_coverage_candidates_are_drawn_as_their_real_images_digits():
    # each real digit has one candidate that draws it exactly when rendered as that digit;
    # rendered as the other row's digit, another candidate lies nearest
    candidates = torch.tensor([[[5.0], [0.5], [2.0]], [[0.0], [2.0], [9.0]]])
    digit = torch.tensor([3, 7])
    real = torch.tensor([30.5, 72.0]).view(2, 1, 1, 1).expand(-1, 1, 2, 2)
    generator = _DigitGenerator()
    picked = nearest_samples(generator, _FeatureCritic(), real, digit, candidates)
    assert generator.digits == [[3, 3, 3, 7, 7, 7]]
    assert picked[:, 0, 0, 0].tolist() == pytest.approx([30.5, 72.0])
    generator = _DigitGenerator()
    loss = coverage_loss(generator, _FeatureCritic(), real, digit, candidates)
    assert generator.digits == [[3, 3, 3, 7, 7, 7]]  # one render: the pulled samples are the search's own
    assert loss.item() == pytest.approx(0.0, abs=1e-7)


def test_coverage_pulls_the_very_sample_its_search_chose_and_leaves_the_statistics_alone():
    # train-mode BatchNorm makes a sample depend on its batch: the real images here are three
    # candidates as the search's batch draws them, so the pull is zero only if that render is pulled
    torch.manual_seed(0)
    generator = Generator(GeneratorConfig(channels=8, latent_dim=4, embed_dim=4)).train()
    candidates, digit = torch.randn(3, 4, 4), torch.tensor([1, 2, 3])
    with torch.no_grad(), frozen_statistics(generator):
        drawn = generator(candidates.flatten(0, 1), digit.repeat_interleave(4)).view(3, 4, 1, 28, 28)
    real = drawn[torch.arange(3), torch.tensor([2, 0, 3])]
    before = {name: value.clone() for name, value in generator.state_dict().items()}
    loss = coverage_loss(generator, Critic(), real, digit, candidates)
    assert loss.item() == pytest.approx(0.0, abs=1e-9)
    loss.backward()  # the pulled renders carry the generator's gradients
    assert generator.project.weight.grad is not None
    after = generator.state_dict()
    assert [name for name in before if not torch.equal(before[name], after[name])] == []


def test_frozen_statistics_normalise_by_the_batch_and_restore_nothing_else():
    torch.manual_seed(0)
    norm = nn.BatchNorm1d(3, momentum=None).train()
    x = torch.randn(8, 3) * 5 + 2
    with frozen_statistics(norm):
        y = norm(x)
    assert torch.allclose(y.mean(0), torch.zeros(3), atol=1e-5)  # batch statistics, as in training
    assert norm.momentum is None and norm.num_batches_tracked.item() == 0
    assert torch.equal(norm.running_mean, torch.zeros(3)) and torch.equal(norm.running_var, torch.ones(3))


def test_minibatch_spread_reads_each_group_of_consecutive_samples_alone():
    h = torch.tensor([[1.0, 1.0], [1.0, 1.0], [0.0, 2.0], [2.0, 0.0]])
    assert group_spread(h, 2).flatten().tolist() == pytest.approx([0.0, 0.0, 1.0, 1.0], abs=1e-3)
    with pytest.raises(ValueError, match="groups of 2"):
        group_spread(h[:3], 2)


def test_a_critic_with_minibatch_spread_scores_a_sample_by_its_group_only():
    torch.manual_seed(0)
    critic = Critic(CriticConfig(channels=8, minibatch_std=2))
    x, digit = torch.rand(4, 1, 28, 28), torch.tensor([1, 2, 3, 4])
    scores = critic(x, digit)
    other = x.clone()
    other[3] = 1 - other[3]  # the second group changes
    changed = critic(other, digit)
    assert torch.equal(scores[:2], changed[:2]) and not torch.allclose(scores[2], changed[2])
    same = x.clone()
    same[1] = same[0]  # no spread in the first group: a score that reads the spread moves
    assert not torch.allclose(critic(same, digit)[0], scores[0])
    assert Critic(CriticConfig(channels=8)).linear.in_features == 8 * 4 * 16  # off: the old critic


def test_pair_penalty_is_r1_plus_r2_by_hand():
    # D = sum x^2: gradient 2x, squared norm 4 sum x^2: 8 at a real (1, 1) and 2 at a fake (0.5, 0.5)
    real, fake = torch.ones(3, 1, 1, 2), torch.full((3, 1, 1, 2), 0.5)
    assert pair_penalty(SquareCritic(), real, fake, torch.zeros(3, dtype=torch.long)).item() == pytest.approx(10.0)


def test_the_pairing_objective_judges_each_fake_against_its_own_real_digit():
    # scores are the pixel means: reals 1 and 3, fakes 2 and 0
    real, fake = torch.tensor([1.0, 3.0]).view(2, 1, 1, 1), torch.tensor([2.0, 0.0]).view(2, 1, 1, 1)
    digit, critic = torch.zeros(2, dtype=torch.long), _ScoreAndLogits()
    paired = (F.softplus(torch.tensor(2.0 - 1.0)) + F.softplus(torch.tensor(0.0 - 3.0))) / 2
    out = critic_step(critic, real, fake, digit, None, 1.0, objective="rpgan")
    assert out.loss.item() == pytest.approx(paired.item())
    swapped = critic_step(critic, real, fake.flip(0), digit, None, 1.0, objective="rpgan")
    assert swapped.loss.item() != pytest.approx(out.loss.item())  # the pairs, not the means, count
    assert critic_step(critic, real, fake.flip(0), digit, None, 1.0).loss.item() == pytest.approx(-1.0)
    fake.requires_grad_(True)
    loss = generator_loss(critic, fake, digit, real=real)
    assert loss.item() == pytest.approx(((F.softplus(torch.tensor(1.0 - 2.0)) + F.softplus(torch.tensor(3.0))) / 2).item())
    loss.backward()
    assert (fake.grad < 0).all()  # every fake is pushed up, the lower-scored one harder
    assert fake.grad[1].abs() > fake.grad[0].abs()


def test_the_mixture_term_asks_the_class_head_which_component_drew_each_fake():
    # the head's logits: 10 digits, then 2 components; fake 0 reads as component 1, fake 1 as 0
    digit, component = torch.zeros(2, dtype=torch.long), torch.tensor([1, 1])
    fake = torch.zeros(2, 1, 1, 1, requires_grad=True)

    class Head(nn.Module):
        def score_and_logits(self, x, digit):
            logits = torch.zeros(len(x), NUM_CLASSES + 2)
            logits[:, NUM_CLASSES] = x.flatten(1).sum(1)  # component 0's logit grows with the ink
            return x.flatten(1).sum(1), logits

        def forward(self, x, digit):
            return x.flatten(1).sum(1)

    plain = generator_loss(Head(), fake, digit)
    mixed = generator_loss(Head(), fake, digit, component=component, mixture_weight=0.5)
    assert mixed.item() == pytest.approx(plain.item() + 0.5 * math.log(2))  # both components equally likely
    mixed.backward()
    # -score pushes the ink up (-1 each, halved by the mean); the term pulls it back, away from
    # component 0's reading, by 0.5 x sigmoid(0) = 0.25
    assert fake.grad.flatten().tolist() == pytest.approx([(-1 + 0.25) / 2] * 2)
    real = torch.zeros(2, 1, 1, 1)
    step = critic_step(Head(), real, fake.detach(), digit, None, 1.0, component=component, mixture_weight=0.5)
    alone = critic_step(Head(), real, fake.detach(), digit, None, 1.0)
    assert step.loss.item() == pytest.approx(alone.loss.item() + 0.5 * math.log(2))


def test_a_mixture_critic_reads_digits_and_components_and_a_plain_one_only_digits():
    assert Critic(CriticConfig(channels=8), components=3).classify.out_features == NUM_CLASSES + 3
    assert Critic(CriticConfig(channels=8)).classify.out_features == NUM_CLASSES
