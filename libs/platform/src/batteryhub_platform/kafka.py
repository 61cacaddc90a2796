"""The one way services produce to Kafka: idempotent, ``acks=all``, bounded waits.

aiokafka has no bounded send buffer of its own, so every wait is bounded here and a
broker that cannot take a message in time surfaces as ``BrokerUnavailable``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownProducerId,
)
from pydantic import BaseModel

from batteryhub_contracts.events import encode
from batteryhub_contracts.topics import HEADER_CORRELATION_ID, HEADER_EVENT_TYPE
from batteryhub_platform.logs import correlation_id

log = logging.getLogger(__name__)


PRODUCER_BATCH_BYTES = 512 * 1024
"""The largest record batch a producer here builds for one partition (several records of a
batch upload travel in one). Consumers fetch at least this much a partition: see
``batteryhub_platform.consumer``."""


class BrokerUnavailable(Exception):
    """Kafka did not acknowledge in the allowed time; the caller should answer 503."""


PRODUCER_STATE_LOST = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    ProducerFenced,
)
"""Errors after which an idempotent producer can never send again (aiokafka stops its sender
for good): the broker lost or rejects this producer id's sequence, e.g. after the broker was
killed while requests were in flight. The publisher replaces the producer; the caller
retries with a new producer id, and every effect is keyed, so a repeat is harmless."""


@dataclass(frozen=True)
class KafkaConnection:
    bootstrap_servers: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None

    def client_kwargs(self) -> dict[str, object]:
        kwargs: dict[str, object] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            kwargs.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_password,
            )
        if self.security_protocol in ("SSL", "SASL_SSL"):
            from aiokafka.helpers import create_ssl_context

            kwargs["ssl_context"] = create_ssl_context()
        return kwargs


def event_headers(event: BaseModel, cid: str | None = None) -> list[tuple[str, bytes]]:
    return _headers(str(getattr(event, "type", "")), cid)


def _headers(event_type: str, cid: str | None) -> list[tuple[str, bytes]]:
    headers = [(HEADER_EVENT_TYPE, event_type.encode())]
    cid = cid or correlation_id.get()
    if cid:
        headers.append((HEADER_CORRELATION_ID, cid.encode()))
    return headers


@dataclass(frozen=True)
class Outgoing:
    topic: str
    key: bytes
    event: BaseModel
    correlation_id: str | None = None


@dataclass(frozen=True)
class RawOutgoing:
    """Bytes that are not one of our events (a dead letter keeps the poison as it came)."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


def encoded_event(
    topic: str, key: bytes, event_type: str, value: bytes, cid: str | None = None
) -> RawOutgoing:
    """An event a hot path encoded itself (the gateway and the decoder build their readings'
    JSON without the models), sent with the same headers as an ``Outgoing`` of that event
    type."""
    return RawOutgoing(topic, key, value, _headers(event_type, cid))


class EventPublisher:
    """Publishes events and returns only once Kafka acknowledged them (or raises)."""

    def __init__(
        self,
        connection: KafkaConnection,
        client_id: str,
        timeout_s: float,
        linger_ms: int = 2,
        compression: str | None = None,
    ) -> None:
        self._connection = connection
        self._compression = compression
        self._client_id = client_id
        self._timeout_s = timeout_s
        self._linger_ms = linger_ms
        self._producer: AIOKafkaProducer | None = None
        self._replacing = asyncio.Lock()

    async def start(self) -> None:
        self._producer = self._new_producer()
        await self._producer.start()

    def _new_producer(self) -> AIOKafkaProducer:
        timeout_ms = int(self._timeout_s * 1000)
        return AIOKafkaProducer(
            client_id=self._client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=self._linger_ms,
            compression_type=self._compression,
            # aiokafka keeps one request in flight per broker: each request must carry a lot.
            max_batch_size=PRODUCER_BATCH_BYTES,
            request_timeout_ms=max(timeout_ms, 1000),
            retry_backoff_ms=100,
            **self._connection.client_kwargs(),
        )

    async def _replace(self, broken: AIOKafkaProducer) -> None:
        """Swap ``broken`` for a fresh producer (once, however many callers saw it fail)."""
        async with self._replacing:
            if self._producer is not broken:
                return
            fresh = self._new_producer()
            try:
                await asyncio.wait_for(fresh.start(), self._timeout_s)
            except Exception as exc:  # the broker may still be away: the next failure retries
                log.warning("producer replacement failed", extra={"error": repr(exc)})
                await _close_quietly(fresh, self._timeout_s)
                return
            self._producer = fresh
            log.warning("producer replaced after its idempotence state was lost")
        await _close_quietly(broken, self._timeout_s)

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()

    async def publish(self, topic: str, key: bytes, event: BaseModel) -> None:
        await self.publish_many([Outgoing(topic, key, event)])

    async def publish_many(self, messages: Sequence[Outgoing | RawOutgoing]) -> None:
        """Send all, then wait for every acknowledgement, within one bounded time. Sent one
        by one (not as one batch) so each record lands on its key's partition."""
        producer = self._producer
        if producer is None:
            raise BrokerUnavailable("producer not started")

        async def send_all() -> None:
            futures = []
            for m in messages:
                if isinstance(m, RawOutgoing):
                    futures.append(
                        await producer.send(m.topic, m.value, key=m.key, headers=m.headers)
                    )
                else:
                    futures.append(
                        await producer.send(
                            m.topic,
                            encode(m.event),
                            key=m.key,
                            headers=event_headers(m.event, m.correlation_id),
                        )
                    )
            await asyncio.gather(*futures)

        try:
            # asyncio.timeout, not wait_for: no extra task per publish on the ingest hot path
            async with asyncio.timeout(self._timeout_s):
                await send_all()
        except TimeoutError:
            raise BrokerUnavailable(
                f"Kafka did not acknowledge within {self._timeout_s:g} s"
            ) from None
        except Exception as exc:  # aiokafka raises KafkaError subclasses and OSErrors
            log.warning("publish failed", extra={"error": repr(exc)})
            if isinstance(exc, PRODUCER_STATE_LOST):
                await self._replace(producer)
            raise BrokerUnavailable(f"Kafka refused the message: {type(exc).__name__}") from exc


async def _close_quietly(producer: AIOKafkaProducer, timeout_s: float) -> None:
    try:
        await asyncio.wait_for(producer.stop(), timeout_s)
    except Exception as exc:  # a dead producer may fail to close; it is dropped either way
        log.debug("closing a replaced producer failed", extra={"error": repr(exc)})


async def broker_reachable(connection: KafkaConnection, timeout_s: float = 3.0) -> bool:
    """A readiness probe: can a fresh client fetch cluster metadata right now?"""
    admin = AIOKafkaAdminClient(
        request_timeout_ms=int(timeout_s * 1000), **connection.client_kwargs()
    )
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        await asyncio.wait_for(admin.describe_cluster(), timeout_s)
        return True
    except Exception:  # any failure means "not reachable" for a probe
        return False
    finally:
        try:
            await asyncio.wait_for(admin.close(), timeout_s)
        except Exception:  # closing a half-open client must not fail the probe
            log.debug("admin close failed", exc_info=True)
