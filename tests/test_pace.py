"""The effective pace: the smaller of the rate and what max_active allows, and why."""

from __future__ import annotations

import math

import pytest

from gateway.pace import (
    Limit,
    assumed_session,
    describe,
    held_by,
    holding_now,
    pace,
    seconds_text,
)


def test_a_shop_that_never_ends_sessions_is_held_to_max_active_not_the_rate() -> None:
    # The case from real use: 20 places, 60 s sessions, a rate of 120.
    p = pace(rate_per_minute=120, max_active=20, session_seconds=60)
    assert p.per_minute == 20 and p.set_by is Limit.MAX_ACTIVE
    assert p.capacity_per_minute == 20 and p.session_seconds == 60 and not p.measured
    words = describe(p, 20)
    assert "max_active sets the pace, not the rate" in words
    assert "20 × 60 / 60 s sessions (assumed) = 20 a minute" in words and "120" in words


def test_the_rate_sets_the_pace_when_sessions_free_slots_faster() -> None:
    p = pace(rate_per_minute=120, max_active=200, session_seconds=900, mean_session_seconds=75)
    assert p.per_minute == 120 and p.set_by is Limit.RATE
    assert p.capacity_per_minute == 160 and p.measured
    assert describe(p, 200) == ("the rate sets the pace; max_active would allow 160 a minute "
                                "with 75 s sessions (measured mean)")


def test_a_tie_goes_to_the_rate() -> None:
    assert pace(rate_per_minute=20, max_active=20, session_seconds=60).set_by is Limit.RATE


def test_a_measured_mean_replaces_the_assumption() -> None:
    assumed = pace(rate_per_minute=600, max_active=100, session_seconds=900)
    measured = pace(rate_per_minute=600, max_active=100, session_seconds=900,
                    mean_session_seconds=120.0)
    assert assumed.session_seconds == 900 and assumed.per_minute == pytest.approx(6.667, 1e-3)
    assert measured.session_seconds == 120 and measured.per_minute == 50
    assert measured.measured and measured.set_by is Limit.MAX_ACTIVE


def test_nothing_is_admitted_when_the_rate_or_max_active_is_zero() -> None:
    no_rate = pace(rate_per_minute=0, max_active=50, session_seconds=60)
    no_room = pace(rate_per_minute=60, max_active=0, session_seconds=60)
    assert (no_rate.per_minute, no_rate.set_by) == (0, Limit.RATE)
    assert (no_room.per_minute, no_room.set_by) == (0, Limit.MAX_ACTIVE)
    assert describe(no_rate, 50) == "the rate is 0: nobody is admitted"
    assert describe(no_room, 0) == "max_active is 0: nobody is admitted"


def test_sessions_that_end_at_once_leave_only_the_rate() -> None:
    p = pace(rate_per_minute=60, max_active=10, session_seconds=900, mean_session_seconds=0.0)
    assert math.isinf(p.capacity_per_minute) and p.set_by is Limit.RATE and p.per_minute == 60


def test_without_a_visit_the_assumption_is_the_longest_a_session_may_last() -> None:
    assert assumed_session(session_seconds=900, idle_seconds=120) == 900
    assert assumed_session(session_seconds=900) == 900


def test_with_a_visit_sessions_last_the_visit_or_the_visit_plus_the_idle_limit() -> None:
    assert assumed_session(session_seconds=900, visit_seconds=240, ends_early=True) == 240
    assert assumed_session(session_seconds=900, idle_seconds=60, visit_seconds=240) == 300
    # No idle limit and no early end: every session runs its full length.
    assert assumed_session(session_seconds=900, visit_seconds=240) == 900
    # Never past session_seconds.
    assert assumed_session(session_seconds=200, idle_seconds=60, visit_seconds=240) == 200
    assert assumed_session(session_seconds=200, visit_seconds=240, ends_early=True) == 200


def test_a_held_room_admits_nobody_and_says_why() -> None:
    for limit in (Limit.PAUSED, Limit.BREAKER, Limit.SOLD_OUT, Limit.NOT_OPEN, Limit.CLOSED):
        p = pace(rate_per_minute=120, max_active=20, session_seconds=60, held=limit)
        assert p.per_minute == 0 and p.set_by is limit and p.held
        assert describe(p, 20).startswith("nobody is admitted: ")
        # The limits behind it are still known, for when the hold ends.
        assert p.capacity_per_minute == 20


def test_the_most_lasting_hold_is_named_first() -> None:
    assert held_by() is None
    assert held_by(paused=True, breaker_open=True, sold_out=True) is Limit.SOLD_OUT
    assert held_by(paused=True, breaker_open=True) is Limit.PAUSED
    assert held_by(breaker_open=True, opens_later=True) is Limit.BREAKER
    assert held_by(opens_later=True) is Limit.NOT_OPEN


def test_a_closed_room_still_serves_its_line() -> None:
    assert held_by(closed=True, waiting=12) is None
    assert held_by(closed=True, waiting=0) is Limit.CLOSED
    assert held_by(closed=True, paused=True, waiting=12) is Limit.PAUSED


def test_what_holds_the_line_now_differs_from_what_sets_the_pace() -> None:
    p = pace(rate_per_minute=120, max_active=20, session_seconds=60)
    # Slots free at opening: the rate lets people in although max_active sets the pace.
    assert holding_now(p, waiting=300, active=5, max_active=20) is Limit.RATE
    assert holding_now(p, waiting=300, active=20, max_active=20) is Limit.MAX_ACTIVE
    assert holding_now(p, waiting=0, active=20, max_active=20) is None
    slow = pace(rate_per_minute=10, max_active=20, session_seconds=900)
    assert holding_now(slow, waiting=3, active=20, max_active=20) is Limit.MAX_ACTIVE
    paused = pace(rate_per_minute=120, max_active=20, session_seconds=60, held=Limit.PAUSED)
    assert holding_now(paused, waiting=0, active=0, max_active=20) is Limit.PAUSED


def test_session_lengths_read_as_minutes_and_seconds() -> None:
    assert seconds_text(42.4) == "42 s"
    assert seconds_text(4.5) == "4.5 s"
    assert seconds_text(90) == "1 min 30 s"
    assert seconds_text(900) == "15 min"
