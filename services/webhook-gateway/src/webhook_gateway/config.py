"""Gateway settings, read from ``BATTERYHUB_*`` environment variables. The only place in the
gateway that reads the environment."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from batteryhub_platform.settings import ServiceSettings
from batteryhub_platform.tokens import DEV_BATTERY_TOKEN_KEY, DEV_USER_TOKEN_KEY, signing_key


class Settings(ServiceSettings):
    battery_token_key: SecretStr | None = None
    user_token_key: SecretStr | None = None
    battery_token_ttl_hours: int = Field(default=8760, ge=1, le=24 * 365 * 5)

    retry_after_s: int = Field(default=5, ge=1)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    max_batch_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Batch uploads worked on at once per worker, how many more may wait for a turn and how
    # long; any beyond are answered 503 (see webhook_gateway.admission).
    upload_slots: int = Field(default=8, ge=1, le=1000)
    upload_queue: int = Field(default=32, ge=0, le=10000)
    upload_wait_s: float = Field(default=2.0, gt=0, le=60)
    # The compiled path for a battery's own batch uploads in the common shape
    # (webhook_gateway.domain.native); off, every upload takes the Python path, which gives
    # the same records and answers at about twice the gateway's CPU a reading.
    native_batch: bool = True
    registry_catch_up_timeout_s: float = Field(default=30.0, gt=0)
    # Brute-force limits of the login endpoint, per process (see batteryhub_platform.login_guard).
    login_max_failures: int = Field(default=10, ge=1)
    login_failure_window_s: float = Field(default=300.0, gt=0)
    login_max_pending_checks: int = Field(default=16, ge=1)

    @model_validator(mode="after")
    def _keys_are_real_outside_local(self) -> Settings:
        battery = signing_key(
            self.profile,
            self.battery_token_key.get_secret_value() if self.battery_token_key else None,
            DEV_BATTERY_TOKEN_KEY,
            "BATTERYHUB_BATTERY_TOKEN_KEY",
        )
        user = signing_key(
            self.profile,
            self.user_token_key.get_secret_value() if self.user_token_key else None,
            DEV_USER_TOKEN_KEY,
            "BATTERYHUB_USER_TOKEN_KEY",
        )
        if battery == user:
            raise ValueError("battery and user tokens must be signed with different keys")
        self.battery_token_key, self.user_token_key = SecretStr(battery), SecretStr(user)
        return self

    def secret(self, name: str) -> str:
        value = getattr(self, name)
        assert isinstance(value, SecretStr)  # the validator filled or refused it
        return value.get_secret_value()
