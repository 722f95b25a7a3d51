"""Adaptive admission's operator bounds, from a room's `[rooms.<name>]` table (no I/O).

Off by default. When on, the leading worker moves the room's rate between
`adaptive_min_rate` and `adaptive_max_rate` from the backend's measured p95 latency
and error rate (queue_worker/adaptive.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class AdaptiveBounds:
    enabled: bool = False
    min_rate: int = 10                # admissions per minute, never below
    max_rate: int = 600               # never above
    target_p95_ms: int = 800          # above this the rate falls
    max_error_rate: float = 0.02      # at or above this the rate falls
    step: int = 10                    # added per healthy interval (admissions per minute)
    decrease: float = 0.7             # the rate is multiplied by this on an unhealthy interval
    interval_seconds: int = 10        # one decision per interval, on that window of answers
    min_requests: int = 20            # fewer answers in a window: no evidence, no change


_INTS: dict[str, tuple[str, int, int]] = {
    "adaptive_min_rate": ("min_rate", 0, 1_000_000),
    "adaptive_max_rate": ("max_rate", 1, 1_000_000),
    "adaptive_target_p95_ms": ("target_p95_ms", 1, 600_000),
    "adaptive_step": ("step", 1, 100_000),
    "adaptive_interval_seconds": ("interval_seconds", 2, 300),
    "adaptive_min_requests": ("min_requests", 1, 1_000_000),
}
_FLOATS: dict[str, tuple[str, float, float]] = {
    "adaptive_max_error_rate": ("max_error_rate", 0.0, 1.0),
    "adaptive_decrease": ("decrease", 0.1, 0.99),
}
ADAPTIVE_KEYS = ("adaptive", *_INTS, *_FLOATS)


def parse_adaptive(name: str, table: Mapping[str, Any]
                   ) -> tuple[AdaptiveBounds, dict[str, str]]:
    reasons: dict[str, str] = {}
    values: dict[str, Any] = {}
    if "adaptive" in table:
        if isinstance(table["adaptive"], bool):
            values["enabled"] = table["adaptive"]
        else:
            reasons[f"{name}.adaptive"] = "must be true or false"
    for key, (attr, lo, hi) in _INTS.items():
        if key in table:
            v = table[key]
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                reasons[f"{name}.{key}"] = f"must be a whole number between {lo} and {hi}"
            else:
                values[attr] = v
    for key, (attr, flo, fhi) in _FLOATS.items():
        if key in table:
            v = table[key]
            if isinstance(v, bool) or not isinstance(v, int | float) or not flo <= v <= fhi:
                reasons[f"{name}.{key}"] = f"must be a number between {flo} and {fhi}"
            else:
                values[attr] = float(v)
    bounds = AdaptiveBounds(**values)
    if bounds.min_rate > bounds.max_rate:
        reasons[f"{name}.adaptive_min_rate"] = "must not be above adaptive_max_rate"
    return (AdaptiveBounds() if reasons else bounds), reasons
