"""How many batch uploads one gateway worker works on at once, and how many may wait.

An upload's CPU work (parsing and checking up to 500 readings) runs on the worker's one
event loop, and its parsed readings stay in memory until Kafka acknowledges them. Without a
bound, a reconnect storm (hundreds of batteries flushing their SD cards at once) had every
upload parsed and waiting for its acknowledgement, which came late behind the others'
parsing: one worker at 512 connections held 753 MB, took half the readings/s it takes at 8,
and answered 503 only after 4 s of work (the produce timeout). Here at most ``slots`` uploads
are worked on at once and ``queue`` more wait for a slot, in arrival order; one beyond both is
refused at once (``Busy``), before any of its work, and its readings are not stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Busy(Exception):
    """Every slot is taken and the queue is full: the upload was not looked at."""


class Admission:
    def __init__(self, slots: int, queue: int) -> None:
        if slots < 1 or queue < 0:
            raise ValueError("an admission needs at least one slot and a queue of zero or more")
        self.slots = slots
        self.queue = queue
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
        when every slot is taken and ``queue`` uploads already wait."""
        if self._free.locked() and self._waiting >= self.queue:
            raise Busy(
                f"{self._working} uploads are being stored and {self._waiting} wait their turn"
            )
        self._waiting += 1
        try:
            await self._free.acquire()
        finally:
            self._waiting -= 1
        self._working += 1
        try:
            yield
        finally:
            self._working -= 1
            self._free.release()
