"""create_app(settings): the gate in front, Sluis's own routes behind /_sluis/, one lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from backends.base import Backend
from backends.factory import backend_for
from gateway import lottery
from gateway.gate import Gate, Rooms
from gateway.http import canonical_path, parse_networks
from gateway.pages import Pages
from gateway.routes import admin_api, draw, health
from gateway.routes import metrics as metrics_route
from gateway.routes.status import StatusRoute
from gateway.settings import Settings
from gateway.store import Store, StoreUnavailable
from gateway.store.connect import client_from_url
from gateway.tickets import Tickets
from gateway.types import Receive, Scope, Send

log = logging.getLogger("sluis.app")

STATUS_PATH = "/_sluis/status"


class SluisApp:
    """The whole gateway as one ASGI app; `status` skips Starlette's routing on purpose."""

    def __init__(self, gate: Gate, status: StatusRoute, inner: Starlette) -> None:
        self.gate = gate
        self.status = status
        self.inner = inner
        self.state = inner.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
                scope["path"] == STATUS_PATH or canonical_path(scope["path"]) == STATUS_PATH):
            await self.status(scope, receive, send)
            return
        await self.gate(scope, receive, send)


def create_app(settings: Settings, backend: Backend | None = None,
               worker: bool = False) -> SluisApp:
    """The gateway. With `worker`, the admission worker runs in the same process
    (the demo's single-process set-up); production runs `sluis worker` beside it."""
    if not settings.redis_url:
        raise ValueError("create_app needs settings.redis_url (the CLI starts embedded Redis)")
    client = client_from_url(settings.redis_url, timeout=settings.redis_timeout_seconds)
    store = Store(client, joins_per_ip_per_minute=settings.joins_per_ip_per_minute)
    tickets = Tickets(settings.secret_keys)
    rooms = Rooms(settings.rooms)
    chosen = backend or backend_for(settings.backend, settings.internal_url,
                                    secret_keys=settings.secret_keys,
                                    admin_token=settings.admin_token)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        for room in settings.rooms:
            try:
                await store.define_room(room, lottery.new_seed())
            except StoreUnavailable:
                log.warning("redis unavailable at start; room settings not stored yet",
                            extra={"room": room.name})
        await chosen.startup()
        stop = asyncio.Event()
        ticking = None
        if worker:
            from queue_worker.worker import Worker

            ticking = asyncio.create_task(
                Worker(store, settings.rooms, settings.worker_tick_seconds).run(stop))
        try:
            yield {}
        finally:
            stop.set()
            if ticking is not None:
                await ticking
            await chosen.shutdown()
            await store.close()

    inner = Starlette(
        routes=[
            Route("/_sluis/livez", health.livez, methods=["GET", "HEAD"]),
            Route("/_sluis/readyz", health.readyz, methods=["GET", "HEAD"]),
            Route("/_sluis/metrics", metrics_route.scrape, methods=["GET"]),
            Route("/_sluis/draw", draw.published, methods=["GET"]),
            *admin_api.routes,
            Mount("/_sluis/static", StaticFiles(packages=[("gateway", "static")]), name="static"),
        ],
        lifespan=lifespan,
    )
    inner.state.settings = settings
    inner.state.store = store
    inner.state.rooms = rooms
    gate = Gate(store=store, tickets=tickets, rooms=rooms, backend=chosen, sluis=inner,
                pages=Pages(), trusted_proxies=parse_networks(settings.trusted_proxies),
                renew_every=settings.renew_every_seconds)
    return SluisApp(gate, StatusRoute(store, tickets, rooms), inner)


def app_from_env() -> SluisApp:
    """For `uvicorn --factory` and multi-process gateways: settings from the environment."""
    return create_app(Settings.from_env())
