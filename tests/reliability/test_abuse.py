"""Abuse: many tabs, one address mass-joining (directly or behind a balancer), and bots
that drop their cookies."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import httpx

from gateway.app import SluisApp
from gateway.tickets import Tickets
from queue_worker.worker import Worker
from tests.conftest import KEYS, make_settings
from tests.helpers import gateway_client
from tests.reliability.conftest import Figure
from tests.reliability.support import JSON

LIMIT = 5


def client_from(app: SluisApp, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://sluis.test")


def away_from_a_minute_boundary() -> None:
    # The per-address count is per clock minute; a burst that straddles two minutes
    # would count twice the limit, so it starts well inside one.
    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)


async def test_ten_tabs_of_one_browser_hold_one_place(redis_url: str, tmp_path: Path,
                                                      figure: Figure) -> None:
    settings = make_settings(redis_url, tmp_path, max_active=0)
    async with gateway_client(settings) as (app, client):
        first = await client.get("/", headers=JSON)
        tabs = await asyncio.gather(*(client.get("/inschrijven", headers=JSON)
                                      for _ in range(10)))
        polls = await asyncio.gather(*(client.get("/_sluis/status") for _ in range(10)))
        view = await app.state.store.view("default")
    positions = {r.json()["position"] for r in [first, *tabs, *polls]}
    figure("places held by 1 + 10 tabs + 10 polls", view.queued)
    assert view.queued == 1 and positions == {1}


async def test_one_address_mass_joining_is_limited(redis_url: str, tmp_path: Path,
                                                   figure: Figure) -> None:
    settings = dataclasses.replace(make_settings(redis_url, tmp_path, max_active=0),
                                   joins_per_ip_per_minute=LIMIT)
    away_from_a_minute_boundary()
    async with gateway_client(settings) as (app, _):
        async with client_from(app, "203.0.113.50") as bot:
            codes = []
            for _ in range(100):
                bot.cookies.clear()  # a bot that drops its cookie every time
                r = await bot.get("/", headers=JSON)
                codes.append(r.status_code)
            page = await bot.get("/")  # and the HTML answer of a limited address
        view = await app.state.store.view("default")
    figure(f"places from 100 cookieless joins of one address (limit {LIMIT})", view.queued)
    figure("answered 429", codes.count(429))
    assert view.queued == LIMIT and codes.count(429) == 100 - LIMIT
    assert page.status_code == 429 and page.headers["retry-after"] == "60"
    assert page.headers["cache-control"] == "no-store" and "text/html" in page.headers[
        "content-type"]


async def test_the_limit_follows_x_forwarded_for_only_from_a_trusted_balancer(
        redis_url: str, tmp_path: Path, figure: Figure) -> None:
    settings = dataclasses.replace(make_settings(redis_url, tmp_path, max_active=0),
                                   joins_per_ip_per_minute=LIMIT,
                                   trusted_proxies=("10.0.0.0/8",))
    away_from_a_minute_boundary()
    async with gateway_client(settings) as (app, _):
        async def joins(peer: str, forwarded: list[str]) -> int:
            placed = 0
            async with client_from(app, peer) as c:
                for xff in forwarded:
                    c.cookies.clear()
                    r = await c.get("/", headers={**JSON, "x-forwarded-for": xff})
                    placed += r.status_code == 200
            return placed

        # 20 parents behind the balancer, 3 each: each address has its own budget.
        parents = [f"198.51.100.{i}" for i in range(1, 21)]
        behind = await joins("10.0.0.2", [a for a in parents for _ in range(3)])
        # One parent's address, mass-joining through the balancer: limited.
        one = await joins("10.0.0.2", ["192.0.2.77"] * 20)
        # The client forges an X-Forwarded-For chain; the balancer appends the real peer.
        forged = await joins("10.0.0.3", [f"1.2.3.{i}, 192.0.2.88" for i in range(20)])
        # An untrusted peer sending its own X-Forwarded-For: the header is ignored.
        spoofed = await joins("192.0.2.99", [f"203.0.113.{i}" for i in range(20)])
    figure("places for 20 parents x 3 behind a trusted balancer", behind)
    figure("places for 20 joins of one address via the balancer", one)
    figure("places for 20 joins with forged left-hand X-Forwarded-For", forged)
    figure("places for 20 joins with X-Forwarded-For from an untrusted peer", spoofed)
    assert behind == 60 and one == LIMIT and forged == LIMIT and spoofed == LIMIT


async def test_cookieless_bot_places_cost_no_admission_once_their_grace_has_passed(
        redis_url: str, tmp_path: Path, figure: Figure) -> None:
    settings = make_settings(redis_url, tmp_path, max_active=0, rate_per_minute=600_000,
                             grace_seconds=30)
    tickets = Tickets(KEYS)
    async with gateway_client(settings) as (app, _):
        store = app.state.store
        bots: list[str] = []
        for i in range(200):  # a botnet: 200 addresses, never a cookie sent back
            async with client_from(app, f"100.64.{i // 250}.{i % 250 + 1}") as bot:
                r = await bot.get("/inschrijven")
                visitor = tickets.visitor_from_cookie(r.cookies["sluis_visitor"])
                assert visitor is not None
                bots.append(visitor)
        parents = []
        for i in range(20):
            async with client_from(app, f"198.51.100.{i + 1}") as parent:
                await parent.get("/inschrijven")
                parents.append(parent.cookies["sluis_visitor"])
        placed_by_bots = (await store.view("default")).queued - len(parents)
        # The grace period passes: parents' pages kept polling, the bots never came back.
        k = store.keys("default")
        stale = int(time.time()) - 31
        for visitor in bots:
            await store.client.hset(k.seen(visitor), visitor, stale)
        await store.change_room("default", {"max_active": "20"}, "test", ("s", "h"))
        worker = Worker(store, settings.rooms, worker_id="abuse-worker")
        for _ in range(6):
            await worker.tick()
            await asyncio.sleep(0.05)
        active = {v.decode() for v in await store.client.zrange(k.active, 0, -1)}
        view = await store.view("default")
    parent_ids = {tickets.visitor_from_cookie(c) for c in parents}
    figure("places taken by 200 cookieless bot requests", placed_by_bots)
    figure("admissions that went to bots after their grace", len(active & set(bots)))
    figure("parents admitted", f"{len(active & parent_ids)}/{len(parents)}")
    assert placed_by_bots == 200
    assert not active & set(bots) and active == parent_ids
    assert view.queued == 0
