"""torch's intra-op thread count, set for one piece of work and then given back."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional

import torch

# The float functions torch hands to MKL's vector math library (VML) where torch is built with MKL
# (ATen/cpu/vml.h); elsewhere they are torch's own kernels, and warming them is harmless.
VECTOR_MATH = ("acos", "asin", "atan", "cos", "erf", "erfc", "erfinv", "exp", "log", "log10", "log2", "sin",
               "sqrt", "tan", "tanh", "trunc")


def settle_vector_math() -> None:
    """Call each VML function once on this thread alone, before any runs on several threads.

    Why: the first call of a VML function that two threads make at the same moment can run one
    thread's share through another code path (docs/training.md, "Repeatable"). The generator's
    first tanh then gave, in 3 to 14 processes in a hundred, values up to 870 units in the last place
    away on the second thread's half of the batch, and the run's weights differed from then on.
    Once the library has run on one thread, every later call takes the same path (one exp was
    enough); each function is called in case one sets itself up alone. One element stays below
    torch's grain size, so it runs on the calling thread.
    """
    for dtype in (torch.float32, torch.float64):
        one = torch.full((1,), 0.5, dtype=dtype)
        for name in VECTOR_MATH:
            getattr(torch, name)(one)


@contextmanager
def torch_threads(threads: Optional[int]) -> Iterator[None]:
    """Run the block on ``threads`` threads (None: torch's current count), then restore the
    caller's count, on error too: the setting is process-wide and callers (tests, notebooks,
    evaluation) go on running after us. The vector math is settled first, so what the block
    computes does not depend on how its threads were scheduled."""
    previous = torch.get_num_threads()
    settle_vector_math()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
