"""The gateway's service layer: use cases that combine the pure core with the adapters.
Routers call these and translate their exceptions into HTTP answers."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from batteryhub_contracts.events import BatteryRecord, ReadingSource
from batteryhub_contracts.payload import (
    PayloadError,
    decode_json_object,
    is_relay,
    parse_battery_id,
    parse_reading,
    unwrap_relay,
)
from batteryhub_contracts.topics import READINGS_RAW, REGISTRY, battery_key, full_name
from batteryhub_platform.kafka import BrokerUnavailable, EventPublisher, encoded_event
from batteryhub_platform.login_guard import LoginGuard, TooManyAttempts
from batteryhub_platform.tokens import (
    BatteryPrincipal,
    InvalidToken,
    UserPrincipal,
    VerifiedTokens,
    issue_battery_token,
    verify_battery_token_once,
    verify_user_token_once,
)
from webhook_gateway import metrics
from webhook_gateway.adapters.secrets import SecretHasher
from webhook_gateway.admission import Admission
from webhook_gateway.config import Settings
from webhook_gateway.domain.ingest import (
    READING_RECEIVED_TYPE,
    READINGS_RECEIVED_TYPE,
    Forbidden,
    accept_reading,
    ingest_batch,
    success_body,
)
from webhook_gateway.domain.native import native_batch
from webhook_gateway.domain.registry import (
    BatteryNotFound,
    BatteryRegistry,
    RegistryEvent,
)

Principal = BatteryPrincipal | UserPrincipal
log = logging.getLogger(__name__)


class Unauthorized(Exception):
    """One answer for every authentication failure: nothing leaks which part was wrong."""


@dataclass
class Gateway:
    settings: Settings
    registry: BatteryRegistry
    publisher: EventPublisher
    hasher: SecretHasher

    def __post_init__(self) -> None:
        self._battery_key = self.settings.secret("battery_token_key")
        self._user_key = self.settings.secret("user_token_key")
        self._raw_topic = full_name(READINGS_RAW, self.settings.topic_prefix)
        self._registry_topic = full_name(REGISTRY, self.settings.topic_prefix)
        self._verified = VerifiedTokens()
        self.uploads = Admission(
            self.settings.upload_slots, self.settings.upload_queue, self.settings.upload_wait_s
        )

    # --- authentication -------------------------------------------------------------

    def battery_principal(self, token: str) -> BatteryPrincipal:
        try:
            principal = verify_battery_token_once(
                token, self._battery_key, self._verified, time.time()
            )
        except InvalidToken:
            raise Unauthorized from None
        record = self.registry.active(principal.battery_id)
        if record is None or not record.accepts_token_revision(principal.revision):
            raise Unauthorized  # revoked, or its secret rotated since the token was issued
        return principal

    def user_principal(self, token: str) -> UserPrincipal:
        try:
            return verify_user_token_once(token, self._user_key, self._verified, time.time())
        except InvalidToken:
            raise Unauthorized from None

    def device_principal(self, token: str) -> Principal:
        """A battery token, or a superadmin's user token (used to submit on a battery's behalf)."""
        try:
            return self.battery_principal(token)
        except Unauthorized:
            user = self.user_principal(token)
            if not user.is_superadmin:
                raise Unauthorized from None
            return user

    async def login(self, body: bytes, guard: LoginGuard) -> dict[str, Any]:
        """Raises ``TooManyAttempts`` (before any argon2 work) when ``guard`` says so."""
        payload = decode_json_object(body)
        secret = payload.get("battery_secret")
        if not isinstance(secret, str) or not secret or len(secret) > 256:
            raise PayloadError("'battery_secret' must be a non-empty string")
        battery_id = parse_battery_id(payload.get("battery_id"))
        try:
            async with guard.attempt(f"battery:{battery_id}") as attempt:
                record = self.registry.active(battery_id)
                if record is None:
                    await self.hasher.dummy_verify(secret)
                    raise Unauthorized
                if not await self.hasher.verify(record.secret_hash, secret):
                    raise Unauthorized
                attempt.succeeded()
        except Unauthorized:
            metrics.LOGINS.labels("refused").inc()
            raise
        except TooManyAttempts:
            metrics.LOGINS.labels("throttled").inc()
            raise
        metrics.LOGINS.labels("ok").inc()
        if self.hasher.needs_rehash(record.secret_hash):
            record = await self._rehash(record, secret)
        return self._token_body(record)

    async def _rehash(self, record: BatteryRecord, secret: str) -> BatteryRecord:
        """Store the secret again under today's argon2 parameters. The login succeeds even
        when Kafka cannot take the new hash now; the next login tries again."""
        event = self.registry.rehash(
            record.battery_id, await self.hasher.hash(secret), datetime.now(UTC)
        )
        try:
            return await self.record(event)
        except BrokerUnavailable:
            log.warning("secret rehash not stored", extra={"battery_id": record.battery_id})
            return record

    def refresh(self, principal: BatteryPrincipal) -> dict[str, Any]:
        record = self.registry.active(principal.battery_id)
        if record is None:
            raise Unauthorized
        body = self._token_body(record)
        body["refresh_time"] = datetime.now(UTC).replace(tzinfo=None).isoformat()
        return body

    def _token_body(self, record: BatteryRecord) -> dict[str, Any]:
        ttl = timedelta(hours=self.settings.battery_token_ttl_hours)
        token = issue_battery_token(
            self._battery_key, record.battery_id, record.revision, datetime.now(UTC), ttl
        )
        return {
            "access_token": token,
            "token_type": "bearer",
            "battery_id": record.battery_id,
            "expires_in": int(ttl.total_seconds()),
            "expires_in_hours": self.settings.battery_token_ttl_hours,
            "scope": "webhook_write",
        }

    # --- ingestion ------------------------------------------------------------------

    async def accept_live_data(self, principal: Principal, body: bytes) -> dict[str, Any]:
        payload = decode_json_object(body)
        received_at = datetime.now(UTC)
        if is_relay(payload):
            envelope = unwrap_relay(payload)
            battery = self.registry.battery_for_device(envelope.device_id)
            if battery is None:
                raise BatteryNotFound(f"unknown relay device_id {envelope.device_id!r}")
            parsed = parse_reading(envelope.reading, received_at, require_id=False)
            if parsed.battery_id is not None and parsed.battery_id != battery.battery_id:
                raise Forbidden(
                    f"payload id {parsed.battery_id} does not match the battery of the device"
                )
            source: ReadingSource = "relay"
        else:
            parsed = parse_reading(payload, received_at)
            assert parsed.battery_id is not None  # require_id=True guarantees it
            battery = self._battery_for(principal, parsed.battery_id)
            source = "direct"
        if isinstance(principal, BatteryPrincipal) and principal.battery_id != battery.battery_id:
            raise Forbidden(
                f"this token may submit only for battery {principal.battery_id}, "
                f"not {battery.battery_id}"
            )
        reading = accept_reading(parsed, battery, received_at, source)
        started = time.perf_counter()
        await self.publisher.publish_many(
            [
                encoded_event(
                    self._raw_topic,
                    battery_key(battery.battery_id),
                    READING_RECEIVED_TYPE,
                    reading.encode(),
                )
            ]
        )
        metrics.PRODUCE_LATENCY.observe(time.perf_counter() - started)
        metrics.READINGS_ACCEPTED.labels(source).inc()
        return success_body(reading, parsed)

    async def accept_batch(self, principal: Principal, body: bytes) -> bytes:
        """Many direct-format readings in one request, each judged on its own; the answer's
        JSON. Answers only once every accepted reading is acknowledged by Kafka (or raises
        BrokerUnavailable, and then none of them counts as stored). A battery's own upload
        in the common shape takes the compiled path (``domain.native``), which gives what
        ``ingest_batch`` gives; everything else, and all of it when ``native_batch`` is off,
        takes ``ingest_batch``."""
        received_at = datetime.now(UTC)
        outcome = None
        if self.settings.native_batch and isinstance(principal, BatteryPrincipal):
            battery = self.registry.active(principal.battery_id)
            if battery is not None:
                outcome = native_batch(body, battery, received_at)
        if outcome is None:
            outcome = ingest_batch(
                body, lambda battery_id: self._battery_for(principal, battery_id), received_at
            )
        started = time.perf_counter()
        await self.publisher.publish_many(
            [
                encoded_event(
                    self._raw_topic,
                    battery_key(record.battery_id),
                    READINGS_RECEIVED_TYPE,
                    record.value,
                )
                for record in outcome.records
            ]
        )
        metrics.PRODUCE_LATENCY.observe(time.perf_counter() - started)
        metrics.READINGS_ACCEPTED.labels("batch").inc(outcome.accepted)
        if outcome.rejected:
            metrics.READINGS_REFUSED.labels("batch_item").inc(outcome.rejected)
        return outcome.answer

    def _battery_for(self, principal: Principal, battery_id: int) -> BatteryRecord:
        if isinstance(principal, BatteryPrincipal) and principal.battery_id != battery_id:
            raise Forbidden(
                f"this token may submit only for battery {principal.battery_id}, not {battery_id}"
            )
        battery = self.registry.active(battery_id)
        if battery is None:
            raise BatteryNotFound(f"battery {battery_id} is not registered")
        return battery

    # --- registry commands ------------------------------------------------------------

    async def record(self, event: RegistryEvent) -> BatteryRecord:
        """Publish a registry change and fold it in here at once, so this replica answers
        consistently right after the 201; the others follow through the topic."""
        await self.publisher.publish(
            self._registry_topic, battery_key(event.battery.battery_id), event
        )
        self.registry.apply(event)
        metrics.REGISTRY_SIZE.set(len(self.registry))
        return event.battery
