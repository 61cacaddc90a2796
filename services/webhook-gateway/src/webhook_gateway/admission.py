"""How many batch uploads one gateway worker works on at once, and how many may wait.

An upload's CPU work (parsing and checking up to 500 readings) runs on the worker's one
event loop, and its parsed readings stay in memory until Kafka acknowledges them. Without a
bound, a reconnect storm (hundreds of batteries flushing their SD cards at once) had every
upload parsed and waiting for its acknowledgement, which came late behind the others'
parsing: one worker at 512 connections held 565-753 MB, took half the readings/s it takes
at 8, and answered 503 only after 4 s of work (the produce timeout). Here at most ``slots``
uploads are worked on at once and at most ``queue`` more wait for a slot, in arrival order,
each for at most ``wait_s``; one beyond both, or whose wait runs out, is refused (``Busy``)
before any of its work, and none of its readings is stored. The wait's bound keeps answers
inside a battery's patience when slots are slow to free, as while Kafka is away and every
upload in a slot waits out the produce timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Busy(Exception):
    """No slot for this upload: every slot taken and the queue full, or its wait ran out."""


class Admission:
    def __init__(self, slots: int, queue: int, wait_s: float) -> None:
        if slots < 1 or queue < 0 or wait_s <= 0:
            raise ValueError("an admission needs a slot, a queue of zero or more and a wait")
        self.slots = slots
        self.queue = queue
        self.wait_s = wait_s
        self._free = asyncio.Semaphore(slots)
        self._waiting = 0
        self._working = 0

    @property
    def working(self) -> int:
        return self._working

    @property
    def waiting(self) -> int:
        return self._waiting

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a slot for the block, waiting in line for one if need be; ``Busy`` at once
        when the slots and the queue are full, or when no slot came within ``wait_s``.

        Counted as slots plus queue, not "semaphore locked and queue full": a released slot
        goes to the first waiter, which counts as waiting until it resumes, and an upload
        arriving in between would otherwise see a full queue that has room."""
        if self._working + self._waiting >= self.slots + self.queue:
            raise Busy(
                f"{self._working} uploads are being stored and {self._waiting} wait their turn"
            )
        self._waiting += 1
        try:
            async with asyncio.timeout(self.wait_s):
                await self._free.acquire()
        except TimeoutError:
            raise Busy(f"no upload slot came free within {self.wait_s:g} s") from None
        finally:
            self._waiting -= 1
        self._working += 1
        try:
            yield
        finally:
            self._working -= 1
            self._free.release()
