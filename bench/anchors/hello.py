"""Anchors: a hello-world endpoint on the same server as the gateway (uvicorn + uvloop +
httptools), reading the body and answering a constant JSON. Whatever the gateway does beyond
this is the cost of its own work. Two of them: routed by FastAPI (``create_app``, the anchor
of every run so far) and as plain ASGI (``create_plain_app``), as the gateway's ingest routes
are answered since they bypass FastAPI's routing."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from batteryhub_platform.http import NO_OPENTELEMETRY

BODY = b'{"status":"success"}'


def create_app() -> FastAPI:
    app = FastAPI(telemetry=NO_OPENTELEMETRY)  # configured as the services are

    @app.post("/webhook/live-data")
    async def hello(request: Request) -> Response:
        await request.body()
        return Response(BODY, media_type="application/json")

    return app


def create_plain_app() -> ASGIApp:
    async def hello(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan: nothing to start
            message = await receive()
            while message["type"] != "lifespan.shutdown":
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                message = await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(BODY)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": BODY})

    return hello
