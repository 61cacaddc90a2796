"""Hostile login bodies get a 4xx, never a 500, whichever encoding they come in (found by
schemathesis: a NUL in a form field reached PostgreSQL, which refuses it)."""

from __future__ import annotations

import pytest

from tests.hub import Hub

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    "fields",
    [
        {"username": "ad\x00min", "password": "x"},
        {"username": "admin", "password": "pass\x00word"},
        {"username": "\x80\x00\u00dd", "password": "\U000b07c8"},
    ],
)
async def test_a_nul_in_a_form_login_is_refused_with_400(hub: Hub, fields: dict[str, str]) -> None:
    for encoded in ({"data": fields}, {"files": {k: (None, v) for k, v in fields.items()}}):
        answer = await hub.query.post("/auth/token", **encoded)
        assert answer.status_code == 400, answer.text
        assert answer.json() == {"detail": "request body contains a NUL character"}


async def test_a_form_login_of_an_unknown_user_in_any_script_is_a_plain_401(hub: Hub) -> None:
    answer = await hub.query.post(
        "/auth/token", data={"username": "\u00dd\U000b07c8\u4e2d", "password": "x"}
    )
    assert answer.status_code == 401
    assert answer.json() == {"detail": "wrong username or password"}
