"""The pace a room can really keep, and which limit sets it (pure, no I/O).

Two limits meet: the configured rate, and what max_active allows once every slot is
taken, one new visitor per session that ends: max_active × 60 / typical session seconds
a minute (Little's law). The smaller one is the pace. A room whose admission is held
(paused, breaker open, sold out, not open yet, closed with nobody left in line) admits
nobody, whatever either limit says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class Limit(StrEnum):
    """What sets a room's pace, or holds its line back."""

    RATE = "rate"
    MAX_ACTIVE = "max_active"
    PAUSED = "paused"
    BREAKER = "breaker"
    SOLD_OUT = "sold_out"
    NOT_OPEN = "not_open"
    CLOSED = "closed"


# Limits that stop admission outright, most lasting first: resuming a sold-out room
# admits nobody, so "sold out" is the answer that tells the operator the most.
HOLDS = (Limit.SOLD_OUT, Limit.CLOSED, Limit.PAUSED, Limit.BREAKER, Limit.NOT_OPEN)


@dataclass(frozen=True, slots=True)
class Pace:
    per_minute: float           # admissions a minute the room can keep up
    set_by: Limit
    rate_per_minute: int        # as configured
    capacity_per_minute: float  # what max_active and the typical session allow (inf: no bound)
    session_seconds: float      # the typical session this assumes
    measured: bool              # True: the mean of sessions that ended; False: from settings

    @property
    def held(self) -> bool:
        return self.set_by in HOLDS


def assumed_session(*, session_seconds: int, idle_seconds: int = 0,
                    visit_seconds: float | None = None, ends_early: bool = False) -> float:
    """How long a session holds its slot, from the settings alone.

    Without a visit length this is the longest a session may last (session_seconds), so
    the pace it gives is one the room keeps even if no session ends early. With one (a
    rehearsal): the visit when the site ends sessions, else the visit plus idle_seconds
    when idle sessions end, never more than session_seconds.
    """
    if visit_seconds is None:
        return float(session_seconds)
    if ends_early:
        return min(visit_seconds, float(session_seconds))
    if idle_seconds > 0:
        return min(visit_seconds + idle_seconds, float(session_seconds))
    return float(session_seconds)


def held_by(*, paused: bool = False, breaker_open: bool = False, sold_out: bool = False,
            opens_later: bool = False, closed: bool = False, waiting: int = 0) -> Limit | None:
    """The limit that stops admission now, if any.

    A closed room takes no new places but still serves those in line, so closing holds
    admission only once nobody is left waiting.
    """
    found = {Limit.SOLD_OUT: sold_out, Limit.CLOSED: closed and waiting == 0,
             Limit.PAUSED: paused, Limit.BREAKER: breaker_open, Limit.NOT_OPEN: opens_later}
    return next((limit for limit in HOLDS if found[limit]), None)


def pace(*, rate_per_minute: int, max_active: int, session_seconds: int,
         idle_seconds: int = 0, mean_session_seconds: float | None = None,
         visit_seconds: float | None = None, ends_early: bool = False,
         held: Limit | None = None) -> Pace:
    """The effective admissions a minute: the smaller of the rate and max_active's bound.

    The typical session is the measured mean when there is one, else `assumed_session`.
    A tie goes to the rate: the room admits as configured.
    """
    measured = mean_session_seconds is not None
    typical = (mean_session_seconds if mean_session_seconds is not None
               else assumed_session(session_seconds=session_seconds, idle_seconds=idle_seconds,
                                    visit_seconds=visit_seconds, ends_early=ends_early))
    capacity = max_active * 60 / typical if typical > 0 else (
        math.inf if max_active > 0 else 0.0)
    if held is not None:
        return Pace(0.0, held, rate_per_minute, capacity, typical, measured)
    if rate_per_minute <= capacity:
        return Pace(float(rate_per_minute), Limit.RATE, rate_per_minute, capacity, typical,
                    measured)
    return Pace(capacity, Limit.MAX_ACTIVE, rate_per_minute, capacity, typical, measured)


def holding_now(p: Pace, *, waiting: int, active: int, max_active: int) -> Limit | None:
    """What keeps the head of the line from going in right now; None when nobody waits.

    This is the moment's answer, not the pace's: while slots are free the rate admits even
    when max_active will set the pace once they are full, and a full room waits for a
    session to end even when the rate sets the pace.
    """
    if p.held:
        return p.set_by
    if waiting <= 0:
        return None
    if active >= max_active:
        return Limit.MAX_ACTIVE
    return Limit.RATE


def seconds_text(seconds: float) -> str:
    """90 → "1 min 30 s"; 42.4 → "42 s"."""
    whole = round(seconds)
    if whole < 60:
        return f"{seconds:.1f} s" if seconds < 10 and whole != seconds else f"{whole} s"
    minutes, rest = divmod(whole, 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


def per_minute_text(value: float) -> str:
    """Admissions a minute as an operator reads them: whole above 10, one decimal below."""
    if math.isinf(value):
        return "no limit"
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


HELD_WORDS = {
    Limit.PAUSED: "the room is paused",
    Limit.BREAKER: "the backend breaker is open, admissions wait until the backend recovers",
    Limit.SOLD_OUT: "sold out, the inventory reports no places left",
    Limit.NOT_OPEN: "the room is not open yet, arrivals wait in the pre-queue",
    Limit.CLOSED: "the room is closed and nobody is left in line",
}


def describe(p: Pace, max_active: int) -> str:
    """One sentence: what sets the pace, and the session length it rests on."""
    if p.held:
        return f"nobody is admitted: {HELD_WORDS[p.set_by]}"
    if p.per_minute == 0:
        which = "the rate" if p.set_by is Limit.RATE else "max_active"
        return f"{which} is 0: nobody is admitted"
    secs = p.session_seconds
    session = (f"{secs:.1f}" if secs < 10 and secs != int(secs) else f"{secs:.0f}") + (
        f" s sessions ({'measured mean' if p.measured else 'assumed'})")
    if p.set_by is Limit.MAX_ACTIVE:
        return (f"max_active sets the pace, not the rate: {max_active:,} × 60 / {session} "
                f"= {per_minute_text(p.per_minute)} a minute, below the rate of "
                f"{p.rate_per_minute:,}")
    return (f"the rate sets the pace; max_active would allow "
            f"{per_minute_text(p.capacity_per_minute)} a minute with {session}")
