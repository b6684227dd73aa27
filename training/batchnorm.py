"""BatchNorm statistics: measured as a plain average over chosen batches, or held still."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from torch import nn


@contextmanager
def measuring_statistics(model: nn.Module) -> Iterator[None]:
    """Inside: every BatchNorm starts afresh and averages all batches run through ``model``.

    Why not the usual momentum-0.1 running averages: they weight the last few batches and still
    remember whatever came before, which is wrong both for a short run's statistics and for
    weights that never ran a batch (an EMA generator). Momentum and train/eval mode are
    restored on leaving.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    was_training = model.training
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over all batches
    model.train()
    try:
        yield
    finally:
        model.train(was_training)
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum


@contextmanager
def frozen_statistics(model: nn.Module) -> Iterator[None]:
    """Inside: every BatchNorm still normalises by its batch (as in training) but its running
    statistics and batch count stay as they were.

    For forward passes that only look (a search among candidates): they must not move the
    statistics that every later batch, and the checkpoint, carry. Momentum 0 leaves the running
    averages bit for bit as they were; the batch count is restored by hand.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, None if m.num_batches_tracked is None else m.num_batches_tracked.clone()) for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, (momentum, count) in zip(norms, saved):
            m.momentum = momentum
            if count is not None:
                m.num_batches_tracked.copy_(count)
