"""The battery-login guard of this process, made from the settings on first use."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from batteryhub_platform.login_guard import LoginGuard
from webhook_gateway.config import Settings


async def login_guard(request: Request) -> LoginGuard:
    state = request.app.state
    guard: LoginGuard | None = getattr(state, "login_guard", None)
    if guard is None:
        settings: Settings = state.gateway.settings
        guard = state.login_guard = LoginGuard.from_settings(settings)
    return guard


LoginGuardDep = Annotated[LoginGuard, Depends(login_guard)]
