"""Every event that crosses a service boundary. Facts, named in the past tense.

Each model is frozen and carries ``event_id``, ``occurred_at`` and ``schema_version``.
Topics that hold several kinds of event discriminate them by ``type``. A breaking change
bumps ``schema_version`` and registers an upcaster in ``UPCASTERS`` below.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Generic, Literal, Protocol, TypeVar

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter
from pydantic_core import to_json

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


MAX_READINGS_PER_RECORD = 200
"""A batch upload travels as records of at most this many readings of one battery (a few
hundred KB each, well inside Kafka's 1 MB default record limit)."""


class ReadingsReceived(Event):
    """Readings of one battery accepted in one batch upload, carried as one Kafka record:
    one record per upload instead of one per reading is what lets ingestion keep up with a
    fleet flushing its buffers. Each reading keeps its own id; ``event_id`` names the record
    (derived from the readings' ids, so an identical retry is an identical record)."""

    type: Literal["readings_received"] = "readings_received"
    readings: tuple[ReadingReceived, ...] = Field(min_length=1, max_length=MAX_READINGS_PER_RECORD)


class ReadingsDecoded(Event):
    """The decoded twins of a ``ReadingsReceived`` record, in the same order."""

    type: Literal["readings_decoded"] = "readings_decoded"
    readings: tuple[ReadingDecoded, ...] = Field(min_length=1, max_length=MAX_READINGS_PER_RECORD)


RawReadingEvent = Annotated[ReadingReceived | ReadingsReceived, Field(discriminator="type")]
DecodedReadingEvent = Annotated[ReadingDecoded | ReadingsDecoded, Field(discriminator="type")]


DECODED_READING_TYPES = frozenset(
    m.model_fields["type"].default for m in (ReadingDecoded, ReadingsDecoded)
)
"""The ``type`` of decoded reading events: how consumers tell them apart whether they are
models or their msgspec twins (``batteryhub_contracts.fast``)."""


def each_reading(event: Any) -> tuple[Any, ...]:
    """The single readings in a reading event: itself, or the readings of a batch record.
    (By attribute, not class: the event may be a model or its msgspec twin, see ``fast``.)"""
    readings: tuple[Any, ...] | None = getattr(event, "readings", None)
    return (event,) if readings is None else readings


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
    secret_since_revision: int | None = Field(default=None, ge=1)
    """The revision at which the current secret was set. Battery tokens issued from it on
    stay valid across later revisions that keep the secret (a stronger hash of the same
    secret). ``None`` (records written before this field): only tokens of ``revision``."""

    def accepts_token_revision(self, token_revision: int) -> bool:
        """Whether a battery token issued at ``token_revision`` is still good."""
        since = self.secret_since_revision or self.revision
        return not self.revoked and since <= token_revision <= self.revision


class BatteryRegistered(Event):
    type: Literal["battery_registered"] = "battery_registered"
    battery: BatteryRecord


class BatterySecretRotated(Event):
    type: Literal["battery_secret_rotated"] = "battery_secret_rotated"
    battery: BatteryRecord


class BatterySecretRehashed(Event):
    """The same secret, hashed again with stronger parameters (at a login, when the stored
    hash's parameters are below the current ones). Tokens issued before stay valid."""

    type: Literal["battery_secret_rehashed"] = "battery_secret_rehashed"
    battery: BatteryRecord


class BatteryRevoked(Event):
    type: Literal["battery_revoked"] = "battery_revoked"
    battery: BatteryRecord


AnyRegistryEvent = BatteryRegistered | BatterySecretRotated | BatterySecretRehashed | BatteryRevoked
"""Every event of the registry topic (for ``isinstance`` and annotations)."""
RegistryEvent = Annotated[AnyRegistryEvent, Field(discriminator="type")]

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


class Codec(Protocol):
    """What a consumer decodes its topic's bytes with (an ``EventCodec``, or the fast codec
    of ``batteryhub_contracts.fast``); raises ``EventDecodeError`` on bytes it refuses."""

    def decode(self, raw: bytes) -> Any: ...


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


def encode_data(data: Any) -> bytes:
    """An event's JSON data (dicts, lists and the values of validated models: datetimes,
    UUIDs) as a record's bytes. orjson writes it; what orjson cannot write (an integer beyond
    64 bits, which the models allow) is written by pydantic's own writer, with NaN as null
    as the models write it."""
    try:
        return orjson.dumps(data)
    except TypeError:
        return to_json(data, inf_nan_mode="null")


READING_RECEIVED: EventCodec[ReadingReceived | ReadingsReceived] = EventCodec(RawReadingEvent)
READING_DECODED: EventCodec[ReadingDecoded | ReadingsDecoded] = EventCodec(DecodedReadingEvent)
NOTIFICATION_EVENT: EventCodec[NotificationRaised | NotificationRead] = EventCodec(
    NotificationEvent
)
REGISTRY_EVENT: EventCodec[AnyRegistryEvent] = EventCodec(RegistryEvent)
