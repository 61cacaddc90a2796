"""Alembic environment of the notifier schema."""

from batteryhub_platform.db import run_migrations_online
from notifier.adapters.tables import SCHEMA, metadata

run_migrations_online(SCHEMA, metadata)
