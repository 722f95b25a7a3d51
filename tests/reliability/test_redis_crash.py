"""Redis killed with SIGKILL in the middle of a surge, restarted from its AOF.

Acknowledged joins survive (at most the AOF's last second could be lost), no
sequence number is handed out twice, nobody is admitted twice, and visitors see
the calm 503 while Redis is away and then simply continue with their place.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from gateway.app import SluisApp
from gateway.store.embedded import EmbeddedRedis
from queue_worker.worker import Worker
from tests.conftest import make_settings
from tests.helpers import gateway_client
from tests.reliability.conftest import Figure
from tests.reliability.support import JSON, while_moving

LANES = 16
KILL_AFTER_ACKS = 300
OUTAGE_ANSWERS = 80
STOP_AFTER_ACKS = 700


@dataclass
class Ack:
    cookie: str
    state: str
    position: int | None
    at: float
    after_restart: bool


class Surge:
    def __init__(self, app: SluisApp) -> None:
        self.app = app
        self.acks: list[Ack] = []
        self.unavailable: list[httpx.Response] = []
        self.waiting_for_redis: list[str] = []  # visitor cookies that met the 503
        self.restarted = asyncio.Event()
        self.done = asyncio.Event()
        self.other: Counter[int] = Counter()

    def client(self, lane: int) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(f"198.51.100.{lane}", 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://sluis.test")

    async def lane(self, lane: int) -> None:
        async with self.client(lane) as c:
            while not self.done.is_set():
                c.cookies.clear()
                html = lane % 4 == 0  # a quarter of the parents load the page itself
                # The first answer hands out the cookie and needs no Redis; the request
                # that brings the cookie back takes the place.
                first = await c.get("/inschrijven", headers={} if html else JSON)
                if first.status_code != 200:
                    self.other[first.status_code] += 1
                    continue
                cookie = first.cookies.get("sluis_visitor", "")
                r = await c.get("/inschrijven", headers={} if html else JSON)
                if r.status_code == 200:
                    body = r.json() if not html else {}
                    # An idle room lets a newcomer straight through to the upstream.
                    state = "admitted" if "reached" in body else body.get("state", "page")
                    self.acks.append(Ack(cookie, state, body.get("position"),
                                         time.monotonic(), self.restarted.is_set()))
                elif r.status_code == 503:
                    self.unavailable.append(r)
                    self.waiting_for_redis.append(cookie)
                    await asyncio.sleep(0.01)
                else:
                    self.other[r.status_code] += 1


@pytest.mark.timeout(360)  # the surge runs while joins are answered, 240 s at most
async def test_redis_sigkill_mid_surge_loses_no_acknowledged_join(tmp_path: Path,
                                                                  figure: Figure) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    try:
        settings = make_settings(server.url, tmp_path, max_active=40, rate_per_minute=12_000)
        async with gateway_client(settings) as (app, _):
            worker = Worker(app.state.store, settings.rooms, worker_id="crash-worker")
            admitted: list[str] = []
            real_admit = worker.store.admit

            async def counting_admit(*args: Any, **kwargs: Any) -> Any:
                result = await real_admit(*args, **kwargs)
                admitted.extend(result.admitted)
                return result

            worker.store.admit = counting_admit  # type: ignore[method-assign]
            surge = Surge(app)

            async def ticking() -> None:
                while not surge.done.is_set():
                    await worker.tick()
                    await asyncio.sleep(0.05)

            killed_at = 0.0

            async def crash() -> None:
                nonlocal killed_at
                while len(surge.acks) < KILL_AFTER_ACKS:  # noqa: ASYNC110 - counts, not an event
                    await asyncio.sleep(0.005)
                killed_at = time.monotonic()
                server.kill()
                while len(surge.unavailable) < OUTAGE_ANSWERS:  # noqa: ASYNC110 - counts, not an event
                    await asyncio.sleep(0.005)
                await asyncio.to_thread(server.start)
                surge.restarted.set()
                while len(surge.acks) < STOP_AFTER_ACKS:  # noqa: ASYNC110 - counts, not an event
                    await asyncio.sleep(0.01)
                surge.done.set()

            # Until STOP_AFTER_ACKS joins are acknowledged, as long as answers keep coming.
            await while_moving(asyncio.gather(
                crash(), ticking(), *(surge.lane(i) for i in range(LANES))),
                lambda: len(surge.acks) + len(surge.unavailable) + surge.restarted.is_set())

            # Those who met the 503 come back with their cookie and get their place.
            continued = 0
            async with surge.client(99) as c:
                for cookie in surge.waiting_for_redis:
                    c.cookies.clear()
                    c.cookies.set("sluis_visitor", cookie)
                    r = await c.get("/inschrijven", headers=JSON)
                    continued += r.status_code == 200 and r.json()["state"] in (
                        "queued", "admitted")
                # Every acknowledged place is still there, never further back.
                lost = moved_back = 0
                for ack in surge.acks:
                    c.cookies.clear()
                    c.cookies.set("sluis_visitor", ack.cookie)
                    r = await c.get("/_sluis/status")
                    st = r.json()
                    if st["state"] not in ("queued", "admitted"):
                        lost += 1
                    elif (st["state"] == "queued" and ack.position is not None
                          and st["position"] > ack.position):
                        moved_back += 1

            raw = aioredis.Redis.from_url(server.url)
            k = app.state.store.keys("default")
            scores = [int(s) for _, s in await raw.zrange(k.queue, 0, -1, withscores=True)]
            queued = {m for m in await raw.zrange(k.queue, 0, -1)}
            active = {m for m in await raw.zrange(k.active, 0, -1)}
            await raw.aclose()

        before_kill = [a for a in surge.acks if not a.after_restart]
        last_second = sum(1 for a in before_kill if a.at > killed_at - 1.0)
        calm = sum(1 for r in surge.unavailable
                   if r.headers.get("retry-after") == "5"
                   and r.headers.get("cache-control") == "no-store"
                   and (b"keep_page_open" in r.content or "Houd deze pagina open" in r.text))
        twice = sum(n - 1 for n in Counter(admitted).values() if n > 1)
        figure("acknowledged joins", len(surge.acks))
        figure("acknowledged before the kill", len(before_kill))
        figure("acknowledged in the last second before the kill", last_second)
        figure("acknowledged joins lost", lost)
        figure("places moved back", moved_back)
        figure("sequence numbers reissued", len(scores) - len(set(scores)))
        figure("double admissions", twice + len(queued & active))
        figure("answers while Redis was down", len(surge.unavailable))
        figure("of which the calm 503", calm)
        figure("visitors who met the 503 and continued", f"{continued}/"
                                                         f"{len(surge.waiting_for_redis)}")
        assert not surge.other, surge.other
        assert lost <= last_second and lost == 0
        assert moved_back == 0
        assert len(scores) == len(set(scores))
        assert twice == 0 and not queued & active
        assert calm == len(surge.unavailable) >= OUTAGE_ANSWERS
        assert continued == len(surge.waiting_for_redis)
    finally:
        server.stop()
