"""Consumers crash and come and go mid-stream; nothing acknowledged is lost or doubled."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest

from tests.chaos.checker import check
from tests.chaos.conftest import Scale
from tests.chaos.fleet import Fleet, until
from tests.hub import Hub, free_port

pytestmark = pytest.mark.e2e

CONSUMERS = ("error-decoder", "notifier", "query-projector")


async def drain(hub: Hub, figures: dict[str, Any], stream: asyncio.Task[None]) -> None:
    """Wait for the stream, then for every group to catch up; record how long that took."""
    await stream
    began = time.monotonic()
    await hub.settled(timeout_s=300)
    figures["backlog_drained_s"] = round(time.monotonic() - began, 1)


async def test_killing_every_consumer_at_20_40_60_percent_loses_and_doubles_nothing(
    hub: Hub, scale: Scale, record: dict[str, Any]
) -> None:
    batteries, per_battery = scale.fleet()
    fleet = await Fleet.register(hub, batteries, per_battery)
    traffic = fleet.traffic()
    stream = fleet.start(traffic, scale.readings_per_s)
    kills = []
    for fraction in (0.2, 0.4, 0.6):
        await until(traffic, fraction, stream)
        for service in CONSUMERS:
            hub.system.kill(service)
            hub.system.start(service)
            kills.append(f"{service}@{traffic.progress:.0%}")
        await asyncio.to_thread(hub.system.wait_ready, list(CONSUMERS))
    await drain(hub, record, stream)
    verdict = await check(hub.system.database_url(driver="postgresql"), traffic)
    record.update(kills=kills, traffic=traffic.summary(), verdict=verdict.summary())
    assert not traffic.unexpected, traffic.unexpected[:5]
    assert verdict.passed(), str(verdict)
    assert record["backlog_drained_s"] <= 60


async def test_rebalance_churn_with_two_to_three_instances_of_each_consumer(
    hub: Hub, scale: Scale, record: dict[str, Any]
) -> None:
    """Every ``churn_every_s`` one consumer instance is started or SIGKILLed, so each group
    rebalances over and over while readings flow."""
    system = hub.system
    extras = {service: [f"-{n}" for n in (2, 3)] for service in CONSUMERS}
    running = {service: [""] for service in CONSUMERS}
    ports: dict[str, int] = {}

    def start(service: str, instance: str) -> None:
        if instance:
            ports.setdefault(service + instance, free_port())
            system.start(service, instance=instance, port=ports[service + instance])
        else:
            system.start(service)
        running[service].append(instance)

    def kill(service: str, instance: str) -> None:
        system.kill(service + instance)
        running[service].remove(instance)

    for service in CONSUMERS:
        start(service, extras[service][0])
    batteries, per_battery = scale.fleet()
    fleet = await Fleet.register(hub, batteries, per_battery)
    traffic = fleet.traffic()
    stream = fleet.start(traffic, scale.readings_per_s * 0.75)
    changes: list[str] = []
    turn = itertools.cycle(CONSUMERS)
    try:
        while not stream.done():
            await asyncio.sleep(scale.churn_every_s)
            service = next(turn)
            if len(running[service]) >= 3:
                victim = running[service][len(changes) % len(running[service])]
                kill(service, victim)
                changes.append(f"kill {service}{victim or '-1'}@{traffic.progress:.0%}")
            else:
                idle = [i for i in ["", *extras[service]] if i not in running[service]]
                start(service, idle[0])
                changes.append(f"start {service}{idle[0] or '-1'}@{traffic.progress:.0%}")
        await drain(hub, record, stream)
    finally:
        for service in CONSUMERS:
            for instance in list(running[service]):
                if instance:
                    system.stop(service + instance)
            if "" not in running[service]:
                system.start(service)
        await asyncio.to_thread(system.wait_ready, list(CONSUMERS))
    verdict = await check(system.database_url(driver="postgresql"), traffic)
    record.update(changes=changes, traffic=traffic.summary(), verdict=verdict.summary())
    assert len(changes) >= 3, "the stream ended before the group could churn"
    assert not traffic.unexpected, traffic.unexpected[:5]
    assert verdict.passed(), str(verdict)
