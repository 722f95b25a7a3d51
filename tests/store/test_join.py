"""Join and status against a real Redis: exact places under concurrency."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from gateway import lottery
from gateway.rooms import LiveSettings, RoomConfig
from gateway.store import Code, Store
from gateway.store.keys import room_keys


async def busy_room(store: Store, **live: object) -> None:
    """A room where nobody passes at once: everyone joins the queue."""
    settings = {"max_active": 0, "rate_per_minute": 0, **live}
    await store.define_room(RoomConfig(name="default", initial=LiveSettings(**settings)),  # type: ignore[arg-type]
                            lottery.new_seed())


async def test_a_thousand_concurrent_joins_get_positions_one_to_a_thousand(store: Store) -> None:
    await busy_room(store)
    visitors = [f"visitor-{i:08d}" for i in range(1000)]
    results = await asyncio.gather(*(store.join("default", v) for v in visitors))
    positions = sorted(place.position for _, place in results)
    assert positions == list(range(1, 1001))
    assert all(place.code == Code.QUEUED for _, place in results)
    # Asking again gives each visitor the same place.
    again = await asyncio.gather(*(store.status("default", v) for v in visitors))
    assert [p.position for _, p in again] == [p.position for _, p in results]


async def test_two_hundred_concurrent_joins_of_one_visitor_make_one_place(store: Store) -> None:
    await busy_room(store)
    await store.join("default", "someone-else-000")
    results = await asyncio.gather(*(store.join("default", "visitor-same-one") for _ in range(200)))
    assert {place.position for _, place in results} == {2}
    snap, _ = results[-1]
    assert snap.queue_len == 2
    view = await store.view("default")
    assert view.counters["joined_total"] == 2


async def test_sequence_numbers_only_grow(store: Store) -> None:
    await busy_room(store)
    for i in range(50):
        await store.join("default", f"visitor-{i:08d}")
    k = room_keys("default")
    scores = [s for _, s in await store.client.zrange(k.queue, 0, -1, withscores=True)]
    assert scores == sorted(scores) and len(set(scores)) == 50
    last = int(await store.client.hget(k.state, "seq_last"))
    assert last == int(scores[-1])


async def test_idle_room_lets_a_newcomer_pass_at_once(store: Store) -> None:
    await store.define_room(RoomConfig(name="default", initial=LiveSettings(max_active=2)),
                            lottery.new_seed())
    first = await store.join("default", "visitor-aaaaaaaa")
    second = await store.join("default", "visitor-bbbbbbbb")
    third = await store.join("default", "visitor-cccccccc")
    assert [first[1].code, second[1].code, third[1].code] == [Code.ADMITTED, Code.ADMITTED,
                                                              Code.QUEUED]
    # Somebody waits now, so a fourth queues behind even after a session ends.
    await store.end_session("default", "visitor-aaaaaaaa")
    _, fourth = await store.join("default", "visitor-dddddddd")
    assert fourth.code == Code.QUEUED and fourth.position == 2


async def test_live_sessions_never_exceed_max_active_under_concurrent_admissions(
        store: Store, redis_url: str) -> None:
    from queue_worker.worker import Worker

    room = RoomConfig(name="default",
                      initial=LiveSettings(max_active=25, rate_per_minute=600_000))
    await store.define_room(room, lottery.new_seed())
    k = room_keys("default")
    workers = [Worker(store, (room,), worker_id=f"w{i}") for i in range(3)]
    watcher = aioredis.Redis.from_url(redis_url)
    peak = 0
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, await watcher.zcard(k.active))
            await asyncio.sleep(0)

    async def joins() -> None:
        await asyncio.gather(*(store.join("default", f"visitor-{i:08d}") for i in range(600)))

    async def ticks() -> None:
        for _ in range(40):
            await asyncio.gather(*(w.tick() for w in workers))
            # Sessions end as the backend says so, freeing slots for the next ones.
            for member in await watcher.zrange(k.active, 0, 4):
                await store.end_session("default", member.decode())

    watch_task = asyncio.create_task(watch())
    await asyncio.gather(joins(), ticks())
    done.set()
    await watch_task
    await watcher.aclose()
    view = await store.view("default")
    assert peak <= 25
    assert view.active <= 25
    assert view.counters["admitted_total"] > 25  # slots were reused, not just filled once


async def test_a_visitor_silent_past_the_grace_period_loses_the_place(store: Store) -> None:
    await busy_room(store, grace_seconds=30)
    await store.join("default", "visitor-gone-000")
    await store.join("default", "visitor-here-000")
    k = room_keys("default")
    # Pretend the first visitor last asked 31 seconds ago.
    now = int((await store.client.time())[0])
    await store.client.hset(k.seen("visitor-gone-000"), "visitor-gone-000", now - 31)
    removed, _ = await store.expire("default", await store.stretch("default", 0, 100))
    assert removed == 1
    _, place = await store.status("default", "visitor-here-000")
    assert place.position == 1
    _, gone = await store.status("default", "visitor-gone-000")
    assert gone.code == Code.NONE
