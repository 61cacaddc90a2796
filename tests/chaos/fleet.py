"""A fleet of batteries flushing buffered readings through the batch endpoint at a steady
rate, behaving as the firmware does: a batch answered 503 + Retry-After is sent again,
unchanged, after the advertised wait, until it is stored. What the devices were told is kept
in a ``Traffic`` record for the checker."""

from __future__ import annotations

import asyncio
import itertools
import random
import ssl
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from batteryhub_contracts.error_codes import decode_error_string
from deploy.local.simulator import reading
from tests.hub import Hub, new_hub_id

SLOW_REQUEST_S = 10.0
"""A device gives up on an answer slower than this (the issue's "no request over 10 s")."""


@dataclass(frozen=True)
class Battery:
    battery_id: int
    hub_id: int
    token: str


@dataclass
class Traffic:
    """What the batteries sent and what the gateway told them."""

    planned: int
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    slowest_s: float = 0.0
    unexpected: list[str] = field(default_factory=list)
    """Answers a device must never get: anything but 200, or 503 with a Retry-After."""
    accepted: dict[int, set[int]] = field(default_factory=dict)
    """battery id -> the ``data_id`` of every reading answered "accepted"."""
    codes: dict[int, set[str]] = field(default_factory=dict)
    """battery id -> fault codes carried by its accepted readings."""
    acked: int = 0
    refused_at: list[float] = field(default_factory=list)
    """Monotonic times of 503 answers (outage windows)."""
    stored_at: list[float] = field(default_factory=list)
    """Monotonic times of 200 answers."""

    @property
    def progress(self) -> float:
        return self.acked / self.planned if self.planned else 1.0

    def summary(self) -> dict[str, Any]:
        return {
            "readings_planned": self.planned,
            "readings_acknowledged": self.acked,
            "requests": self.requests,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "slowest_request_s": round(self.slowest_s, 3),
            "unexpected_answers": len(self.unexpected),
        }


@dataclass
class Fleet:
    hub: Hub
    batteries: list[Battery]
    readings_per_battery: int
    batch_size: int = 50
    seed: int = 20261127

    @classmethod
    async def register(
        cls, hub: Hub, batteries: int, readings_per_battery: int, batch_size: int = 50
    ) -> Fleet:
        hubs = [new_hub_id() for _ in range(max(1, batteries // 25))]
        registered = []
        for n in range(batteries):
            hub_id = hubs[n % len(hubs)]
            battery_id, token = await hub.new_battery(hub_id=hub_id)
            registered.append(Battery(battery_id, hub_id, token))
        await hub.settled()  # the projector knows every battery before readings arrive
        return cls(hub, registered, readings_per_battery, batch_size)

    @property
    def total(self) -> int:
        return len(self.batteries) * self.readings_per_battery

    def batches(self) -> Iterator[tuple[Battery, list[dict[str, Any]]]]:
        """Round-robin over the batteries, each flushing its SD card ``batch_size`` at a
        time; device times one second apart, a day in the past, so none is clock-skewed."""
        rng = random.Random(self.seed)
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
        for first in range(0, self.readings_per_battery, self.batch_size):
            last = min(first + self.batch_size, self.readings_per_battery)
            for battery in self.batteries:
                yield (
                    battery,
                    [
                        reading(battery.battery_id, n, rng, start + timedelta(seconds=n))
                        for n in range(first, last)
                    ],
                )

    def traffic(self) -> Traffic:
        traffic = Traffic(planned=self.total)
        for battery in self.batteries:
            traffic.accepted[battery.battery_id] = set()
            traffic.codes[battery.battery_id] = set()
        return traffic

    def start(
        self, traffic: Traffic, readings_per_s: float, concurrency: int = 8
    ) -> asyncio.Task[None]:
        """The stream as a background task (see ``stream``)."""
        return asyncio.create_task(self.stream(traffic, readings_per_s, concurrency))

    async def stream(self, traffic: Traffic, readings_per_s: float, concurrency: int = 8) -> None:
        """Send every reading at ``readings_per_s`` (batches fall due on a fixed schedule;
        after an outage the backlog goes as fast as ``concurrency`` allows)."""
        plan = self.batches()
        sent = itertools.count()
        started = time.monotonic()
        # Each device is its own HTTP client with its own connection, as in the field: one
        # shared pool of hundreds of connections would add its own queueing to every request.
        # (One TLS context for all: making one per client blocks the loop ~40 ms each.)
        tls = ssl.create_default_context()

        async def device() -> None:
            async with httpx.AsyncClient(
                base_url=self.hub.system.url("webhook-gateway"),
                timeout=SLOW_REQUEST_S * 3,
                verify=tls,
            ) as client:
                for battery, items in plan:
                    due = started + next(sent) * self.batch_size / readings_per_s
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                    await self._deliver(client, battery, items, traffic)

        await asyncio.gather(*(device() for _ in range(concurrency)))

    async def _deliver(
        self,
        client: httpx.AsyncClient,
        battery: Battery,
        items: list[dict[str, Any]],
        traffic: Traffic,
    ) -> None:
        headers = {"Authorization": f"Bearer {battery.token}"}
        while True:
            began = time.monotonic()
            try:
                answer = await client.post("/webhook/live-data/batch", json=items, headers=headers)
            except httpx.TransportError as exc:
                traffic.unexpected.append(f"no answer: {exc!r}")
                await asyncio.sleep(1)
                continue
            took = time.monotonic() - began
            traffic.requests += 1
            traffic.statuses[answer.status_code] += 1
            traffic.slowest_s = max(traffic.slowest_s, took)
            if answer.status_code == 200:
                body = answer.json()
                for item, result in zip(items, body["results"], strict=True):
                    if result["status"] != "accepted":
                        traffic.unexpected.append(f"rejected: {result}")
                        continue
                    traffic.accepted[battery.battery_id].add(result["data_id"])
                    traffic.codes[battery.battery_id].update(
                        e.code for e in decode_error_string(str(item["err"]))
                    )
                    traffic.acked += 1
                traffic.stored_at.append(time.monotonic())
                return
            if answer.status_code == 503 and answer.headers.get("Retry-After", "").isdigit():
                traffic.refused_at.append(time.monotonic())
                await asyncio.sleep(int(answer.headers["Retry-After"]))
                continue
            traffic.unexpected.append(f"{answer.status_code}: {answer.text[:300]}")
            if answer.status_code < 500:
                return  # the firmware drops what the server refuses for good
            await asyncio.sleep(1)


async def until(traffic: Traffic, fraction: float, stream: asyncio.Task[None]) -> None:
    """Wait until ``fraction`` of the planned readings were acknowledged (or the stream ended)."""
    while traffic.progress < fraction and not stream.done():
        await asyncio.sleep(0.02)
