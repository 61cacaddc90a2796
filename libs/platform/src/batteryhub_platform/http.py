"""The HTTP edge every service shares: one error format, correlation ids, request metrics,
a bounded request body, security headers, and the /health, /ready, /metrics routes."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.telemetry import TelemetryConfig
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from batteryhub_contracts.payload import PayloadError
from batteryhub_platform.logs import correlation_id, new_correlation_id

log = logging.getLogger(__name__)

CORRELATION_HEADER = "x-correlation-id"
_VALID_CORRELATION = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
)

# The interactive API docs load their scripts and styles from a CDN: no CSP there.
DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
DOCS_HEADERS = tuple(h for h in SECURITY_HEADERS if h[0] != b"content-security-policy")

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time from request to response",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

ReadinessCheck = Callable[[], Awaitable[tuple[str, bool]]]

NO_OPENTELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
"""For ``FastAPI(telemetry=...)``: metrics are Prometheus's here. FastAPI's native
OpenTelemetry otherwise asks the global providers on every request whether it is configured
(a tenth of a single-reading POST's CPU under load)."""


class ApiError(Exception):
    """Raised by routers to answer with ``{"detail": ...}`` and a status code."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers


class _BodyTooLarge(Exception):
    pass


class EdgeMiddleware:
    """Pure ASGI middleware (no per-request task switching): correlation id in and out,
    request metrics by route template, security headers, and a hard request-body limit that
    refuses without buffering the body."""

    def __init__(
        self, app: ASGIApp, max_body_bytes: int, body_limits: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.default_limit = max_body_bytes
        self.body_limits = body_limits or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        incoming = headers.get(CORRELATION_HEADER.encode(), b"").decode("latin-1")
        cid = incoming if _VALID_CORRELATION.match(incoming) else new_correlation_id()
        token = correlation_id.set(cid)
        # Error handlers run outside this middleware; they find the id in the request state.
        scope.setdefault("state", {})["correlation_id"] = cid
        status_holder = [500]
        response_started = [False]
        limit = self.body_limits.get(scope["path"], self.default_limit)

        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._too_large(send, cid, limit)
            self._observe(scope, 413, started)
            correlation_id.reset(token)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_started[0] = True
                status_holder[0] = message["status"]
                own = DOCS_HEADERS if scope["path"] in DOCS_PATHS else SECURITY_HEADERS
                extra = [(CORRELATION_HEADER.encode(), cid.encode()), *own]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except _BodyTooLarge:
            if not response_started[0]:
                await self._too_large(send, cid, limit)
            status_holder[0] = 413
        except Exception:
            # Answered here, not by Starlette's outermost handler, so even a 500 carries the
            # correlation id and the security headers. The traceback goes to the log only.
            log.exception("unhandled error", extra={"correlation_id": cid})
            if response_started[0]:
                raise
            status_holder[0] = 500
            body = f'{{"detail":"internal error; correlation id {cid}"}}'.encode()
            await self._send_json(send, 500, body, cid)
        finally:
            self._observe(scope, status_holder[0], started)
            correlation_id.reset(token)

    async def _too_large(self, send: Send, cid: str, limit: int) -> None:
        body = b'{"detail":"request body exceeds the limit of ' + str(limit).encode() + b' bytes"}'
        await self._send_json(send, 413, body, cid)

    @staticmethod
    async def _send_json(send: Send, status: int, body: bytes, cid: str) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                    (CORRELATION_HEADER.encode(), cid.encode()),
                    *SECURITY_HEADERS,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _observe(scope: Scope, status: int, started: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        method = scope.get("method", "")
        HTTP_REQUESTS.labels(method, template, str(status)).inc()
        HTTP_LATENCY.labels(method, template).observe(time.perf_counter() - started)


def error_response(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    """The one error answer: ``{"detail": ...}`` with the status and any headers."""
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def refusal_response(exc: ApiError | PayloadError) -> JSONResponse:
    """The answer to a request a route refused: an ``ApiError`` or a ``PayloadError``."""
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.detail, exc.headers)
    return error_response(exc.status, exc.message)


async def _refused(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError | PayloadError)
    return refusal_response(exc)


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(400, "request body is not valid JSON")
    # One error format everywhere: ``detail`` is a sentence, naming each bad field.
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in errors
    )
    return error_response(422, problems or "invalid request")


async def unexpected_error(request: Request, exc: Exception) -> Response:
    # Never leak a traceback; the log has it, keyed by the correlation id.
    cid = getattr(request.state, "correlation_id", None)
    log.error("unhandled error", exc_info=exc, extra={"correlation_id": cid})
    return error_response(500, f"internal error; correlation id {cid}")


def install_edges(
    app: FastAPI,
    *,
    max_body_bytes: int,
    readiness: Sequence[ReadinessCheck] = (),
    body_limits: dict[str, int] | None = None,
) -> None:
    """Wire the shared edge into an app: error handlers, middleware and the ops routes."""
    app.add_exception_handler(ApiError, _refused)
    app.add_exception_handler(PayloadError, _refused)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, unexpected_error)
    app.add_middleware(EdgeMiddleware, max_body_bytes=max_body_bytes, body_limits=body_limits)

    @app.get("/health", tags=["ops"], summary="The process is alive")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/ready",
        tags=["ops"],
        summary="The broker and database this service needs are reachable",
        responses={503: {"description": "A dependency is not reachable"}},
    )
    async def ready() -> JSONResponse:
        results = dict([await check() for check in readiness])
        ok = all(results.values())
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "checks": results},
            status_code=200 if ok else 503,
        )

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
