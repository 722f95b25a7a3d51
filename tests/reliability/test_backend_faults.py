"""The backend slow (+5 s) or down (refused connections): in-flight never above the cap,
overflow and failures answered with a calm page, the breaker pauses admissions within
its window, and the queue keeps its order while it is paused."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import httpx

from backends.config import BackendConfig, BreakerBounds
from backends.inprocess import InProcessBackend
from gateway.app import SluisApp, create_app
from gateway.passes import Passes, new_visitor_id
from gateway.settings import Settings
from queue_worker.worker import Worker
from tests.conftest import KEYS, make_settings
from tests.helpers import arrive, running
from tests.reliability.conftest import Figure
from tests.reliability.support import JSON, CountingUpstream

CAP = 3
ADMITTED = 12
WAITING = 10


def room_settings(redis_url: str, tmp: Path, backend: BackendConfig) -> Settings:
    base = make_settings(redis_url, tmp, max_active=ADMITTED, rate_per_minute=600_000)
    room = dataclasses.replace(base.rooms[0], backend=backend)
    return dataclasses.replace(base, rooms=(room,))


def visitor_client(app: SluisApp, i: int) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(f"198.51.100.{i + 1}", 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://sluis.test", timeout=30)


async def admitted_jars(app: SluisApp) -> list[dict[str, str]]:
    passes = Passes(KEYS)
    jars = []
    for _ in range(ADMITTED):
        v = new_visitor_id()
        jars.append({"sluis_visitor": passes.visitor_cookie(v),
                     "sluis_admission": passes.admission.issue("default", v, 900)})
    return jars


async def breaker_run(app: SluisApp, settings: Settings, jars: list[dict[str, str]]
                      ) -> tuple[list[httpx.Response], int, list[int], list[int], int]:
    """Admitted visitors hit the backend; waiting visitors stand in line meanwhile."""
    store = app.state.store
    await store.change_room("default", {"max_active": "0"}, "test", ("s", "h"))
    line = []
    for i in range(WAITING):
        async with visitor_client(app, 100 + i) as c:
            await arrive(c, "/", headers=JSON)
            line.append(c.cookies["sluis_visitor"])

    async def hit(i: int, jar: dict[str, str]) -> httpx.Response:
        async with visitor_client(app, i) as c:
            for k, v in jar.items():
                c.cookies.set(k, v)
            return await c.get("/inschrijven")

    answers = await asyncio.gather(*(hit(i, j) for i, j in enumerate(jars)))
    worker = Worker(store, settings.rooms, worker_id="breaker-worker")
    ticks = 0
    for ticks in range(1, 80):  # noqa: B007 - the gateway reports about once a second
        await worker.tick()
        if (await store.view("default")).breaker_open:
            break
        await asyncio.sleep(0.1)
    # Room for everyone in line: only the breaker holds them now.
    await store.change_room("default", {"max_active": "1000"}, "test", ("s", "h"))
    for _ in range(5):
        await worker.tick()
        await asyncio.sleep(0.05)
    positions, states = [], []
    for i, cookie in enumerate(line):
        async with visitor_client(app, 100 + i) as c:
            c.cookies.set("sluis_visitor", cookie)
            st = (await c.get("/_sluis/status")).json()
            positions.append(st["position"])
            states.append(st["state"])
    admitted_while_open = sum(s == "admitted" for s in states)
    return list(answers), ticks, positions, [states.count("paused")], admitted_while_open


async def test_a_slow_backend_keeps_in_flight_under_the_cap_and_trips_the_breaker(
        redis_url: str, tmp_path: Path, figure: Figure) -> None:
    upstream = CountingUpstream(delay=5.0)
    backend = BackendConfig(max_inflight=CAP, inflight_wait_seconds=0.2, breaker=BreakerBounds(
        error_rate=0.5, p95_ms=1000, window_seconds=3, min_requests=CAP, cooldown_seconds=60))
    settings = room_settings(redis_url, tmp_path, backend)
    app = create_app(settings, backend=InProcessBackend(upstream.app()))
    async with running(app):
        answers, ticks, positions, paused, admitted = await breaker_run(
            app, settings, await admitted_jars(app))
    served = [r for r in answers if r.status_code == 200]
    busy = [r for r in answers if r.status_code == 503]
    calm = sum(r.headers.get("retry-after") == "5" and "no-store" in r.headers.get(
        "cache-control", "") and b"Traceback" not in r.content for r in busy)
    figure("most requests in flight at the backend (cap)", f"{upstream.max_inflight} ({CAP})")
    figure("served / calm busy page", f"{len(served)} / {calm}")
    figure("worker ticks until the breaker opened", ticks)
    figure("waiting visitors admitted while open", admitted)
    figure("queue positions after", positions)
    assert upstream.max_inflight <= CAP and len(served) == CAP
    assert calm == len(busy) == ADMITTED - CAP
    assert admitted == 0 and paused == [WAITING]
    assert positions == list(range(1, WAITING + 1))


async def test_a_backend_that_refuses_connections_gets_calm_pages_and_trips_the_breaker(
        redis_url: str, tmp_path: Path, figure: Figure) -> None:
    backend = BackendConfig(kind="proxy", upstream="http://127.0.0.1:9", max_inflight=CAP,
                            inflight_wait_seconds=1.0, connect_timeout_seconds=1.0,
                            breaker=BreakerBounds(error_rate=0.5, window_seconds=3,
                                                  min_requests=5, cooldown_seconds=60))
    settings = room_settings(redis_url, tmp_path, backend)
    app = create_app(settings)
    async with running(app):
        answers, ticks, positions, paused, admitted = await breaker_run(
            app, settings, await admitted_jars(app))
    codes = sorted({r.status_code for r in answers})
    calm = sum(r.status_code in (502, 503, 504) and b"Traceback" not in r.content
               and "text/html" in r.headers.get("content-type", "") for r in answers)
    figure("answers to admitted visitors", codes)
    figure("calm pages", f"{calm}/{len(answers)}")
    figure("worker ticks until the breaker opened", ticks)
    figure("waiting visitors admitted while open", admitted)
    assert calm == len(answers)
    assert admitted == 0 and paused == [WAITING]
    assert positions == list(range(1, WAITING + 1))
