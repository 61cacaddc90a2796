"""Projections for the apps (batteries, readings, notifications) and the user store.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "query"


def upgrade() -> None:
    op.create_table(
        "batteries",
        sa.Column("battery_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hub_id", sa.BigInteger, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("device_id", sa.Text),
        sa.Column("revoked", sa.Boolean, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_batteries_hub", "batteries", ["hub_id"], schema=SCHEMA)

    op.create_table(
        "readings",
        sa.Column("reading_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("public_id", sa.BigInteger, nullable=False),
        sa.Column("battery_id", sa.BigInteger, nullable=False),
        sa.Column("hub_id", sa.BigInteger, nullable=False),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("time_source", sa.Text, nullable=False),
        sa.Column("err", sa.Text),
        sa.Column("has_errors", sa.Boolean, nullable=False),
        sa.Column("decoded_errors", JSONB, nullable=False),
        sa.Column("soc", sa.Float),
        sa.Column("voltage", sa.Float),
        sa.Column("current", sa.Float),
        sa.Column("temperature", sa.Float),
        sa.Column("power", sa.Float),
        sa.Column("latitude", sa.Float),
        sa.Column("longitude", sa.Float),
        sa.Column("metrics", JSONB, nullable=False),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_readings_battery_time",
        "readings",
        ["battery_id", sa.text("measured_at DESC")],
        schema=SCHEMA,
    )
    # The error history reads only readings with faults: a small partial index serves it.
    op.create_index(
        "ix_readings_battery_errors_time",
        "readings",
        ["battery_id", sa.text("measured_at DESC")],
        schema=SCHEMA,
        postgresql_where=sa.text("has_errors"),
    )

    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hub_id", sa.BigInteger, nullable=False),
        sa.Column("battery_id", sa.BigInteger, nullable=False),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("reading_id", UUID(as_uuid=True), nullable=False),
        sa.Column("notification_type", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("severity", sa.Text, nullable=False),
        sa.Column("is_read", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("read_at", sa.DateTime(timezone=True)),
        sa.Column("read_by", sa.Text),
        sa.Column("link_type", sa.Text, nullable=False),
        sa.Column("link_id", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_notifications_hub_created",
        "notifications",
        ["hub_id", sa.text("created_at DESC"), sa.text("id DESC")],
        schema=SCHEMA,
    )
    op.create_index(
        "ix_notifications_hub_unread",
        "notifications",
        ["hub_id"],
        schema=SCHEMA,
        postgresql_where=sa.text("NOT is_read"),
    )

    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("username", sa.Text, nullable=False, unique=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("hub_id", sa.BigInteger),
        sa.Column("accessible_hub_ids", ARRAY(sa.BigInteger), nullable=False, server_default="{}"),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
        sa.CheckConstraint(
            "role IN ('superadmin', 'data_admin', 'admin', 'user')", name="ck_users_role"
        ),
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in ("users", "notifications", "readings", "batteries"):
        op.drop_table(table, schema=SCHEMA)
