"""The notification store of the anti-flooding rule.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "notifier"


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("battery_id", sa.BigInteger, nullable=False),
        sa.Column("hub_id", sa.BigInteger, nullable=False),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("reading_id", UUID(as_uuid=True), nullable=False),
        sa.Column("is_read", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True)),
        sa.Column("event", JSONB, nullable=False),
        sa.UniqueConstraint("reading_id", "code", name="uq_notification_per_reading_code"),
        schema=SCHEMA,
    )
    # The rule "at most one unread notification per (battery, code)", enforced by the database
    # too, so that two instances racing during a rebalance cannot break it.
    op.create_index(
        "uq_one_unread_per_battery_code",
        "notifications",
        ["battery_id", "code"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("NOT is_read"),
    )


def downgrade() -> None:
    op.drop_table("notifications", schema=SCHEMA)
