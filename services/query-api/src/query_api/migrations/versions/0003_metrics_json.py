"""Store a reading's metrics as json, not jsonb.

PostgreSQL converts jsonb input into its binary form (every number into a numeric, the keys
sorted): for the 26 metrics of a reading that was ~16 µs of the server's CPU a row, as much
as the rest of the row. json is checked for syntax and stored as the projector writes it
(the gateway's metrics in the wire table's key order, others in the order they came).
Nothing queries the metrics by key (the read side uses the readings' own columns); should
something need to, ``metrics::jsonb`` or the json operators work on the json column too.

The change rewrites the readings table under an exclusive lock (the projector and the
error history wait for it): on the 2-CPU test machine, 17 s for a table of 1,000,000
readings, whose heap went from 710 to 460 MB (docs/operations.md).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from alembic import op
from sqlalchemy.dialects.postgresql import JSON, JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "query"


def upgrade() -> None:
    op.alter_column(
        "readings", "metrics", type_=JSON, postgresql_using="metrics::json", schema=SCHEMA
    )


def downgrade() -> None:
    op.alter_column(
        "readings", "metrics", type_=JSONB, postgresql_using="metrics::jsonb", schema=SCHEMA
    )
