"""Kafka holds the readings compressed, and the consumers read records of every codec."""

from __future__ import annotations

import re
import subprocess
import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord

from batteryhub_contracts.events import ReadingFields, ReadingReceived, encode
from batteryhub_contracts.topics import READINGS_DECODED, READINGS_RAW, battery_key
from deploy.local.run import ROOT
from tests.hub import Hub, eventually, read_topic

pytestmark = pytest.mark.e2e

KAFKA_DATA = ROOT / ".run" / "kafka" / "data"
KAFKA_LIBS = ROOT / ".cache" / "kafka-libs"
JAVA = "/usr/lib/jvm/java-17-openjdk-amd64/bin/java"
BATCH = re.compile(r"baseOffset: (\d+) lastOffset: (\d+) .* size: (\d+) .* compresscodec: (\w+)")


def _stored_batch(record: ConsumerRecord[bytes, bytes]) -> tuple[str, int]:
    """The codec and size in bytes of the record batch holding ``record`` in the broker's
    log, as Kafka's own DumpLogSegments tool reads it (what an operator would run)."""
    directory = KAFKA_DATA / f"{record.topic}-{record.partition}"
    if not directory.is_dir():
        pytest.fail(f"no log directory {directory}: run the tests against `make infra`'s Kafka")
    segments = ",".join(str(p) for p in sorted(directory.glob("*.log")))
    dumped = subprocess.run(
        [
            JAVA,
            "-cp",
            f"{KAFKA_LIBS}/*",
            "org.apache.kafka.tools.DumpLogSegments",
            "--files",
            segments,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for first, last, size, codec in BATCH.findall(dumped):
        if int(first) <= record.offset <= int(last):
            return codec, int(size)
    raise AssertionError(f"offset {record.offset} not in {directory}:\n{dumped[-2000:]}")


def _of_battery(
    records: list[ConsumerRecord[bytes, bytes]], battery_id: int
) -> list[ConsumerRecord[bytes, bytes]]:
    return [r for r in records if r.key == battery_key(battery_id)]


async def test_the_readings_are_stored_compressed_in_kafka(hub: Hub) -> None:
    """A batch upload's raw and decoded records are zstd batches (the default), each in well
    under a quarter of the bytes of its JSON."""
    battery_id, token = await hub.new_battery()
    readings = [
        {"id": battery_id, "soc": 50 + k % 40, "v": 12.8, "d": "2026-11-01", "tm": f"10:{k:02d}:00"}
        for k in range(60)
    ]
    answer = await hub.gateway.post(
        "/webhook/live-data/batch", json=readings, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 60
    await hub.settled()
    for topic in (READINGS_RAW, READINGS_DECODED):
        (record,) = _of_battery(await read_topic(hub, topic), battery_id)
        codec, size = _stored_batch(record)
        assert codec == "zstd", topic
        assert size < len(record.value) / 4, (topic, size, len(record.value))


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
async def test_a_reading_a_foreign_producer_compressed_is_decoded(hub: Hub, codec: str) -> None:
    """Whatever codec another producer on the raw topic chose, the decoder reads its record
    and the reading's fault is notified."""
    battery_id, _ = await hub.new_battery()
    now = datetime.now(UTC)
    event = ReadingReceived(
        event_id=uuid.uuid4(),
        occurred_at=now,
        reading=ReadingFields(
            battery_id=battery_id,
            hub_id=1,
            battery_name=f"B{battery_id}",
            measured_at=now,
            time_source="received",
            received_at=now,
            metrics={"soc": 41.0},
            err="U",
        ),
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=hub.system.kafka, acks="all", compression_type=codec
    )
    await producer.start()
    try:
        await producer.send_and_wait(
            hub.system.topic_prefix + READINGS_RAW, encode(event), key=battery_key(battery_id)
        )
    finally:
        await producer.stop()

    async def notified() -> None:
        found = await hub.notifications_of(battery_id)
        assert [n["notification_type"] for n in found] == ["battery_error_U"], found

    await eventually(notified, timeout_s=30)
