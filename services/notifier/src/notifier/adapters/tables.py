"""The notifier's own tables, in its own PostgreSQL schema. Changed only by migrations."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

SCHEMA = "notifier"
metadata = MetaData(schema=SCHEMA)

notifications = Table(
    "notifications",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("battery_id", BigInteger, nullable=False),
    Column("hub_id", BigInteger, nullable=False),
    Column("code", Text, nullable=False),
    Column("reading_id", UUID(as_uuid=True), nullable=False),
    Column("is_read", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("read_at", DateTime(timezone=True)),
    Column("event", JSONB, nullable=False),
    UniqueConstraint("reading_id", "code", name="uq_notification_per_reading_code"),
    Index(
        "uq_one_unread_per_battery_code",
        "battery_id",
        "code",
        unique=True,
        postgresql_where=text("NOT is_read"),
    ),
)

decided_readings = Table(
    "decided_readings",
    metadata,
    Column("reading_id", UUID(as_uuid=True), primary_key=True),
    Column("decided_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
)
"""Readings (with fault codes) the rule has decided, in the transaction of the decision. A
reading seen again (a redelivery, a rebalance, a consumer group reset, or the decoder
re-emitting it during a replay) is not decided again: the decision could differ, since a
notification read in between would let the same reading notify twice."""
