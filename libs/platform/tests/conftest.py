"""The real Kafka that ``make test`` starts, for the platform's integration tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError

BOOTSTRAP = os.environ.get(
    "BATTERYHUB_TEST_KAFKA", f"127.0.0.1:{os.environ.get('KAFKA_PORT', '9092')}"
)


@pytest.fixture
def bootstrap() -> str:
    return BOOTSTRAP


@pytest.fixture
async def topic() -> AsyncIterator[str]:
    """A fresh topic of two partitions, and ``<topic>.dlq`` for its dead letters."""
    name = f"platform-test-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    try:
        await admin.start()
    except KafkaConnectionError:
        pytest.fail(f"Kafka at {BOOTSTRAP} not reachable: start it with `make infra`")
    try:
        await admin.create_topics([NewTopic(name, 2, 1), NewTopic(name + ".dlq", 1, 1)])
        yield name
        await admin.delete_topics([name, name + ".dlq"])
    finally:
        await admin.close()
