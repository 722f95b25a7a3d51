"""The pre-queue draw: uniform, reproducible from the revealed seed, ahead of later arrivals."""

from __future__ import annotations

import asyncio
import time

from scipy.stats import chi2_contingency

from gateway import lottery
from gateway.rooms import LiveSettings, RoomConfig, parse_opens_at
from gateway.store import Code, Store

N = 10_000


async def open_now(store: Store) -> None:
    past = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 1))
    await store.change_room("default", {"opens_at": str(parse_opens_at(past))}, "test",
                            lottery.new_seed())


async def test_a_drawn_prequeue_of_ten_thousand_is_uniform_and_verifiable(store: Store) -> None:
    opens = int(time.time() * 1000) + 3_600_000
    room = RoomConfig(name="default", initial=LiveSettings(opens_at_ms=opens, max_active=0))
    await store.define_room(room, lottery.new_seed())
    arrivals = [f"visitor-{i:08d}" for i in range(N)]
    for i in range(0, N, 1000):  # arrival order: batch by batch
        results = await asyncio.gather(*(store.join("default", v) for v in arrivals[i:i + 1000]))
        assert {p.code for _, p in results} == {Code.PREQUEUE}
    before = await store.snapshot("default")
    assert before.seed is None and before.seed_sha256  # committed, not revealed

    await open_now(store)
    late = await store.join("default", "visitor-late-000")
    assert late[1].position == N + 1  # every later arrival stands behind the whole draw

    places = await asyncio.gather(*(store.status("default", v) for v in arrivals))
    positions = [p.position for _, p in places]
    assert sorted(positions) == list(range(1, N + 1))

    # Arrival decile against position decile: independent when the draw is uniform.
    table = [[0] * 10 for _ in range(10)]
    for arrival, position in enumerate(positions):
        table[arrival * 10 // N][(position - 1) * 10 // N] += 1
    p_value = chi2_contingency(table).pvalue
    assert p_value > 0.001, table
    first_decile_mean = sum(positions[: N // 10]) / (N // 10)
    assert abs(first_decile_mean - (N + 1) / 2) < N * 0.03  # early birds get no edge

    # Published and recomputed: the same seed gives the same order.
    assert await store.draw("default") == N
    after = await store.snapshot("default")
    assert after.seed is not None and lottery.commitment(after.seed) == before.seed_sha256
    published = await store.draw_tickets("default")
    assert lottery.verify(after.seed, before.seed_sha256, published)
    by_position = [v for _, v in sorted(zip(positions, arrivals, strict=True))]
    assert [lottery.ticket(v) for v in by_position] == published
    assert await store.draw("default") == -1  # published once per opening


def test_the_same_seed_reproduces_the_same_order() -> None:
    seed, sha = lottery.new_seed()
    tickets = [lottery.ticket(f"visitor-{i:08d}") for i in range(500)]
    order = lottery.drawn_order(seed, tickets)
    assert lottery.drawn_order(seed, list(reversed(tickets))) == order
    assert lottery.verify(seed, sha, order)
    other, _ = lottery.new_seed()
    assert lottery.drawn_order(other, tickets) != order
    assert not lottery.verify(other, sha, order)
