"""Prometheus metrics, named as in the contract. Never a visitor id as a label.

Per-process figures are counted here; room-wide figures (queue length, active
sessions, admissions, waits) are read from Redis at scrape time, so every gateway
process reports the same truth however many workers admit.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from gateway import __version__
from gateway.store.redis_store import WAIT_BUCKETS

REGISTRY = CollectorRegistry(auto_describe=True)

JOINS = Counter("sluis_joins", "Joins answered, by result", ["room", "result"], registry=REGISTRY)
TOKEN_CHECKS = Counter("sluis_token_checks", "Admission cookies checked", ["result"],
                       registry=REGISTRY)
BACKEND_REQUESTS = Counter("sluis_backend_requests", "Requests forwarded to the backend",
                           ["room", "code"], registry=REGISTRY)
BACKEND_SECONDS = Histogram("sluis_backend_request_seconds", "Backend answer time",
                            registry=REGISTRY,
                            buckets=(.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))
BACKEND_INFLIGHT = Gauge("sluis_backend_inflight", "Requests in flight to the backend", ["room"],
                         registry=REGISTRY, multiprocess_mode="livesum")
BACKEND_BUSY = Counter("sluis_backend_busy", "Requests answered 'busy, try again' because the "
                       "room's backend had max_inflight requests in flight", ["room"],
                       registry=REGISTRY)
REDIS_ERRORS = Counter("sluis_redis_errors", "Requests that found Redis unavailable",
                       registry=REGISTRY)
BUILD_INFO = Gauge("sluis_build_info", "Sluis version", ["version"], registry=REGISTRY,
                   multiprocess_mode="max")
BUILD_INFO.labels(__version__).set(1)



class RoomFigures(Collector):
    """Room-wide figures from Redis, refreshed by the metrics route before each scrape."""

    def __init__(self) -> None:
        self.rows: list[RoomRow] = []

    def collect(self) -> Iterator[Metric]:
        queue = GaugeMetricFamily("sluis_queue_length", "Visitors waiting (pre-queue and queue)",
                                  labels=["room"])
        active = GaugeMetricFamily("sluis_active_sessions", "Live admitted sessions",
                                   labels=["room"])
        rate = GaugeMetricFamily("sluis_admission_rate_per_minute", "Target admission rate",
                                 labels=["room"])
        admissions = CounterMetricFamily("sluis_admissions", "Visitors admitted", labels=["room"])
        waits = HistogramMetricFamily("sluis_wait_seconds", "Wait from joining to admission")
        breaker = GaugeMetricFamily("sluis_breaker_open", "1 while the backend breaker holds "
                                    "admissions", labels=["room"])
        trips = CounterMetricFamily("sluis_breaker_trips", "Times the backend breaker opened",
                                    labels=["room"])
        total: dict[str, int] = {}
        for row in self.rows:
            queue.add_metric([row.room], row.waiting)
            active.add_metric([row.room], row.active)
            rate.add_metric([row.room], row.rate_per_minute)
            admissions.add_metric([row.room], row.counters.get("admitted_total", 0))
            opened = row.counters.get("breaker_trips_total", 0)
            trips.add_metric([row.room], opened)
            # Every trip is followed by one reset: open while trips outnumber resets.
            breaker.add_metric([row.room], int(opened > row.counters.get(
                "breaker_resets_total", 0)))
            for k, v in row.counters.items():
                if k.startswith("wait_"):
                    total[k] = total.get(k, 0) + v
        buckets = [(str(float(b)), float(total.get(f"wait_le_{b}_total", 0)))
                   for b in WAIT_BUCKETS]
        buckets.append(("+Inf", float(total.get("wait_count_total", 0))))
        waits.add_metric([], buckets, sum_value=total.get("wait_ms_total", 0) / 1000)
        yield from (queue, active, rate, admissions, waits, breaker, trips)


@dataclass(frozen=True, slots=True)
class RoomRow:
    room: str
    waiting: int
    active: int
    rate_per_minute: int
    counters: dict[str, int]


ROOM_FIGURES = RoomFigures()
REGISTRY.register(ROOM_FIGURES)


def exposition() -> bytes:
    """The text a scrape gets. With several gateway processes (PROMETHEUS_MULTIPROC_DIR,
    set by `sluis gateway --workers N`), the per-process figures of all of them, summed,
    whichever process answers."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    registry.register(ROOM_FIGURES)
    return generate_latest(registry)


_JOINS_BY: dict[tuple[str, str], Any] = {}


_ANSWERED_BY: dict[tuple[str, int], Any] = {}
_INFLIGHT_BY: dict[str, Any] = {}


def backend_answered(room: str, status: int) -> None:
    """BACKEND_REQUESTS.labels(room, status).inc(), the child looked up once."""
    child = _ANSWERED_BY.get((room, status))
    if child is None:
        child = _ANSWERED_BY[(room, status)] = BACKEND_REQUESTS.labels(room, str(status))
    child.inc()


def inflight(room: str) -> Any:
    child = _INFLIGHT_BY.get(room)
    if child is None:
        child = _INFLIGHT_BY[room] = BACKEND_INFLIGHT.labels(room)
    return child


def backend_busy(room: str) -> None:
    BACKEND_BUSY.labels(room).inc()


def join_counted(room: str, result: str) -> None:
    """JOINS.labels(...).inc() with the labelled child looked up once."""
    child = _JOINS_BY.get((room, result))
    if child is None:
        child = _JOINS_BY[(room, result)] = JOINS.labels(room, result)
    child.inc()


_TOKEN_CHECKS_BY: dict[str, Any] = {}


def token_checked(result: str) -> None:
    """TOKEN_CHECKS.labels(result).inc(), the child looked up once."""
    child = _TOKEN_CHECKS_BY.get(result)
    if child is None:
        child = _TOKEN_CHECKS_BY[result] = TOKEN_CHECKS.labels(result)
    child.inc()
