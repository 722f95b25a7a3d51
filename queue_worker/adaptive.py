"""Adaptive admission: the rate that the backend can take, found by measuring (pure, no I/O).

Additive increase, multiplicative decrease, within the operator's bounds: each
interval with enough answers, a healthy backend (p95 latency at most the target,
error rate below the bound) while people wait earns `step` more admissions a minute;
an unhealthy one cuts the rate by `decrease`. Without people waiting the rate is not
what limits anyone, so it is not raised; without enough answers nothing is known, so
nothing changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gateway.rooms import AdaptiveBounds
from queue_worker.breaker import Health


@dataclass(frozen=True, slots=True)
class Step:
    rate: int
    reason: str


def decide(rate: int, window: Health, bounds: AdaptiveBounds, *, waiting: bool) -> Step | None:
    """The new rate and why, or None to keep `rate`."""
    low, high = bounds.min_rate, bounds.max_rate
    if not low <= rate <= high:
        clamped = min(high, max(low, rate))
        return Step(clamped, f"brought within the bounds {low}-{high} per minute")
    if window.requests < bounds.min_requests:
        return None
    errors = window.error_rate
    p95 = window.p95_ms
    if bounds.max_error_rate > 0 and errors >= bounds.max_error_rate:
        why = f"error rate {errors:.1%} at or above {bounds.max_error_rate:.1%}"
    elif p95 is not None and p95 > bounds.target_p95_ms:
        why = f"p95 about {p95} ms above {bounds.target_p95_ms} ms"
    else:
        if not waiting or rate >= high:
            return None
        new = min(high, rate + bounds.step)
        return Step(new, f"healthy: p95 about {p95} ms, error rate {errors:.1%}; +{new - rate}")
    new = max(low, math.floor(rate * bounds.decrease))
    if new == rate:
        return None
    return Step(new, f"{why}; x{bounds.decrease:g}")
