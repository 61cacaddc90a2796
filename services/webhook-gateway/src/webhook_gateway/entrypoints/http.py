"""The gateway's FastAPI app: device auth, ingestion and registry commands."""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.datastructures import State
from starlette.types import ASGIApp, Receive, Scope, Send

from batteryhub_contracts.payload import PayloadError
from batteryhub_contracts.topics import REGISTRY
from batteryhub_platform.heap import freeze_startup_heap
from batteryhub_platform.http import NO_OPENTELEMETRY, ApiError, install_edges, refusal_response
from batteryhub_platform.kafka import BrokerUnavailable, broker_reachable
from batteryhub_platform.login_guard import TooManyAttempts
from batteryhub_platform.logs import configure_logging
from batteryhub_platform.tokens import BatteryPrincipal, InvalidToken, UserPrincipal, bearer_token
from webhook_gateway import metrics
from webhook_gateway.adapters.registry_follower import RegistryFollower
from webhook_gateway.adapters.secrets import SecretHasher
from webhook_gateway.admission import Busy
from webhook_gateway.config import Settings
from webhook_gateway.domain.ingest import MAX_BATCH, Forbidden
from webhook_gateway.domain.registry import BatteryRegistry, RegistryError
from webhook_gateway.entrypoints.login_limits import LoginGuardDep
from webhook_gateway.entrypoints.schemas import (
    BatchAnswer,
    BatteryCreate,
    BatteryLogin,
    BatteryPublic,
    ErrorAnswer,
    LiveDataAnswer,
    SecretRotate,
    TokenAnswer,
)
from webhook_gateway.service import Gateway, Principal, Unauthorized

log = logging.getLogger(__name__)

UNAUTHORIZED = ApiError(401, "invalid or expired credentials", {"WWW-Authenticate": "Bearer"})
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorAnswer} for code in (400, 401, 403, 404, 413, 422, 503)
}


# Dependencies are async: FastAPI runs plain functions in a thread pool, a thread hop
# per request that cost milliseconds under load.
async def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


GatewayDep = Annotated[Gateway, Depends(_gateway)]
AuthorizationHeader = Annotated[str | None, Header(alias="Authorization")]


def _token(authorization: str | None) -> str:
    try:
        return bearer_token(authorization)
    except InvalidToken:
        raise UNAUTHORIZED from None


async def battery_principal(
    gateway: GatewayDep, authorization: AuthorizationHeader = None
) -> BatteryPrincipal:
    try:
        return gateway.battery_principal(_token(authorization))
    except Unauthorized:
        raise UNAUTHORIZED from None


async def admin_principal(
    gateway: GatewayDep, authorization: AuthorizationHeader = None
) -> UserPrincipal:
    try:
        user = gateway.user_principal(_token(authorization))
    except Unauthorized:
        raise UNAUTHORIZED from None
    if user.role not in ("superadmin", "admin"):
        raise ApiError(403, "registry changes need an admin or superadmin")
    return user


def _device_principal(gateway: Gateway, authorization: str | None) -> Principal:
    """A battery, or a superadmin on a battery's behalf: read here rather than through
    FastAPI's dependency solving, which on the ingest routes cost a third of a request's CPU
    (more than the reading's own work)."""
    try:
        return gateway.device_principal(_token(authorization))
    except Unauthorized:
        raise UNAUTHORIZED from None


_AUTHORIZATION_PARAMETER = {
    "name": "Authorization",
    "in": "header",
    "required": False,
    "schema": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Authorization"},
}

CurrentBattery = Annotated[BatteryPrincipal, Depends(battery_principal)]
CurrentAdmin = Annotated[UserPrincipal, Depends(admin_principal)]


def _json(answer: dict[str, Any]) -> Response:
    """The ingest answers, built by the service layer in their documented shape, encoded
    directly: validating a 500-item answer against its model again costs more than making it
    (the schemathesis tests check the shape)."""
    return Response(orjson.dumps(answer), media_type="application/json")


def _unavailable(exc: BrokerUnavailable, retry_after: int) -> ApiError:
    metrics.BROKER_UNAVAILABLE.inc()
    return ApiError(503, f"not stored, try again later: {exc}", {"Retry-After": str(retry_after)})


def _json_body(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


device = APIRouter(tags=["devices"])


@device.post(
    "/auth/battery-login",
    response_model=TokenAnswer,
    response_model_exclude_none=True,
    responses=_ERRORS | {429: {"model": ErrorAnswer}},
    openapi_extra=_json_body(BatteryLogin),
)
async def battery_login(
    request: Request, gateway: GatewayDep, guard: LoginGuardDep
) -> dict[str, Any]:
    try:
        return await gateway.login(await request.body(), guard)
    except Unauthorized:
        raise ApiError(401, "invalid battery credentials") from None
    except TooManyAttempts as exc:
        raise ApiError(
            429, "too many login attempts; try again later", {"Retry-After": str(exc.retry_after_s)}
        ) from None


@device.post("/auth/battery-refresh", response_model=TokenAnswer, responses=_ERRORS)
async def battery_refresh(principal: CurrentBattery, gateway: GatewayDep) -> dict[str, Any]:
    try:
        return gateway.refresh(principal)
    except Unauthorized:
        raise UNAUTHORIZED from None


IngestHandler = Callable[[Gateway, "str | None", bytes], Awaitable[Response]]


async def _through_route(request: Request, handler: IngestHandler) -> Response:
    """An ingest handler called from its FastAPI route (where ``IngestFastPath`` is not in
    front of it)."""
    body = await request.body()
    return await handler(request.app.state.gateway, request.headers.get("authorization"), body)


@device.post(
    "/webhook/live-data",
    response_model=LiveDataAnswer,
    response_model_exclude_none=True,
    responses=_ERRORS,
    openapi_extra={
        "parameters": [_AUTHORIZATION_PARAMETER],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
    },
)
async def live_data(request: Request) -> Response:
    """One direct-format or relay reading. Answered by ``IngestFastPath`` (below) with
    the same handler; the route declares it in the OpenAPI document."""
    return await _through_route(request, _live_data)


async def _live_data(gateway: Gateway, authorization: str | None, body: bytes) -> Response:
    principal = _device_principal(gateway, authorization)
    try:
        return _json(await gateway.accept_live_data(principal, body))
    except Forbidden as exc:
        metrics.READINGS_REFUSED.labels("403").inc()
        raise ApiError(403, str(exc)) from None
    except RegistryError as exc:
        metrics.READINGS_REFUSED.labels(str(exc.status)).inc()
        raise ApiError(exc.status, str(exc)) from None
    except BrokerUnavailable as exc:
        raise _unavailable(exc, gateway.settings.retry_after_s) from None


@device.post(
    "/webhook/live-data/batch",
    response_model=BatchAnswer,
    responses=_ERRORS,
    openapi_extra={
        "parameters": [_AUTHORIZATION_PARAMETER],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "array", "items": {"type": "object"}, "maxItems": MAX_BATCH}
                }
            },
        },
    },
)
async def live_data_batch(request: Request) -> Response:
    """Up to 500 direct-format readings buffered by a battery. Each item is accepted or
    rejected with a reason; 200 means every accepted item is stored. 503 with Retry-After
    means none is: Kafka did not acknowledge, or the worker had no upload slot free (a
    reconnect storm); send the same batch again after the Retry-After."""
    return await _through_route(request, _live_data_batch)


async def _live_data_batch(gateway: Gateway, authorization: str | None, body: bytes) -> Response:
    principal = _device_principal(gateway, authorization)
    try:
        async with gateway.uploads.slot():
            answer = await gateway.accept_batch(principal, body)
            return Response(answer, media_type="application/json")
    except Busy as exc:
        metrics.UPLOADS_SHED.inc()
        raise ApiError(
            503,
            f"busy, not stored, try again later: {exc}",
            {"Retry-After": str(_spread(gateway.settings.retry_after_s))},
        ) from None
    except BrokerUnavailable as exc:
        raise _unavailable(exc, gateway.settings.retry_after_s) from None


def _spread(seconds: int) -> int:
    """A retry delay between ``seconds`` and twice that, drawn per answer: the uploads a storm
    turned away come back spread out, not all in the same second."""
    return seconds + random.randint(0, seconds)  # noqa: S311 - spreading load, not a secret


INGEST_ROUTES: dict[str, IngestHandler] = {
    "/webhook/live-data": _live_data,
    "/webhook/live-data/batch": _live_data_batch,
}


class IngestFastPath:
    """The two ingest routes, which take nearly all the traffic, answered as plain ASGI:
    without FastAPI's route matching, request and exception layers, which cost more of a
    single-reading POST's CPU than the reading's own work. Inside ``EdgeMiddleware``, so
    the correlation id, body limit, security headers and request metrics are the same as
    on every route; the answers and errors are the routes' own (the same handlers, the same
    ``{"detail": ...}`` errors). Any other method or path goes on to FastAPI."""

    def __init__(self, app: ASGIApp, state: State, routes: dict[str, APIRoute]) -> None:
        self.app = app
        self.state = state
        self.routes = {path: (routes[path], handler) for path, handler in INGEST_ROUTES.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self.routes.get(scope["path"]) if scope["type"] == "http" else None
        if found is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        route, handler = found
        scope["route"] = route  # the request metrics' route label, as FastAPI would set it
        authorization = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
                break
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        try:
            response = await handler(self.state.gateway, authorization, b"".join(chunks))
        except (ApiError, PayloadError) as exc:
            response = refusal_response(exc)  # as the app's exception handlers answer
        await response(scope, receive, send)


admin = APIRouter(prefix="/admin/batteries", tags=["registry"])


def _public(record: Any) -> BatteryPublic:
    return BatteryPublic.model_validate(record.model_dump())


def _require_hub(user: UserPrincipal, hub_id: int) -> None:
    if not user.can_administer_hub(hub_id):
        raise ApiError(403, f"you may not administer batteries of hub {hub_id}")


@admin.post(
    "",
    status_code=201,
    response_model=BatteryPublic,
    responses=_ERRORS | {409: {"model": ErrorAnswer}},
)
async def register_battery(
    body: BatteryCreate, user: CurrentAdmin, gateway: GatewayDep
) -> BatteryPublic:
    _require_hub(user, body.hub_id)
    secret_hash = await gateway.hasher.hash(body.secret)
    try:
        event = gateway.registry.register(
            battery_id=body.battery_id,
            hub_id=body.hub_id,
            name=body.name,
            device_id=body.device_id,
            secret_hash=secret_hash,
            now=datetime.now(UTC),
        )
        return _public(await gateway.record(event))
    except RegistryError as exc:
        raise ApiError(exc.status, str(exc)) from None
    except BrokerUnavailable as exc:
        raise _unavailable(exc, gateway.settings.retry_after_s) from None


def _visible_battery(gateway: Gateway, user: UserPrincipal, battery_id: int) -> None:
    record = gateway.registry.active(battery_id)
    # Outside the admin's hub the battery does not exist, as far as the admin can tell.
    if record is None or not user.can_access_hub(record.hub_id):
        raise ApiError(404, f"battery {battery_id} is not registered")
    _require_hub(user, record.hub_id)


@admin.post("/{battery_id}/secret", response_model=BatteryPublic, responses=_ERRORS)
async def rotate_secret(
    battery_id: int, body: SecretRotate, user: CurrentAdmin, gateway: GatewayDep
) -> BatteryPublic:
    _visible_battery(gateway, user, battery_id)
    secret_hash = await gateway.hasher.hash(body.secret)
    try:
        event = gateway.registry.rotate_secret(battery_id, secret_hash, datetime.now(UTC))
        return _public(await gateway.record(event))
    except RegistryError as exc:
        raise ApiError(exc.status, str(exc)) from None
    except BrokerUnavailable as exc:
        raise _unavailable(exc, gateway.settings.retry_after_s) from None


@admin.delete("/{battery_id}", status_code=204, responses=_ERRORS)
async def revoke_battery(battery_id: int, user: CurrentAdmin, gateway: GatewayDep) -> Response:
    _visible_battery(gateway, user, battery_id)
    try:
        await gateway.record(gateway.registry.revoke(battery_id, datetime.now(UTC)))
    except RegistryError as exc:
        raise ApiError(exc.status, str(exc)) from None
    except BrokerUnavailable as exc:
        raise _unavailable(exc, gateway.settings.retry_after_s) from None
    return Response(status_code=204)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging("webhook-gateway", settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry = BatteryRegistry()
        publisher = settings.publisher("webhook-gateway")
        follower = RegistryFollower(settings.kafka, settings.topic(REGISTRY), registry)
        try:
            await publisher.start()
            await follower.start(settings.registry_catch_up_timeout_s)
            metrics.REGISTRY_SIZE.set(len(registry))
            app.state.gateway = Gateway(settings, registry, publisher, SecretHasher())
            app.state.follower = follower
            freeze_startup_heap()
            yield
        finally:
            await follower.stop()
            await publisher.stop()

    app = FastAPI(
        telemetry=NO_OPENTELEMETRY,
        title="battery-hub webhook gateway",
        version="1.0.0",
        lifespan=lifespan,
        description="Device authentication, live-data ingestion and the device registry.",
    )

    async def kafka_ready() -> tuple[str, bool]:
        return "kafka", await broker_reachable(settings.kafka)

    async def registry_ready() -> tuple[str, bool]:
        follower: RegistryFollower | None = getattr(app.state, "follower", None)
        return "registry", follower is not None and follower.caught_up.is_set()

    # The device routes first: every request is matched against the routes in order, and
    # the ingest routes take nearly all the traffic.
    app.include_router(device)
    app.include_router(admin)
    # Added before the edge, so it runs inside it (the last middleware added is outermost).
    app.add_middleware(
        IngestFastPath,
        state=app.state,
        routes={r.path: r for r in device.routes if isinstance(r, APIRoute)},
    )
    install_edges(
        app,
        max_body_bytes=settings.max_body_bytes,
        body_limits={"/webhook/live-data/batch": settings.max_batch_body_bytes},
        readiness=[kafka_ready, registry_ready],
    )
    return app
