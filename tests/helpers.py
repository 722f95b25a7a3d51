"""Shared test pieces: an upstream site to forward to, and running an app's lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backends.inprocess import InProcessBackend
from gateway.app import SluisApp, create_app
from gateway.settings import Settings


def upstream_app() -> Starlette:
    """A stand-in registration site: tells what reached it."""

    async def echo(request: Request) -> Response:
        body = await request.body()
        return JSONResponse({
            "reached": "upstream",
            "method": request.method,
            "path": request.url.path,
            "admission": request.headers.get("sluis-admission"),
            "cookie": request.headers.get("cookie"),
            "body_length": len(body),
        })

    async def done(request: Request) -> Response:
        return JSONResponse({"reached": "upstream", "done": True},
                            headers={"Sluis-Session": "end"})

    return Starlette(routes=[
        Route("/checkout/done", done, methods=["GET", "POST"]),
        Route("/{path:path}", echo, methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD",
                                             "OPTIONS"]),
    ])


@contextlib.asynccontextmanager
async def running(app: Any) -> AsyncIterator[None]:
    """Run an ASGI app's lifespan around the block."""
    runner = InProcessBackend(app)
    await runner.startup()
    try:
        yield
    finally:
        await runner.shutdown()


@contextlib.asynccontextmanager
async def gateway_client(settings: Settings, backend_app: Any | None = None
                         ) -> AsyncIterator[tuple[SluisApp, httpx.AsyncClient]]:
    app = create_app(settings, backend=InProcessBackend(backend_app or upstream_app()))
    async with running(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://sluis.test") as client:
            yield app, client


async def arrive(client: httpx.AsyncClient, path: str = "/", method: str = "GET",
                 **kwargs: Any) -> httpx.Response:
    """A browser's first visit: the first answer hands out the visitor cookie and no
    place (the "one moment" page); the request that brings the cookie back takes the
    place, and its answer is returned. `client` must keep cookies (httpx does)."""
    first = await client.request(method, path, **kwargs)
    assert first.status_code == 200, first.status_code
    assert "sluis_visitor=" in first.headers.get("set-cookie", ""), first.headers
    if "application/json" in first.headers.get("content-type", ""):
        body = first.json()
        assert body["state"] == "none" and body["position"] is None, body
    return await client.request(method, path, **kwargs)
