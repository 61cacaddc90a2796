"""Anchor: a hello-world endpoint on the same stack as the gateway (uvicorn + uvloop +
httptools + FastAPI), reading the body and answering a constant JSON. Whatever the gateway
does beyond this is the cost of its own work."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

BODY = b'{"status":"success"}'


def create_app() -> FastAPI:
    # configured as the services are (batteryhub_platform.http.NO_OPENTELEMETRY)
    app = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})

    @app.post("/webhook/live-data")
    async def hello(request: Request) -> Response:
        await request.body()
        return Response(BODY, media_type="application/json")

    return app
