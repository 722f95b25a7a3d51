"""The per-address limits in the join script, and the networks an admission is used from,
against a real Redis: a sliding window of new places, a cap on places held at once that
follows the places as they end, IPv6 counted per network."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gateway import lottery
from gateway.rooms import LiveSettings, RoomConfig
from gateway.store import Code, Store
from gateway.store.connect import client_from_url
from gateway.store.keys import room_keys
from queue_worker.worker import Worker

ROOM = RoomConfig(name="default", initial=LiveSettings(max_active=0, rate_per_minute=0))
K = room_keys("default")


@pytest.fixture
async def limited(redis_url: str) -> AsyncIterator[Store]:
    """5 new places per address in any 60 s, 3 held at once."""
    s = Store(client_from_url(redis_url), joins_per_ip_per_minute=5, places_per_ip=3)
    await s.define_room(ROOM, lottery.new_seed())
    yield s
    await s.close()


async def joins(store: Store, address: str, start: int, count: int) -> list[Code]:
    out = []
    for i in range(start, start + count):
        _, place = await store.join("default", f"visitor-{i:08d}", address, may_pass=False)
        out.append(place.code)
    return out


async def test_the_window_slides_instead_of_starting_again_each_minute(redis_url: str) -> None:
    store = Store(client_from_url(redis_url), joins_per_ip_per_minute=5)
    await store.define_room(ROOM, lottery.new_seed())
    try:
        codes = await joins(store, "203.0.113.9", 0, 8)
        assert codes == [Code.QUEUED] * 5 + [Code.LIMITED] * 3
        window = K.joins_by_address("203.0.113.9")
        # Refused tries are not counted: the window still holds the 5 places.
        assert await store.client.zcard(window) == 5
        # Two of the places were taken 61 s ago: two more fit, not five.
        now_ms = int((await store.client.time())[0]) * 1000
        for member in (await store.client.zrange(window, 0, 1)):
            await store.client.zadd(window, {member: now_ms - 61_000})
        assert await joins(store, "203.0.113.9", 8, 3) == [Code.QUEUED] * 2 + [Code.LIMITED]
        assert 0 < await store.client.pttl(window) <= 60_000
        # Another address has its own window.
        assert await joins(store, "203.0.113.10", 20, 1) == [Code.QUEUED]
    finally:
        await store.close()


async def test_places_held_at_once_are_capped_and_given_back_as_places_end(
        redis_url: str) -> None:
    store = Store(client_from_url(redis_url), places_per_ip=3)
    room = RoomConfig(name="default", initial=LiveSettings(max_active=0, rate_per_minute=60_000,
                                                          grace_seconds=30))
    await store.define_room(room, lottery.new_seed())
    try:
        codes = await joins(store, "198.51.100.7", 0, 5)
        assert codes == [Code.QUEUED] * 3 + [Code.LIMITED] * 2
        assert await store.client.hget(K.held, "198.51.100.7") == b"3"
        # A second request of a visitor who holds a place changes nothing.
        _, again = await store.join("default", "visitor-00000000", "198.51.100.7")
        assert again.code == Code.QUEUED and again.position == 1
        assert await store.client.hget(K.held, "198.51.100.7") == b"3"
        # One is let in: its place ends, and the address may take one more.
        await store.change_room("default", {"max_active": "1"}, "test", lottery.new_seed())
        worker = Worker(store, (room,), worker_id="w")
        for _ in range(5):
            await worker.tick()
            if (await store.view("default")).active:
                break
            await asyncio.sleep(0.05)
        assert (await store.view("default")).active == 1
        assert await store.client.hget(K.held, "198.51.100.7") == b"2"
        assert await joins(store, "198.51.100.7", 10, 2) == [Code.QUEUED, Code.LIMITED]
        # One goes silent past the grace period: dropped by the worker's sweep, given back.
        now = int((await store.client.time())[0])
        silent = "visitor-00000002"
        raw = await store.client.hget(K.seen(silent), silent)
        assert raw.decode().endswith(" 198.51.100.7")
        await store.client.hset(K.seen(silent), silent, f"{now - 31} 198.51.100.7")
        removed, _ = await store.expire("default", await store.stretch("default", 0, 100))
        assert removed == 1
        assert await store.client.hget(K.held, "198.51.100.7") == b"2"
        assert await joins(store, "198.51.100.7", 20, 1) == [Code.QUEUED]
        # Every place gone: the network's count is gone too.
        stale = [v for v in await store.stretch("default", 0, 100)]
        for visitor in stale:
            await store.client.hset(K.seen(visitor), visitor, f"{now - 31} 198.51.100.7")
        await store.expire("default", stale)
        assert await store.client.hget(K.held, "198.51.100.7") is None
    finally:
        await store.close()


async def test_a_place_that_names_its_network_is_still_touched_and_kept(limited: Store) -> None:
    await limited.join("default", "visitor-touched0", "192.0.2.4")
    now = int((await limited.client.time())[0])
    seen = K.seen("visitor-touched0")
    await limited.client.hset(seen, "visitor-touched0", f"{now - 20} 192.0.2.4")
    _, place = await limited.status("default", "visitor-touched0")
    assert place.code == Code.QUEUED
    assert (await limited.client.hget(seen, "visitor-touched0")).decode() == f"{now} 192.0.2.4"


async def test_ipv6_addresses_count_per_slash_64(limited: Store, redis_url: str) -> None:
    same = [f"2001:db8:7:9:{i:x}::{i + 1:x}" for i in range(10)]
    codes = [c for i, a in enumerate(same) for c in await joins(limited, a, i, 1)]
    assert codes == [Code.QUEUED] * 3 + [Code.LIMITED] * 7
    others = [f"2001:db8:7:{i + 10:x}::1" for i in range(10)]
    codes = [c for i, a in enumerate(others) for c in await joins(limited, a, 100 + i, 1)]
    assert codes == [Code.QUEUED] * 10
    assert await limited.client.hget(K.held, "2001:db8:7:9::/64") == b"3"
    # With a /48 the other ten count as one network too.
    wide = Store(client_from_url(redis_url), joins_per_ip_per_minute=5, places_per_ip=3,
                 ipv6_prefix=48)
    try:
        codes = [c for i, a in enumerate(others) for c in await joins(wide, a, 200 + i, 1)]
        assert codes == [Code.QUEUED] * 3 + [Code.LIMITED] * 7
    finally:
        await wide.close()


async def test_an_address_the_limits_do_not_count_takes_places_freely(limited: Store) -> None:
    codes = [(await limited.join("default", f"visitor-none{i:04d}", None))[1].code
             for i in range(10)]
    assert codes == [Code.QUEUED] * 10


async def test_concurrent_joins_of_one_address_take_exactly_the_cap(limited: Store) -> None:
    results = await asyncio.gather(*(limited.join("default", f"visitor-{i:08d}", "192.0.2.8")
                                     for i in range(50)))
    assert sum(place.code == Code.QUEUED for _, place in results) == 3


async def test_an_admission_is_used_from_at_most_the_cap_of_networks(store: Store) -> None:
    await store.define_room(ROOM, lottery.new_seed())
    nets = [f"203.0.113.{i}" for i in range(1, 7)]
    got = [await store.use_from("default", "visitor-share000", n, 3, 600) for n in nets]
    assert got == [1, 2, 3, -3, -3, -3]
    # A network already counted stays allowed; refusals are counted for operators.
    assert await store.use_from("default", "visitor-share000", nets[0], 3, 600) == 3
    assert (await store.view("default")).counters["shared_refused_total"] == 3
    # Concurrent first uses of one admission from 30 networks: exactly 3 allowed.
    many = await asyncio.gather(*(store.use_from("default", "visitor-share001",
                                                 f"198.51.100.{i}", 3, 600)
                                  for i in range(30)))
    assert sum(n > 0 for n in many) == 3
    # A network unused for the whole window makes room for another.
    key = K.networks("visitor-share000")
    now_ms = int((await store.client.time())[0]) * 1000
    await store.client.zadd(key, {nets[1]: now_ms - 601_000})
    assert await store.use_from("default", "visitor-share000", nets[5], 3, 600) == 3
    assert 0 < await store.client.pttl(key) <= 600_000
