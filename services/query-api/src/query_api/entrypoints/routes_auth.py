"""User login and user administration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError

from batteryhub_contracts.payload import PayloadError, decode_json_object
from batteryhub_platform.http import ApiError
from batteryhub_platform.login_guard import TooManyAttempts
from batteryhub_platform.tokens import issue_user_token
from query_api.adapters.users import NewUser, UsernameTaken
from query_api.entrypoints.deps import SettingsDep, Superadmin, UsersDep
from query_api.entrypoints.login_limits import LoginGuardDep
from query_api.entrypoints.schemas import (
    ErrorAnswer,
    TokenPublic,
    TokenRequest,
    UserCreate,
    UserPublic,
)

router = APIRouter(tags=["users"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    c: {"model": ErrorAnswer} for c in (400, 401, 403, 409, 413, 422, 503)
}
_LOGIN_ERRORS = _ERRORS | {429: {"model": ErrorAnswer}}


async def _credentials(request: Request) -> TokenRequest:
    """JSON or an OAuth2-style form, as existing apps send either."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        data: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
        if any("\x00" in v for v in data.values()):
            # PostgreSQL cannot compare text holding NUL; the JSON path refuses it the same way.
            raise PayloadError("request body contains a NUL character")
    else:
        data = decode_json_object(await request.body())
    try:
        return TokenRequest.model_validate(data)
    except ValidationError:
        raise PayloadError("username and password are required", status=422) from None


@router.post(
    "/auth/token",
    response_model=TokenPublic,
    responses=_LOGIN_ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": TokenRequest.model_json_schema()},
                "application/x-www-form-urlencoded": {"schema": TokenRequest.model_json_schema()},
            },
        }
    },
)
async def login(
    request: Request, users: UsersDep, settings: SettingsDep, guard: LoginGuardDep
) -> TokenPublic:
    credentials = await _credentials(request)
    try:
        async with guard.attempt(f"user:{credentials.username}") as attempt:
            user = await users.authenticate(credentials.username, credentials.password)
            if user is None:
                raise ApiError(401, "wrong username or password", {"WWW-Authenticate": "Bearer"})
            attempt.succeeded()
    except TooManyAttempts as exc:
        raise ApiError(
            429, "too many login attempts; try again later", {"Retry-After": str(exc.retry_after_s)}
        ) from None
    ttl = timedelta(hours=settings.user_token_ttl_hours)
    return TokenPublic(
        access_token=issue_user_token(settings.user_key, user, datetime.now(UTC), ttl),
        expires_in=int(ttl.total_seconds()),
        username=user.username,
        role=user.role,
        hub_id=user.hub_id,
        accessible_hub_ids=sorted(user.accessible_hub_ids),
    )


@router.post("/admin/users", status_code=201, response_model=UserPublic, responses=_ERRORS)
async def create_user(body: UserCreate, _: Superadmin, users: UsersDep) -> UserPublic:
    if body.role in ("admin", "user") and body.hub_id is None:
        raise ApiError(422, f"a user with role {body.role!r} needs a hub_id")
    if body.role == "data_admin" and not body.accessible_hub_ids and body.hub_id is None:
        raise ApiError(422, "a data_admin needs accessible_hub_ids")
    try:
        user = await users.create(
            NewUser(
                body.username,
                body.password,
                body.role,
                body.hub_id,
                frozenset(body.accessible_hub_ids),
            )
        )
    except UsernameTaken:
        raise ApiError(409, f"username {body.username!r} is taken") from None
    return UserPublic(
        id=user.user_id,
        username=user.username,
        role=user.role,
        hub_id=user.hub_id,
        accessible_hub_ids=sorted(user.accessible_hub_ids),
    )
