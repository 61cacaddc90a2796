"""The scenarios the old system was accepted on (WIRE-FACTS §1), end to end over HTTP:
gateway -> Kafka -> decoder -> notifier / projector -> query API."""

from __future__ import annotations

from typing import Any

import pytest

from query_api.entrypoints.schemas import ErrorHistory
from tests.hub import Hub, eventually

pytestmark = pytest.mark.e2e

SCENARIOS = [
    ("TG", ["T", "G"], 2),
    ("L", ["L"], 1),
    ("CBL", ["C", "B", "L"], 3),
    ("X", ["X"], 1),
    ("TXYZ", ["T", "X", "Y", "Z"], 4),
    ("", [], 0),
]


@pytest.mark.parametrize(("err", "codes", "notifications"), SCENARIOS)
async def test_accepted_scenario_decodes_and_notifies_as_before(
    hub: Hub, err: str, codes: list[str], notifications: int
) -> None:
    battery_id, token = await hub.new_battery(hub_id=1)
    answer = await hub.send_ok(
        token,
        {
            "id": battery_id,
            "soc": 85.5,
            "v": 13.2,
            "i": -0.4,
            "t": 28.5,
            "p": -5.2,
            "lat": 55.622,
            "lon": -3.527,
            "err": err,
        },
    )
    assert answer["status"] == "success"
    assert answer["battery_id"] == battery_id

    await hub.settled()
    history = (await hub.errors(battery_id)).json()
    if codes:
        (entry,) = history["errors"]
        assert entry["id"] == answer["data_id"]
        assert entry["error_codes"] == err
        assert [e["code"] for e in entry["decoded_errors"]] == codes
        assert entry["other_metrics"] == {
            "soc": 85.5,
            "voltage": 13.2,
            "current": -0.4,
            "temperature": 28.5,
            "power": -5.2,
            "latitude": 55.622,
            "longitude": -3.527,
        }
    else:
        assert history["errors"] == [] and history["total_errors"] == 0
    raised = await hub.notifications_of(battery_id)
    assert sorted(n["notification_type"] for n in raised) == sorted(
        f"battery_error_{c}" for c in codes
    )
    assert len(raised) == notifications


async def test_unknown_code_is_reported_with_its_description(hub: Hub) -> None:
    battery_id, token = await hub.new_battery()
    await hub.send_ok(token, {"id": battery_id, "err": "TXYZ"})

    async def decoded() -> list[dict[str, str]]:
        answer = await hub.errors(battery_id)
        assert answer.status_code == 200, answer.text
        entries = answer.json()["errors"]
        assert len(entries) == 1, entries
        return list(entries[0]["decoded_errors"])

    errors = await eventually(decoded)
    assert errors[0] == {
        "code": "T",
        "name": "tempSensorError",
        "description": "Temperature sensor error",
        "severity": "warning",
    }
    assert [e["description"] for e in errors[1:]] == [
        "Unknown error code: X",
        "Unknown error code: Y",
        "Unknown error code: Z",
    ]


async def test_error_history_answer_is_exactly_the_declared_schema(hub: Hub) -> None:
    """The route writes its answer without the response model (for speed); every field the
    OpenAPI document declares is there, and nothing else."""
    battery_id, token = await hub.new_battery(hub_id=1, name="BAT-shape")
    quiet_id, _ = await hub.new_battery(hub_id=1, name="BAT-quiet")
    await hub.send_ok(token, {"id": battery_id, "soc": 50, "v": 12.9, "err": "TX"})

    async def history(battery: int, entries: int) -> dict[str, Any]:
        answer = await hub.errors(battery)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        assert len(body["errors"]) == entries, body
        return body

    body = await eventually(lambda: history(battery_id, 1))
    assert ErrorHistory.model_validate(body).model_dump(mode="json") == body
    (entry,) = body["errors"]
    assert entry["decoded_errors"] == [
        {
            "code": "T",
            "name": "tempSensorError",
            "description": "Temperature sensor error",
            "severity": "warning",
        },
        {
            "code": "X",
            "name": "unknownError",
            "description": "Unknown error code: X",
            "severity": "warning",
        },
    ]

    quiet = await eventually(lambda: history(quiet_id, 0))
    assert ErrorHistory.model_validate(quiet).model_dump(mode="json") == quiet
    assert (quiet["battery_name"], quiet["total_errors"]) == ("BAT-quiet", 0)


async def test_notification_record_has_the_fields_the_app_renders(hub: Hub) -> None:
    battery_id, token = await hub.new_battery(hub_id=1, name="BAT001-x")
    await hub.send_ok(token, {"id": battery_id, "err": "T"})

    async def one() -> dict[str, object]:
        found = await hub.notifications_of(battery_id)
        assert len(found) == 1, found
        return found[0]

    n = await eventually(one)
    assert n["title"] == "Battery BAT001-x: Temperature sensor error"
    assert (n["notification_type"], n["severity"], n["is_read"]) == (
        "battery_error_T",
        "warning",
        False,
    )
    assert (n["link_type"], n["link_id"], n["hub_id"]) == ("battery", battery_id, 1)
    assert {"id", "message", "created_at"} <= n.keys()
