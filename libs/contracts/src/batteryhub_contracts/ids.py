"""Stable identifiers, so that a replay or a retried upload produces the same ids.

Public ids are 53-bit integers: the single-page apps keep ids in JavaScript numbers.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

_NAMESPACE = uuid.UUID("6f6a3c64-5d1e-4c0e-9a55-0b6e2b1f7a10")
_NAMESPACE_BYTES = _NAMESPACE.bytes
_PUBLIC_ID_BITS = 53


def reading_id_text(battery_id: int, measured_at: datetime) -> str:
    """The id of a reading whose device clock was valid, as a UUID's text: same battery +
    same time = same reading, so a re-sent upload is recognised instead of stored twice.
    Computed without building a ``UUID``: the gateway derives one per reading and only ever
    writes it out."""
    return _uuid5_text(f"reading:{battery_id}:{measured_at.isoformat()}".encode())


def derived_id(parent: uuid.UUID, role: str) -> uuid.UUID:
    """The id of an event derived from another one (e.g. the decoded form of a raw reading)."""
    return uuid.UUID(derived_id_text(str(parent), role))


def derived_id_text(parent: str, role: str) -> str:
    """``derived_id`` on ids in their text form (``str(UUID)``): the same UUID-5, computed
    without building ``UUID`` objects (a quarter of the time), for the decoder, which
    derives one per reading."""
    return _uuid5_text(f"{role}:{parent}".encode())


def _uuid5_text(name: bytes) -> str:
    """``str(uuid.uuid5(_NAMESPACE, name))``, at a quarter of its cost."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name, usedforsecurity=False).digest())
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest[:16].hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def public_id(*parts: object) -> int:
    """A positive 53-bit integer from the parts, stable across processes and replays."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") >> (64 - _PUBLIC_ID_BITS)) or 1


def notification_id_for(reading_id: uuid.UUID, code: str) -> int:
    return public_id("notification", reading_id, code)


def reading_public_id(reading_id: uuid.UUID | str) -> int:
    """The same for a ``UUID`` and its text form."""
    return public_id("reading", reading_id)
