"""Settings every service shares (Kafka connection, topic prefix, logging). Each service's
own ``Settings`` class extends this one; only settings classes read the environment."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from batteryhub_contracts.topics import full_name
from batteryhub_platform.kafka import EventPublisher, KafkaConnection

GroupId = Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]*$", max_length=249)]
"""A consumer group's id as the Helm chart's values schema takes it (as Kafka's topic names):
a value the chart refuses, the service refuses too. Empty: the service's name under the topic
prefix (``ServiceSettings._groups_under_prefix``)."""


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BATTERYHUB_", extra="ignore")

    consumer_groups: ClassVar[dict[str, str]] = {}
    """A consumer's fields that name its consumer groups, each with the name an empty one
    takes under the topic prefix (``_groups_under_prefix``)."""

    profile: Literal["local", "production"] = "production"
    log_level: str = "INFO"

    kafka_bootstrap_servers: str
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    topic_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9._-]*$", max_length=100)
    produce_timeout_s: float = Field(default=4.0, gt=0, le=60)
    produce_linger_ms: int = Field(
        default=2,
        ge=0,
        le=1000,
        description="How long the producer holds records to send more of them at once.",
    )

    produce_compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = Field(
        default="zstd",
        description="How the producers compress their record batches. The readings' JSON "
        "takes ~10x less room in Kafka, on disk and between brokers and consumers with zstd.",
    )

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

    def publisher(self, client_id: str) -> EventPublisher:
        """The service's producer, with these settings' timeout and linger."""
        return EventPublisher(
            self.kafka,
            client_id,
            self.produce_timeout_s,
            self.produce_linger_ms,
            None if self.produce_compression == "none" else self.produce_compression,
        )

    def topic(self, name: str) -> str:
        return full_name(name, self.topic_prefix)

    @model_validator(mode="after")
    def _groups_under_prefix(self) -> Self:
        """An empty group id becomes the service's name under the topic prefix. Deployments (or
        test runs) that share a Kafka cluster under prefixes of their own then share no group:
        a shared group rebalances both at every join or leave, and an in-place replay of one
        needs the other's consumers stopped too."""
        for field, name in self.consumer_groups.items():
            setattr(self, field, getattr(self, field) or full_name(name, self.topic_prefix))
        return self


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BATTERYHUB_", extra="ignore")

    database_url: SecretStr = Field(
        description="postgresql+asyncpg://user:password@host:port/database"
    )
    database_pool_size: int = Field(default=10, ge=1, le=100)

    @property
    def database_dsn(self) -> str:
        return self.database_url.get_secret_value()
