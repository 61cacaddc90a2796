"""Notifier settings (``BATTERYHUB_*`` environment variables)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from batteryhub_platform.settings import DatabaseSettings, GroupId, ServiceSettings


class Settings(ServiceSettings, DatabaseSettings):
    consumer_groups: ClassVar[dict[str, str]] = {"group_id": "notifier"}
    group_id: GroupId = Field(
        default="",
        description="The consumer group's id; empty: `<topic prefix>notifier`.",
    )
    max_records: int = Field(default=500, ge=1, le=10_000)
    # A decoded record in the decoder's shape is scanned by a compiled path for its readings
    # with faults, and only those are decoded (notifier.handlers.FaultsOfDecoded). Off,
    # every reading of every record is decoded, for the same notifications.
    native_faults: bool = True
    # A consumer sends a whole batch's records at once and then waits for them: holding
    # them longer only adds idle time to every batch.
    produce_linger_ms: int = Field(default=0, ge=0, le=1000)
