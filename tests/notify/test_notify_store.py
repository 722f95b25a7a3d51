"""Sign-ups and the worker's pass over them against a real Redis: each message goes at
most once, places are kept while their page is closed, addresses leave with the need."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from gateway import lottery, notify
from gateway.rooms import LiveSettings, RoomConfig
from gateway.store import Code, NotLeader, Store
from gateway.store.keys import room_keys
from gateway.store.notify_store import NotifyStore, PassResult, Signed

ROOM = "default"
HOUR = 3_600_000
ADDRESS = "ouder@example.be"


async def busy_room(store: Store, **live: object) -> None:
    settings = {"max_active": 0, "rate_per_minute": 0, **live}
    await store.define_room(RoomConfig(name=ROOM, initial=LiveSettings(**settings)),  # type: ignore[arg-type]
                            lottery.new_seed())
    assert await store.lead(ROOM, "w1", 60_000)


def signup(address: str = ADDRESS) -> str:
    return notify.Signup(address=address, lang="nl", path="/kampen").encode()


async def sign_up(notices: NotifyStore, visitor: str, address: str = ADDRESS,
                  per_address: int = 3) -> Signed:
    return await notices.sign_up(ROOM, visitor, signup(address),
                                 notify.address_key("k" * 16, ROOM, address),
                                 per_address=per_address, window_ms=HOUR, max_keep_ms=6 * HOUR)


async def run(notices: NotifyStore, due: int, per_minute: int = 100, hold_ms: int = 60_000,
              worker: str = "w1") -> PassResult:
    visitors = await notices.watched(ROOM, 0, 1000)
    return await notices.run_pass(ROOM, worker, visitors, due_position=due, hold_ms=hold_ms,
                                  per_minute=per_minute)


async def everything(redis_url: str) -> bytes:
    """Every key and value in Redis, dumped, to look for an address."""
    r = aioredis.from_url(redis_url)
    try:
        out = b""
        async for key in r.scan_iter("*"):
            kind = (await r.type(key)).decode()
            value = {"hash": r.hgetall, "zset": lambda k: r.zrange(k, 0, -1),
                     "string": r.get, "list": lambda k: r.lrange(k, 0, -1),
                     "set": r.smembers}[kind](key)
            out += key + repr(await value).encode()
        return out
    finally:
        await r.aclose()


async def test_only_a_waiting_visitor_of_an_open_room_signs_up(store: Store) -> None:
    await busy_room(store)
    notices = NotifyStore(store)
    assert await sign_up(notices, "visitor-nobody00") == Signed.NO_PLACE
    await store.join(ROOM, "visitor-aaaaaaaa")
    assert await sign_up(notices, "visitor-aaaaaaaa") == Signed.KEPT
    await store.change_room(ROOM, {"closed": "1"}, "test", lottery.new_seed())
    await store.join(ROOM, "visitor-bbbbbbbb")
    assert await sign_up(notices, "visitor-bbbbbbbb", "b@example.be") == Signed.CLOSED


async def test_one_address_signs_up_three_times_an_hour_at_most(store: Store) -> None:
    await busy_room(store)
    notices = NotifyStore(store)
    visitors = [f"visitor-{i:08d}" for i in range(5)]
    for v in visitors:
        await store.join(ROOM, v)
    results = await asyncio.gather(*(sign_up(notices, v) for v in visitors))
    assert sorted(results) == sorted([Signed.KEPT] * 3 + [Signed.ADDRESS_LIMIT] * 2)
    # Another address is not held back, and the count holds no address.
    assert await sign_up(notices, visitors[results.index(Signed.ADDRESS_LIMIT)],
                         "other@example.be") == Signed.KEPT
    k = room_keys(ROOM)
    counted = await store.client.hgetall(k.notify_by_address)
    assert len(counted) == 2 and all(b"example" not in key for key in counted)
    assert 0 < await store.client.pttl(k.notify_by_address) <= HOUR
    assert 0 < await store.client.pttl(k.notify_addresses) <= 6 * HOUR


async def test_near_the_front_the_signup_is_handed_out_exactly_once(store: Store) -> None:
    await busy_room(store)
    notices = NotifyStore(store)
    for i in range(10):
        await store.join(ROOM, f"visitor-{i:08d}")
        assert await sign_up(notices, f"visitor-{i:08d}", f"p{i}@example.be") == Signed.KEPT
    # Twenty passes at once, positions 1 to 4 near: four messages, each once.
    results = await asyncio.gather(*(run(notices, due=4) for _ in range(20)))
    due = [d for r in results for d in r.due]
    assert sorted(d.visitor for d in due) == [f"visitor-{i:08d}" for i in range(4)]
    assert {notify.Signup.decode(d.signup).address for d in due} == {  # type: ignore[union-attr]
        f"p{i}@example.be" for i in range(4)}
    assert not any(d.turn for d in due)
    # Their addresses are gone; the others' wait.
    left = await store.client.hkeys(room_keys(ROOM).notify_addresses)
    assert sorted(left) == [f"visitor-{i:08d}".encode() for i in range(4, 10)]
    # This place's message went: no second one, even when it signs up again.
    assert await sign_up(notices, "visitor-00000000", "again@example.be") == Signed.ALREADY_SENT
    assert (await run(notices, due=4)).due == []


async def test_the_room_sends_no_more_than_its_limit_a_minute(store: Store) -> None:
    await busy_room(store)
    notices = NotifyStore(store)
    for i in range(6):
        await store.join(ROOM, f"visitor-{i:08d}")
        await sign_up(notices, f"visitor-{i:08d}", f"p{i}@example.be")
    assert len((await run(notices, due=6, per_minute=4)).due) == 4
    assert (await run(notices, due=6, per_minute=4)).due == []


async def test_an_admitted_visitor_gets_the_message_of_their_turn(store: Store) -> None:
    await busy_room(store)
    notices = NotifyStore(store)
    await store.join(ROOM, "visitor-aaaaaaaa")
    await sign_up(notices, "visitor-aaaaaaaa")
    await store.change_room(ROOM, {"max_active": "5", "rate_per_minute": "600"}, "test",
                            lottery.new_seed())
    view = await store.view(ROOM)
    res = await store.admit(ROOM, "w1", ["visitor-aaaaaaaa"], want=1, credit=1.0, cap=5.0,
                            expected_at=view.credit_at, plan_at=view.now_ms, measured=None)
    assert res.admitted == ["visitor-aaaaaaaa"]
    due = (await run(notices, due=0)).due
    assert [(d.visitor, d.turn) for d in due] == [("visitor-aaaaaaaa", True)]


async def test_a_signed_up_place_outlasts_the_grace_period_with_its_page_closed(
        store: Store) -> None:
    await busy_room(store, grace_seconds=30)
    notices = NotifyStore(store)
    for v in ("visitor-kept0000", "visitor-gone0000"):
        await store.join(ROOM, v)
    await sign_up(notices, "visitor-kept0000")
    k = room_keys(ROOM)
    # Both last asked ten minutes ago.
    for v in ("visitor-kept0000", "visitor-gone0000"):
        old = int((await store.client.time())[0]) - 600
        await store.client.hset(k.seen(v), v, old)
    result = await run(notices, due=0)
    assert result.kept == 1
    stretch = await store.stretch(ROOM, 0, 10)
    removed, _ = await store.expire(ROOM, stretch)
    assert removed == 1
    _, kept = await store.status(ROOM, "visitor-kept0000")
    _, gone = await store.status(ROOM, "visitor-gone0000")
    assert (kept.code, kept.position, gone.code) == (Code.QUEUED, 1, Code.NONE)


async def test_once_the_hold_after_the_message_ends_the_grace_period_applies_again(
        store: Store) -> None:
    await busy_room(store)
    notices = NotifyStore(store)
    await store.join(ROOM, "visitor-aaaaaaaa")
    await sign_up(notices, "visitor-aaaaaaaa")
    assert len((await run(notices, due=1, hold_ms=1)).due) == 1
    await asyncio.sleep(0.01)
    assert (await run(notices, due=1)).kept == 0
    assert await store.client.zscore(room_keys(ROOM).notify_watch, "visitor-aaaaaaaa") == 0


async def test_the_address_goes_when_the_place_ends(store: Store, redis_url: str) -> None:
    await busy_room(store, grace_seconds=30)
    notices = NotifyStore(store)
    await store.join(ROOM, "visitor-aaaaaaaa")
    await store.join(ROOM, "visitor-bbbbbbbb")
    await sign_up(notices, "visitor-aaaaaaaa")
    # The place ends (here: its grace period ran out before any pass kept it).
    k = room_keys(ROOM)
    old = int((await store.client.time())[0]) - 600
    await store.client.hset(k.seen("visitor-aaaaaaaa"), "visitor-aaaaaaaa", old)
    _, place = await store.status(ROOM, "visitor-aaaaaaaa")
    assert place.code == Code.NONE
    result = await run(notices, due=5)
    assert (result.ended, result.due) == (1, [])
    assert ADDRESS.encode() not in await everything(redis_url)


async def test_forgetting_deletes_an_unsent_address(store: Store, redis_url: str) -> None:
    await busy_room(store)
    notices = NotifyStore(store)
    await store.join(ROOM, "visitor-aaaaaaaa")
    await sign_up(notices, "visitor-aaaaaaaa")
    assert await notices.forget(ROOM, "visitor-aaaaaaaa") == Signed.FORGOTTEN
    assert ADDRESS.encode() not in await everything(redis_url)
    assert (await run(notices, due=5)).due == []


async def test_an_empty_line_keeps_nothing_of_the_signups(store: Store, redis_url: str) -> None:
    await busy_room(store)
    notices = NotifyStore(store)
    await store.join(ROOM, "visitor-aaaaaaaa")
    await sign_up(notices, "visitor-aaaaaaaa")
    assert len((await run(notices, due=1)).due) == 1
    await store.change_room(ROOM, {"max_active": "5", "rate_per_minute": "600"}, "test",
                            lottery.new_seed())
    view = await store.view(ROOM)
    await store.admit(ROOM, "w1", ["visitor-aaaaaaaa"], want=1, credit=1.0, cap=5.0,
                      expected_at=view.credit_at, plan_at=view.now_ms, measured=None)
    result = await run(notices, due=0)
    assert result.cleared
    k = room_keys(ROOM)
    assert await store.client.exists(k.notify_addresses, k.notify_watch,
                                      k.notify_by_address, k.notify_sent) == 0
    assert ADDRESS.encode() not in await everything(redis_url)


async def test_only_the_leading_worker_runs_a_pass(store: Store) -> None:
    await busy_room(store)
    notices = NotifyStore(store)
    with pytest.raises(NotLeader):
        await run(notices, due=1, worker="w2")
