"""Creating the topics the system needs (idempotent). Used by `make up`, the tests and the
Helm hook job; where topics are managed elsewhere (e.g. Strimzi) this step is skipped."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from batteryhub_contracts.topics import topic_specs
from batteryhub_platform.kafka import KafkaConnection

log = logging.getLogger(__name__)


async def ensure_topics(
    connection: KafkaConnection, prefix: str = "", partitions: int = 6, replication: int = 1
) -> list[str]:
    """Create every missing topic; return the names that were created."""
    admin = AIOKafkaAdminClient(**connection.client_kwargs())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = []
        for spec in topic_specs(partitions):
            name = f"{prefix}{spec.name}"
            if name in existing:
                continue
            config = {"min.insync.replicas": str(min(2, replication))}
            if spec.compacted:
                config["cleanup.policy"] = "compact"
            wanted.append(NewTopic(name, spec.partitions, replication, topic_configs=config))
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                log.info("topics were created concurrently")
        created = [t.name for t in wanted]
        await _wait_for_metadata(admin, created)
        return created
    finally:
        await admin.close()


async def _wait_for_metadata(admin: AIOKafkaAdminClient, names: list[str]) -> None:
    for _ in range(100):
        if set(names) <= set(await admin.list_topics()):
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"topics {names} did not appear in the cluster metadata")
