"""Alembic environment of the query_api schema."""

from batteryhub_platform.db import run_migrations_online
from query_api.adapters.tables import SCHEMA, metadata

run_migrations_online(SCHEMA, metadata)
