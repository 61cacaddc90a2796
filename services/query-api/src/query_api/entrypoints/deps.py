"""Dependencies declared once: the database connection, the current user, the publisher."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from batteryhub_platform.http import ApiError
from batteryhub_platform.kafka import EventPublisher
from batteryhub_platform.tokens import (
    InvalidToken,
    UserPrincipal,
    bearer_token,
    verify_user_token_once,
)
from query_api.adapters.users import UserStore
from query_api.config import Settings

UNAUTHORIZED = ApiError(401, "invalid or expired credentials", {"WWW-Authenticate": "Bearer"})


class DatabaseUnavailable(Exception):
    """PostgreSQL cannot be reached; answered 503 with Retry-After."""


# Dependencies are async: FastAPI runs plain functions in a thread pool, a thread hop
# per request that cost milliseconds under load.
async def _open(request: Request) -> AsyncConnection:
    engine = request.app.state.engine
    try:
        connection: AsyncConnection = await engine.connect()
    except Exception as exc:  # asyncpg/OS errors while connecting mean "database away"
        raise DatabaseUnavailable(str(exc)) from exc
    return connection


async def _connection(request: Request) -> AsyncIterator[AsyncConnection]:
    connection = await _open(request)
    try:
        yield connection
    finally:
        await connection.close()


async def _read_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    """A connection for routes that only read: in autocommit, each statement sees the latest
    committed data, and no BEGIN and ROLLBACK round trips wrap the request."""
    connection = await _open(request)
    try:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        yield connection
    finally:
        await connection.close()


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _publisher(request: Request) -> EventPublisher:
    publisher: EventPublisher = request.app.state.publisher
    return publisher


async def _users(request: Request) -> UserStore:
    store: UserStore = request.app.state.users
    return store


async def current_user(
    request: Request,
    authorization: Annotated[str | None, Header(alias="Authorization")] = None,
) -> UserPrincipal:
    state = request.app.state
    try:
        return verify_user_token_once(
            bearer_token(authorization), state.settings.user_key, state.verified_tokens, time.time()
        )
    except InvalidToken:
        raise UNAUTHORIZED from None


async def superadmin(user: Annotated[UserPrincipal, Depends(current_user)]) -> UserPrincipal:
    if not user.is_superadmin:
        raise ApiError(403, "only a superadmin may do this")
    return user


ConnectionDep = Annotated[AsyncConnection, Depends(_connection)]
ReadConnectionDep = Annotated[AsyncConnection, Depends(_read_connection)]
SettingsDep = Annotated[Settings, Depends(_settings)]
PublisherDep = Annotated[EventPublisher, Depends(_publisher)]
UsersDep = Annotated[UserStore, Depends(_users)]
CurrentUser = Annotated[UserPrincipal, Depends(current_user)]
Superadmin = Annotated[UserPrincipal, Depends(superadmin)]
