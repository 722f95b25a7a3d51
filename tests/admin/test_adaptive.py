"""Adaptive admission against a simulated backend of known capacity: the rate climbs to
near what the backend can take and holds there without crossing its error bound."""

from __future__ import annotations

import math

from backends.outcomes import BUCKET_FIELDS, LATENCY_BOUNDS_MS
from gateway.rooms import AdaptiveBounds
from queue_worker.adaptive import decide
from queue_worker.breaker import Health, health

CAPACITY = 300          # admissions a minute the simulated site can serve
BASE_MS = 80.0          # its answer time when idle
REQUESTS_PER_VISITOR = 6
BOUNDS = AdaptiveBounds(enabled=True, min_rate=30, max_rate=1000, target_p95_ms=2500,
                        max_error_rate=0.02, step=15, decrease=0.85, interval_seconds=10)


def window(rate: int) -> Health:
    """Ten seconds of the site's answers at `rate`: latency grows as load nears capacity
    (mean BASE/(1-load), exponential); past capacity the excess is refused with errors."""
    n = max(1, round(rate / 6 * REQUESTS_PER_VISITOR))
    load = rate / CAPACITY
    errors = round(n * max(0.0, (load - 1) / load)) if load > 1 else 0
    mean = BASE_MS / max(0.02, 1 - min(load, 0.98))
    totals = {"n": n, "err": errors}
    for i in range(n):
        ms = -mean * math.log(1 - (i + 0.5) / n)  # exponential quantiles, no randomness
        slot = next((j for j, b in enumerate(LATENCY_BOUNDS_MS) if ms <= b),
                    len(LATENCY_BOUNDS_MS))
        totals[BUCKET_FIELDS[slot]] = totals.get(BUCKET_FIELDS[slot], 0) + 1
    return health(totals)


def run(start: int, intervals: int) -> tuple[list[int], list[float]]:
    rate, rates, error_rates = start, [], []
    for _ in range(intervals):
        h = window(rate)
        error_rates.append(h.error_rate)
        step = decide(rate, h, BOUNDS, waiting=True)
        if step is not None:
            rate = step.rate
        rates.append(rate)
    return rates, error_rates


def test_rate_converges_near_capacity_without_crossing_the_error_bound() -> None:
    rates, error_rates = run(start=30, intervals=240)  # 40 simulated minutes
    settled = rates[60:]
    mean = sum(settled) / len(settled)
    assert 0.75 * CAPACITY <= mean <= CAPACITY, mean
    assert max(settled) <= CAPACITY
    assert max(error_rates) < BOUNDS.max_error_rate


def test_a_rate_set_far_too_high_comes_down_within_a_few_intervals() -> None:
    rates, error_rates = run(start=900, intervals=120)
    first_safe = next(i for i, r in enumerate(rates) if r <= CAPACITY)
    assert first_safe <= 6, rates[:10]
    assert max(error_rates[first_safe + 1:]) < BOUNDS.max_error_rate
    assert 0.75 * CAPACITY <= sum(rates[60:]) / 60 <= CAPACITY


def test_no_evidence_no_change_and_bounds_always_hold() -> None:
    quiet = Health(requests=3, errors=3, p95_ms=30000)
    assert decide(100, quiet, BOUNDS, waiting=True) is None
    healthy = Health(requests=500, errors=0, p95_ms=100)
    assert decide(100, healthy, BOUNDS, waiting=False) is None  # nobody waits: no evidence
    assert decide(1000, healthy, BOUNDS, waiting=True) is None  # at the ceiling
    low = decide(5, healthy, BOUNDS, waiting=True)
    assert low is not None and low.rate == BOUNDS.min_rate
    failing = Health(requests=500, errors=400, p95_ms=100)
    down = decide(BOUNDS.min_rate, failing, BOUNDS, waiting=True)
    assert down is None  # never below the floor
