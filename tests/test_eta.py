"""ETA and polling: honest ranges, and polling that eases off further back."""

from __future__ import annotations

import random

from gateway import eta


def test_eta_from_the_configured_rate_before_anything_was_measured() -> None:
    e = eta.estimate(ahead=59, configured_per_minute=60, measured=None, measured_low=None,
                     measured_high=None, max_active=1000, session_seconds=600)
    assert e.seconds == 60 and e.low == 60 and e.high == 60


def test_before_measuring_a_full_room_widens_the_range_to_what_max_active_allows() -> None:
    # 10 places of 300 s: at worst 2 a minute, at best the configured 8.
    e = eta.estimate(ahead=7, configured_per_minute=8, measured=None, measured_low=None,
                     measured_high=None, max_active=10, session_seconds=300)
    assert (e.low, e.seconds, e.high) == (60, 120, 240)
    nothing_measured = eta.estimate(7, 8, 0.0, 0.0, 0.0, max_active=10, session_seconds=300)
    assert nothing_measured == e


def test_eta_from_the_measured_rate_and_its_spread() -> None:
    e = eta.estimate(ahead=119, configured_per_minute=600, measured=120.0, measured_low=100.0,
                     measured_high=150.0)
    assert (e.seconds, e.low, e.high) == (60, 48, 72)


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
