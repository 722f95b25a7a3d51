"""Keeping a fragile platform below its breaking point: the in-flight cap and the breaker.
Real uvicorn gateway, real worker process, real uvicorn platform, real Redis."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from gateway import lottery
from gateway.passes import Passes
from gateway.rooms import LiveSettings, RoomConfig
from gateway.store import Store
from tests.backends.support import (
    KEY,
    admitted_cookies,
    cookie_header,
    gateway,
    platform,
    worker,
)


async def test_500_concurrent_admitted_visitors_never_exceed_the_in_flight_cap(
        redis_url: str, tmp_path: Path) -> None:
    # The platform breaks (500s) past 30 requests at once; the room allows 20.
    with platform(tmp_path, FAKE_CAPACITY="30", FAKE_BASE_MS="10") as up:
        rooms = (f'[rooms.stad]\nupstream = "{up}"\nmax_active = 1000\nmax_inflight = 20\n'
                 "inflight_wait_seconds = 30\n")
        with gateway(redis_url, tmp_path, rooms) as (gw, _):
            limits = httpx.Limits(max_connections=500, max_keepalive_connections=500)
            async with httpx.AsyncClient(base_url=gw, limits=limits, timeout=60) as client:

                async def visit(i: int) -> int:
                    r = await client.get("/activities",
                                         headers=cookie_header("stad", f"visitor-{i:08d}"))
                    return r.status_code

                codes = await asyncio.gather(*(visit(i) for i in range(500)))
            stats = await fetch(f"{up}/_fake/stats")
    # Not logged in on the platform: each visitor is sent to its login page (303).
    assert codes.count(303) == 500
    assert stats["requests"] == 500 and stats["errors"] == 0
    assert stats["max_inflight"] <= 20
    assert stats["max_inflight"] >= 15  # the cap was used, not idle


async def test_overflow_gets_a_calm_busy_page_with_retry_after_never_a_raw_error(
        redis_url: str, tmp_path: Path) -> None:
    with platform(tmp_path, FAKE_CAPACITY="1000") as up:
        rooms = (f'[rooms.stad]\nupstream = "{up}"\nmax_active = 1000\nmax_inflight = 5\n'
                 "inflight_wait_seconds = 0.3\n")
        with gateway(redis_url, tmp_path, rooms) as (gw, _):
            async with httpx.AsyncClient(base_url=gw, timeout=30,
                                         limits=httpx.Limits(max_connections=100)) as client:

                async def visit(i: int) -> httpx.Response:
                    return await client.get("/slow", params={"ms": 400},
                                            headers=cookie_header("stad", f"visitor-{i:08d}"))

                answers = await asyncio.gather(*(visit(i) for i in range(60)))
            stats = await fetch(f"{up}/_fake/stats")
            metrics = (await fetch(f"{gw}/_sluis/metrics", as_json=False))
    ok = [a for a in answers if a.status_code == 200]
    busy = [a for a in answers if a.status_code == 503]
    assert len(ok) + len(busy) == 60
    assert len(ok) == stats["requests"] and 5 <= len(ok) < 60
    assert all(a.headers["retry-after"] == "5" and "very busy" in a.text for a in busy)
    assert stats["max_inflight"] <= 5 and stats["errors"] == 0
    assert f'sluis_backend_busy_total{{room="stad"}} {float(len(busy))}' in metrics


async def test_a_failing_platform_pauses_admissions_and_its_recovery_resumes_them(
        redis_url: str, tmp_path: Path, store: Store) -> None:
    window = 2
    rooms_text = ("[rooms.stad]\nupstream = \"{up}\"\nrate_per_minute = 600\n"
                  "max_active = 10000\nbreaker_error_rate = 0.5\n"
                  f"breaker_window_seconds = {window}\nbreaker_min_requests = 5\n"
                  "breaker_cooldown_seconds = 2\n")
    with platform(tmp_path, FAKE_CAPACITY="1000") as up:
        rooms = rooms_text.format(up=up)
        with gateway(redis_url, tmp_path, rooms) as (gw, _), \
                worker(redis_url, tmp_path, rooms):
            await store.define_room(RoomConfig(name="stad", initial=LiveSettings(
                rate_per_minute=600, max_active=10000)), lottery.new_seed())
            waiting = [f"waiting-{i:08d}" for i in range(400)]
            for v in waiting:
                await store.join("stad", v, may_pass=False)
            inside = admitted_cookies("stad", "inside-visitor-1")
            stop = asyncio.Event()

            async def browse() -> None:
                # An admitted visitor keeps using the site: ~25 requests a second.
                async with httpx.AsyncClient(base_url=gw, cookies=inside) as client:
                    while not stop.is_set():
                        await client.get("/activities")
                        await asyncio.sleep(0.04)

            async def admitted() -> int:
                return (await store.view("stad")).counters.get("admitted_total", 0)

            async def until(check: object, limit: float) -> float:
                started = time.monotonic()
                while time.monotonic() - started < limit:
                    if await check():  # type: ignore[operator]
                        return time.monotonic() - started
                    await asyncio.sleep(0.1)
                raise AssertionError(f"not within {limit} s")

            browsing = asyncio.create_task(browse())
            try:
                first = await admitted()
                await until(lambda: _more(admitted, first), 5)

                await fetch(f"{up}/_fake/control?failing=1", post=True)
                took = await until(lambda: _open(store), window + 3)
                assert took <= window + 3
                paused_at = await admitted()
                await asyncio.sleep(1.5)
                assert await admitted() == paused_at  # nobody admitted while it fails
                visitor = Passes([KEY]).visitor_cookie(waiting[-1])
                status = await fetch(f"{gw}/_sluis/status",
                                     headers={"Cookie": f"sluis_visitor={visitor}"})
                assert status["state"] == "paused"  # and keeps the place it had
                assert (await store.view("stad")).counters.get("breaker_trips_total") == 1

                await fetch(f"{up}/_fake/control?failing=0", post=True)
                await until(lambda: _closed(store), 2 + window + 4)
                await until(lambda: _more(admitted, paused_at), 3)
            finally:
                stop.set()
                await browsing
            audit = await store.audit("stad")
            metrics = await fetch(f"{gw}/_sluis/metrics", as_json=False)
    modes = [e["mode"] for e in audit if e["actor"] == "breaker"]
    assert modes == ["reset", "trip"]  # newest first
    assert 'sluis_breaker_trips_total{room="stad"} 1.0' in metrics
    assert 'sluis_breaker_open{room="stad"} 0.0' in metrics
    # The line kept its order: those admitted are exactly the front of the line.
    left = set(await store.head("stad", 1000))
    gone = [v for v in waiting if v not in left]
    assert gone == waiting[:len(gone)]


async def fetch(url: str, *, post: bool = False, as_json: bool = True,
                headers: dict[str, str] | None = None) -> Any:
    async with httpx.AsyncClient(headers=headers) as client:
        r = await (client.post(url) if post else client.get(url))
    return r.json() if as_json else r.text


async def _more(count: object, than: int) -> bool:
    return await count() > than  # type: ignore[operator,no-any-return]


async def _open(store: Store) -> bool:
    return (await store.view("stad")).breaker_open


async def _closed(store: Store) -> bool:
    return not (await store.view("stad")).breaker_open
