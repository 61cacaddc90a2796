"""Readings' ids begin with their time: remember up to when a reading may be stored under its
legacy id.

A reading with a device time had the UUID-5 of battery and time as its id; since this
change its id is time-ordered (``batteryhub_contracts.ids.reading_id_text``), so that the
primary key takes new readings near each other instead of on random leaves. A reading
stored before and re-sent after the change comes with its new id: the projector looks up
its legacy id too, when its device time is at most ``legacy_until`` (``projection.
add_rows``). Every reading stored so far has a legacy id and, unless its clock was over 10
minutes ahead (such readings are left out), a device time at most 10 minutes past its
receipt: so ``now() + 10 minutes`` when readings are stored, none when the table is empty.
The projector raises it as it stores legacy ids (events written before the change). No
stored row changes: the upgrade takes a moment whatever the table's size.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = "query"


def upgrade() -> None:
    op.create_table(
        "legacy_reading_ids",
        sa.Column("one", sa.Boolean, primary_key=True, server_default=sa.true()),
        sa.Column("legacy_until", sa.DateTime(timezone=True)),
        sa.CheckConstraint("one", name="legacy_reading_ids_one_row"),
        schema=SCHEMA,
    )
    op.execute(
        "INSERT INTO query.legacy_reading_ids (legacy_until) SELECT CASE WHEN EXISTS "
        "(SELECT FROM query.readings) THEN now() + interval '10 minutes' END"
    )


def downgrade() -> None:
    op.drop_table("legacy_reading_ids", schema=SCHEMA)
