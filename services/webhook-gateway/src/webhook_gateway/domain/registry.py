"""The device registry as the gateway holds it: an in-memory fold of the registry topic,
plus the commands that produce new registry events. No I/O here."""

from __future__ import annotations

import uuid
from datetime import datetime

from batteryhub_contracts.events import (
    AnyRegistryEvent,
    BatteryRecord,
    BatteryRegistered,
    BatteryRevoked,
    BatterySecretRehashed,
    BatterySecretRotated,
)

RegistryEvent = AnyRegistryEvent


class RegistryError(Exception):
    status = 400


class BatteryNotFound(RegistryError):
    status = 404


class BatteryConflict(RegistryError):
    status = 409


class BatteryRegistry:
    """Latest ``BatteryRecord`` per battery and the relay ``device_id`` index."""

    def __init__(self) -> None:
        self._by_id: dict[int, BatteryRecord] = {}
        self._by_device: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def apply(self, event: RegistryEvent) -> None:
        """Fold one event in. Older revisions than what is held are ignored, so replays and
        redeliveries are harmless."""
        record = event.battery
        current = self._by_id.get(record.battery_id)
        if current is not None and current.revision >= record.revision:
            return
        if current is not None and current.device_id:
            self._by_device.pop(current.device_id, None)
        self._by_id[record.battery_id] = record
        if record.device_id and not record.revoked:
            self._by_device[record.device_id] = record.battery_id

    def get(self, battery_id: int) -> BatteryRecord | None:
        return self._by_id.get(battery_id)

    def active(self, battery_id: int) -> BatteryRecord | None:
        record = self._by_id.get(battery_id)
        return record if record is not None and not record.revoked else None

    def battery_for_device(self, device_id: str) -> BatteryRecord | None:
        battery_id = self._by_device.get(device_id)
        return self.active(battery_id) if battery_id is not None else None

    # Commands: each checks the current state and returns the event that records the change.

    def register(
        self,
        *,
        battery_id: int,
        hub_id: int,
        name: str,
        device_id: str | None,
        secret_hash: str,
        now: datetime,
    ) -> BatteryRegistered:
        current = self._by_id.get(battery_id)
        if current is not None and not current.revoked:
            raise BatteryConflict(f"battery {battery_id} is already registered")
        if device_id:
            owner = self.battery_for_device(device_id)
            if owner is not None and owner.battery_id != battery_id:
                raise BatteryConflict(
                    f"device_id {device_id} already belongs to battery {owner.battery_id}"
                )
        revision = (current.revision + 1) if current else 1
        record = BatteryRecord(
            battery_id=battery_id,
            hub_id=hub_id,
            name=name,
            device_id=device_id,
            secret_hash=secret_hash,
            revision=revision,
            secret_since_revision=revision,
            registered_at=now,
        )
        return BatteryRegistered(event_id=uuid.uuid4(), occurred_at=now, battery=record)

    def rotate_secret(
        self, battery_id: int, secret_hash: str, now: datetime
    ) -> BatterySecretRotated:
        current = self._require_active(battery_id)
        revision = current.revision + 1
        record = current.model_copy(
            update={
                "secret_hash": secret_hash,
                "revision": revision,
                "secret_since_revision": revision,
            }
        )
        return BatterySecretRotated(event_id=uuid.uuid4(), occurred_at=now, battery=record)

    def rehash(self, battery_id: int, secret_hash: str, now: datetime) -> BatterySecretRehashed:
        """The same secret under a stronger hash: a new revision that keeps every token
        issued since the secret was set."""
        current = self._require_active(battery_id)
        record = current.model_copy(
            update={
                "secret_hash": secret_hash,
                "revision": current.revision + 1,
                "secret_since_revision": current.secret_since_revision or current.revision,
            }
        )
        return BatterySecretRehashed(event_id=uuid.uuid4(), occurred_at=now, battery=record)

    def revoke(self, battery_id: int, now: datetime) -> BatteryRevoked:
        current = self._require_active(battery_id)
        record = current.model_copy(update={"revoked": True, "revision": current.revision + 1})
        return BatteryRevoked(event_id=uuid.uuid4(), occurred_at=now, battery=record)

    def _require_active(self, battery_id: int) -> BatteryRecord:
        record = self.active(battery_id)
        if record is None:
            raise BatteryNotFound(f"battery {battery_id} is not registered")
        return record
