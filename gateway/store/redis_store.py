"""The store: every Redis call Sluis makes, translated at this boundary.

Callers get plain values or `StoreUnavailable`; nothing above this package
sees a Redis exception, a key name or a script.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import IntEnum
from typing import Any, ParamSpec, TypeVar, cast

import orjson
from redis import exceptions as rex

from gateway.addresses import DEFAULT_IPV6_PREFIX, Networks
from gateway.rooms import LIVE_FIELDS, LiveSettings, RoomConfig
from gateway.store.coalesce import Coalescer
from gateway.store.connect import Client
from gateway.store.errors import StoreUnavailable
from gateway.store.keys import ENDS_CHANNEL, ROOMS_INDEX, RoomKeys, room_keys
from gateway.store.scripts import Scripts

log = logging.getLogger("sluis.store")

# Upper bounds (seconds) of the join-to-admission wait histogram that admit.lua keeps.
WAIT_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)
# How long the per-second counts of the backend's answers are kept.
HEALTH_TTL_SECONDS = 600
# How far back the dashboard's per-room series reaches.
SERIES_HORIZON_MS = 3_600_000

P = ParamSpec("P")
T = TypeVar("T")


class Code(IntEnum):
    """A visitor's place as the scripts report it (see lua/_prelude.lua)."""

    NONE = 0
    PREQUEUE = 1
    QUEUED = 2
    ADMITTED = 3
    CLOSED = 5
    LIMITED = 6


@dataclass(frozen=True, slots=True)
class RoomSnapshot:
    """Room-wide figures read in the same script run as a visitor's place."""

    now_ms: int
    prequeue_len: int
    queue_len: int
    settings: LiveSettings
    seed_sha256: str | None
    seed: str | None  # only once the room has opened
    rate_measured: float | None  # admissions per minute, measured by the worker
    rate_low: float | None
    rate_high: float | None
    admitted_total: int
    # Places left as the room's inventory source last reported them; None when the room
    # has no source or the figure is unknown or void.
    places_left: int | None = None
    # The live sessions as the leading worker last summed them up (see set_turnover):
    # "active;typical ms;start ms,start ms,...", or None.
    turnover: str | None = None

    @property
    def sold_out(self) -> bool:
        return self.places_left is not None and self.places_left <= 0

    @property
    def waiting(self) -> int:
        return self.prequeue_len + self.queue_len


@dataclass(frozen=True, slots=True)
class Place:
    code: Code
    position: int  # 1-based; 0 when not waiting in line


@dataclass(frozen=True, slots=True)
class RoomView:
    """A room's settings and live figures, for operators and the worker."""

    room: str
    now_ms: int
    settings: LiveSettings
    queued: int
    prequeued: int
    active: int
    counters: dict[str, int]
    credit: float
    credit_at: str
    leader: str | None
    breaker_open: bool = False
    breaker_since_ms: int = 0
    breaker_reason: str = ""
    # The inventory source's last figure (None: no source, or unknown or void now).
    inventory_remaining: int | None = None
    inventory_source: str | None = None

    @property
    def sold_out(self) -> bool:
        return self.inventory_remaining is not None and self.inventory_remaining <= 0

    @property
    def mean_session_seconds(self) -> float | None:
        """The measured mean length of the sessions that ended, None before the first."""
        n = self.counters.get("sessions_measured_total", 0)
        return self.counters.get("session_ms_total", 0) / n / 1000 if n else None


@dataclass(frozen=True, slots=True)
class AdmitResult:
    admitted: list[str]
    sessions_expired: int
    stale_dropped: int
    now_ms: int


class NotLeader(Exception):
    """The lease moved to another worker, or the room's state moved since the plan."""


class UnfairChange(ValueError):
    """A settings change that would break the queue's fairness; nothing was written."""


def _translate(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(*args, **kwargs)
        except (rex.ConnectionError, rex.TimeoutError, rex.BusyLoadingError,
                rex.ReadOnlyError, rex.ClusterDownError, rex.TryAgainError,
                OSError) as exc:
            raise StoreUnavailable(str(exc) or type(exc).__name__) from exc
        except rex.ResponseError as exc:
            if str(exc).startswith(("MISCONF", "LOADING", "MASTERDOWN", "CLUSTERDOWN")):
                raise StoreUnavailable(str(exc)) from exc
            raise

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def _text(v: Any) -> str | None:
    if v is None:
        return None
    return v.decode() if isinstance(v, bytes) else str(v)


def _float(v: Any) -> float | None:
    t = _text(v)
    return float(t) if t else None


def _settings(raw: Sequence[Any]) -> LiveSettings:
    return LiveSettings.from_redis(dict(zip(LIVE_FIELDS, raw, strict=True)))


def _places_left(inventory: Any, until: Any, now_ms: int) -> int | None:
    """The inventory figure as the scripts keep it, None when absent or void by now."""
    left = _text(inventory)
    if not left:
        return None
    valid = int(_text(until) or 0)
    return None if 0 < valid <= now_ms else int(left)


def _snapshot(head: Sequence[Any]) -> RoomSnapshot:
    now_ms, pre_len, q_len, settings_raw, state = head[:5]
    settings = _settings(settings_raw)
    if len(state) > 6 and _text(state[6]) == "1" and not settings.paused:
        # The backend breaker holds admissions: visitors see the room as paused.
        settings = replace(settings, paused=True)
    if settings.closes_at_ms and int(now_ms) >= settings.closes_at_ms and not settings.closed:
        settings = replace(settings, closed=True)  # the scheduled closing has come
    return RoomSnapshot(
        now_ms=int(now_ms), prequeue_len=int(pre_len), queue_len=int(q_len),
        settings=settings,
        seed_sha256=_text(state[0]), seed=_text(state[1]),
        rate_measured=_float(state[2]), rate_low=_float(state[3]), rate_high=_float(state[4]),
        admitted_total=int(state[5] or 0),
        places_left=_places_left(state[7], state[8], int(now_ms)) if len(state) > 8 else None,
        turnover=_text(state[9]) if len(state) > 9 else None,
    )


_CODES = {int(c): c for c in Code}


def _places(flat: Sequence[Any]) -> list[Place]:
    codes = _CODES
    return [Place(codes[flat[i]], flat[i + 1]) for i in range(0, len(flat), 2)]


class _Keys:
    """The KEYS of one script call that reads or changes the line: the line's keys, the
    places held per network (KEYS[7], which lua/_prelude.lua's forget gives back to),
    then each extra key once."""

    def __init__(self, k: RoomKeys, extra: Sequence[str] = ()) -> None:
        self.names = [*k.line(), k.held, *extra]
        self._index: dict[str, int] = {}

    def slot(self, name: str) -> int:
        """The 1-based KEYS index of `name`, added on first use."""
        i = self._index.get(name)
        if i is None:
            self.names.append(name)
            i = self._index[name] = len(self.names)
        return i


@dataclass(frozen=True, slots=True)
class JoinRequest:
    visitor: str
    address: str | None
    may_pass: bool


class Store:
    """All of Sluis's Redis state. The client is passed in, never a module global.

    Per client address (an IPv4 address, an IPv6 /`ipv6_prefix` network): at most
    `joins_per_ip_per_minute` new places in any 60 s, and at most `places_per_ip` places
    held in line at once (0: no limit)."""

    def __init__(self, client: Client, joins_per_ip_per_minute: int = 0,
                 places_per_ip: int = 0, ipv6_prefix: int = DEFAULT_IPV6_PREFIX) -> None:
        self.client = client
        self.scripts = Scripts(client)
        self.joins_per_ip_per_minute = joins_per_ip_per_minute
        self.places_per_ip = places_per_ip
        self.networks = Networks(ipv6_prefix)
        self._keys: dict[str, RoomKeys] = {}
        self._joins: Coalescer[JoinRequest, tuple[RoomSnapshot, Place]] = Coalescer(
            self._join_batch)
        self._statuses: Coalescer[str, tuple[RoomSnapshot, Place]] = Coalescer(
            self._status_batch)
        self._uses: Coalescer[tuple[str, str], int] = Coalescer(self._networks_batch)

    def keys(self, room: str) -> RoomKeys:
        k = self._keys.get(room)
        if k is None:
            k = self._keys[room] = room_keys(room)
        return k

    # -- visitors (coalesced: concurrent requests share one script call) ---------

    async def join(self, room: str, visitor: str, address: str | None = None,
                   may_pass: bool = True) -> tuple[RoomSnapshot, Place]:
        """Take a place (or find the one this visitor has). Idempotent per visitor."""
        return await self._joins.submit(room, JoinRequest(visitor, address, may_pass))

    async def status(self, room: str, visitor: str) -> tuple[RoomSnapshot, Place]:
        """Where the visitor stands; also tells the store they are still there."""
        return await self._statuses.submit(room, visitor)

    @_translate
    async def _join_batch(self, room: Hashable, items: list[JoinRequest]
                          ) -> list[tuple[RoomSnapshot, Place]]:
        k = self.keys(str(room))
        keys = _Keys(k)
        args: list[str | int] = [self.joins_per_ip_per_minute, self.places_per_ip]
        window = self.joins_per_ip_per_minute > 0
        counted = window or self.places_per_ip > 0
        for item in items:
            net = self.networks.of(item.address) if counted and item.address else ""
            args += [item.visitor, keys.slot(k.seen(item.visitor)),
                     keys.slot(k.joins_by_address(net)) if window and net else 0, net,
                     1 if item.may_pass else 0]
        head = await self.scripts.join(keys=keys.names, args=args)
        snap = _snapshot(head)
        return [(snap, place) for place in _places(head[5])]

    @_translate
    async def _status_batch(self, room: Hashable, visitors: list[str]
                            ) -> list[tuple[RoomSnapshot, Place]]:
        k = self.keys(str(room))
        keys = _Keys(k)
        args: list[str | int] = []
        for visitor in visitors:
            args += [visitor, keys.slot(k.seen(visitor))]
        head = await self.scripts.status(keys=keys.names, args=args)
        snap = _snapshot(head)
        return [(snap, place) for place in _places(head[5])]

    @_translate
    async def snapshot(self, room: str) -> RoomSnapshot:
        """Room-wide figures alone (the status script with no visitor)."""
        return _snapshot(await self.scripts.status(keys=self.keys(room).line(), args=[]))

    # -- admitted visitors --------------------------------------------------------

    def use_from(self, room: str, visitor: str, network: str, cap: int,
                 window_seconds: int) -> asyncio.Future[int]:
        """Records that the visitor's admission is used from `network`. Resolves to the
        networks it was used from within the window, this one included, or to minus that
        number when this one is refused (beyond `cap`). Coalesced like joins; a future,
        so that a caller may also leave it to finish on its own."""
        return self._uses.submit((room, cap, window_seconds * 1000), (visitor, network))

    @_translate
    async def _networks_batch(self, group: Hashable, items: list[tuple[str, str]]
                              ) -> list[int]:
        room, cap, window_ms = cast(tuple[str, int, int], group)
        k = self.keys(room)
        names = [k.state]
        index: dict[str, int] = {}
        args: list[str | int] = [cap, window_ms]
        for visitor, network in items:
            i = index.get(visitor)
            if i is None:
                names.append(k.networks(visitor))
                i = index[visitor] = len(names)
            args += [i, network]
        return [int(n) for n in await self.scripts.networks(keys=names, args=args)]

    @_translate
    async def renew(self, room: str, visitor: str) -> int:
        """Slide a live session forward; its length in seconds, or 0 when it has ended."""
        k = self.keys(room)
        return int(await self.scripts.renew(keys=[k.settings, k.active, k.started],
                                            args=[visitor]))

    @_translate
    async def end_session(self, room: str, visitor: str, path: str = "") -> bool:
        """End a live session (`path`: the page whose answer ended it, for the exit pass)."""
        k = self.keys(room)
        return bool(await self.scripts.end_session(keys=[k.state, k.active, k.started],
                                                   args=[visitor, ENDS_CHANNEL, room, path]))

    async def follow_ends(self, on_end: Callable[[str, str, str], None], stop: asyncio.Event,
                          retry_seconds: float = 1.0) -> None:
        """Call `on_end(room, visitor, path)` for every session end any process publishes
        (visitor "*": the whole room was drained; path: the page that ended it), until
        `stop`. A lost connection is
        followed again after `retry_seconds`; ends published meanwhile are missed, and
        the gateway's renewal check is what catches those."""
        while not stop.is_set():
            pubsub = self.client.pubsub()
            try:
                await pubsub.subscribe(ENDS_CHANNEL)
                while not stop.is_set():
                    message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                       timeout=1.0)
                    if message is None:
                        continue
                    room, _, rest = (_text(message.get("data")) or "").partition("\n")
                    visitor, _, path = rest.partition("\n")
                    if room and visitor:
                        on_end(room, visitor, path)
            except (rex.ConnectionError, rex.TimeoutError, OSError) as exc:
                log.warning("following session ends interrupted; retrying",
                            extra={"error": str(exc) or type(exc).__name__})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), retry_seconds)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    # -- rooms ----------------------------------------------------------------------

    @_translate
    async def define_room(self, config: RoomConfig, seed: tuple[str, str]) -> None:
        """Store a configured room's settings, keeping any an operator already changed."""
        await self.client.sadd(ROOMS_INDEX, config.name)
        await self._configure(config.name, "define", config.initial.as_redis(), "config", seed)

    @_translate
    async def change_room(self, room: str, changes: dict[str, str], actor: str,
                          seed: tuple[str, str]) -> list[list[Any]]:
        """Apply validated changes; returns [field, old, new] for each value that changed."""
        return await self._configure(room, "change", changes, actor, seed)

    async def _configure(self, room: str, mode: str, fields: dict[str, str], actor: str,
                         seed: tuple[str, str]) -> list[list[Any]]:
        k = self.keys(room)
        args: list[str] = [mode, seed[0], seed[1], actor,
                           datetime.now().astimezone().isoformat(timespec="seconds")]
        for name, value in fields.items():
            args += [name, value]
        status, payload = await self.scripts.configure(
            keys=[k.settings, k.state, k.queue, k.prequeue, k.audit], args=args)
        if _text(status) != "ok":
            raise UnfairChange(_text(payload))
        changes: list[list[Any]] = orjson.loads(payload)
        return changes

    @_translate
    async def room_names(self) -> list[str]:
        return sorted(_text(n) or "" for n in await self.client.smembers(ROOMS_INDEX))

    @_translate
    async def view(self, room: str) -> RoomView:
        k = self.keys(room)
        secs, micros, raw, state, queued, prequeued, active, leader = await self.scripts.view(
            keys=[*k.line(), k.leader], args=list(LIVE_FIELDS))
        now_ms = int(secs) * 1000 + int(micros) // 1000
        st = {(_text(a) or ""): (_text(b) or "") for a, b in zip(state[::2], state[1::2],
                                                                  strict=True)}
        counters = {name: int(v) for name, v in st.items() if name.endswith("_total")}
        return RoomView(
            room=room, now_ms=now_ms, settings=_settings(raw), queued=int(queued),
            prequeued=int(prequeued), active=int(active), counters=counters,
            credit=float(st.get("credit") or 0), credit_at=st.get("credit_at", ""),
            leader=_text(leader),
            breaker_open=st.get("breaker_open") == "1",
            breaker_since_ms=int(st.get("breaker_since") or 0),
            breaker_reason=st.get("breaker_reason", ""),
            inventory_remaining=_places_left(st.get("inventory"), st.get("inventory_until"),
                                             now_ms),
            inventory_source=st.get("inventory_source") or None,
        )

    @_translate
    async def audit(self, room: str, limit: int = 100) -> list[dict[str, Any]]:
        rows = await self.client.lrange(self.keys(room).audit, 0, max(0, limit - 1))
        return [orjson.loads(r) for r in rows]

    @_translate
    async def draw_tickets(self, room: str, start: int = 0, stop: int = -1) -> list[str]:
        rows = await self.client.lrange(self.keys(room).draw, start, stop)
        return [_text(r) or "" for r in rows]

    # -- the worker -------------------------------------------------------------------

    @_translate
    async def lead(self, room: str, worker: str, ttl_ms: int) -> bool:
        """Take or keep the room's lease; ttl_ms 0 releases it."""
        return bool(await self.scripts.lease(keys=[self.keys(room).leader], args=[worker, ttl_ms]))

    @_translate
    async def head(self, room: str, count: int) -> list[str]:
        """The first `count` visitors in line: the drawn pre-queue, then the queue."""
        k = self.keys(room)
        async with self.client.pipeline(transaction=False) as p:
            p.zrange(k.prequeue, 0, count - 1)
            p.zrange(k.queue, 0, count - 1)
            pre, queue = await p.execute()
        return [_text(v) or "" for v in [*pre, *queue][:count]]

    @_translate
    async def stretch(self, room: str, start: int, count: int) -> list[str]:
        """`count` visitors from rank `start` of the whole line (pre-queue, then queue)."""
        k = self.keys(room)
        async with self.client.pipeline(transaction=False) as p:
            p.zcard(k.prequeue)
            p.zrange(k.prequeue, start, start + count - 1)
            pre_len, pre = await p.execute()
        ids = [_text(v) or "" for v in pre]
        if len(ids) < count:
            from_rank = max(0, start - int(pre_len))
            more = await self.client.zrange(k.queue, from_rank, from_rank + count - len(ids) - 1)
            ids += [_text(v) or "" for v in more]
        return ids

    @_translate
    async def admit(self, room: str, worker: str, candidates: list[str], *, want: int,
                    credit: float, cap: float, expected_at: str, plan_at: int,
                    measured: tuple[float, float, float] | None) -> AdmitResult:
        """Admit up to `want` of `candidates` (the head of the line, in order)."""
        k = self.keys(room)
        keys = _Keys(k, extra=[k.leader])
        rates = [f"{x:.3f}" for x in measured] if measured else ["", "", ""]
        args: list[str | int] = [worker, want, repr(credit), repr(cap), expected_at, plan_at,
                                 *rates, len(WAIT_BUCKETS), *WAIT_BUCKETS]
        for visitor in candidates:
            args += [visitor, keys.slot(k.seen(visitor))]
        res = await self.scripts.admit(keys=keys.names, args=args)
        if int(res[0]) < 0:
            raise NotLeader("lease lost" if int(res[0]) == -1 else "state moved")
        return AdmitResult([_text(v) or "" for v in res[4:]], int(res[1]), int(res[2]),
                           int(res[3]))

    @_translate
    async def expire(self, room: str, visitors: list[str]) -> tuple[int, int]:
        """Drop those of `visitors` whose grace period ran out, and prune ended sessions:
        (waiting removed, sessions expired)."""
        k = self.keys(room)
        keys = _Keys(k)
        args: list[str | int] = []
        for visitor in visitors:
            args += [visitor, keys.slot(k.seen(visitor))]
        res = await self.scripts.expire(keys=keys.names, args=args)
        return int(res[0]), int(res[1])

    @_translate
    async def draw(self, room: str) -> int:
        """Publish the drawn pre-queue once the room opens; -1 when there is nothing to do."""
        k = self.keys(room)
        return int(await self.scripts.draw(keys=[k.settings, k.state, k.prequeue, k.draw]))

    # -- the backend's health and the breaker ---------------------------------------------

    @_translate
    async def record_outcomes(self, room: str, second: int, fields: dict[str, int],
                              ttl_seconds: int = HEALTH_TTL_SECONDS) -> None:
        """Add one gateway's count of the backend's answers in one second."""
        args: list[str | int] = [ttl_seconds]
        for name, value in fields.items():
            args += [name, value]
        await self.scripts.outcomes(keys=[self.keys(room).health(second)], args=args)

    @_translate
    async def health(self, room: str, last_second: int, seconds: int) -> dict[str, int]:
        """The backend's answers summed over `seconds` seconds up to `last_second`."""
        k = self.keys(room)
        async with self.client.pipeline(transaction=False) as p:
            for second in range(last_second - seconds + 1, last_second + 1):
                p.hgetall(k.health(second))
            rows = await p.execute()
        total: dict[str, int] = {}
        for row in rows:
            for name, value in row.items():
                key = _text(name) or ""
                total[key] = total.get(key, 0) + int(value)
        return total

    @_translate
    async def set_breaker(self, room: str, worker: str, open_: bool, reason: str) -> bool:
        """Open or close the room's backend breaker; True when it changed."""
        k = self.keys(room)
        at = datetime.now().astimezone().isoformat(timespec="seconds")
        res = int(await self.scripts.breaker(keys=[k.state, k.audit, k.leader],
                                             args=[worker, "1" if open_ else "0", reason, at]))
        if res < 0:
            raise NotLeader("lease lost")
        return res == 1

    # -- the live sessions, for the ETA ---------------------------------------------------

    @_translate
    async def session_starts(self, room: str) -> list[int]:
        """When each live session began (ms), in no order."""
        return [int(v) for v in await self.client.hvals(self.keys(room).started)]

    @_translate
    async def set_turnover(self, room: str, summary: str) -> None:
        """Keep the leading worker's summary of the live sessions, which every status
        answer reads with the room's figures (gateway/eta.py: Turnover)."""
        await self.client.hset(self.keys(room).state, "turnover", summary)

    # -- the room's inventory --------------------------------------------------------------

    @_translate
    async def set_inventory(self, room: str, places_left: int | None, source: str, *,
                            hold_ms: int = 0, worker: str = "") -> bool:
        """Record the places left that the room's inventory source reports (None: unknown
        now). `worker`, when given, must hold the room's lease. True when the room turned
        sold out, or back."""
        k = self.keys(room)
        at = datetime.now().astimezone().isoformat(timespec="seconds")
        res = int(await self.scripts.inventory(
            keys=[k.state, k.audit, k.leader],
            args=[worker, "" if places_left is None else max(0, places_left), hold_ms, source,
                  at]))
        if res < 0:
            raise NotLeader("lease lost")
        return res == 1

    # -- operators: drain, and the dashboard's series -------------------------------------

    @_translate
    async def drain(self, room: str, actor: str) -> int:
        """End every live session of the room, audited; the number ended."""
        k = self.keys(room)
        at = datetime.now().astimezone().isoformat(timespec="seconds")
        return int(await self.scripts.drain(keys=[k.state, k.active, k.audit, k.started],
                                            args=[actor, at, ENDS_CHANNEL, room]))

    @_translate
    async def record_sample(self, room: str, worker: str, sample: dict[str, Any],
                            horizon_ms: int = SERIES_HORIZON_MS) -> int:
        """Keep one sample of the room's figures (the leading worker, every few seconds);
        samples older than the horizon are dropped. -1 when the lease is not ours."""
        k = self.keys(room)
        return int(await self.scripts.sample(keys=[k.series, k.queue, k.leader],
                                             args=[worker, horizon_ms, orjson.dumps(sample)]))

    @_translate
    async def series(self, room: str, since_ms: int = 0) -> list[dict[str, Any]]:
        """The room's samples since `since_ms`, oldest first."""
        rows = await self.client.zrangebyscore(self.keys(room).series, since_ms, "+inf")
        return [orjson.loads(r) for r in rows if isinstance(r, bytes | str)]

    # -- health ----------------------------------------------------------------------------

    @_translate
    async def used_memory(self) -> int:
        """Bytes Redis holds (INFO memory), for capacity planning and the benchmark."""
        return int((await self.client.info("memory"))["used_memory"])

    @_translate
    async def ping(self) -> bool:
        return bool(await self.client.ping())

    async def close(self) -> None:
        await self.client.aclose()
