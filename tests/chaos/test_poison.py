"""1 % poison mixed into a stream: undecodable bytes and schema-invalid events on every topic
a consumer reads. Every valid reading is processed; every bad record reaches the dead-letter
topic once per consumer group that read it, with its origin and a reason; lag returns to 0."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from batteryhub_contracts.topics import (
    DEAD_LETTERS,
    HEADER_DLQ_CONSUMER,
    HEADER_DLQ_OFFSET,
    HEADER_DLQ_PARTITION,
    HEADER_DLQ_REASON,
    HEADER_DLQ_TOPIC,
    NOTIFICATIONS,
    READINGS_DECODED,
    READINGS_RAW,
    battery_key,
)
from tests.chaos.checker import check
from tests.chaos.conftest import Scale
from tests.chaos.fleet import Fleet, Traffic
from tests.chaos.test_consumer_faults import drain
from tests.hub import GROUP_TOPICS, Hub, read_topic

pytestmark = pytest.mark.e2e

POISON: list[bytes] = [
    b"\xff\xfe not even UTF-8 \x00",
    b"{truncated json",
    b"[1, 2, 3]",
    json.dumps({"type": "reading_received", "schema_version": 1}).encode(),
    json.dumps({"type": "reading_decoded", "schema_version": 1, "reading_id": "nope"}).encode(),
    json.dumps({"type": "notification_raised", "schema_version": 99}).encode(),
    json.dumps({"type": "no_such_event", "schema_version": 1, "event_id": 7}).encode(),
]
Origin = tuple[str, int, int]  # topic, partition, offset


async def inject(
    hub: Hub, fleet: Fleet, traffic: Traffic, stream: asyncio.Task[None], share: float
) -> dict[Origin, str]:
    """Produce one poison record per ``1/share`` acknowledged readings while the stream runs,
    round-robin over the consumed topics and the fleet's keys. Returns where each landed."""
    prefix = hub.system.topic_prefix
    topics = [prefix + t for t in (READINGS_RAW, READINGS_DECODED, NOTIFICATIONS)]
    landed: dict[Origin, str] = {}
    producer = AIOKafkaProducer(bootstrap_servers=hub.system.kafka, acks="all")
    await producer.start()
    try:
        n = 0
        while n < traffic.planned * share:
            if n < traffic.acked * share or stream.done():
                topic = topics[n % len(topics)]
                battery = fleet.batteries[n % len(fleet.batteries)]
                sent = await producer.send_and_wait(
                    topic, POISON[n % len(POISON)], key=battery_key(battery.battery_id)
                )
                landed[(sent.topic, sent.partition, sent.offset)] = topic
                n += 1
            else:
                await asyncio.sleep(0.01)
    finally:
        await producer.stop()
    return landed


async def dead_letters(hub: Hub) -> dict[Origin, list[tuple[str, str]]]:
    """Every dead letter of this system: origin -> [(consumer group, reason)]."""
    found: dict[Origin, list[tuple[str, str]]] = defaultdict(list)
    for r in await read_topic(hub, DEAD_LETTERS):
        h = {k: v.decode() for k, v in r.headers}
        origin = (h[HEADER_DLQ_TOPIC], int(h[HEADER_DLQ_PARTITION]), int(h[HEADER_DLQ_OFFSET]))
        found[origin].append((h[HEADER_DLQ_CONSUMER], h[HEADER_DLQ_REASON]))
    return found


async def test_one_percent_poison_is_dead_lettered_and_every_valid_reading_processed(
    hub: Hub, scale: Scale, record: dict[str, Any]
) -> None:
    batteries, per_battery = scale.fleet()
    fleet = await Fleet.register(hub, batteries, per_battery)
    traffic = fleet.traffic()
    stream = fleet.start(traffic, scale.readings_per_s)
    landed = await inject(hub, fleet, traffic, stream, share=0.01)
    await drain(hub, record, stream)
    verdict = await check(hub.system.database_url(driver="postgresql"), traffic)
    letters = await dead_letters(hub)

    prefix = hub.system.topic_prefix
    readers = {
        prefix + t: {prefix + g for g, topics in GROUP_TOPICS.items() if t in topics}
        for t in (READINGS_RAW, READINGS_DECODED, NOTIFICATIONS)
    }
    missing = []
    for origin, topic in landed.items():
        groups = [g for g, _ in letters.get(origin, [])]
        if sorted(groups) != sorted(readers[topic]):
            missing.append(f"{origin}: dead-lettered by {groups}, read by {sorted(readers[topic])}")
    reasons = [reason for origin in landed for _, reason in letters.get(origin, [])]
    record.update(
        poison_records=len(landed),
        poison_by_topic={t: sum(1 for v in landed.values() if v == t) for t in readers},
        dead_letters_for_them=len(reasons),
        example_reasons=sorted(set(reasons))[:5],
        traffic=traffic.summary(),
        verdict=verdict.summary(),
    )
    assert len(landed) >= scale.readings // 100
    assert not missing, missing[:5]
    assert all(reasons), "a dead letter without a reason"
    assert not traffic.unexpected, traffic.unexpected[:5]
    assert verdict.passed(), str(verdict)
