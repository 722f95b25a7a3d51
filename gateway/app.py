"""create_app(settings): Sluis's own paths under /_sluis/ (one table), the gate in front
of every other path, one lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from backends.base import Backend
from backends.factory import RoomBackends
from backends.outcomes import Outcomes
from gateway import lottery, metrics
from gateway.answers import Answers
from gateway.gate import Gate
from gateway.http import (
    behind_tls,
    canonical_path,
    is_reserved,
    oversized,
    parse_networks,
    respond_json,
)
from gateway.pages import PREFS_PATH, Pages, security_headers
from gateway.passes import Passes
from gateway.request_id import REQUEST_ID, WithRequestId, new_request_id
from gateway.routes import admin_api, dashboard, draw, health, notify
from gateway.routes import metrics as metrics_route
from gateway.routes.poll import Poll
from gateway.routes.prefs import prefs
from gateway.routing import Rooms
from gateway.settings import Settings
from gateway.sharing import Sharing
from gateway.store import Store, StoreUnavailable
from gateway.store.connect import client_from_url
from gateway.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("sluis.app")

STATUS_PATH = "/_sluis/status"
OUTCOMES_FLUSH_SECONDS = 1.0


class SluisApp:
    """The whole gateway as one ASGI app. Under /_sluis/ the table `own` names the paths
    answered without Starlette's routing (the status poll is the hot path); every other
    path of Sluis's own goes to `inner`, and every path outside /_sluis/ to the gate."""

    def __init__(self, gate: Gate, own: Mapping[str, tuple[str, ASGIApp]],
                 inner: Starlette) -> None:
        self.gate = gate
        self.own = dict(own)  # path -> (route label of the request-time histogram, app)
        self.inner = inner
        self.state = inner.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._dispatch(scope, receive, send)
            return
        # Every request gets a short id, in its answer and in every log line it causes.
        # (gateway.request_id.RequestIds, with the dispatch below in the same coroutine:
        # a layer less on the path that every request takes.)
        rid = new_request_id(scope["headers"])
        token = REQUEST_ID.set(rid)
        send = WithRequestId(send, rid)
        started = time.perf_counter()
        route = "sluis"
        mark = metrics.request_started()
        try:
            scope = behind_tls(scope, self.gate.trusted)
            if oversized(scope):
                # A clear refusal before anything is parsed, joined or forwarded.
                await respond_json(send, 431, {"error": "request_too_large"}, [
                    *security_headers(scope.get("scheme") == "https", beside_no_store=True),
                    (b"connection", b"close")])
                return
            raw = scope["path"]
            own = self.own.get(raw)  # the status poll, spelled as the page spells it
            if own is None:
                path = canonical_path(raw)
                if not is_reserved(path):
                    await self.gate(scope, receive, send)
                    route = metrics.gate_route()
                    return
                if path is not raw:
                    scope = dict(scope, path=path)
                own = self.own.get(path)
                if own is None:
                    await self.inner(scope, receive, with_security_headers(scope, send))
                    return
            route, app = own
            await app(scope, receive, send)
        finally:
            metrics.request_answered(route, time.perf_counter() - started)
            metrics.request_ended(mark)
            REQUEST_ID.reset(token)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Lifespan and websockets (no request id): a websocket under /_sluis/ goes to
        `inner` (Sluis serves none), any other to the gate."""
        kind = scope["type"]
        if kind == "lifespan":
            await self.inner(scope, receive, send)
            return
        if kind != "websocket":
            return
        scope = behind_tls(scope, self.gate.trusted)
        path = canonical_path(scope["path"])
        if is_reserved(path):
            await self.inner(dict(scope, path=path), receive,
                             with_security_headers(scope, send))
            return
        await self.gate(scope, receive, send)


def with_security_headers(scope: Scope, send: Send) -> Send:
    """Adds the security headers to an answer of Sluis's own that lacks them."""
    guard = security_headers(scope.get("scheme") == "https")

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            present = {name.lower() for name, _ in message.get("headers", [])}
            missing = [pair for pair in guard if pair[0] not in present]
            if missing:
                message = dict(message, headers=[*message.get("headers", []), *missing])
        await send(message)

    return sending


def create_app(settings: Settings, backend: Backend | None = None,
               worker: bool = False) -> SluisApp:
    """The gateway. With `worker`, the admission worker runs in the same process
    (the demo's single-process set-up); production runs `sluis worker` beside it."""
    if not settings.redis_url:
        raise ValueError("create_app needs settings.redis_url (the CLI starts embedded Redis)")
    client = client_from_url(settings.redis_url, timeout=settings.redis_timeout_seconds)
    store = Store(client, joins_per_ip_per_minute=settings.joins_per_ip_per_minute,
                  places_per_ip=settings.places_per_ip, ipv6_prefix=settings.ipv6_prefix)
    passes = Passes(settings.secret_keys)
    rooms = Rooms(settings.rooms, settings.backend)
    chosen = RoomBackends([(room.name, room.backend) for room in settings.rooms],
                          sluis_backend=settings.backend, internal_url=settings.internal_url,
                          secret_keys=settings.secret_keys, internal=settings.internal,
                          given=backend, on_busy=metrics.backend_busy)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        for room in settings.rooms:
            try:
                await store.define_room(room, lottery.new_seed())
            except StoreUnavailable:
                log.warning("redis unavailable at start; room settings not stored yet",
                            extra={"room": room.name})
        await chosen.startup()
        _tune_gc()
        stop = asyncio.Event()
        counting = asyncio.create_task(_flush_outcomes(store, chosen.outcomes, stop))
        following = asyncio.create_task(store.follow_ends(gate.session_ended, stop))
        ticking = None
        if worker:
            from queue_worker.mailer import mailer_for
            from queue_worker.worker import Worker

            ticking = asyncio.create_task(
                Worker(store, settings.rooms, settings.worker_tick_seconds,
                       database_url=settings.booking_database_url,
                       mailer=mailer_for(settings.mail, settings.rooms,
                                         settings.secret_keys)).run(stop))
        try:
            yield {}
        finally:
            stop.set()
            if ticking is not None:
                await ticking
            await counting
            await following
            await chosen.shutdown()
            await store.close()

    inner = Starlette(
        routes=[
            Route("/_sluis/livez", health.livez, methods=["GET", "HEAD"]),
            Route("/_sluis/readyz", health.readyz, methods=["GET", "HEAD"]),
            Route("/_sluis/metrics", metrics_route.scrape, methods=["GET"]),
            Route("/_sluis/draw", draw.published, methods=["GET"]),
            *admin_api.routes,
            *dashboard.routes,
            *notify.routes,
            Mount("/_sluis/static", StaticFiles(packages=[("gateway", "static")]), name="static"),
        ],
        lifespan=lifespan,
    )
    inner.state.settings = settings
    inner.state.store = store
    inner.state.rooms = rooms
    first = next(iter(chosen.by_room.values()))
    trusted = parse_networks(settings.trusted_proxies)
    answers = Answers(Pages())
    gate = Gate(store=store, passes=passes, rooms=rooms, backend=first, answers=answers,
                trusted_proxies=trusted, renew_every=settings.renew_every_seconds,
                backends=chosen.by_room, sharing=Sharing.for_settings(store, settings, trusted))
    own: dict[str, tuple[str, ASGIApp]] = {
        STATUS_PATH: ("status", Poll(store, passes, rooms, answers, trusted)),
        PREFS_PATH: ("sluis", prefs),
    }
    return SluisApp(gate, own, inner)


_gc_tuned = False


def _tune_gc() -> None:
    """Once per process, when the gateway has started. What exists by then (modules,
    templates, settings, pools) lives as long as the process: gc.freeze() takes it out
    of the collector's full passes. And the young generation's threshold goes from 700
    to 10,000 objects: the live objects of a few dozen requests in flight passed 700 by
    themselves and set off a collection every few dozen requests, about a tenth of the
    gateway's CPU under load, which found nothing to free (the forwarded path makes
    no reference cycles; what does is still collected, a little later)."""
    global _gc_tuned
    if not _gc_tuned:
        _gc_tuned = True
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, *gc.get_threshold()[1:])


async def _flush_outcomes(store: Store, outcomes: Outcomes, stop: asyncio.Event) -> None:
    """About once a second, add this process's count of backend answers to Redis, where
    the admission worker's breaker reads every gateway's; and the forwarded path's
    tallies to the Prometheus metrics (metrics.flush)."""
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), OUTCOMES_FLUSH_SECONDS)
        metrics.flush()
        for room, second, fields in outcomes.take():
            try:
                await store.record_outcomes(room, second, fields)
            except StoreUnavailable:
                metrics.REDIS_ERRORS.inc()  # these counts are lost; the breaker sees fewer
        if stop.is_set():
            return


def app_from_env() -> SluisApp:
    """For `uvicorn --factory` and multi-process gateways: settings from the environment."""
    return create_app(Settings.from_env())
