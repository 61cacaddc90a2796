"""Relay format, battery login and refresh, revocation and secret rotation."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.hub import Hub, eventually

pytestmark = pytest.mark.e2e


async def test_relay_reading_is_mapped_to_its_battery_and_stored(hub: Hub) -> None:
    device_id = str(uuid.uuid4())
    battery_id, token = await hub.new_battery(hub_id=1, device_id=device_id)
    answer = await hub.send_ok(
        token,
        {
            "device_id": device_id,
            "values": [{"name": "data", "value": json.dumps({"soc": 85, "v": 13.2, "err": "TG"})}],
        },
    )
    assert answer["battery_id"] == battery_id

    async def stored() -> dict[str, object]:
        result = await hub.errors(battery_id)
        assert result.status_code == 200, result.text
        entries = result.json()["errors"]
        assert len(entries) == 1, entries
        return dict(entries[0])

    entry = await eventually(stored)
    assert entry["error_codes"] == "TG"
    assert entry["other_metrics"]["soc"] == 85  # type: ignore[index]


async def test_relay_for_an_unknown_device_is_404(hub: Hub) -> None:
    _, token = await hub.new_battery()
    answer = await hub.send(
        token, {"device_id": "not-registered", "values": [{"name": "data", "value": "{}"}]}
    )
    assert answer.status_code == 404


async def test_relay_for_another_batterys_device_is_403(hub: Hub) -> None:
    device_id = str(uuid.uuid4())
    await hub.new_battery(device_id=device_id)
    _, other_token = await hub.new_battery()
    answer = await hub.send(
        other_token, {"device_id": device_id, "values": [{"name": "data", "value": "{}"}]}
    )
    assert answer.status_code == 403


async def test_login_answers_the_old_token_shape_and_refresh_adds_refresh_time(hub: Hub) -> None:
    battery_id, secret = await hub.register()
    login = await hub.gateway.post(
        "/auth/battery-login", json={"battery_id": str(battery_id), "battery_secret": secret}
    )
    body = login.json()
    assert login.status_code == 200
    assert {k: body[k] for k in ("token_type", "battery_id", "scope")} == {
        "token_type": "bearer",
        "battery_id": battery_id,
        "scope": "webhook_write",
    }
    assert body["expires_in"] == body["expires_in_hours"] * 3600
    refreshed = await hub.gateway.post(
        "/auth/battery-refresh", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert refreshed.status_code == 200
    assert "refresh_time" in refreshed.json()
    await hub.send_ok(refreshed.json()["access_token"], {"id": battery_id, "soc": 50})


async def test_unknown_battery_and_wrong_secret_get_the_same_401(hub: Hub) -> None:
    battery_id, _ = await hub.register()
    wrong = await hub.gateway.post(
        "/auth/battery-login", json={"battery_id": battery_id, "battery_secret": "nope-nope"}
    )
    unknown = await hub.gateway.post(
        "/auth/battery-login", json={"battery_id": 987654321, "battery_secret": "nope-nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


async def test_a_revoked_battery_is_refused(hub: Hub) -> None:
    battery_id, secret = await hub.register()
    token = await hub.battery_token(battery_id, secret)
    revoke = await hub.gateway.delete(
        f"/admin/batteries/{battery_id}", headers=await hub.admin_headers()
    )
    assert revoke.status_code == 204
    assert (await hub.send(token, {"id": battery_id, "soc": 1})).status_code == 401
    login = await hub.gateway.post(
        "/auth/battery-login", json={"battery_id": battery_id, "battery_secret": secret}
    )
    assert login.status_code == 401


async def test_rotating_the_secret_retires_the_old_secret_and_its_tokens(hub: Hub) -> None:
    battery_id, secret = await hub.register()
    old_token = await hub.battery_token(battery_id, secret)
    rotate = await hub.gateway.post(
        f"/admin/batteries/{battery_id}/secret",
        json={"secret": "brand-new-secret"},
        headers=await hub.admin_headers(),
    )
    assert rotate.status_code == 200
    assert (await hub.send(old_token, {"id": battery_id})).status_code == 401
    new_token = await hub.battery_token(battery_id, "brand-new-secret")
    await hub.send_ok(new_token, {"id": battery_id, "soc": 10})


async def test_an_admin_registers_only_in_their_own_hub(hub: Hub) -> None:
    admin = await hub.create_user("admin", 31)
    headers = {"Authorization": f"Bearer {admin}"}
    own = await hub.gateway.post(
        "/admin/batteries",
        headers=headers,
        json={
            "battery_id": 900000 + uuid.uuid4().int % 99999,
            "hub_id": 31,
            "name": "own",
            "secret": "long-enough",
        },
    )
    other = await hub.gateway.post(
        "/admin/batteries",
        headers=headers,
        json={
            "battery_id": 800000 + uuid.uuid4().int % 99999,
            "hub_id": 32,
            "name": "other",
            "secret": "long-enough",
        },
    )
    plain_user = await hub.create_user("user", 31)
    as_user = await hub.gateway.post(
        "/admin/batteries",
        headers={"Authorization": f"Bearer {plain_user}"},
        json={
            "battery_id": 700000 + uuid.uuid4().int % 99999,
            "hub_id": 31,
            "name": "x",
            "secret": "long-enough",
        },
    )
    assert (own.status_code, other.status_code, as_user.status_code) == (201, 403, 403)


async def test_superadmin_may_submit_for_any_battery(hub: Hub) -> None:
    battery_id, _ = await hub.register()
    answer = await hub.send(await hub.admin_token(), {"id": battery_id, "soc": 12})
    assert answer.status_code == 200
    assert (await hub.send(await hub.admin_token(), {"id": 55555555, "soc": 1})).status_code == 404
