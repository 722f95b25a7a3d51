"""Admission policy: the rate holds, spread over ticks, within the live-session cap."""

from __future__ import annotations

import asyncio

from gateway import lottery
from gateway.rooms import LiveSettings, RoomConfig
from gateway.store import Store
from queue_worker.policy import plan
from queue_worker.rates import MeasuredRate


def test_credit_spreads_admissions_over_ticks_and_carries_fractions() -> None:
    credit, at, admitted = 0.0, 0, []
    for tick in range(1, 121):  # one minute of 0.5 s ticks at 7 per minute
        now = tick * 500
        p = plan(now_ms=now, credit=credit, credit_at_ms=at, rate_per_minute=7,
                 max_active=100, active=0, waiting=1000, paused=False, open_=True)
        admitted.append(p.want)
        credit, at = min(p.credit - p.want, p.cap), now
    assert sum(admitted) == 7
    assert max(admitted) == 1  # never a burst


def test_nothing_is_admitted_while_paused_closed_or_full() -> None:
    common = {"now_ms": 10_000, "credit": 5.0, "credit_at_ms": 9_000, "rate_per_minute": 600,
              "waiting": 50}
    assert plan(**common, max_active=10, active=0, paused=True, open_=True).want == 0
    assert plan(**common, max_active=10, active=0, paused=False, open_=False).want == 0
    assert plan(**common, max_active=10, active=10, paused=False, open_=True).want == 0
    assert plan(**common, max_active=10, active=7, paused=False, open_=True).want == 3


def test_a_long_gap_never_turns_into_a_rush() -> None:
    p = plan(now_ms=600_000, credit=0.0, credit_at_ms=0, rate_per_minute=600, max_active=10**6,
             active=0, waiting=10**6, paused=False, open_=True)
    assert p.want == 20  # two seconds' worth at most, not ten minutes'


async def test_saturated_room_admits_the_rate_per_minute_within_two_percent(store: Store) -> None:
    """Five minutes on a simulated clock, through the real admit script."""
    rate = 150
    await store.define_room(RoomConfig(name="default", initial=LiveSettings(
        rate_per_minute=rate, max_active=10**6)), lottery.new_seed())
    await asyncio.gather(*(store.join("default", f"visitor-{i:08d}", may_pass=False)
                           for i in range(900)))
    await store.lead("default", "sim", 60_000)
    view = await store.view("default")
    start = view.now_ms
    per_minute = [0] * 5
    at: str = ""
    credit = 0.0
    for tick in range(5 * 60 * 2 + 1):
        now = start + tick * 500
        p = plan(now_ms=now, credit=credit, credit_at_ms=int(at) if at else None,
                 rate_per_minute=rate, max_active=10**6, active=0, waiting=900,
                 paused=False, open_=True)
        head = await store.head("default", p.want)
        result = await store.admit("default", "sim", head, want=p.want, credit=p.credit,
                                   cap=p.cap, expected_at=at, plan_at=now, measured=None)
        if tick:
            per_minute[min(4, (tick - 1) // 120)] += len(result.admitted)
        state = await store.view("default")
        credit, at = state.credit, state.credit_at
    for count in per_minute:
        assert abs(count - rate) <= rate * 0.02, per_minute


def test_measured_rate_counts_only_saturated_time() -> None:
    m = MeasuredRate()
    for second in range(1, 121):
        m.record(second * 1000, 1000, 2, saturated=True)  # 120 per minute
    for second in range(121, 131):
        m.record(second * 1000, 1000, 0, saturated=False)  # empty line: not a slowdown
    mean, low, high = m.per_minute() or (0, 0, 0)
    assert mean == 120 and low == 120 and high == 120
    assert MeasuredRate().per_minute() is None
