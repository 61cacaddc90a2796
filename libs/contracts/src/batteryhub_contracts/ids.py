"""Stable identifiers, so that a replay or a retried upload produces the same ids.

Public ids are 53-bit integers: the single-page apps keep ids in JavaScript numbers.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import msgspec

from batteryhub_contracts.isotime import isoformat

NAMESPACE = uuid.UUID("6f6a3c64-5d1e-4c0e-9a55-0b6e2b1f7a10")
_NAMESPACE_SHA1 = hashlib.sha1(NAMESPACE.bytes, usedforsecurity=False)
"""The namespace already hashed: each UUID-5 copies this state and adds its name."""
_VARIANT_DIGIT = {d: "89ab"[int(d, 16) & 0b11] for d in "0123456789abcdef"}
"""The hex digit that starts a UUID's fourth group, from the hash's digit there: its top
two bits become the RFC 4122 variant (``10``)."""
PUBLIC_ID_BITS = 53
_BLAKE2B_8 = hashlib.blake2b(digest_size=8)
_TEXT_ENCODER = msgspec.json.Encoder()


def reading_id_text(battery_id: int, device_time: datetime) -> str:
    """The id of a reading whose device clock was valid, as a UUID's text: same battery +
    same time = same reading, so a re-sent upload is recognised instead of stored twice.

    Laid out as a UUIDv7 (RFC 9562): the device time in milliseconds in the first 48 bits,
    then the version digit 7, then 74 bits of the SHA-1 that ``legacy_reading_id_text``
    hashes. Readings of one time sort together, so the readings table's primary key takes
    each new reading near the last ones instead of on a random leaf (docs/decisions.md, "A
    reading's id starts with its time"). Computed without building a ``UUID``: the gateway
    derives one per reading and only ever writes it out."""
    h = _reading_hash(battery_id, device_time)
    return _v7_text(device_time, h[13:16], h[16], h[17:32])


def legacy_reading_id_text(battery_id: int, device_time: datetime) -> str:
    """The id ``reading_id_text`` gave before readings' ids began with their time: the
    UUID-5 of battery and device time. Readings stored before that change keep it, so the
    projector looks it up too for a reading that may have been stored then (``projection.
    add_rows``)."""
    h = _reading_hash(battery_id, device_time)
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT_DIGIT[h[16]]}{h[17:20]}-{h[20:32]}"


def received_reading_id_text(received_at: datetime) -> str:
    """The id of a reading without a valid device clock: a UUIDv7 of its receive time and
    74 random bits. Each upload of such a reading is a reading of its own (nothing tells a
    retry from a new one), as with the random UUID-4 it replaces, and it sorts by time."""
    h = os.urandom(10).hex()
    return _v7_text(received_at, h[:3], h[3], h[4:19])


def twin_reading_id_text(reading_id: str, battery_id: int, device_time: datetime) -> str | None:
    """The other id of a reading with a (not skewed) device time: its legacy id for a
    time-ordered one, its time-ordered id for a legacy one; None for any other id. A reading
    stored under one and re-sent under the other is the same reading (docs/decisions.md, "A
    reading's id starts with its time")."""
    version = reading_id_version(reading_id)
    if version == TIME_ORDERED_VERSION:
        return legacy_reading_id_text(battery_id, device_time)
    if version == LEGACY_VERSION:
        return reading_id_text(battery_id, device_time)
    return None


TIME_ORDERED_VERSION, LEGACY_VERSION = "7", "5"
"""The version digits of a reading id's text: ``reading_id_text`` and
``received_reading_id_text`` give ``"7"``; ``legacy_reading_id_text`` gave ``"5"`` (and a
reading without a device clock had a UUID-4, ``"4"``)."""
VERSION_AT = 14
"""Where a reading id's text holds its version digit (``reading_id_version``), for a caller
that reads it in a comprehension over a batch without a call a row."""


def reading_id_version(reading_id: str) -> str:
    """The version digit of a reading id's text (``TIME_ORDERED_VERSION``,
    ``LEGACY_VERSION``, or ``"4"``)."""
    return reading_id[VERSION_AT]


def _reading_hash(battery_id: int, device_time: datetime) -> str:
    sha1 = _NAMESPACE_SHA1.copy()
    sha1.update(f"reading:{battery_id}:{isoformat(device_time)}".encode())
    return sha1.hexdigest()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def _v7_text(moment: datetime, a: str, variant_from: str, b: str) -> str:
    """A UUIDv7's text: ``moment`` in milliseconds since 1970 (none before; 48 bits reach
    past ``datetime.max``), the version digit, 3 hex digits ``a``, the variant digit made
    from ``variant_from``, and 15 hex digits ``b``."""
    # A device time is in whole seconds: a float of it is exact, and quicker to get.
    ms = (moment - _EPOCH) // _MILLISECOND if moment.microsecond else int(moment.timestamp()) * 1000
    t = f"{max(ms, 0):012x}"
    return f"{t[:8]}-{t[8:]}-7{a}-{_VARIANT_DIGIT[variant_from]}{b[:3]}-{b[3:]}"


def derived_id(parent: uuid.UUID, role: str) -> uuid.UUID:
    """The id of an event derived from another one (e.g. a notification raised for a reading;
    a decoded event's id is ``decoded_id_text``)."""
    return uuid.UUID(derived_id_text(str(parent), role))


def derived_id_text(parent: str, role: str) -> str:
    """``derived_id`` on ids in their text form (``str(UUID)``): the same UUID-5, computed
    without building ``UUID`` objects (a quarter of the time), for the gateway, which
    derives a batch record's id from its readings' ids."""
    return _uuid5_text(f"{role}:{parent}".encode())


def decoded_id_text(raw_id: str) -> str:
    """The id of a raw event's decoded form (the decoder's ``ReadingDecoded`` and
    ``ReadingsDecoded``), from the raw event's id text: the same UUID with its version digit
    set to 8 (RFC 9562's custom version). Decoding the same event twice gives the same id,
    as a UUID-5 of the raw id did, at a seventh of its cost (0.27 against 1.8 µs): the
    decoder takes one for every reading. The raw ids are the gateway's (version 7, and 4 and
    5 before readings' ids began with their time), so a decoded id is never its raw event's
    id nor any other id this system derives (UUID-5s), and distinct raw ids of one version
    give distinct decoded ids. Nothing joins on a decoded
    event's id; the consumers key readings by ``reading_id``."""
    return raw_id[:14] + "8" + raw_id[15:]


def _uuid5_text(name: bytes) -> str:
    """``str(uuid.uuid5(NAMESPACE, name))`` at a fifth of its cost (2.3 µs): the hash's
    first 32 hex digits, with the version digit set to 5 and the variant bits set."""
    sha1 = _NAMESPACE_SHA1.copy()
    sha1.update(name)
    h = sha1.hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT_DIGIT[h[16]]}{h[17:20]}-{h[20:32]}"


def uuid_texts(ids: Sequence[uuid.UUID]) -> list[str]:
    """``[str(i) for i in ids]`` in one call into msgspec (which writes a UUID's canonical
    text in C): ``str()`` of a ``UUID`` is Python code, about 1.7 µs each, and the decoder
    needs the text of every reading's id."""
    if not ids:
        return []
    return _TEXT_ENCODER.encode(ids)[2:-2].decode().split('","')


def public_id(*parts: object) -> int:
    """A positive 53-bit integer from the parts, stable across processes and replays."""
    return _public_id(":".join(map(str, parts)))


def _public_id(text: str) -> int:
    blake2b = _BLAKE2B_8.copy()  # a copy of a fresh state: 1.1 µs against 1.6 for a new one
    blake2b.update(text.encode())
    return (int.from_bytes(blake2b.digest(), "big") >> (64 - PUBLIC_ID_BITS)) or 1


def notification_id_for(reading_id: uuid.UUID, code: str) -> int:
    return public_id("notification", reading_id, code)


def reading_public_id(reading_id: uuid.UUID | str) -> int:
    """The same for a ``UUID`` and its text form. ``public_id("reading", reading_id)``,
    without its join (the gateway and the projector take one per reading)."""
    return _public_id(f"reading:{reading_id}")


def reading_public_id_texts(reading_ids: Sequence[uuid.UUID]) -> list[tuple[str, int]]:
    """Each id's text and its ``reading_public_id``, the texts taken in one call
    (``uuid_texts``): the projector takes both for each reading it stores."""
    return [(text, _public_id(f"reading:{text}")) for text in uuid_texts(reading_ids)]
