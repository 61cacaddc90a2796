"""A storm of batch uploads against one gateway worker: what it cannot take in turn it
refuses at once with 503 and a Retry-After, stores none of a refused upload, and stores every
accepted one (issue: ingest at fleet scale, "a reconnect storm is many times that")."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.hub import Hub, free_port, wait_until_ready

pytestmark = pytest.mark.e2e

UPLOADS = 20
READINGS = 500


def upload(battery_id: int) -> list[dict[str, object]]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    return [
        {
            "id": battery_id,
            "err": "T",
            "soc": 50,
            "d": (start + timedelta(seconds=n)).strftime("%Y-%m-%d"),
            "tm": (start + timedelta(seconds=n)).strftime("%H:%M:%S"),
        }
        for n in range(READINGS)
    ]


@asynccontextmanager
async def _narrow(hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    """A gateway worker of its own that works on one upload at a time and lets none wait.
    Started after the batteries are registered: it is ready once it has read the registry."""
    port = free_port()
    hub.system.start(
        "webhook-gateway",
        instance="-narrow",
        port=port,
        extra_env={"BATTERYHUB_UPLOAD_SLOTS": "1", "BATTERYHUB_UPLOAD_QUEUE": "0"},
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            await wait_until_ready(client, "the narrow gateway")
            yield client
    finally:
        hub.system.stop("webhook-gateway-narrow")


async def stored(hub: Hub, battery_id: int) -> int:
    answer = await hub.errors(battery_id)
    assert answer.status_code == 200, answer.text
    return len(answer.json()["errors"])


async def test_uploads_beyond_the_slots_and_queue_are_refused_whole_and_retried(
    hub: Hub,
) -> None:
    batteries = [await hub.new_battery() for _ in range(UPLOADS)]
    await hub.settled()

    # Encoded beforehand, so that the uploads reach the worker together.
    bodies = {b: json.dumps(upload(b)).encode() for b, _ in batteries}

    async def send(client: httpx.AsyncClient, battery_id: int, token: str) -> httpx.Response:
        return await client.post(
            "/webhook/live-data/batch",
            content=bodies[battery_id],
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )

    async with _narrow(hub) as client:
        answers = await asyncio.gather(*(send(client, b, t) for b, t in batteries))
        codes = [a.status_code for a in answers]
        assert set(codes) <= {200, 503}, [
            a.text for a in answers if a.status_code not in (200, 503)
        ]
        refused = [b for b, a in zip(batteries, answers, strict=True) if a.status_code == 503]
        accepted = [b for b, a in zip(batteries, answers, strict=True) if a.status_code == 200]
        assert refused, "20 uploads at once against one slot and no queue: some must be refused"
        assert accepted, "the first upload to arrive has the slot"
        for answer in answers:
            if answer.status_code == 503:
                assert 5 <= int(answer.headers["Retry-After"]) <= 10  # the default 5 s, spread
                assert answer.json()["detail"].startswith("busy, not stored, try again later")
            else:
                assert answer.json()["accepted"] == READINGS
        shed = re.search(
            r"^gateway_uploads_shed_total (\S+)$", (await client.get("/metrics")).text, re.M
        )
        assert shed is not None and float(shed.group(1)) == len(refused)

        await hub.settled()
        assert [await stored(hub, b) for b, _ in accepted] == [READINGS] * len(accepted)
        assert [await stored(hub, b) for b, _ in refused] == [0] * len(refused)

        # The batteries come back later, one at a time: every retry is taken.
        for battery_id, token in refused:
            answer = await send(client, battery_id, token)
            assert answer.status_code == 200, answer.text
        await hub.settled()
        assert [await stored(hub, b) for b, _ in refused] == [READINGS] * len(refused)
