"""The server's inference pool: a fixed number of worker threads behind a bounded waiting line.

Generation and encoding run in these threads, never on the event loop, so one large request
cannot stall the others' reading and writing. The threads share the server's one Generator (its
onnxruntime session is thread-safe and releases the GIL while it runs). A request that finds
every worker busy and the waiting line full is refused at once (Overloaded, which the app turns
into 503 + Retry-After) instead of being queued without bound.
"""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, TypeVar

T = TypeVar("T")


class Overloaded(Exception):
    """Every worker is busy and the waiting line is full; the message says so, with the limits."""


@dataclass(frozen=True)
class Load:
    running: int
    waiting: int


class InferencePool:
    """``workers`` jobs at once, up to ``queue`` more waiting; used from one event loop.

    A slot is held until its job has finished in its thread, not until the awaiting request
    goes away: a client that hangs up does not stop the work it started, so releasing its slot
    early would let more jobs pile up than the limits say.
    """

    def __init__(self, workers: int, queue: int):
        self.workers, self.queue = workers, queue
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mnistgen-serve")
        self._admitted = 0  # running + waiting; only read and changed on the event loop's thread

    @property
    def load(self) -> Load:
        running = min(self._admitted, self.workers)
        return Load(running=running, waiting=self._admitted - running)

    async def run(self, job: Callable[[], T]) -> T:
        if self._admitted >= self.workers + self.queue:
            raise Overloaded(
                f"server busy: {self.workers} requests running and {self.queue} waiting "
                f"(mnistgen serve --workers/--queue); retry shortly"
            )
        loop = asyncio.get_running_loop()
        self._admitted += 1
        future = self._executor.submit(job)
        future.add_done_callback(lambda _: loop.call_soon_threadsafe(self._release))
        return await asyncio.wrap_future(future)

    def _release(self) -> None:
        self._admitted -= 1

    def close(self) -> None:
        """Wait for the jobs already accepted, then stop the threads."""
        self._executor.shutdown(wait=True)
