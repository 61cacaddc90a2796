"""The consumer group each service joins, as its environment names it."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from error_decoder.config import Settings as DecoderSettings
from notifier.config import Settings as NotifierSettings
from query_api.config import Settings as QuerySettings

# Each service's settings class, its group's field and the variable that names the group.
SERVICES: dict[str, tuple[Callable[[], BaseSettings], str, str]] = {
    "error-decoder": (DecoderSettings, "group_id", "BATTERYHUB_GROUP_ID"),
    "notifier": (NotifierSettings, "group_id", "BATTERYHUB_GROUP_ID"),
    "query-projector": (QuerySettings, "projector_group_id", "BATTERYHUB_PROJECTOR_GROUP_ID"),
}


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """What every service needs to start, and nothing from the environment the tests run in."""
    for name in os.environ:
        if name.startswith("BATTERYHUB_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("BATTERYHUB_KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv("BATTERYHUB_DATABASE_URL", "postgresql+asyncpg://u:p@db/batteryhub")
    monkeypatch.setenv("BATTERYHUB_PROFILE", "local")  # the query API's dev keys


@pytest.mark.parametrize("service", list(SERVICES))
def test_a_group_is_the_services_name_under_the_topic_prefix(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, field, variable = SERVICES[service]

    def group() -> str:
        return str(getattr(settings(), field))

    assert group() == service  # no prefix: the names every deployment used before
    monkeypatch.setenv("BATTERYHUB_TOPIC_PREFIX", "prod.")
    assert group() == f"prod.{service}"
    monkeypatch.setenv(variable, "")  # as an empty Helm value or `VAR=` would set it
    assert group() == f"prod.{service}"
    monkeypatch.setenv(variable, "blue")  # a named group, as it is
    assert group() == "blue"


@pytest.mark.parametrize("service", list(SERVICES))
@pytest.mark.parametrize("group", ["blue green", "prod/notifier", "x" * 250])
def test_a_group_the_chart_refuses_is_refused_at_start(
    service: str, group: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chart's values schema takes letters, digits, `.`, `_` and `-`, at most 249 of
    them; a service started by other means refuses the rest, naming the variable's field."""
    settings, field, variable = SERVICES[service]
    monkeypatch.setenv(variable, group)
    with pytest.raises(ValidationError, match=field):
        settings()
    monkeypatch.setenv(variable, "blue_green-2.prod")
    assert getattr(settings(), field) == "blue_green-2.prod"
