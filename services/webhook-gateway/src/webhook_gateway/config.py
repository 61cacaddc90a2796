"""Gateway settings, read from ``BATTERYHUB_*`` environment variables. The only place that
reads the environment."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from batteryhub_platform.kafka import KafkaConnection

DEV_BATTERY_TOKEN_KEY = "dev-only-battery-token-key-change-me-0000000000"
DEV_USER_TOKEN_KEY = "dev-only-user-token-key-change-me-00000000000000"
_PLACEHOLDERS = {"", "change-me", "changeme", "secret", DEV_BATTERY_TOKEN_KEY, DEV_USER_TOKEN_KEY}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BATTERYHUB_", extra="ignore")

    profile: Literal["local", "production"] = "production"
    kafka_bootstrap_servers: str
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = (
        "PLAINTEXT"
    )
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    topic_prefix: str = ""

    battery_token_key: SecretStr | None = None
    user_token_key: SecretStr | None = None
    battery_token_ttl_hours: int = Field(default=8760, ge=1, le=24 * 365 * 5)

    produce_timeout_s: float = Field(default=4.0, gt=0, le=30)
    retry_after_s: int = Field(default=5, ge=1)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    registry_catch_up_timeout_s: float = Field(default=30.0, gt=0)
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _secrets_are_real_outside_local(self) -> Settings:
        if self.profile == "local":
            self.battery_token_key = self.battery_token_key or SecretStr(DEV_BATTERY_TOKEN_KEY)
            self.user_token_key = self.user_token_key or SecretStr(DEV_USER_TOKEN_KEY)
        for name in ("battery_token_key", "user_token_key"):
            value: SecretStr | None = getattr(self, name)
            text = value.get_secret_value() if value else ""
            if self.profile != "local" and (text in _PLACEHOLDERS or len(text) < 32):
                raise ValueError(
                    f"BATTERYHUB_{name.upper()} must be set to a random secret of at least "
                    "32 characters outside the local profile"
                )
        if self.battery_token_key == self.user_token_key:
            raise ValueError("battery and user tokens must be signed with different keys")
        return self

    @property
    def kafka(self) -> KafkaConnection:
        return KafkaConnection(
            bootstrap_servers=self.kafka_bootstrap_servers,
            security_protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            sasl_username=self.kafka_sasl_username,
            sasl_password=(
                self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else None
            ),
        )

    def secret(self, name: Literal["battery_token_key", "user_token_key"]) -> str:
        value: SecretStr | None = getattr(self, name)
        assert value is not None  # the validator filled or refused it
        return value.get_secret_value()
