"""Response and request schemas of the query API, in the shapes the existing app renders."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from batteryhub_contracts.isotime import naive_utc
from batteryhub_platform.tokens import Role


class UtcModel(BaseModel):
    @field_serializer("*", when_used="json")
    def _times(self, value: Any) -> Any:
        return naive_utc(value) if isinstance(value, datetime) else value


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=256)


class TokenPublic(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    username: str
    role: Role
    hub_id: int | None
    accessible_hub_ids: list[int]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=150, pattern=r"^[A-Za-z0-9_.@+-]+$")
    password: str = Field(min_length=8, max_length=256, pattern=r"^[^\x00]*$")
    role: Role
    hub_id: int | None = Field(default=None, ge=0, le=2**53 - 1)
    accessible_hub_ids: list[int] = Field(default_factory=list, max_length=1000)


class UserPublic(BaseModel):
    id: int
    username: str
    role: Role
    hub_id: int | None
    accessible_hub_ids: list[int]


class LatestReading(UtcModel):
    timestamp: datetime
    received_at: datetime
    soc: float | None
    voltage: float | None
    current: float | None
    temperature: float | None
    power: float | None
    latitude: float | None
    longitude: float | None
    error_codes: str | None


class BatteryPublic(UtcModel):
    battery_id: int
    hub_id: int
    name: str
    device_id: str | None
    status: str
    registered_at: datetime
    last_seen: datetime | None
    latest: LatestReading | None


class DecodedErrorPublic(BaseModel):
    code: str
    name: str
    description: str
    severity: str


class OtherMetrics(BaseModel):
    soc: float | None
    voltage: float | None
    current: float | None
    temperature: float | None
    power: float | None
    latitude: float | None
    longitude: float | None


class ErrorEntry(UtcModel):
    id: int
    timestamp: datetime
    error_codes: str | None
    decoded_errors: list[DecodedErrorPublic]
    other_metrics: OtherMetrics


class TimeRange(UtcModel):
    start: datetime
    end: datetime


class ErrorHistory(BaseModel):
    battery_id: int
    battery_name: str
    errors: list[ErrorEntry]
    total_errors: int
    time_period: str
    time_range: TimeRange


class NotificationPublic(UtcModel):
    id: int
    hub_id: int
    battery_id: int
    notification_type: str
    title: str
    message: str
    severity: str
    is_read: bool
    link_type: str
    link_id: int
    created_at: datetime
    read_at: datetime | None


class UnreadCount(BaseModel):
    unread_count: int


class MarkedRead(BaseModel):
    marked_read: int


class ErrorAnswer(BaseModel):
    detail: str
