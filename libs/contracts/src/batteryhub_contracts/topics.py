"""Topic names and their shapes. Every topic is keyed by battery id (as decimal text)."""

from __future__ import annotations

from dataclasses import dataclass

READINGS_RAW = "readings.raw"
READINGS_DECODED = "readings.decoded"
NOTIFICATIONS = "notifications"
REGISTRY = "registry"
DEAD_LETTERS = "dead-letters"

# Header names carried on every message.
HEADER_CORRELATION_ID = "correlation-id"
HEADER_EVENT_TYPE = "event-type"
# Dead-letter headers: where the poison message came from and why it was refused.
HEADER_DLQ_TOPIC = "dlq-original-topic"
HEADER_DLQ_PARTITION = "dlq-original-partition"
HEADER_DLQ_OFFSET = "dlq-original-offset"
HEADER_DLQ_REASON = "dlq-reason"
HEADER_DLQ_CONSUMER = "dlq-consumer"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    compacted: bool = False


def topic_specs(partitions: int = 6) -> tuple[TopicSpec, ...]:
    """All topics the system uses. Partitions bound the number of consumer instances."""
    return (
        TopicSpec(READINGS_RAW, partitions),
        TopicSpec(READINGS_DECODED, partitions),
        TopicSpec(NOTIFICATIONS, partitions),
        TopicSpec(REGISTRY, partitions, compacted=True),
        TopicSpec(DEAD_LETTERS, partitions),
    )


def full_name(name: str, prefix: str = "") -> str:
    """The topic's name on the cluster: ``prefix`` namespaces one deployment (or test run)."""
    return f"{prefix}{name}"


def battery_key(battery_id: int) -> bytes:
    return str(battery_id).encode()
