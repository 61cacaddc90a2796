"""Stable identifiers, so that a replay or a retried upload produces the same ids.

Public ids are 53-bit integers: the single-page apps keep ids in JavaScript numbers.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

_NAMESPACE = uuid.UUID("6f6a3c64-5d1e-4c0e-9a55-0b6e2b1f7a10")
_PUBLIC_ID_BITS = 53


def reading_id_for(battery_id: int, measured_at: datetime) -> uuid.UUID:
    """The id of a reading whose device clock was valid: same battery + same time = same
    reading, so a re-sent upload is recognised instead of stored twice."""
    return uuid.uuid5(_NAMESPACE, f"reading:{battery_id}:{measured_at.isoformat()}")


def derived_id(parent: uuid.UUID, role: str) -> uuid.UUID:
    """The id of an event derived from another one (e.g. the decoded form of a raw reading)."""
    return uuid.uuid5(_NAMESPACE, f"{role}:{parent}")


def public_id(*parts: object) -> int:
    """A positive 53-bit integer from the parts, stable across processes and replays."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") >> (64 - _PUBLIC_ID_BITS)) or 1


def notification_id_for(reading_id: uuid.UUID, code: str) -> int:
    return public_id("notification", reading_id, code)


def reading_public_id(reading_id: uuid.UUID) -> int:
    return public_id("reading", reading_id)
