"""CORS: the query API answers only the SPA origins in its settings, never ``*``, never with
credentials; the gateway serves devices and answers no origin. Every response of both apps,
errors included, carries the security headers."""

from __future__ import annotations

import httpx
import pytest

from batteryhub_platform.http import SECURITY_HEADERS
from tests.hub import Hub

pytestmark = pytest.mark.e2e

SPA_ORIGINS = ("http://localhost:5173", "http://127.0.0.1:5173")
"""What the test system sets in BATTERYHUB_CORS_ORIGINS (deploy/local/run.py)."""
STRANGERS = ("https://evil.example", "null", "http://localhost:5174", "http://localhost")
EXPECTED_HEADERS = {name.decode(): value.decode() for name, value in SECURITY_HEADERS}


def _preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "authorization, content-type",
    }


def test_the_test_system_runs_with_the_default_spa_origins(hub: Hub) -> None:
    assert hub.system.env()["BATTERYHUB_CORS_ORIGINS"] == ",".join(SPA_ORIGINS)


@pytest.mark.parametrize("origin", SPA_ORIGINS)
async def test_an_spa_origin_is_allowed_by_name_without_credentials(hub: Hub, origin: str) -> None:
    preflight = await hub.query.options("/notifications/mark-all-read", headers=_preflight(origin))
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == origin
    assert "access-control-allow-credentials" not in preflight.headers
    answer = await hub.query.get(
        "/notifications/unread-count", headers={"Origin": origin, **await hub.admin_headers()}
    )
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == origin
    assert "access-control-allow-credentials" not in answer.headers
    assert "Origin" in answer.headers.get("vary", "")


@pytest.mark.parametrize("origin", STRANGERS)
async def test_any_other_origin_gets_no_cors_permission(hub: Hub, origin: str) -> None:
    preflight = await hub.query.options("/notifications", headers=_preflight(origin))
    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.status_code == 400
    answer = await hub.query.get("/notifications", headers={"Origin": origin})
    assert "access-control-allow-origin" not in answer.headers
    assert "access-control-allow-credentials" not in answer.headers


@pytest.mark.parametrize("origin", SPA_ORIGINS + STRANGERS)
async def test_the_gateway_answers_no_origin_at_all(hub: Hub, origin: str) -> None:
    for answer in (
        await hub.gateway.options("/auth/battery-login", headers=_preflight(origin)),
        await hub.gateway.get("/health", headers={"Origin": origin}),
    ):
        assert not any(h.startswith("access-control-") for h in answer.headers), answer.headers


# The interactive docs pages load Swagger UI / ReDoc from a CDN; a "default-src 'none'"
# policy would leave them blank, so they are the one place without it.
DOCS_PAGES = frozenset({"docs"})


def _assert_security_headers(answer: httpx.Response, what: str) -> None:
    expected = {
        name: value
        for name, value in EXPECTED_HEADERS.items()
        if not (what in DOCS_PAGES and name == "content-security-policy")
    }
    missing = {
        name: answer.headers.get(name)
        for name, value in expected.items()
        if answer.headers.get(name) != value
    }
    assert missing == {}, f"{what} -> {answer.status_code}"
    assert answer.headers.get("x-correlation-id"), what


async def _every_answer(client: httpx.AsyncClient) -> list[tuple[str, httpx.Response]]:
    """One answer per route (anonymous: 200s of the public ones, 401s of the rest) and one
    of each kind of error the edge produces."""
    spec = (await client.get("/openapi.json")).json()
    answers = []
    for path, methods in spec["paths"].items():
        concrete = path.replace("{battery_id}", "1").replace("{notification_id}", "1")
        for method in methods:
            answers.append((f"{method} {path}", await client.request(method, concrete)))
    answers += [
        ("unknown path", await client.get("/no/such/route")),
        ("wrong method", await client.patch("/health")),
        ("body over the limit", await client.post("/auth/token", content=b"x" * 70_000)),
        ("bad JSON", await client.post(_login_path(spec), content=b"{oops")),
        ("openapi", await client.get("/openapi.json")),
        ("docs", await client.get("/docs")),
    ]
    return answers


def _login_path(spec: dict[str, dict[str, object]]) -> str:
    return "/auth/token" if "/auth/token" in spec["paths"] else "/auth/battery-login"


async def test_every_gateway_response_carries_the_security_headers(hub: Hub) -> None:
    for what, answer in await _every_answer(hub.gateway):
        _assert_security_headers(answer, what)


async def test_every_query_api_response_carries_the_security_headers(hub: Hub) -> None:
    for what, answer in await _every_answer(hub.query):
        _assert_security_headers(answer, what)
    bad = await hub.query.get("/batteries/1/errors", params={"time_period": "x"})
    _assert_security_headers(bad, "422")


@pytest.mark.parametrize("origin", [SPA_ORIGINS[0], STRANGERS[0]])
async def test_cors_preflight_answers_carry_the_security_headers_too(hub: Hub, origin: str) -> None:
    answer = await hub.query.options("/notifications", headers=_preflight(origin))
    _assert_security_headers(answer, f"preflight from {origin}")
