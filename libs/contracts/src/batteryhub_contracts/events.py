"""Every event that crosses a service boundary. Facts, named in the past tense.

Each model is frozen and carries ``event_id``, ``occurred_at`` and ``schema_version``.
Topics that hold several kinds of event discriminate them by ``type``. A breaking change
bumps ``schema_version`` and registers an upcaster in ``UPCASTERS`` below.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from batteryhub_contracts.error_codes import DecodedError, Severity

Role = Literal["superadmin", "data_admin", "admin", "user"]
ReadingSource = Literal["direct", "relay", "batch"]
TimeSource = Literal["rtc", "gps", "received"]


class Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: uuid.UUID
    occurred_at: AwareDatetime
    schema_version: int = 1


class ReadingFields(BaseModel):
    """What a battery reported, as parsed by the gateway."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    battery_id: int = Field(gt=0)
    hub_id: int
    battery_name: str
    measured_at: AwareDatetime
    time_source: TimeSource
    received_at: AwareDatetime
    device_time: AwareDatetime | None = None
    clock_skewed: bool = False
    metrics: dict[str, float | int]
    err: str | None = Field(default=None, max_length=255)
    source: ReadingSource = "direct"


class ReadingReceived(Event):
    """The gateway accepted a reading; ``event_id`` is the reading's id."""

    type: Literal["reading_received"] = "reading_received"
    reading: ReadingFields


class ReadingDecoded(Event):
    """The decoder read the fault codes of a reading (empty ``errors`` when it had none)."""

    type: Literal["reading_decoded"] = "reading_decoded"
    reading_id: uuid.UUID
    reading: ReadingFields
    errors: tuple[DecodedError, ...]


class NotificationRaised(Event):
    type: Literal["notification_raised"] = "notification_raised"
    notification_id: int
    battery_id: int
    hub_id: int
    reading_id: uuid.UUID
    code: str
    notification_type: str
    title: str
    message: str
    severity: Severity
    link_type: Literal["battery"] = "battery"
    link_id: int
    created_at: AwareDatetime


class NotificationRead(Event):
    type: Literal["notification_read"] = "notification_read"
    notification_id: int
    battery_id: int
    hub_id: int
    code: str
    read_by: str


NotificationEvent = Annotated[NotificationRaised | NotificationRead, Field(discriminator="type")]


class BatteryRecord(BaseModel):
    """The whole state of one battery: registry events carry it entire, so the compacted
    registry topic keeps everything a replica needs in the last event per battery."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    battery_id: int = Field(gt=0)
    hub_id: int
    name: str
    device_id: str | None = None
    secret_hash: str
    revision: int = Field(ge=1)
    revoked: bool = False
    registered_at: AwareDatetime


class BatteryRegistered(Event):
    type: Literal["battery_registered"] = "battery_registered"
    battery: BatteryRecord


class BatterySecretRotated(Event):
    type: Literal["battery_secret_rotated"] = "battery_secret_rotated"
    battery: BatteryRecord


class BatteryRevoked(Event):
    type: Literal["battery_revoked"] = "battery_revoked"
    battery: BatteryRecord


RegistryEvent = Annotated[
    BatteryRegistered | BatterySecretRotated | BatteryRevoked, Field(discriminator="type")
]

# Upcasters: (type, from_version) -> function turning that version's dict into the next one.
UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {}
CURRENT_VERSION = 1

E = TypeVar("E")


class EventDecodeError(ValueError):
    """Bytes on a topic that are not a valid event of the expected kind."""


def upcast(data: Any) -> Any:
    """Bring an older event dict up to ``CURRENT_VERSION`` with the registered upcasters."""
    if not isinstance(data, dict):
        return data
    version = data.get("schema_version", 1)
    while isinstance(version, int) and version < CURRENT_VERSION:
        upcaster = UPCASTERS.get((str(data.get("type")), version))
        if upcaster is None:
            break
        data = upcaster(data)
        version = data.get("schema_version", version + 1)
    return data


class EventCodec(Generic[E]):
    """Decodes one topic's bytes into its event type, upcasting old versions first."""

    def __init__(self, event_type: Any) -> None:
        self._adapter: TypeAdapter[E] = TypeAdapter(event_type)

    def decode(self, raw: bytes) -> E:
        try:
            if not UPCASTERS:
                return self._adapter.validate_json(raw)
            return self._adapter.validate_python(upcast(json.loads(raw)))
        except ValueError as exc:  # pydantic.ValidationError and json errors are ValueErrors
            raise EventDecodeError(str(exc).replace("\n", " ")[:500]) from None


def encode(event: BaseModel) -> bytes:
    return event.model_dump_json().encode()


READING_RECEIVED: EventCodec[ReadingReceived] = EventCodec(ReadingReceived)
READING_DECODED: EventCodec[ReadingDecoded] = EventCodec(ReadingDecoded)
NOTIFICATION_EVENT: EventCodec[NotificationRaised | NotificationRead] = EventCodec(
    NotificationEvent
)
REGISTRY_EVENT: EventCodec[BatteryRegistered | BatterySecretRotated | BatteryRevoked] = EventCodec(
    RegistryEvent
)
