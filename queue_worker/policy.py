"""How many visitors to admit this tick (pure, no I/O).

Admission credit accrues at rate_per_minute / 60 per second of clock and is
spent one per visitor, so admissions are spread over every tick instead of a
burst each minute. At most one second's worth of credit is banked, so an empty
moment never turns into a rush; a clock gap (a new leader, a stall) accrues at
most MAX_GAP_MS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_GAP_MS = 2000


@dataclass(frozen=True, slots=True)
class Plan:
    want: int        # admit at most this many now
    credit: float    # credit available before admitting (the script subtracts what it used)
    cap: float       # most credit that may be banked after this tick


def plan(*, now_ms: int, credit: float, credit_at_ms: int | None, rate_per_minute: int,
         max_active: int, active: int, waiting: int, paused: bool, open_: bool) -> Plan:
    per_ms = rate_per_minute / 60_000
    cap = max(1.0, rate_per_minute / 60)
    if paused or not open_ or rate_per_minute <= 0:
        return Plan(0, 0.0, cap)
    # A first tick only starts the clock; credit then accrues from it.
    gap = 0 if credit_at_ms is None else max(0, min(MAX_GAP_MS, now_ms - credit_at_ms))
    available = min(credit, cap) + per_ms * gap
    room = max(0, max_active - active)
    want = min(math.floor(available + 1e-9), room, waiting)
    return Plan(want=want, credit=available, cap=cap)
