"""Hoarding places from one address: a burst that straddles the clock's minute, many
addresses of one IPv6 /64, and places piled up over time."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import httpx

from gateway.app import SluisApp
from gateway.settings import PLACES_PER_IP, Settings
from queue_worker.worker import Worker
from tests.conftest import make_settings
from tests.helpers import arrive, gateway_client
from tests.reliability.conftest import Figure
from tests.reliability.support import JSON

BURST_SECONDS = 8


def client_from(app: SluisApp, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://sluis.test")


async def take_place(app: SluisApp, address: str) -> int:
    """A new cookie, brought back once: the join's status code."""
    async with client_from(app, address) as bot:
        return (await arrive(bot, "/", headers=JSON)).status_code


async def test_a_burst_across_the_minute_takes_one_minutes_places(
        redis_url: str, tmp_path: Path, figure: Figure) -> None:
    limit = 60  # the default
    settings = dataclasses.replace(make_settings(redis_url, tmp_path, max_active=0),
                                   joins_per_ip_per_minute=limit)
    # The attack: start a few seconds before the clock's minute turns, and keep joining
    # for 8 s, so that a count per calendar minute would grant two minutes' places.
    await asyncio.sleep((56 - time.time() % 60) % 60)
    started = time.time()
    codes = []
    async with gateway_client(settings) as (app, _):
        while time.time() - started < BURST_SECONDS:
            codes.append(await take_place(app, "203.0.113.50"))
            await asyncio.sleep(BURST_SECONDS / (3 * limit))
        view = await app.state.store.view("default")
    crossed = int(started // 60) != int(time.time() // 60)
    figure(f"places from {len(codes)} joins of one address in {BURST_SECONDS} s across the "
           f"minute (limit {limit})", view.queued)
    assert crossed
    assert view.queued == limit and codes.count(429) == len(codes) - limit


async def test_the_addresses_of_one_ipv6_64_share_one_budget(
        redis_url: str, tmp_path: Path, figure: Figure) -> None:
    limit = 5
    settings = dataclasses.replace(make_settings(redis_url, tmp_path, max_active=0),
                                   joins_per_ip_per_minute=limit)
    async with gateway_client(settings) as (app, _):
        one = [await take_place(app, f"2001:db8:1:2::{i + 1:x}") for i in range(100)]
        homes = [await take_place(app, f"2001:db8:1:{i + 10:x}::1") for i in range(20)]
        view = await app.state.store.view("default")
    figure(f"places from 100 joins of 100 addresses in one /64 (limit {limit})",
           one.count(200))
    figure("places from 20 joins of 20 different /64s", homes.count(200))
    assert one.count(200) == limit and one.count(429) == 100 - limit
    assert homes.count(200) == 20 and view.queued == limit + 20


async def test_places_held_at_once_are_capped_and_the_cap_follows_the_line(
        redis_url: str, tmp_path: Path, figure: Figure) -> None:
    cap = 10
    settings = dataclasses.replace(
        make_settings(redis_url, tmp_path, max_active=0, rate_per_minute=60_000),
        places_per_ip=cap)
    async with gateway_client(settings) as (app, _):
        store = app.state.store
        first = [await take_place(app, "203.0.113.60") for _ in range(50)]
        # Four of them are let in: four places freed, four more may be taken.
        await store.change_room("default", {"max_active": "4"}, "test", ("s", "h"))
        worker = Worker(store, settings.rooms, worker_id="hoarding-worker")
        for _ in range(10):
            await worker.tick()
            if (await store.view("default")).active == 4:
                break
            await asyncio.sleep(0.05)
        later = [await take_place(app, "203.0.113.60") for _ in range(10)]
        view = await store.view("default")
        others = [await take_place(app, f"198.51.100.{i + 1}") for i in range(20)]
    figure(f"places held at once from 50 joins of one address (cap {cap}, join limit off)",
           first.count(200))
    figure("after 4 of them were let in, places taken from 10 more joins", later.count(200))
    assert first.count(200) == cap and first.count(429) == 50 - cap
    assert view.active == 4 and later.count(200) == 4 and view.queued == cap
    assert others.count(200) == 20


def test_the_cap_on_places_is_on_with_the_join_limit_unless_set() -> None:
    env = {"SLUIS_SECRET_KEYS": "k" * 16, "SLUIS_ADMIN_TOKEN": "t"}
    assert Settings.from_env(env).places_per_ip == PLACES_PER_IP
    assert Settings.from_env(env).ipv6_prefix == 64
    off = {**env, "SLUIS_JOINS_PER_IP_PER_MINUTE": "0"}
    assert Settings.from_env(off).places_per_ip == 0
    assert Settings.from_env({**off, "SLUIS_PLACES_PER_IP": "7"}).places_per_ip == 7
    assert Settings.from_env({**env, "SLUIS_IPV6_PREFIX": "56"}).ipv6_prefix == 56
