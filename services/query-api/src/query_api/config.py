"""Query API and projector settings (``BATTERYHUB_*`` environment variables)."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from batteryhub_platform.settings import DatabaseSettings, GroupId, ServiceSettings
from batteryhub_platform.tokens import DEV_USER_TOKEN_KEY, signing_key

DEV_ADMIN_USER = "admin"
DEV_ADMIN_PASSWORD = "admin-dev-password"


class Settings(ServiceSettings, DatabaseSettings):
    consumer_groups: ClassVar[dict[str, str]] = {"projector_group_id": "query-projector"}
    user_token_key: SecretStr | None = None
    user_token_ttl_hours: int = Field(default=24, ge=1, le=24 * 30)
    admin_user: str | None = None
    admin_password: SecretStr | None = None
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    projector_group_id: GroupId = Field(
        default="",
        description="The projector's consumer group; empty: `<topic prefix>query-projector`.",
    )
    max_records: int = Field(default=500, ge=1, le=10_000)
    # The projector reads a decoded-readings record in the decoder's shape by its compiled
    # path (query_api.adapters.native_rows): its rows already encoded for COPY. Off, every
    # record takes the Python path, which stores the same rows at more CPU a reading.
    native_rows: bool = True
    # Brute-force limits of the login endpoint, per process (see batteryhub_platform.login_guard).
    login_max_failures: int = Field(default=10, ge=1)
    login_failure_window_s: float = Field(default=300.0, gt=0)
    login_max_pending_checks: int = Field(default=16, ge=1)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip().startswith("["):
            return [o.strip() for o in value.split(",") if o.strip()]
        return value

    @model_validator(mode="after")
    def _secrets_are_real_outside_local(self) -> Settings:
        key = signing_key(
            self.profile,
            self.user_token_key.get_secret_value() if self.user_token_key else None,
            DEV_USER_TOKEN_KEY,
            "BATTERYHUB_USER_TOKEN_KEY",
        )
        self.user_token_key = SecretStr(key)
        if self.profile == "local":
            self.admin_user = self.admin_user or DEV_ADMIN_USER
            self.admin_password = self.admin_password or SecretStr(DEV_ADMIN_PASSWORD)
        elif self.admin_password is not None and (
            self.admin_password.get_secret_value() == DEV_ADMIN_PASSWORD
            or len(self.admin_password.get_secret_value()) < 12
        ):
            raise ValueError(
                "BATTERYHUB_ADMIN_PASSWORD must be at least 12 characters, not the dev one"
            )
        if "*" in self.cors_origins:
            raise ValueError("BATTERYHUB_CORS_ORIGINS must list the SPA origins, not '*'")
        return self

    @property
    def user_key(self) -> str:
        assert self.user_token_key is not None  # the validator filled or refused it
        return self.user_token_key.get_secret_value()
