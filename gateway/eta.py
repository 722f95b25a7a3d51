"""How long a visitor will wait and when they should ask again (pure, no I/O)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

MIN_POLL_SECONDS = 2
MAX_POLL_SECONDS = 60


@dataclass(frozen=True, slots=True)
class Eta:
    seconds: int | None
    low: int | None
    high: int | None


UNKNOWN = Eta(None, None, None)


def estimate(ahead: int, configured_per_minute: int, measured: float | None,
             measured_low: float | None, measured_high: float | None,
             max_active: int = 0, session_seconds: int = 0) -> Eta:
    """Seconds until this visitor's turn, from the admission rate actually measured.

    The visitor goes in with the (ahead + 1)-th admission. The range comes from the
    slowest and fastest minute measured recently. Before anything was measured (or
    while nothing could be admitted), the fastest is the configured rate and the
    slowest what max_active allows if every session ran its full length.
    """
    turns = ahead + 1
    if measured and measured > 0:
        rate = measured
        fast = max(measured_high or measured, rate)
        slow = min(measured_low or measured, rate)
    elif configured_per_minute > 0:
        fast = float(configured_per_minute)
        slow = fast
        if max_active > 0 and session_seconds > 0:
            slow = min(fast, max_active * 60 / session_seconds)
        elif max_active <= 0:
            return UNKNOWN
        rate = math.sqrt(fast * slow)
    else:
        return UNKNOWN
    seconds = turns * 60 / rate
    low = turns * 60 / fast
    high = turns * 60 / slow if slow > 0 else None
    return Eta(math.ceil(seconds), math.floor(low), math.ceil(high) if high else None)


def _jitter(seconds: float, rng: random.Random | None) -> int:
    r = (rng or random).uniform(0.85, 1.15)
    return max(1, round(seconds * r))


def poll_queued(eta: Eta, ahead: int, grace_seconds: int, rng: random.Random | None = None) -> int:
    """Further back → ask less often; near the front, every few seconds.

    A visitor t seconds from their turn asks about every t/8 seconds (at least 2,
    at most 60 and a third of the grace period, so a patient visitor never loses
    the place). With admissions at r per second the whole line then asks about
    35·r + N/60 times a second: the polling load follows the admission rate and
    grows with the line only by N/60.
    """
    cap = min(MAX_POLL_SECONDS, max(MIN_POLL_SECONDS, grace_seconds // 3))
    basis = eta.seconds if eta.seconds is not None else ahead / 2
    return _jitter(min(cap, max(MIN_POLL_SECONDS, basis / 8)), rng)


def poll_prequeue(seconds_to_opening: float, prequeue_len: int,
                  rng: random.Random | None = None) -> int:
    """Before opening: rarely; the last ask lands just after opening, spread out so the
    whole pre-queue does not ask in the same second."""
    if seconds_to_opening > 4 * MAX_POLL_SECONDS:
        return _jitter(MAX_POLL_SECONDS, rng)
    if seconds_to_opening > 8:
        return _jitter(seconds_to_opening / 4, rng)
    spread = min(30.0, max(2.0, prequeue_len / 500))
    return max(1, math.ceil(seconds_to_opening + (rng or random).uniform(1.0, spread)))


def poll_paused(rng: random.Random | None = None) -> int:
    return _jitter(20, rng)
