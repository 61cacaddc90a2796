"""Error-decoder settings (``BATTERYHUB_*`` environment variables)."""

from __future__ import annotations

from pydantic import Field

from batteryhub_platform.settings import ServiceSettings


class Settings(ServiceSettings):
    group_id: str = "error-decoder"
    max_records: int = Field(default=500, ge=1, le=10_000)
