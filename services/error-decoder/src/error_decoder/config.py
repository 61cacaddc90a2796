"""Error-decoder settings (``BATTERYHUB_*`` environment variables)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from batteryhub_platform.settings import GroupId, ServiceSettings


class Settings(ServiceSettings):
    consumer_groups: ClassVar[dict[str, str]] = {"group_id": "error-decoder"}
    group_id: GroupId = Field(
        default="",
        description="The consumer group's id; empty: `<topic prefix>error-decoder`.",
    )
    max_records: int = Field(default=500, ge=1, le=10_000)
    # A consumer sends a whole batch's records at once and then waits for them: holding
    # them longer only adds idle time to every batch.
    produce_linger_ms: int = Field(default=0, ge=0, le=1000)
