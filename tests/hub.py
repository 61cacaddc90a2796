"""A client for the running system, speaking HTTP as the batteries and the apps do, plus
the one system-level check the tests need: every consumer group has caught up."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from batteryhub_contracts.topics import (
    NOTIFICATIONS,
    READINGS_DECODED,
    READINGS_RAW,
    REGISTRY,
)
from batteryhub_platform.offsets import group_positions
from deploy.local.run import PYTHON, ROOT, LocalSystem

T = TypeVar("T")

GROUP_TOPICS = {
    "error-decoder": (READINGS_RAW,),
    "notifier": (READINGS_DECODED, NOTIFICATIONS),
    "query-projector": (READINGS_DECODED, REGISTRY, NOTIFICATIONS),
}
_battery_ids = itertools.count(int(time.time()) % 100_000 * 1000)
_hub_ids = itertools.count(int(time.time()) % 100_000 * 100)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def new_battery_id() -> int:
    return next(_battery_ids)


def new_hub_id() -> int:
    return next(_hub_ids)


class Hub:
    def __init__(self, system: LocalSystem) -> None:
        self.system = system
        self.gateway = httpx.AsyncClient(base_url=system.url("webhook-gateway"), timeout=30)
        self.query = httpx.AsyncClient(base_url=system.url("query-api"), timeout=30)
        self._admin_token: str | None = None

    async def close(self) -> None:
        await self.gateway.aclose()
        await self.query.aclose()

    # --- users ---------------------------------------------------------------------

    async def login(self, username: str, password: str) -> str:
        answer = await self.query.post(
            "/auth/token", json={"username": username, "password": password}
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    async def admin_token(self) -> str:
        if self._admin_token is None:
            env = self.system.env()
            self._admin_token = await self.login(
                env["BATTERYHUB_ADMIN_USER"], env["BATTERYHUB_ADMIN_PASSWORD"]
            )
        return self._admin_token

    async def create_user(
        self, role: str, hub_id: int | None, accessible: list[int] | None = None
    ) -> str:
        """Create a user and return a token for it."""
        username = f"{role}-{uuid.uuid4().hex[:10]}"
        password = "pw-" + uuid.uuid4().hex
        answer = await self.query.post(
            "/admin/users",
            json={
                "username": username,
                "password": password,
                "role": role,
                "hub_id": hub_id,
                "accessible_hub_ids": accessible or [],
            },
            headers=await self.admin_headers(),
        )
        assert answer.status_code == 201, answer.text
        return await self.login(username, password)

    async def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.admin_token()}"}

    # --- batteries -------------------------------------------------------------------

    async def register(
        self,
        hub_id: int = 1,
        name: str | None = None,
        device_id: str | None = None,
        battery_id: int | None = None,
    ) -> tuple[int, str]:
        """Register a battery and return (battery id, its secret)."""
        battery_id = battery_id or new_battery_id()
        secret = "secret-" + uuid.uuid4().hex
        body: dict[str, Any] = {
            "battery_id": battery_id,
            "hub_id": hub_id,
            "name": name or f"BAT{battery_id}",
            "secret": secret,
        }
        if device_id:
            body["device_id"] = device_id
        answer = await self.gateway.post(
            "/admin/batteries", json=body, headers=await self.admin_headers()
        )
        assert answer.status_code == 201, answer.text
        return battery_id, secret

    async def battery_token(self, battery_id: int, secret: str) -> str:
        answer = await self.gateway.post(
            "/auth/battery-login", json={"battery_id": battery_id, "battery_secret": secret}
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    async def new_battery(self, hub_id: int = 1, **kwargs: Any) -> tuple[int, str]:
        """A registered battery and its token."""
        battery_id, secret = await self.register(hub_id, **kwargs)
        return battery_id, await self.battery_token(battery_id, secret)

    async def send(self, token: str, payload: Any) -> httpx.Response:
        return await self.gateway.post(
            "/webhook/live-data", json=payload, headers={"Authorization": f"Bearer {token}"}
        )

    async def send_ok(self, token: str, payload: Any) -> dict[str, Any]:
        answer = await self.send(token, payload)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    # --- reading what the apps read --------------------------------------------------

    async def errors(
        self, battery_id: int, token: str | None = None, **params: Any
    ) -> httpx.Response:
        params.setdefault("time_period", "last_year")
        params.setdefault("limit", 1000)
        headers = {"Authorization": f"Bearer {token}"} if token else await self.admin_headers()
        return await self.query.get(
            f"/batteries/{battery_id}/errors", params=params, headers=headers
        )

    async def notifications_of(
        self, battery_id: int, token: str | None = None
    ) -> list[dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token}"} if token else await self.admin_headers()
        found: list[dict[str, Any]] = []
        for offset in itertools.count(0, 1000):
            answer = await self.query.get(
                "/notifications", params={"limit": 1000, "offset": offset}, headers=headers
            )
            assert answer.status_code == 200, answer.text
            page = answer.json()
            found.extend(n for n in page if n["battery_id"] == battery_id)
            if len(page) < 1000:
                return found
        raise AssertionError("unreachable")

    # --- waiting ----------------------------------------------------------------------

    async def settled(self, timeout_s: float = 60) -> None:
        """Wait until every consumer group has consumed everything on its topics, twice in
        a row (a decoder's output becomes the next group's input)."""
        deadline = time.monotonic() + timeout_s
        quiet = 0
        lags: dict[str, dict[str, int]] = {}
        while time.monotonic() < deadline:
            lags = await self.lags()
            quiet = quiet + 1 if not any(lags.values()) else 0
            if quiet >= 2:
                return
            await asyncio.sleep(0.25)
        raise AssertionError(
            f"consumers did not catch up within {timeout_s:g} s: "
            + "; ".join(f"{g} lags {parts}" for g, parts in lags.items() if parts)
            + "".join(
                f"\n--- last lines of {g}'s log:\n{self.system.log_tail(g)}"
                for g, parts in lags.items()
                if parts
            )
        )

    async def lags(self) -> dict[str, dict[str, int]]:
        """Per consumer group (named as its service; on the cluster its id is that name under
        the topic prefix), the partitions it has not caught up on:
        ``{"notifier": {"readings.decoded[3]": 32}}``."""
        prefix = self.system.topic_prefix
        admin = AIOKafkaAdminClient(bootstrap_servers=self.system.kafka)
        consumer = AIOKafkaConsumer(bootstrap_servers=self.system.kafka)
        await admin.start()
        await consumer.start()
        try:
            lags: dict[str, dict[str, int]] = {}
            for group, topics in GROUP_TOPICS.items():
                names = {prefix + t for t in topics}
                positions = await group_positions(admin, consumer, prefix + group, names)
                assert {tp.topic for tp in positions} == names, f"topics missing: {names}"
                lags[group] = {
                    f"{tp.topic}[{tp.partition}]": end - done
                    for tp, (done, end) in positions.items()
                    if end > done
                }
            return lags
        finally:
            await consumer.stop()
            await admin.close()


async def read_topic(hub: Hub, name: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record on this system's topic ``name`` (without the prefix), from the start."""
    topic = hub.system.topic_prefix + name
    admin = AIOKafkaAdminClient(bootstrap_servers=hub.system.kafka)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=hub.system.kafka, enable_auto_commit=False)
    await consumer.start()
    found: list[ConsumerRecord[bytes, bytes]] = []
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                found.extend(records)
        return found
    finally:
        await consumer.stop()


async def eventually(
    check: Callable[[], Awaitable[T]], timeout_s: float = 15, interval_s: float = 0.1
) -> T:
    """Poll ``check`` until it stops raising AssertionError; return its value."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(interval_s)


async def wait_until_ready(client: httpx.AsyncClient, what: str, timeout_s: float = 60) -> None:
    """Poll a process started by a test (its own port) until its ``/ready`` answers 200."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if (await client.get("/ready")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{what} never became ready"
        await asyncio.sleep(0.3)


async def migrate_query_tables(system: LocalSystem, env: dict[str, str]) -> None:
    """Run the query side's migrations with ``system``'s settings overridden by ``env`` (a
    database of a test's own, say)."""
    process = await asyncio.create_subprocess_exec(
        str(PYTHON),
        "-m",
        "query_api.entrypoints.migrate",
        cwd=ROOT,
        env={**system.env(), **env},
    )
    assert await process.wait() == 0
