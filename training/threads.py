"""torch's intra-op thread count, set for one piece of work and then given back."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional

import torch


@contextmanager
def torch_threads(threads: Optional[int]) -> Iterator[None]:
    """Run the block on ``threads`` threads (None: torch's current count), then restore the
    caller's count, on error too: the setting is process-wide and callers (tests, notebooks,
    evaluation) go on running after us."""
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
