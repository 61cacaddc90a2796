"""Small Kafka helpers for the benchmark: group lag, topic sizes, Kafka's own perf tool."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from batteryhub_platform.offsets import group_positions

ROOT = Path(__file__).resolve().parents[1]
KAFKA_LIBS = ROOT / ".cache" / "kafka-libs"
JAVA = "/usr/lib/jvm/java-17-openjdk-amd64/bin/java"


async def _partitions(admin: AIOKafkaAdminClient, topics: list[str]) -> list[TopicPartition]:
    described = await admin.describe_topics(topics)
    return [TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]]


async def end_offsets(bootstrap: str, topics: list[str]) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await consumer.start()
    try:
        return dict(await consumer.end_offsets(await _partitions(admin, topics)))
    finally:
        await consumer.stop()
        await admin.close()


async def group_lag(bootstrap: str, group: str, topics: list[str]) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await consumer.start()
    try:
        positions = await group_positions(admin, consumer, group, topics)
        return sum(end - done for done, end in positions.values())
    finally:
        await consumer.stop()
        await admin.close()


async def readings_per_record(bootstrap: str, topic: str) -> float:
    """Readings per record on ``topic`` (single readings count 1, batch records their size)."""
    from batteryhub_contracts.events import READING_RECEIVED, each_reading

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    records = readings = 0
    try:
        while batches := await consumer.getmany(timeout_ms=2000, max_records=5000):
            for batch in batches.values():
                for r in batch:
                    records += 1
                    readings += len(each_reading(READING_RECEIVED.decode(r.value)))
    finally:
        await consumer.stop()
    return readings / records if records else 1.0


def producer_performance(bootstrap: str, topic: str, records: int, record_size: int) -> float:
    """Kafka's own ProducerPerformance (acks=all, idempotent): records per second."""
    output = subprocess.run(
        [
            JAVA,
            "-Xmx512m",
            "-cp",
            f"{KAFKA_LIBS}/*",
            "org.apache.kafka.tools.ProducerPerformance",
            "--topic",
            topic,
            "--num-records",
            str(records),
            "--record-size",
            str(record_size),
            "--throughput",
            "-1",
            "--producer-props",
            f"bootstrap.servers={bootstrap}",
            "acks=all",
            "enable.idempotence=true",
            "linger.ms=5",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.findall(r"([\d.]+) records/sec", output)
    return float(match[-1])
