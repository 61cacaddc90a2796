"""Kafka dies or stops under load: devices only ever hear 200 or 503 + Retry-After, in
bounded time, and every reading acknowledged before, during or after arrives once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from deploy.local.run import rss_mb
from tests.chaos.checker import check
from tests.chaos.conftest import Scale
from tests.chaos.fleet import SLOW_REQUEST_S, Fleet, Traffic, until
from tests.chaos.test_consumer_faults import drain
from tests.hub import Hub
from tests.servers import Servers

pytestmark = [pytest.mark.e2e, pytest.mark.disruptive]


async def first_store_after(traffic: Traffic, moment: float, timeout_s: float = 120) -> float:
    """Seconds from ``moment`` (a restart command) until a device next got a 200."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        later = [t for t in traffic.stored_at if t > moment]
        if later:
            return min(later) - moment
        await asyncio.sleep(0.1)
    raise AssertionError(f"nothing was stored within {timeout_s:g} s of Kafka's return")


async def test_kafka_killed_three_times_during_ingest(
    hub: Hub, servers: Servers, scale: Scale, record: dict[str, Any]
) -> None:
    batteries, per_battery = scale.fleet()
    fleet = await Fleet.register(hub, batteries, per_battery)
    traffic = fleet.traffic()
    # Each bounce takes ~20 s here (a JVM start): the stream lasts long enough for three.
    rate = min(scale.readings_per_s, scale.readings / 60)
    stream = fleet.start(traffic, rate, concurrency=batteries)
    bounces = []
    try:
        for fraction in (0.2, 0.45, 0.7):
            await until(traffic, fraction, stream)
            at = f"{traffic.progress:.0%}"
            killed = time.monotonic()
            await asyncio.to_thread(servers.kill_kafka)
            await asyncio.sleep(2)
            restarting = time.monotonic()
            await asyncio.to_thread(servers.start_kafka)
            back = time.monotonic()
            bounces.append(
                {
                    "at": at,
                    "down_s": round(back - killed, 1),
                    "first_200_after_restart_s": round(
                        await first_store_after(traffic, restarting), 1
                    ),
                }
            )
    finally:
        await asyncio.to_thread(servers.start_kafka)
    await drain(hub, record, stream)
    verdict = await check(hub.system.database_url(driver="postgresql"), traffic)
    record.update(bounces=bounces, traffic=traffic.summary(), verdict=verdict.summary())
    assert not traffic.unexpected, traffic.unexpected[:5]
    assert traffic.slowest_s < SLOW_REQUEST_S
    assert traffic.statuses[503] > 0, "the outages were never seen by a device"
    assert all(b["first_200_after_restart_s"] <= 60 for b in bounces), bounces
    assert verdict.passed(), str(verdict)


async def test_kafka_stopped_for_a_while_under_steady_load(
    hub: Hub, servers: Servers, scale: Scale, record: dict[str, Any]
) -> None:
    batteries, per_battery = scale.fleet()
    fleet = await Fleet.register(hub, batteries, per_battery)
    gateway = hub.system.pid("webhook-gateway")
    assert gateway is not None
    traffic = fleet.traffic()
    stream = fleet.start(traffic, scale.readings_per_s, concurrency=batteries)
    await until(traffic, 0.3, stream)
    before_mb = rss_mb(gateway)
    peak_mb = before_mb
    await asyncio.to_thread(servers.stop_kafka)
    stopped = time.monotonic()
    refused_before = traffic.statuses[503]
    try:
        while time.monotonic() - stopped < scale.outage_s:
            peak_mb = max(peak_mb, rss_mb(gateway))
            await asyncio.sleep(0.5)
        refused = traffic.statuses[503] - refused_before
        restarting = time.monotonic()
    finally:
        await asyncio.to_thread(servers.start_kafka)
    restarted = time.monotonic()
    # From the restart command, not from its return: the broker takes requests a moment
    # before the start script sees it ready, and a short stream may have sent its last
    # batch in that moment.
    recovered_s = await first_store_after(traffic, restarting)
    await drain(hub, record, stream)
    verdict = await check(hub.system.database_url(driver="postgresql"), traffic)
    stored_while_down = [t for t in traffic.stored_at if stopped < t < restarting]
    record.update(
        outage_s=round(restarting - stopped, 1),
        kafka_restart_s=round(restarted - restarting, 1),
        refused_during_outage=refused,
        gateway_rss_before_mb=round(before_mb, 1),
        gateway_rss_peak_mb=round(peak_mb, 1),
        first_200_after_restart_s=round(recovered_s, 1),
        traffic=traffic.summary(),
        verdict=verdict.summary(),
    )
    assert not stored_while_down, "a reading was acknowledged while Kafka was stopped"
    assert refused > 0, "no device tried during the outage"
    assert not traffic.unexpected, traffic.unexpected[:5]
    assert traffic.slowest_s < SLOW_REQUEST_S
    assert peak_mb - before_mb < 50
    assert recovered_s <= 60
    assert verdict.passed(), str(verdict)
