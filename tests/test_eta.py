"""ETA and polling: honest ranges, and polling that eases off further back."""

from __future__ import annotations

import random

from gateway import eta


def test_eta_from_the_configured_rate_before_anything_was_measured() -> None:
    e = eta.estimate(ahead=59, configured_per_minute=60, measured=None, measured_low=None,
                     measured_high=None, max_active=1000, session_seconds=600)
    # The soonest: one admission's credit may be in hand already.
    assert e.seconds == 60 and e.low == 59 and e.high == 60


def test_before_measuring_a_full_room_widens_the_range_to_what_max_active_allows() -> None:
    # 10 places of 300 s: at worst 2 a minute, at best the configured 8.
    e = eta.estimate(ahead=7, configured_per_minute=8, measured=None, measured_low=None,
                     measured_high=None, max_active=10, session_seconds=300)
    assert (e.low, e.seconds, e.high) == (52, 120, 240)
    nothing_measured = eta.estimate(7, 8, 0.0, 0.0, 0.0, max_active=10, session_seconds=300)
    assert nothing_measured == e


def test_eta_from_the_measured_rate_and_its_spread() -> None:
    e = eta.estimate(ahead=119, configured_per_minute=600, measured=120.0, measured_low=100.0,
                     measured_high=150.0)
    assert (e.seconds, e.low, e.high) == (60, 47, 72)


def test_no_eta_without_any_rate() -> None:
    assert eta.estimate(10, 0, None, None, None) == eta.UNKNOWN


def test_polling_eases_off_with_distance_and_stays_within_bounds() -> None:
    rng = random.Random(3)
    near = eta.poll_queued(eta.Eta(10, 8, 12), ahead=2, grace_seconds=300, rng=rng)
    far = eta.poll_queued(eta.Eta(3000, 2400, 3600), ahead=5000, grace_seconds=300, rng=rng)
    assert 1 <= near <= 3
    assert 50 <= far <= 70
    assert eta.poll_queued(eta.Eta(3000, 2400, 3600), 5000, grace_seconds=60, rng=rng) <= 23


def test_total_polling_load_follows_the_rate_not_the_line() -> None:
    """Sum over a line of N of 1/poll: about 35·rate + N/60 requests a second."""
    rng = random.Random(5)
    rate = 10.0  # admissions per second
    for n in (1_000, 100_000):
        load = sum(1 / eta.poll_queued(eta.Eta(int((i + 1) / rate), None, None), i, 300, rng)
                   for i in range(n))
        assert load < 1.2 * (35 * rate + n / 60)


def test_prequeue_asks_rarely_then_lands_just_after_opening_spread_out() -> None:
    rng = random.Random(9)
    assert 50 <= eta.poll_prequeue(3600, 100, rng) <= 70
    lands = [eta.poll_prequeue(5, 20_000, rng) for _ in range(1000)]  # opening in 5 s
    assert min(lands) >= 6 and max(lands) <= 35 and len(set(lands)) > 20


def test_a_full_room_waits_for_its_sessions_not_for_the_rate() -> None:
    # The demo's room: 6 a minute, 3 slots, sessions of 300 s that all began 52 s ago
    # and that the site never ends early. "Less than a minute" was the old answer.
    now = 1_000_000
    turnover = eta.Turnover.of(now_ms=now, starts_ms=[now - 52_000] * 3, active=3,
                               max_active=3, session_seconds=300, typical_seconds=None)
    first = eta.estimate(0, 6, None, None, None, 3, 300, turnover)
    assert first.high is not None and first.low is not None and first.seconds is not None
    assert first.low <= 248 <= first.high and first.seconds == 248
    # The fourth in line needs a second round of the same three slots.
    fourth = eta.estimate(3, 6, None, None, None, 3, 300, turnover)
    assert fourth.high is not None and 548 <= fourth.high <= 548 + eta.TURN_SLACK_SECONDS


def test_measured_short_sessions_bring_the_likely_turn_forward() -> None:
    now = 5_000_000
    starts = [now - 10_000, now - 40_000, now - 70_000]
    turnover = eta.Turnover.of(now_ms=now, starts_ms=starts, active=3, max_active=3,
                               session_seconds=600, typical_seconds=90)
    e = eta.estimate(0, 60, None, None, None, 3, 600, turnover)
    # The oldest session (70 s in) is likely over in 20 s, at the latest in 530 s.
    assert e.seconds == 20 and e.low == 0
    assert e.high == 530 + eta.TURN_SLACK_SECONDS


def test_free_slots_go_at_the_rate_and_samples_stand_for_many_sessions() -> None:
    # 1,000 sessions, sampled as 10 values: the 500th to end is read at the 5th sample.
    ends = tuple(float(i) for i in range(10))
    turnover = eta.Turnover(free=0, active=1000, latest=ends, likely=ends,
                            session_seconds=900, typical_seconds=900)
    assert turnover.turn(500, turnover.latest, 900) == 4.0
    assert turnover.turn(1500, turnover.latest, 900) == 4.0 + 900
    with_free = eta.Turnover(free=5, active=10, latest=(30.0,), likely=(30.0,),
                             session_seconds=60, typical_seconds=60)
    # Turns within the free slots: the ordinary, rate-based estimate.
    assert eta.estimate(2, 60, None, None, None, 15, 60, with_free) == eta.estimate(
        2, 60, None, None, None, 15, 60)
