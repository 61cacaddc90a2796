"""The consumer groups each service joins, as its environment names them."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from error_decoder.config import Settings as DecoderSettings
from notifier.config import Settings as NotifierSettings
from query_api.config import Settings as QuerySettings

KAFKA = {"kafka_bootstrap_servers": "kafka:9092"}
DATABASE = {"database_url": "postgresql+asyncpg://u:p@db/batteryhub"}


def _decoder(**env: str) -> str:
    return DecoderSettings(**KAFKA, **env).group_id  # type: ignore[arg-type]


def _notifier(**env: str) -> str:
    return NotifierSettings(**KAFKA, **DATABASE, **env).group_id  # type: ignore[arg-type]


def _projector(**env: str) -> str:
    group = env.pop("group_id", None)
    named = {"projector_group_id": group} if group is not None else {}
    settings = QuerySettings(**KAFKA, **DATABASE, profile="local", **named, **env)  # type: ignore[arg-type]
    return settings.projector_group_id


GROUPS: dict[str, Callable[..., str]] = {
    "error-decoder": _decoder,
    "notifier": _notifier,
    "query-projector": _projector,
}


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what each test passes: nothing from the environment it runs in."""
    for name in os.environ:
        if name.startswith("BATTERYHUB_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize("name", list(GROUPS))
def test_a_group_is_the_services_name_under_the_topic_prefix(name: str) -> None:
    group = GROUPS[name]
    assert group() == name  # no prefix: the names every deployment used before
    assert group(topic_prefix="prod.") == f"prod.{name}"
    assert group(topic_prefix="prod.", group_id="blue") == "blue"  # a named group as it is
