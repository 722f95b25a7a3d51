"""Abuse: many tabs, one address mass-joining (directly or behind a balancer), and bots
that drop their cookies."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Any

import httpx

from gateway import proof
from gateway.app import SluisApp
from gateway.passes import Passes
from gateway.rooms import LiveSettings, RoomConfig
from queue_worker.worker import Worker
from tests.conftest import KEYS, make_settings
from tests.helpers import arrive, gateway_client
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
        first = await arrive(client, "/", headers=JSON)
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
                # A bot that keeps each new cookie just long enough to take a place.
                bot.cookies.clear()
                r = await arrive(bot, "/", headers=JSON)
                codes.append(r.status_code)
            bot.cookies.clear()
            page = await arrive(bot, "/")  # and the HTML answer of a limited address
        view = await app.state.store.view("default")
    figure(f"places from 100 joins of one address, a new cookie each (limit {LIMIT})",
           view.queued)
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
                    r = await arrive(c, "/", headers={**JSON, "x-forwarded-for": xff})
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


async def test_bots_that_drop_cookies_take_no_place_and_no_admission(
        redis_url: str, tmp_path: Path, figure: Figure) -> None:
    settings = make_settings(redis_url, tmp_path, max_active=0, rate_per_minute=600_000)
    passes = Passes(KEYS)
    async with gateway_client(settings) as (app, _):
        store = app.state.store
        bots: list[str] = []
        answers: list[int] = []
        calls_before = await redis_calls(store)
        for i in range(200):  # a botnet: 200 addresses, never a cookie sent back
            async with client_from(app, f"100.64.{i // 250}.{i % 250 + 1}") as bot:
                for _ in range(5):
                    bot.cookies.clear()
                    r = await bot.get("/inschrijven", headers=JSON if i % 2 else {})
                    answers.append(r.status_code)
                    visitor = passes.visitor_from_cookie(r.cookies["sluis_visitor"])
                    assert visitor is not None
                    bots.append(visitor)
        redis_by_bots = await redis_calls(store) - calls_before
        placed_by_bots = (await store.view("default")).queued
        parents = []
        for i in range(20):  # parents whose browsers keep the cookie
            async with client_from(app, f"198.51.100.{i + 1}") as parent:
                await arrive(parent, "/inschrijven")
                parents.append(parent.cookies["sluis_visitor"])
        queued = (await store.view("default")).queued
        await store.change_room("default", {"max_active": "20"}, "test", ("s", "h"))
        worker = Worker(store, settings.rooms, worker_id="abuse-worker")
        for _ in range(6):
            await worker.tick()
            await asyncio.sleep(0.05)
        active = {v.decode() for v in await store.client.zrange(store.keys("default").active,
                                                                 0, -1)}
        view = await store.view("default")
    parent_ids = {passes.visitor_from_cookie(c) for c in parents}
    figure("places taken by 1,000 requests of 200 cookie-dropping bots", placed_by_bots)
    figure("Redis commands those 1,000 requests caused", redis_by_bots)
    figure("places of 20 parents who keep the cookie", queued)
    figure("admissions that went to bots", len(active & set(bots)))
    figure("parents admitted", f"{len(active & parent_ids)}/{len(parents)}")
    assert answers == [200] * 1000
    assert placed_by_bots == 0 and redis_by_bots <= 2  # the INFO calls of the count itself
    assert queued == 20
    assert not active & set(bots) and active == parent_ids
    assert view.queued == 0


async def redis_calls(store: Any) -> int:
    """Commands the Redis server has processed so far."""
    info = await store.client.info("stats")
    return int(info["total_commands_processed"])


async def test_a_room_with_proof_of_work_places_only_a_solved_join(
        redis_url: str, tmp_path: Path, figure: Figure) -> None:
    bits = 12
    room = RoomConfig(name="default", initial=LiveSettings(max_active=0),
                      join_proof_bits=bits)
    settings = dataclasses.replace(make_settings(redis_url, tmp_path), rooms=(room,))
    passes = Passes(KEYS)
    async with gateway_client(settings) as (app, client):
        store = app.state.store
        first = await client.get("/inschrijven", headers=JSON)
        asked = first.json()["proof"]
        visitor = passes.visitor_from_cookie(client.cookies["sluis_visitor"])
        assert visitor is not None
        assert asked == {"challenge": proof.challenge(passes.proof_key, "default", visitor),
                         "bits": bits}
        # Bringing the cookie back is not enough here: the page's refresh gets no place,
        refreshed = await client.get("/inschrijven", headers=JSON)
        assert refreshed.json()["state"] == "none" and refreshed.json()["proof"] == asked
        page = await client.get("/inschrijven")
        assert f'data-proof="{asked["challenge"]}"' in page.text
        assert '<script src="/_sluis/static/proof.js" defer>' in page.text
        # nor a join without the proof, with a wrong one, or with another visitor's.
        url = "/_sluis/status?room=default&join=1"
        others = (proof.base36(n) for n in range(1 << 20))
        theirs = next(n for n in others if proof.solves("0" * 32, n, bits)
                      and not proof.solves(asked["challenge"], n, bits))
        refused = [await client.get(url),
                   await client.get(url + "&proof=NOT-A-NONCE"),
                   await client.get(url + "&proof=" + theirs),
                   await client.get(url + "&proof=%00%ff")]
        assert [r.status_code for r in refused] == [403] * 4
        assert refused[0].json()["error"] == "proof_required"
        assert (await store.view("default")).queued == 0
        started = time.perf_counter()
        nonce = proof.solve(asked["challenge"], bits)
        solve_ms = (time.perf_counter() - started) * 1000
        placed = await client.get(f"{url}&proof={nonce}")
        assert placed.status_code == 200 and placed.json()["position"] == 1
        assert (await client.get("/inschrijven", headers=JSON)).json()["position"] == 1
        view = await store.view("default")
    figure(f"places without a proof (4 tries) / with a solved one ({bits} bits)",
           f"0 / {view.queued}")
    figure("time to solve it in Python", f"{solve_ms:.1f} ms")
    assert view.queued == 1
