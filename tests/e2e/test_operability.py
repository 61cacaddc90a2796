"""What an operator checks: health, readiness, metrics, dead letters, correlation ids."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient

from batteryhub_contracts.topics import DEAD_LETTERS, NOTIFICATIONS, READINGS_RAW
from deploy.local.run import SERVICES
from tests.hub import GROUP_TOPICS, Hub, eventually

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("service", list(SERVICES))
async def test_every_service_is_alive_ready_and_exposes_metrics(hub: Hub, service: str) -> None:
    async with httpx.AsyncClient(base_url=hub.system.url(service), timeout=10) as client:
        assert (await client.get("/health")).json() == {"status": "ok"}
        ready = await client.get("/ready")
        assert ready.status_code == 200, ready.text
        metrics = (await client.get("/metrics")).text
        assert "http_request_duration_seconds_bucket" in metrics
        if service in ("error-decoder", "notifier", "query-projector"):
            assert "consumer_messages_total" in metrics


async def _records(
    hub: Hub,
    topic: str,
    predicate: Callable[[ConsumerRecord[bytes, bytes]], bool],
    timeout_s: float = 15,
) -> list[ConsumerRecord[bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        hub.system.topic_prefix + topic,
        bootstrap_servers=hub.system.kafka,
        auto_offset_reset="earliest",
        group_id=None,
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not found and asyncio.get_running_loop().time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            found.extend(r for records in batches.values() for r in records if predicate(r))
    finally:
        await consumer.stop()
    return found


async def test_poison_on_the_raw_topic_goes_to_dead_letters_and_the_pipeline_carries_on(
    hub: Hub,
) -> None:
    marker = f"poison-{uuid.uuid4()}".encode()
    producer = AIOKafkaProducer(bootstrap_servers=hub.system.kafka, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(hub.system.topic_prefix + READINGS_RAW, marker, key=b"1")
        await producer.send_and_wait(
            hub.system.topic_prefix + READINGS_RAW,
            b'{"type": "reading_received"}',
            key=b"1",
            # A foreign producer's None header, on purpose: it must not stop the consumer.
            headers=[("odd-header", None)],  # type: ignore[list-item]
        )
    finally:
        await producer.stop()
    battery_id, token = await hub.new_battery()
    await hub.send_ok(token, {"id": battery_id, "err": "B"})

    letters = await _records(hub, DEAD_LETTERS, lambda r: r.value == marker)
    headers = dict(letters[0].headers)
    assert headers["dlq-original-topic"] == (hub.system.topic_prefix + READINGS_RAW).encode()
    assert int(headers["dlq-original-offset"]) >= 0
    assert int(headers["dlq-original-partition"]) >= 0
    assert b"undecodable" in headers["dlq-reason"]
    assert headers["dlq-consumer"] == (hub.system.topic_prefix + "error-decoder").encode()

    async def still_flowing() -> None:
        found = await hub.notifications_of(battery_id)
        assert len(found) == 1, found

    await eventually(still_flowing)
    await hub.settled()


async def test_the_correlation_id_of_a_request_travels_to_its_notifications(hub: Hub) -> None:
    battery_id, token = await hub.new_battery()
    correlation = f"trace-{uuid.uuid4().hex[:12]}"
    answer = await hub.gateway.post(
        "/webhook/live-data",
        json={"id": battery_id, "err": "U"},
        headers={"Authorization": f"Bearer {token}", "X-Correlation-ID": correlation},
    )
    assert answer.status_code == 200
    assert answer.headers["x-correlation-id"] == correlation
    raised = await _records(
        hub, NOTIFICATIONS, lambda r: dict(r.headers).get("correlation-id") == correlation.encode()
    )
    assert len(raised) == 1
    assert str(battery_id).encode() == raised[0].key


async def test_the_consumer_groups_are_named_under_the_topic_prefix(hub: Hub) -> None:
    """Deployments sharing a Kafka cluster under prefixes of their own share no consumer group:
    this system's groups are its services' names under its prefix and they committed its
    topics; a group of a bare name (another deployment's, or one without a prefix), where one
    exists on the broker, holds none of them."""
    battery_id, token = await hub.new_battery()
    answer = await hub.gateway.post(
        "/webhook/live-data",
        json={"id": battery_id, "soc": 50, "err": "U"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200
    await hub.settled()
    prefix = hub.system.topic_prefix
    assert prefix, "the tests' systems run under a topic prefix of their own"
    admin = AIOKafkaAdminClient(bootstrap_servers=hub.system.kafka)
    await admin.start()
    try:
        groups = {group for group, _ in await admin.list_consumer_groups()}
        for service, topics in GROUP_TOPICS.items():
            assert prefix + service in groups
            committed = await admin.list_consumer_group_offsets(prefix + service)
            assert {tp.topic for tp in committed} == {prefix + t for t in topics}
            if service in groups:
                bare = await admin.list_consumer_group_offsets(service)
                assert not {tp.topic for tp in bare if tp.topic.startswith(prefix)}
    finally:
        await admin.close()


async def test_every_answer_carries_security_headers(hub: Hub) -> None:
    answer = await hub.query.get("/notifications", headers=await hub.admin_headers())
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert "x-correlation-id" in answer.headers


def _count(metrics: str, line_start: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_the_ingest_routes_are_measured_and_answered_like_every_route(hub: Hub) -> None:
    """The ingest routes are answered by the gateway's plain-ASGI path: the request metrics
    still name their route, and answers and errors carry the edge's headers and format."""
    battery_id, token = await hub.new_battery()
    auth = {"Authorization": f"Bearer {token}"}
    ok = 'http_requests_total{method="POST",route="/webhook/live-data",status="200"}'
    refused = 'http_requests_total{method="POST",route="/webhook/live-data/batch",status="401"}'
    before = (await hub.gateway.get("/metrics")).text
    answer = await hub.gateway.post("/webhook/live-data", json={"id": battery_id}, headers=auth)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "success"
    assert answer.headers["content-type"] == "application/json"
    unauthorized = await hub.gateway.post("/webhook/live-data/batch", json=[{"id": battery_id}])
    assert unauthorized.status_code == 401
    assert unauthorized.json() == {"detail": "invalid or expired credentials"}
    assert unauthorized.headers["www-authenticate"] == "Bearer"
    for reply in (answer, unauthorized):
        assert reply.headers["x-content-type-options"] == "nosniff"
        assert reply.headers["x-correlation-id"]
    after = (await hub.gateway.get("/metrics")).text
    assert _count(after, ok) == _count(before, ok) + 1
    assert _count(after, refused) == _count(before, refused) + 1
    not_allowed = await hub.gateway.get("/webhook/live-data", headers=auth)
    assert not_allowed.status_code == 405
    await hub.settled()
