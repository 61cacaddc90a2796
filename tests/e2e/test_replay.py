"""The log is the source of truth: a projection rebuilt from the topics into an empty
database answers every query exactly as the live one does."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from tests.hub import (
    Hub,
    eventually,
    free_port,
    migrate_query_tables,
    new_hub_id,
    wait_until_ready,
)

pytestmark = pytest.mark.e2e


async def _answers(client: httpx.AsyncClient, headers: dict[str, str], batteries: list[int]) -> str:
    return hashlib.sha256(
        json.dumps(await _seen(client, headers, batteries), sort_keys=True).encode()
    ).hexdigest()


async def _seen(
    client: httpx.AsyncClient, headers: dict[str, str], batteries: list[int]
) -> list[Any]:
    """A hash of what the apps see: batteries, error histories and notifications."""
    seen: list[Any] = []
    for path, params in [
        ("/batteries", {"limit": 1000}),
        ("/notifications", {"limit": 1000}),
        ("/notifications/unread-count", {}),
    ]:
        seen.append((await client.get(path, params=params, headers=headers)).json())
    for battery_id in batteries:
        history = (
            await client.get(
                f"/batteries/{battery_id}/errors",
                params={"time_period": "last_year", "limit": 1000},
                headers=headers,
            )
        ).json()
        seen.append(
            {k: history.get(k) for k in ("battery_id", "battery_name", "errors", "total_errors")}
        )
    return seen


def _first_difference(live: Any, rebuilt: Any, path: str = "") -> str:
    if isinstance(live, dict) and isinstance(rebuilt, dict):
        for key in sorted(set(live) | set(rebuilt)):
            if live.get(key) != rebuilt.get(key):
                return _first_difference(live.get(key), rebuilt.get(key), f"{path}.{key}")
    if isinstance(live, list) and isinstance(rebuilt, list) and len(live) == len(rebuilt):
        for n, (a, b) in enumerate(zip(live, rebuilt, strict=True)):
            if a != b:
                return f"{path}[{n}] live {a} rebuilt {b}"
    return f"{path}: live {str(live)[:300]} != rebuilt {str(rebuilt)[:300]}"


async def test_a_projection_rebuilt_from_the_log_answers_identically(hub: Hub) -> None:
    hub_id = new_hub_id()
    batteries = []
    for n in range(3):
        battery_id, token = await hub.new_battery(hub_id=hub_id)
        batteries.append(battery_id)
        await hub.send_ok(token, {"id": battery_id, "err": "TG", "soc": 40 + n})
        await hub.send_ok(
            token, {"id": battery_id, "err": "L", "d": "2026-01-02", "tm": f"0{n}:00:00"}
        )
        await hub.send_ok(token, {"id": battery_id, "soc": 90})
    await hub.settled()
    headers = await hub.admin_headers()
    first = (await hub.notifications_of(batteries[0]))[0]
    read = await hub.query.put(f"/notifications/{first['id']}/read", headers=headers)
    assert read.status_code == 200
    await hub.settled()
    scope = {"Authorization": headers["Authorization"]}
    live = await _answers(hub.query, scope, batteries)
    live_seen = await _seen(hub.query, scope, batteries)

    system = hub.system
    database = f"{system.database}_replay"
    admin = await asyncpg.connect(system.database_url("postgres", "postgresql"))
    await admin.execute(f'CREATE DATABASE "{database}"')
    await admin.close()
    rebuilt_env = {
        "BATTERYHUB_DATABASE_URL": system.database_url(database),
        "BATTERYHUB_PROJECTOR_GROUP_ID": f"replay-{uuid.uuid4().hex[:8]}",
    }
    await migrate_query_tables(system, rebuilt_env)
    projector_port, query_port = free_port(), free_port()
    system.start("query-projector", instance="-replay", port=projector_port, extra_env=rebuilt_env)
    system.start("query-api", instance="-replay", port=query_port, extra_env=rebuilt_env)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{query_port}", timeout=30) as c:
            await wait_until_ready(c, "the rebuilt query API")

            async def same() -> str:
                rebuilt = await _answers(c, scope, batteries)
                assert rebuilt == live, _first_difference(
                    live_seen, await _seen(c, scope, batteries)
                )
                return rebuilt

            assert await eventually(same, timeout_s=60, interval_s=0.5) == live
    finally:
        system.stop("query-projector-replay")
        system.stop("query-api-replay")
        admin = await asyncpg.connect(system.database_url("postgres", "postgresql"))
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()
