"""Operators' changes reach a real worker process within one tick; the leading worker
keeps the dashboard's samples, bounded to the last hour."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from gateway import lottery
from gateway.rooms import LiveSettings, RoomConfig
from gateway.store import Store
from harness.processes import stop
from harness.sluis import sluis_env, worker
from queue_worker.worker import Worker
from tests.conftest import ADMIN_TOKEN, make_settings
from tests.helpers import gateway_client

AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}
ROOM = "/_sluis/admin/api/rooms/default"
TICK = 0.2
# One tick, plus what two busy shared cores may add to a process's wake-up.
WITHIN = TICK + 0.3


async def admitted(store: Store) -> int:
    return (await store.view("default")).counters.get("admitted_total", 0)


async def first_change(store: Store, since: int, limit: float) -> float | None:
    """Seconds until admitted_total moves from `since`, or None within `limit`."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if await admitted(store) != since:
            return time.monotonic() - start
        await asyncio.sleep(0.01)
    return None


async def last_change(store: Store, watch: float) -> float:
    """Over `watch` seconds, when admitted_total last moved (0 when it never did)."""
    start, value, at = time.monotonic(), await admitted(store), 0.0
    while time.monotonic() - start < watch:
        now = await admitted(store)
        if now != value:
            value, at = now, time.monotonic() - start
        await asyncio.sleep(0.01)
    return at


@pytest.mark.slow
async def test_rate_pause_and_resume_take_effect_within_one_tick(
        redis_url: str, tmp_path: Path, store: Store) -> None:
    await store.define_room(RoomConfig(name="default", initial=LiveSettings(
        rate_per_minute=0, max_active=100_000)), lottery.new_seed())
    await asyncio.gather(*(store.join("default", f"visitor-{i:06d}", may_pass=False)
                           for i in range(400)))
    proc = worker(sluis_env(redis_url, tmp_path, SLUIS_WORKER_TICK_MS=str(int(TICK * 1000))),
                  tmp_path, "worker")
    try:
        deadline = time.monotonic() + 15
        while (await store.view("default")).leader is None:
            assert time.monotonic() < deadline, "the worker never led the room"
            await asyncio.sleep(0.05)
        await asyncio.sleep(2 * TICK)
        async with gateway_client(make_settings(redis_url, tmp_path)) as (_, client):
            assert await admitted(store) == 0  # rate 0: nobody yet
            before = await admitted(store)
            r = await client.patch(ROOM, headers=AUTH, json={"rate_per_minute": 1200})
            assert r.status_code == 200
            took = await first_change(store, before, 3.0)
            assert took is not None and took <= WITHIN, took

            r = await client.patch(ROOM, headers=AUTH, json={"paused": True})
            assert r.status_code == 200
            settled = await last_change(store, 1.5)
            assert settled <= WITHIN, settled  # nobody admitted after the next tick

            before = await admitted(store)
            r = await client.patch(ROOM, headers=AUTH, json={"paused": False})
            took = await first_change(store, before, 3.0)
            assert took is not None and took <= WITHIN, took
    finally:
        stop(proc)


async def test_the_leading_worker_keeps_bounded_samples(store: Store) -> None:
    room = RoomConfig(name="default", initial=LiveSettings(rate_per_minute=600, max_active=5))
    await store.define_room(room, lottery.new_seed())
    for i in range(8):
        await store.join("default", f"visitor-{i:04d}", may_pass=False)
    w = Worker(store, (room,), tick_seconds=0.05, worker_id="w1", sample_seconds=0.1)
    for _ in range(6):
        await w.tick()
        await asyncio.sleep(0.06)
    samples = await store.series("default")
    assert 2 <= len(samples) <= 6
    last = samples[-1]
    assert last["active"] + last["waiting"] == 8 and last["rate"] == 600
    assert last["last_wait_s"] >= 0 and last["t"] > samples[0]["t"]
    # Samples older than the horizon are dropped as new ones come.
    assert await store.record_sample("default", "w1", {"waiting": 0}, horizon_ms=0) == 1
    assert await store.record_sample("default", "not-the-leader", {}) == -1
