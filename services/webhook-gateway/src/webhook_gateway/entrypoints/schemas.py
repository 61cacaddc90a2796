"""Request and response schemas of the gateway's HTTP API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from batteryhub_contracts.payload import MAX_BATTERY_ID


class BatteryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    battery_id: int = Field(gt=0, le=MAX_BATTERY_ID)
    hub_id: int = Field(ge=0, le=MAX_BATTERY_ID)
    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00]*$")
    secret: str = Field(min_length=8, max_length=256, pattern=r"^[^\x00]*$")
    device_id: str | None = Field(default=None, min_length=1, max_length=128, pattern=r"^[^\x00]*$")


class SecretRotate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret: str = Field(min_length=8, max_length=256, pattern=r"^[^\x00]*$")


class BatteryPublic(BaseModel):
    battery_id: int
    hub_id: int
    name: str
    device_id: str | None
    revision: int
    revoked: bool
    registered_at: datetime


class BatteryLogin(BaseModel):
    """Documented shape of the login body (parsed leniently: ids may be numeric strings)."""

    battery_id: int | str
    battery_secret: str


class TokenAnswer(BaseModel):
    access_token: str
    token_type: str
    battery_id: int
    expires_in: int
    expires_in_hours: int
    scope: str
    refresh_time: str | None = None


class LiveDataAnswer(BaseModel):
    status: str
    data_id: int
    battery_id: int
    timestamp: str
    fields_processed: int
    skipped_fields: dict[str, str] | None = None
    unknown_fields: list[str] | None = None
    unknown_fields_count: int | None = None
    clock_skewed: bool | None = None


class ErrorAnswer(BaseModel):
    detail: str


class BatchItemAnswer(BaseModel):
    index: int
    status: str
    reason: str | None = None
    data_id: int | None = None
    battery_id: int | None = None
    timestamp: str | None = None
    fields_processed: int | None = None
    skipped_fields: dict[str, str] | None = None
    unknown_fields: list[str] | None = None
    unknown_fields_count: int | None = None
    clock_skewed: bool | None = None


class BatchAnswer(BaseModel):
    status: str
    accepted: int
    rejected: int
    results: list[BatchItemAnswer]
