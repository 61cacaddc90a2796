"""The query side's tables, in its own PostgreSQL schema. ``batteries``, ``readings`` and
``notifications`` are projections (a fold over the topics, rebuildable by replay); ``users``
is the query API's own account store."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSON, JSONB, UUID

SCHEMA = "query"
metadata = MetaData(schema=SCHEMA)

batteries = Table(
    "batteries",
    metadata,
    Column("battery_id", BigInteger, primary_key=True, autoincrement=False),
    Column("hub_id", BigInteger, nullable=False),
    Column("name", Text, nullable=False),
    Column("device_id", Text),
    Column("revoked", Boolean, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("registered_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

readings = Table(
    "readings",
    metadata,
    Column("reading_id", UUID(as_uuid=True), primary_key=True),
    Column("public_id", BigInteger, nullable=False),
    Column("battery_id", BigInteger, nullable=False),
    Column("hub_id", BigInteger, nullable=False),
    Column("measured_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("time_source", Text, nullable=False),
    Column("device_time", DateTime(timezone=True)),
    Column("clock_skewed", Boolean, nullable=False, server_default=text("false")),
    Column("err", Text),
    Column("has_errors", Boolean, nullable=False),
    Column("decoded_errors", JSONB, nullable=False),
    Column("soc", Float),
    Column("voltage", Float),
    Column("current", Float),
    Column("temperature", Float),
    Column("power", Float),
    Column("latitude", Float),
    Column("longitude", Float),
    # json, not jsonb: stored as the projector writes it (migration 0003); nothing queries it by key
    Column("metrics", JSON, nullable=False),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("hub_id", BigInteger, nullable=False),
    Column("battery_id", BigInteger, nullable=False),
    Column("code", Text, nullable=False),
    Column("reading_id", UUID(as_uuid=True), nullable=False),
    Column("notification_type", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("is_read", Boolean, nullable=False, server_default=text("false")),
    Column("read_at", DateTime(timezone=True)),
    Column("read_by", Text),
    Column("link_type", Text, nullable=False),
    Column("link_id", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("username", Text, nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("hub_id", BigInteger),
    Column("accessible_hub_ids", ARRAY(BigInteger), nullable=False, server_default="{}"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
)

PROJECTION_TABLES = (batteries, readings, notifications)
