"""Keep the device's own time and flag clocks too far in the future.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "query"


def upgrade() -> None:
    op.add_column("readings", sa.Column("device_time", sa.DateTime(timezone=True)), schema=SCHEMA)
    op.add_column(
        "readings",
        sa.Column("clock_skewed", sa.Boolean, nullable=False, server_default=sa.false()),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_column("readings", "clock_skewed", schema=SCHEMA)
    op.drop_column("readings", "device_time", schema=SCHEMA)
