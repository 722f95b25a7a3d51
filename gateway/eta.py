"""How long a visitor will wait and when they should ask again (pure, no I/O)."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

MIN_POLL_SECONDS = 2
MAX_POLL_SECONDS = 60


@dataclass(frozen=True, slots=True)
class Eta:
    seconds: int | None
    low: int | None
    high: int | None


UNKNOWN = Eta(None, None, None)
# Added to a bound that comes from the clock of the sessions: the worker's tick and the
# moment the page asks again.
TURN_SLACK_SECONDS = 3
# How many session starts a turnover summary keeps, whatever max_active is.
TURNOVER_SAMPLES = 32


def turnover_summary(starts_ms: Sequence[int], typical_seconds: float | None) -> str:
    """The live sessions in a few bytes, for every status answer to read: their count,
    the typical session measured (ms, empty when none yet), and their starts, sorted and
    sampled evenly over their ranks (each sample the last of its share, so that reading
    a rank never finds an earlier start than the true one)."""
    starts = sorted(starts_ms)
    n = len(starts)
    picked = ([starts[math.ceil((i + 1) * n / TURNOVER_SAMPLES) - 1]
               for i in range(TURNOVER_SAMPLES)] if n > TURNOVER_SAMPLES else starts)
    typical = "" if typical_seconds is None else str(round(typical_seconds * 1000))
    return f"{n};{typical};{','.join(str(s) for s in picked)}"


def turnover_from(summary: str | None, *, now_ms: int, max_active: int,
                  session_seconds: int) -> Turnover | None:
    """The summary read back (None when there is none or it cannot be read)."""
    if not summary:
        return None
    try:
        count, typical, starts = summary.split(";", 2)
        active = int(count)
        points = [int(s) for s in starts.split(",") if s]
        typical_s = int(typical) / 1000 if typical else None
    except ValueError:
        return None
    if active > 0 and not points:
        return None
    return Turnover.of(now_ms=now_ms, starts_ms=points, active=active, max_active=max_active,
                       session_seconds=session_seconds, typical_seconds=typical_s)


@dataclass(frozen=True, slots=True)
class Turnover:
    """The live sessions, for a room whose slots are taken: when each frees its slot at
    the latest (its admission plus session_seconds) and most likely (its admission plus
    the typical session measured), in seconds from now, ascending, sampled evenly over
    the sessions' ranks (at most a few dozen values, whatever max_active is)."""

    free: int                      # slots free now (max_active - active, at least 0)
    active: int                    # live sessions
    latest: tuple[float, ...]
    likely: tuple[float, ...]
    session_seconds: float         # a slot's longest cycle
    typical_seconds: float         # a slot's typical cycle

    @classmethod
    def of(cls, *, now_ms: int, starts_ms: Sequence[int], active: int, max_active: int,
           session_seconds: int, typical_seconds: float | None) -> Turnover:
        typical = min(float(session_seconds), typical_seconds or float(session_seconds))
        starts = sorted(starts_ms)
        return cls(free=max(0, max_active - active), active=active,
                   latest=tuple(max(0.0, (s - now_ms) / 1000 + session_seconds)
                                for s in starts),
                   likely=tuple(sorted(max(0.0, (s - now_ms) / 1000 + typical)
                                       for s in starts)),
                   session_seconds=float(session_seconds), typical_seconds=typical)

    def turn(self, turns: int, ends: tuple[float, ...], cycle: float) -> float | None:
        """Seconds until the slot for the `turns`-th admission frees, reading `ends`:
        0 while slots are free; then the sessions in the order they end, and after a
        whole round of them, again a cycle later."""
        j = turns - self.free
        if j <= 0:
            return 0.0
        if self.active <= 0 or not ends:
            return None
        rounds, k = divmod(j - 1, self.active)
        # `ends` samples the ranks 1..active evenly: the sample at or past rank k + 1.
        i = min(len(ends) - 1, math.ceil((k + 1) * len(ends) / self.active) - 1)
        return ends[i] + rounds * cycle


def estimate(ahead: int, configured_per_minute: int, measured: float | None,
             measured_low: float | None, measured_high: float | None,
             max_active: int = 0, session_seconds: int = 0,
             turnover: Turnover | None = None) -> Eta:
    """Seconds until this visitor's turn, from the admission rate actually measured.

    The visitor goes in with the (ahead + 1)-th admission. The range comes from the
    slowest and fastest minute measured recently. Before anything was measured (or
    while nothing could be admitted), the fastest is the configured rate and the
    slowest what max_active allows if every session ran its full length.

    When the visitor's turn needs a live session to end first (`turnover`: the slots
    are taken), the wait comes from those sessions instead: no earlier than the rate
    allows, at the latest when the sessions ahead have run their longest length, and
    most likely when they have run the typical length measured.
    """
    turns = ahead + 1
    if turnover is not None and turns > turnover.free and configured_per_minute > 0:
        by_turnover = _from_turnover(turns, configured_per_minute, measured_high, turnover)
        if by_turnover is not None:
            return by_turnover
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
    low = _earliest(turns, fast)
    high = turns * 60 / slow if slow > 0 else None
    return Eta(math.ceil(seconds), math.floor(low), math.ceil(high) if high else None)


def _earliest(turns: int, per_minute: float) -> float:
    """The soonest the `turns`-th admission can come at this rate: the worker may hold
    one admission's credit in hand (queue_worker/policy.py), so one comes at once."""
    return (turns - 1) * 60 / per_minute


def _from_turnover(turns: int, configured_per_minute: int, measured_high: float | None,
                   turnover: Turnover) -> Eta | None:
    latest = turnover.turn(turns, turnover.latest, turnover.session_seconds)
    likely = turnover.turn(turns, turnover.likely, turnover.typical_seconds)
    if latest is None or likely is None:
        return None
    fastest = max(float(configured_per_minute), measured_high or 0.0)
    by_rate = turns * 60 / fastest
    # Sessions may end early (the site ends them, a parent leaves): the slot may come
    # as soon as the rate reaches this visitor, but no later than its latest end.
    low = _earliest(turns, fastest)
    high = max(latest, turns * 60 / configured_per_minute) + TURN_SLACK_SECONDS
    point = min(high, max(likely, by_rate))
    return Eta(math.ceil(point), math.floor(low), math.ceil(high))


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
