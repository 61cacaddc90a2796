"""Login brute force: after the configured number of failures (10 by default) an account is
refused with 429 + Retry-After before any argon2 work; a flood over many accounts is bounded
by the cap on pending secret checks; other batteries keep logging in meanwhile.

Timings are printed (run with ``-s``) rather than asserted tightly: they depend on the machine.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import httpx
import pytest

from tests.hub import Hub, new_battery_id

pytestmark = pytest.mark.e2e

MAX_FAILURES = 10  # BATTERYHUB_LOGIN_MAX_FAILURES, default
WINDOW_S = 300  # BATTERYHUB_LOGIN_FAILURE_WINDOW_S, default
MAX_PENDING = 16  # BATTERYHUB_LOGIN_MAX_PENDING_CHECKS, default


async def _secret_checks(client: httpx.AsyncClient) -> float:
    text = (await client.get("/metrics")).text
    match = re.search(r"^login_secret_checks_total (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def _battery_login(client: httpx.AsyncClient, battery_id: int, secret: str) -> httpx.Response:
    return await client.post(
        "/auth/battery-login", json={"battery_id": battery_id, "battery_secret": secret}
    )


async def _flood(
    calls: Sequence[Callable[[], Awaitable[httpx.Response]]], concurrency: int
) -> list[httpx.Response]:
    slots = asyncio.Semaphore(concurrency)

    async def one(call: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
        async with slots:
            return await call()

    return await asyncio.gather(*(one(c) for c in calls))


async def _timed(call: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    answer = await call
    return answer, time.perf_counter() - started


def _assert_retry_after(answer: httpx.Response, at_most: int) -> None:
    assert answer.status_code == 429, answer.text
    assert answer.json() == {"detail": "too many login attempts; try again later"}
    assert 1 <= int(answer.headers["retry-after"]) <= at_most


@pytest.fixture
async def attacker(hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=300, max_keepalive_connections=300)
    async with httpx.AsyncClient(
        base_url=hub.system.url("webhook-gateway"), timeout=60, limits=limits
    ) as client:
        yield client


async def test_a_thousand_wrong_secrets_for_one_battery_get_429_after_the_limit(
    hub: Hub, attacker: httpx.AsyncClient
) -> None:
    victim, victim_secret = await hub.register()
    legit, legit_secret = await hub.register()
    checks_before = await _secret_checks(hub.gateway)

    async def legitimate_login_during_the_attack() -> tuple[httpx.Response, float]:
        await asyncio.sleep(0.2)
        return await _timed(_battery_login(hub.gateway, legit, legit_secret))

    started = time.perf_counter()
    guesses = [
        functools.partial(_battery_login, attacker, victim, f"guess-{n}") for n in range(1000)
    ]
    answers, (legit_answer, legit_s) = await asyncio.gather(
        _flood(guesses, concurrency=50), legitimate_login_during_the_attack()
    )
    attack_s = time.perf_counter() - started

    statuses = Counter(a.status_code for a in answers)
    assert set(statuses) <= {401, 429}, statuses
    assert statuses[401] <= MAX_FAILURES
    for answer in answers:
        if answer.status_code == 429:
            _assert_retry_after(answer, WINDOW_S)
    assert legit_answer.status_code == 200, legit_answer.text
    checks = await _secret_checks(hub.gateway) - checks_before
    assert checks <= MAX_FAILURES + 1, "argon2 ran for refused guesses"
    _assert_retry_after(await _battery_login(hub.gateway, victim, victim_secret), WINDOW_S)
    print(
        f"\n1000 wrong secrets for one battery: {attack_s:.2f} s, {dict(statuses)}, "
        f"{checks:.0f} secret checks; legitimate login meanwhile {legit_s * 1000:.0f} ms"
    )


async def test_wrong_secrets_spread_over_unknown_batteries_cost_bounded_work(
    hub: Hub, attacker: httpx.AsyncClient
) -> None:
    legit, legit_secret = await hub.register()
    checks_before = await _secret_checks(hub.gateway)
    unknown = [new_battery_id() + 10_000_000 for _ in range(200)]

    async def legitimate_logins() -> list[tuple[httpx.Response, float]]:
        timed = []
        for _ in range(3):
            await asyncio.sleep(0.5)
            timed.append(await _timed(_battery_login(hub.gateway, legit, legit_secret)))
        return timed

    started = time.perf_counter()
    spread, legit_answers = await asyncio.gather(
        _flood([functools.partial(_battery_login, attacker, b, "guess") for b in unknown], 8),
        legitimate_logins(),
    )
    spread_s = time.perf_counter() - started
    statuses = Counter(a.status_code for a in spread)
    assert set(statuses) <= {401, 429}, statuses
    assert [a.status_code for a, _ in legit_answers] == [200, 200, 200]
    checks = await _secret_checks(hub.gateway) - checks_before
    assert checks <= statuses[401] + len(legit_answers)

    burst_started = time.perf_counter()
    burst = await _flood(
        [functools.partial(_battery_login, attacker, b + 1, "guess") for b in unknown], 300
    )
    burst_s = time.perf_counter() - burst_started
    burst_statuses = Counter(a.status_code for a in burst)
    assert set(burst_statuses) <= {401, 429}, burst_statuses
    assert burst_statuses[429] > 0, "200 simultaneous checks were all queued"
    for answer in burst:
        if answer.status_code == 429:
            _assert_retry_after(answer, 1)
    await asyncio.sleep(1)
    after, after_s = await _timed(_battery_login(hub.gateway, legit, legit_secret))
    assert after.status_code == 200
    print(
        f"\n200 wrong secrets over unknown ids, 8 at a time: {spread_s:.2f} s, {dict(statuses)}; "
        f"legitimate logins meanwhile {[round(s * 1000) for _, s in legit_answers]} ms"
        f"\n200 at once: {burst_s:.2f} s, {dict(burst_statuses)}; "
        f"legitimate login 1 s later {after_s * 1000:.0f} ms"
    )


async def test_a_user_is_refused_after_ten_wrong_passwords_while_others_log_in(hub: Hub) -> None:
    username, password = f"target-{uuid.uuid4().hex[:10]}", "pw-" + uuid.uuid4().hex
    created = await hub.query.post(
        "/admin/users",
        json={"username": username, "password": password, "role": "user", "hub_id": 1},
        headers=await hub.admin_headers(),
    )
    assert created.status_code == 201
    statuses = []
    for n in range(MAX_FAILURES + 5):
        answer = await hub.query.post(
            "/auth/token", json={"username": username, "password": f"wrong-{n}"}
        )
        statuses.append(answer.status_code)
        if answer.status_code == 429:
            _assert_retry_after(answer, WINDOW_S)
    assert statuses == [401] * MAX_FAILURES + [429] * 5
    right = await hub.query.post("/auth/token", data={"username": username, "password": password})
    _assert_retry_after(right, WINDOW_S)
    assert await hub.create_user("user", 1)  # another user logs in as usual
