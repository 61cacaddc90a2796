"""Fixtures of the end-to-end tests that write to the running system's PostgreSQL directly."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from batteryhub_platform.db import make_engine
from tests.hub import Hub


@pytest.fixture
async def engine(hub: Hub) -> AsyncIterator[AsyncEngine]:
    """An engine on the running system's database, disposed after the test."""
    engine = make_engine(hub.system.database_url())
    yield engine
    await engine.dispose()
