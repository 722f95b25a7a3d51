"""When a room's backend breaker opens and closes (pure, no I/O).

Open when, over the last window, the backend answered at least `min_requests`
times and its error rate or p95 latency crossed the room's bounds. Close once it has
been open for at least the cooldown (and a whole window, so that the window no
longer holds answers from before the trip) and the window is healthy again, or
quiet: with admissions paused the traffic can fall to nothing, and a backend nobody
asks is given the benefit of the doubt; if it still fails, it trips again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from backends.config import BreakerBounds
from backends.outcomes import BUCKET_FIELDS, LATENCY_BOUNDS_MS


@dataclass(frozen=True, slots=True)
class Health:
    requests: int
    errors: int
    p95_ms: int | None  # the upper bound of the bucket holding the 95th percentile

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


def health(totals: Mapping[str, int]) -> Health:
    n = totals.get("n", 0)
    p95: int | None = None
    if n:
        need, seen = 0.95 * n, 0
        for name, bound in zip(BUCKET_FIELDS, (*LATENCY_BOUNDS_MS, None), strict=True):
            seen += totals.get(name, 0)
            if seen >= need:
                p95 = bound if bound is not None else LATENCY_BOUNDS_MS[-1] * 2
                break
    return Health(requests=n, errors=totals.get("err", 0), p95_ms=p95)


def crossed(h: Health, bounds: BreakerBounds) -> str | None:
    """Why the window is unhealthy, or None."""
    if h.requests < bounds.min_requests:
        return None
    if bounds.error_rate > 0 and h.error_rate >= bounds.error_rate:
        return (f"error rate {h.error_rate:.0%} of {h.requests} answers "
                f"(bound {bounds.error_rate:.0%})")
    if bounds.p95_ms > 0 and h.p95_ms is not None and h.p95_ms > bounds.p95_ms:
        return f"p95 latency about {h.p95_ms} ms (bound {bounds.p95_ms} ms)"
    return None


@dataclass(frozen=True, slots=True)
class Decision:
    open: bool
    changed: bool
    reason: str


def decide(*, is_open: bool, open_since_ms: int, now_ms: int, window: Health,
           bounds: BreakerBounds) -> Decision:
    if not bounds.enabled:
        return Decision(False, is_open, "breaker off")
    why = crossed(window, bounds)
    if not is_open:
        return Decision(True, True, why) if why else Decision(False, False, "")
    held_ms = now_ms - open_since_ms
    if held_ms < 1000 * max(bounds.cooldown_seconds, bounds.window_seconds) or why:
        return Decision(True, False, why or "cooling down")
    return Decision(False, True, f"recovered: {window.requests} answers, error rate "
                                 f"{window.error_rate:.0%}, p95 about {window.p95_ms} ms")
