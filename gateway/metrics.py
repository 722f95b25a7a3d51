"""Prometheus metrics, named as in the contract. Never a visitor id as a label.

Per-process figures are counted here; room-wide figures (queue length, active
sessions, admissions, waits) are read from Redis at scrape time, so every gateway
process reports the same truth however many workers admit.
"""

from __future__ import annotations

import bisect
import collections
import contextvars
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
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


class Tally(Collector):
    """A histogram that the observing code counts in plain numbers (a bisect and two list
    additions, no lock: `counts`), shown through prometheus_client's collector interface
    with what a `Histogram` of the same name, labels and buckets shows: `_bucket`,
    `_count`, `_sum` and `_created`. A labelled series shows once it has an observation.

    With several gateway processes (PROMETHEUS_MULTIPROC_DIR) the numbers of each go to
    the shared files at `flush`, as a counter per bucket (`<name>_tally{..., part}`, the
    part a bucket's `le` or `sum`), and `from_parts` makes the histogram of them all."""

    def __init__(self, name: str, documentation: str, buckets: Sequence[float],
                 labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self.bounds = tuple(float(b) for b in buckets)  # ascending; +Inf after them
        self.les = [*(str(b) for b in self.bounds), "+Inf"]
        self._series: dict[tuple[str, ...], list[float]] = {}
        self._created: dict[tuple[str, ...], float] = {}
        self._flushed: dict[tuple[str, ...], list[float]] = {}
        self._parts = Counter(f"{name}_tally", documentation, [*self.labelnames, "part"],
                              registry=None)
        if not self.labelnames:
            self.counts()  # shown from the start, as an unlabelled Histogram is

    def counts(self, *labels: str) -> list[float]:
        """The list an observation is added to: a count per bucket (not cumulative, the
        last one past every bound), then the sum of the values observed."""
        series = self._series.get(labels)
        if series is None:
            if len(labels) != len(self.labelnames):
                raise ValueError(f"{self.name} has the labels {self.labelnames}")
            series = self._series[labels] = [0] * (len(self.les) + 1)
            self._created[labels] = time.time()
        return series

    def observe(self, value: float, *labels: str) -> None:
        series = self.counts(*labels)
        series[bisect.bisect_left(self.bounds, value)] += 1
        series[-1] += value

    def _family(self, series: Iterable[tuple[tuple[str, ...], Sequence[float]]],
                created: bool) -> HistogramMetricFamily:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for labels, numbers in series:
            buckets, total = [], 0.0
            for le, n in zip(self.les, numbers[:-1], strict=True):
                total += n
                buckets.append((le, total))
            if labels and not total:
                continue
            family.add_metric(list(labels), buckets, numbers[-1])
            if created:
                named = dict(zip(self.labelnames, labels, strict=True))
                family.add_sample(f"{self.name}_created", named, self._created[labels])
        return family

    def describe(self) -> Iterator[Metric]:
        yield HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self) -> Iterator[Metric]:
        yield self._family(self._series.items(), created=True)

    def flush(self) -> None:
        """What was counted since the last call, added to the shared files' counters."""
        for labels, series in self._series.items():
            done = self._flushed.get(labels)
            if done is None:
                done = self._flushed[labels] = [0] * len(series)
            for i, n in enumerate(series):
                if n != done[i]:
                    part = self.les[i] if i < len(self.les) else "sum"
                    self._parts.labels(*labels, part).inc(n - done[i])
                    done[i] = n

    def from_parts(self, parts: Metric | None) -> HistogramMetricFamily:
        """The histogram of every process, from the counters that `flush` adds to (as the
        shared files' collector reads them; None when none has been written yet)."""
        series: dict[tuple[str, ...], list[float]] = {}
        if not self.labelnames:
            series[()] = [0.0] * (len(self.les) + 1)
        where = {le: i for i, le in enumerate(self.les)} | {"sum": len(self.les)}
        for sample in parts.samples if parts is not None else ():
            i = where.get(sample.labels.get("part", ""))
            if i is None or not sample.name.endswith("_total"):
                continue
            labels = tuple(sample.labels.get(name, "") for name in self.labelnames)
            series.setdefault(labels, [0.0] * (len(self.les) + 1))[i] += sample.value
        return self._family(series.items(), created=False)


JOINS = Counter("sluis_joins", "Joins answered, by result", ["room", "result"], registry=REGISTRY)
TOKEN_CHECKS = Counter("sluis_token_checks", "Admission cookies checked", ["result"],
                       registry=REGISTRY)
BACKEND_REQUESTS = Counter("sluis_backend_requests", "Requests forwarded to the backend",
                           ["room", "code"], registry=REGISTRY)
BACKEND_SECONDS = Tally("sluis_backend_request_seconds", "Backend answer time",
                        (.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))
REGISTRY.register(BACKEND_SECONDS)
# The gateway's own answer time, from the moment the app is called until it returns, by
# the kind of answer: time spent in the kernel's queues or waiting for the event loop
# before that is not in it (a client's figure includes it).
REQUEST_SECONDS = Tally("sluis_request_seconds", "Gateway answer time by route class",
                        (.001, .0025, .005, .01, .025, .05, .075, .1, .15, .2, .25, .5, 1,
                         2.5, 5, 10), ["route"])
REGISTRY.register(REQUEST_SECONDS)
# The route classes: status polls, the queue page (or its JSON) of a visitor not let
# in, a request forwarded to the backend, and Sluis's own pages under /_sluis/.
ROUTES = ("status", "queue_page", "forwarded", "sluis")
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
        places = GaugeMetricFamily("sluis_inventory_remaining", "Places left as the room's "
                                   "inventory source last reported them", labels=["room"])
        sold_out = CounterMetricFamily("sluis_sold_out", "Times the room's inventory source "
                                       "reported no places left", labels=["room"])
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
            if row.inventory is not None:
                places.add_metric([row.room], row.inventory)
                sold_out.add_metric([row.room], row.counters.get("sold_out_total", 0))
            for k, v in row.counters.items():
                if k.startswith("wait_"):
                    total[k] = total.get(k, 0) + v
        buckets = [(str(float(b)), float(total.get(f"wait_le_{b}_total", 0)))
                   for b in WAIT_BUCKETS]
        buckets.append(("+Inf", float(total.get("wait_count_total", 0))))
        waits.add_metric([], buckets, sum_value=total.get("wait_ms_total", 0) / 1000)
        yield from (queue, active, rate, admissions, waits, breaker, trips, places, sold_out)


@dataclass(frozen=True, slots=True)
class RoomRow:
    room: str
    waiting: int
    active: int
    rate_per_minute: int
    counters: dict[str, int]
    inventory: int | None = None  # places left, for a room with an inventory source


ROOM_FIGURES = RoomFigures()
REGISTRY.register(ROOM_FIGURES)


def exposition() -> bytes:
    """The text a scrape gets. With several gateway processes (PROMETHEUS_MULTIPROC_DIR,
    set by `sluis gateway --workers N`), the per-process figures of all of them, summed,
    whichever process answers."""
    flush()
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    registry.register(SharedFiles())
    registry.register(ROOM_FIGURES)
    return generate_latest(registry)


class SharedFiles(Collector):
    """The per-process figures of every gateway process, from the shared files, with the
    tallied histograms made whole again (Tally.from_parts)."""

    def collect(self) -> Iterator[Metric]:
        files = multiprocess.MultiProcessCollector(None)  # type: ignore[no-untyped-call]
        parts: dict[str, Metric] = {}
        for metric in files.collect():  # type: ignore[no-untyped-call]
            if metric.name in _TALLIES_BY_PARTS:
                parts[metric.name] = metric
            else:
                yield metric
        for name, tally in _TALLIES_BY_PARTS.items():
            yield tally.from_parts(parts.get(name))


_JOINS_BY: dict[tuple[str, str], Any] = {}
_ANSWERED_BY: dict[tuple[str, int], Any] = {}
_INFLIGHT_BY: dict[str, Any] = {}
_TOKEN_CHECKS_BY: dict[str, Any] = {}

# The forwarded path counts in plain dicts, a few dict operations per request instead of
# a lock per counter; `flush` adds the tallies to the metrics above. It runs before
# every scrape of this process and about once a second from the gateway's lifespan, so
# that with several processes (multiprocess mode) the others' figures lag at most that.
_answered: collections.Counter[tuple[str, int]] = collections.Counter()
_token_results: collections.Counter[str] = collections.Counter()
_inflight_now: dict[str, int] = {}
_inflight_flushed: dict[str, int] = {}
# The histograms are Tallies: the lists their observations are added to, looked up once.
_TALLIES_BY_PARTS = {f"{t.name}_tally": t for t in (BACKEND_SECONDS, REQUEST_SECONDS)}
_SECONDS_BOUNDS = BACKEND_SECONDS.bounds
_seconds = BACKEND_SECONDS.counts()
_REQUEST_BOUNDS = REQUEST_SECONDS.bounds
_request_tallies = {route: REQUEST_SECONDS.counts(route) for route in ROUTES}
# Set by the forwarded path for the request in hand; cleared for each request as it
# comes in (`request_started`), since requests of one task (a test client's, several on
# one connection) share a context.
_FORWARDED: contextvars.ContextVar[bool] = contextvars.ContextVar("sluis_forwarded",
                                                                   default=False)


def request_answered(route: str, seconds: float) -> None:
    """One sluis_request_seconds{route} observation."""
    tally = _request_tallies[route]
    tally[bisect.bisect_left(_REQUEST_BOUNDS, seconds)] += 1
    tally[-1] += seconds


def request_started() -> contextvars.Token[bool]:
    """A request comes in: not forwarded (yet). Hand the token to `request_ended`."""
    return _FORWARDED.set(False)


def request_ended(mark: contextvars.Token[bool]) -> None:
    _FORWARDED.reset(mark)


def gate_route() -> str:
    """The class of a request the gate answered: forwarded if it reached the backend."""
    return "forwarded" if _FORWARDED.get() else "queue_page"


def backend_answered(room: str, status: int) -> None:
    """sluis_backend_requests_total{room,code} + 1 (tallied; see `flush`)."""
    _answered[(room, status)] += 1


def backend_started(room: str) -> None:
    """sluis_backend_inflight{room} + 1 (tallied; see `flush`)."""
    _inflight_now[room] = _inflight_now.get(room, 0) + 1
    _FORWARDED.set(True)


def backend_finished(room: str, seconds: float) -> None:
    """sluis_backend_inflight{room} - 1 (tallied; see `flush`), and one
    sluis_backend_request_seconds observation."""
    _inflight_now[room] -= 1
    _seconds[bisect.bisect_left(_SECONDS_BOUNDS, seconds)] += 1
    _seconds[-1] += seconds


def token_checked(result: str) -> None:
    """sluis_token_checks_total{result} + 1 (tallied; see `flush`)."""
    _token_results[result] += 1


def flush() -> None:
    """Adds what the forwarded path tallied since the last call to the metrics (and, with
    several processes, the histograms' tallies to the shared files)."""
    if _answered:
        answered = dict(_answered)
        _answered.clear()
        for (room, status), n in answered.items():
            child = _ANSWERED_BY.get((room, status))
            if child is None:
                child = _ANSWERED_BY[(room, status)] = BACKEND_REQUESTS.labels(room,
                                                                               str(status))
            child.inc(n)
    if _token_results:
        results = dict(_token_results)
        _token_results.clear()
        for result, n in results.items():
            child = _TOKEN_CHECKS_BY.get(result)
            if child is None:
                child = _TOKEN_CHECKS_BY[result] = TOKEN_CHECKS.labels(result)
            child.inc(n)
    for room, now in _inflight_now.items():
        if _inflight_flushed.get(room) != now:
            _inflight_flushed[room] = now
            inflight(room).set(now)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        for tally in _TALLIES_BY_PARTS.values():
            tally.flush()


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

