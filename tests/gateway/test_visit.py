"""visit(): every Outcome of a visitor without a valid admission, against a real Redis
(and one that is really gone), for the gate (page=True) and the status poll."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway import lottery, metrics, proof
from gateway.passes import Passes
from gateway.rooms import LiveSettings, RoomConfig, RouteConfig
from gateway.store import Code, Place, Store
from gateway.store.connect import client_from_url
from gateway.store.embedded import EmbeddedRedis
from gateway.visit import (
    LIMITED,
    NO_COOKIE,
    UNAVAILABLE,
    Admitted,
    Arriving,
    ProofRequired,
    SoldOut,
    Waiting,
    visit,
)
from tests.conftest import KEYS

ADDRESS = "203.0.113.7"


def joins(room: str, result: str) -> float:
    return metrics.REGISTRY.get_sample_value(
        "sluis_joins_total", {"room": room, "result": result}) or 0.0


def redis_errors() -> float:
    return metrics.REGISTRY.get_sample_value("sluis_redis_errors_total") or 0.0


def a_room(name: str, **live: object) -> RoomConfig:
    return RoomConfig(name=name, initial=LiveSettings(**live))  # type: ignore[arg-type]


@pytest.fixture
def passes() -> Passes:
    return Passes(KEYS)


async def defined(store: Store, room: RoomConfig) -> RoomConfig:
    await store.define_room(room, lottery.new_seed())
    return room


async def test_a_newcomer_at_the_gate_gets_a_cookie_and_no_place_without_redis(
        passes: Passes) -> None:
    # No Redis at all behind this store: the first answer must not need it.
    store = Store(client_from_url("redis://127.0.0.1:9"))
    room = a_room("arrive")
    before = joins("arrive", "arriving")
    try:
        outcome = await visit(store, passes, room, None, ADDRESS, page=True)
    finally:
        await store.close()
    assert isinstance(outcome, Arriving) and outcome.cookie is not None
    assert passes.visitor_from_cookie(outcome.cookie) is not None
    assert outcome.poll_after == 1 and outcome.challenge == "" and outcome.bits == 0
    assert joins("arrive", "arriving") == before + 1


async def test_the_poll_without_a_cookie_hands_out_none(store: Store, passes: Passes) -> None:
    room = await defined(store, a_room("nocookie", max_active=0))
    assert await visit(store, passes, room, None, join=True) is NO_COOKIE
    assert NO_COOKIE.cookie is None and NO_COOKIE.poll_after == 10
    assert (await store.view("nocookie")).queued == 0


async def test_the_poll_only_looks_without_join_and_takes_a_place_with_it(
        store: Store, passes: Passes) -> None:
    room = await defined(store, a_room("look", max_active=0))
    before = joins("look", "queued")
    looked = await visit(store, passes, room, "visitor-look-0001")
    assert isinstance(looked, Waiting) and looked.place.code is Code.NONE
    assert (await store.view("look")).queued == 0
    assert joins("look", "queued") == before  # a look is not a join
    joined = await visit(store, passes, room, "visitor-look-0001", ADDRESS, join=True)
    assert isinstance(joined, Waiting) and joined.place == Place(Code.QUEUED, 1)
    assert joins("look", "queued") == before + 1
    again = await visit(store, passes, room, "visitor-look-0001", ADDRESS, join=True)
    assert isinstance(again, Waiting) and again.place.position == 1
    assert joins("look", "queued") == before + 1  # a place found is no new join
    assert (await store.view("look")).queued == 1


async def test_the_gate_takes_a_place_in_one_call_and_counts_every_page(
        store: Store, passes: Passes) -> None:
    room = await defined(store, a_room("line", max_active=0))
    before = joins("line", "queued")
    for position, visitor in enumerate(("visitor-line-0001", "visitor-line-0002"), 1):
        outcome = await visit(store, passes, room, visitor, ADDRESS, page=True)
        assert isinstance(outcome, Waiting)
        assert outcome.place.code is Code.QUEUED and outcome.place.position == position
    outcome = await visit(store, passes, room, "visitor-line-0001", ADDRESS, page=True)
    assert isinstance(outcome, Waiting) and outcome.place.position == 1
    assert joins("line", "queued") == before + 3


async def test_an_idle_room_admits_at_once_with_a_fresh_token_unless_one_holds(
        store: Store, passes: Passes) -> None:
    room = await defined(store, a_room("idle", max_active=10, session_seconds=900))
    visitor = "visitor-idle-0001"
    before = joins("idle", "admitted")
    outcome = await visit(store, passes, room, visitor, ADDRESS, page=True)
    assert isinstance(outcome, Admitted) and outcome.token is not None
    assert outcome.seconds == room.initial.first_window
    admission = passes.admission.check(outcome.token)
    assert admission is not None and admission.visitor == visitor and admission.room == "idle"
    assert joins("idle", "admitted") == before + 1
    # The poll of a visitor whose cookie holds: admitted, and no new token.
    held = await visit(store, passes, room, visitor, admission=outcome.token)
    assert isinstance(held, Admitted) and held.token is None
    # Whose cookie does not hold (another room's, or none): a new one.
    other = passes.admission.issue("elsewhere", visitor, 60)
    fresh = await visit(store, passes, room, visitor, admission=other)
    assert isinstance(fresh, Admitted) and fresh.token is not None


async def test_a_queue_all_room_keeps_even_an_idle_rooms_newcomer_in_line(
        store: Store, passes: Passes) -> None:
    room = await defined(store, RoomConfig(name="busy", initial=LiveSettings(max_active=10),
                                           route=RouteConfig(mode="queue_all")))
    assert not room.route.may_pass_when_idle
    outcome = await visit(store, passes, room, "visitor-busy-0001", ADDRESS, page=True)
    assert isinstance(outcome, Waiting) and outcome.place.code is Code.QUEUED


async def test_an_address_over_its_join_limit_is_limited(redis_url: str,
                                                         passes: Passes) -> None:
    store = Store(client_from_url(redis_url), joins_per_ip_per_minute=2)
    try:
        room = await defined(store, a_room("limits", max_active=0))
        before = joins("limits", "limited")
        for n in range(2):
            outcome = await visit(store, passes, room, f"visitor-lim-{n:04d}", ADDRESS,
                                  page=True)
            assert isinstance(outcome, Waiting)
        assert await visit(store, passes, room, "visitor-lim-0002", ADDRESS,
                           page=True) is LIMITED
        assert await visit(store, passes, room, "visitor-lim-0003", ADDRESS,
                           join=True) is LIMITED
        assert joins("limits", "limited") == before + 2
        # Another address is not held to this one's limit.
        other = await visit(store, passes, room, "visitor-lim-0004", "198.51.100.9",
                            page=True)
        assert isinstance(other, Waiting) and other.place.position == 3
    finally:
        await store.close()


async def test_a_proof_room_asks_the_page_for_proof_and_joins_only_with_it(
        store: Store, passes: Passes) -> None:
    room = await defined(store, RoomConfig(name="work", initial=LiveSettings(max_active=0),
                                           join_proof_bits=8))
    visitor = "visitor-work-0001"
    no_proof = joins("work", "no_proof")
    # A newcomer: the cookie, and the challenge the page solves before its first poll.
    first = await visit(store, passes, room, None, ADDRESS, page=True)
    assert isinstance(first, Arriving) and first.cookie is not None and first.bits == 8
    assert first.challenge
    # The gate only reads the place held; without one, the page again, with the challenge.
    page = await visit(store, passes, room, visitor, ADDRESS, page=True)
    challenge = proof.challenge(passes.proof_key, "work", visitor)
    assert page == Arriving(1, None, challenge, 8)
    assert (await store.view("work")).queued == 0
    # The poll's join without a valid proof is refused.
    for nonce in ("", "zz-not-a-nonce"):
        refused = await visit(store, passes, room, visitor, ADDRESS, join=True, nonce=nonce)
        assert refused == ProofRequired(challenge, 8)
    assert joins("work", "no_proof") == no_proof + 3
    assert (await store.view("work")).queued == 0
    # With it: a place, which the gate then finds.
    solved = await visit(store, passes, room, visitor, ADDRESS, join=True,
                         nonce=proof.solve(challenge, 8))
    assert isinstance(solved, Waiting) and solved.place.code is Code.QUEUED
    held = await visit(store, passes, room, visitor, ADDRESS, page=True)
    assert isinstance(held, Waiting) and held.place.position == 1


async def test_a_sold_out_room_says_so_and_keeps_the_place(store: Store,
                                                           passes: Passes) -> None:
    room = await defined(store, a_room("shop", max_active=0))
    visitor = "visitor-shop-0001"
    assert isinstance(await visit(store, passes, room, visitor, ADDRESS, page=True), Waiting)
    await store.set_inventory("shop", 0, "test")
    for outcome in (await visit(store, passes, room, visitor),
                    await visit(store, passes, room, visitor, ADDRESS, page=True)):
        assert isinstance(outcome, SoldOut)
        assert outcome.place.code is Code.QUEUED and outcome.place.position == 1
    newcomer = await visit(store, passes, room, "visitor-shop-0002")
    assert isinstance(newcomer, SoldOut) and newcomer.place.code is Code.NONE
    await store.set_inventory("shop", 5, "test")
    assert isinstance(await visit(store, passes, room, visitor), Waiting)


async def test_redis_gone_is_unavailable_for_the_gate_and_the_poll(
        tmp_path: Path, passes: Passes) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    store = Store(client_from_url(server.url, timeout=1.0))
    try:
        room = await defined(store, a_room("down", max_active=0))
        visitor = "visitor-down-0001"
        assert isinstance(await visit(store, passes, room, visitor, ADDRESS, page=True),
                          Waiting)
        server.kill()  # a crash, not a clean stop
        errors, counted = redis_errors(), joins("down", "unavailable")
        assert await visit(store, passes, room, visitor, ADDRESS, page=True) is UNAVAILABLE
        assert await visit(store, passes, room, visitor) is UNAVAILABLE
        assert await visit(store, passes, room, visitor, ADDRESS, join=True) is UNAVAILABLE
        assert redis_errors() == errors + 3
        assert joins("down", "unavailable") == counted + 1  # only the page counts a join
        # A newcomer still gets the cookie: no Redis needed.
        assert isinstance(await visit(store, passes, room, None, ADDRESS, page=True), Arriving)
    finally:
        await store.close()
        server.stop()


async def test_a_closed_room_shows_closed_and_takes_no_place(store: Store,
                                                             passes: Passes) -> None:
    room = await defined(store, RoomConfig(name="shut", initial=LiveSettings(
        max_active=0, closed=True), join_proof_bits=8))
    for outcome in (await visit(store, passes, room, "visitor-shut-0001", ADDRESS, page=True),
                    await visit(store, passes, room, "visitor-shut-0001", ADDRESS,
                                join=True)):
        assert isinstance(outcome, Waiting) and not outcome.place.position
    assert (await store.view("shut")).queued == 0
