"""Anchor: a hello-world endpoint on the same stack as the gateway (uvicorn + uvloop +
httptools + FastAPI), reading the body and answering a constant JSON. Whatever the gateway
does beyond this is the cost of its own work."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from batteryhub_platform.http import NO_OPENTELEMETRY

BODY = b'{"status":"success"}'


def create_app() -> FastAPI:
    app = FastAPI(telemetry=NO_OPENTELEMETRY)  # configured as the services are

    @app.post("/webhook/live-data")
    async def hello(request: Request) -> Response:
        await request.body()
        return Response(BODY, media_type="application/json")

    return app
