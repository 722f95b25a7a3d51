"""One admission is one person's: what a copied admission gets elsewhere, and how much
one admission may ask of the site.

- Client networks: an admission used from more networks (gateway/addresses.py) than one
  person has within a window is refused on the further ones and logged. Redis holds the
  count, so it holds across every gateway process.
- In flight and per minute: each admission's requests forwarded at once, and per
  minute, are capped in this process's memory; with N gateway processes an admission
  could get up to N times as much.

The forwarded path pays a dict lookup and some arithmetic (`enter`). Redis is asked when
an admission is first used from a network in this process, and again every
RECHECK_SECONDS while it is used there, then without holding the request.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from backends.proxy import calm_page
from gateway import metrics
from gateway.addresses import Networks
from gateway.http import (
    HTML_TYPE,
    JSON_TYPE,
    NO_STORE,
    Network,
    client_address,
    respond,
    wants_json,
)
from gateway.pages import security_headers
from gateway.settings import Settings
from gateway.store import Store, StoreUnavailable
from gateway.types import Scope, Send

log = logging.getLogger("sluis.sharing")

# How long Redis's answer about one admission on one network holds in this process.
RECHECK_SECONDS = 10.0
# How long a request over its admission's in-flight cap waits for one of them to end.
WAIT_SECONDS = 10.0
# Requests of one admission that may wait at once, per place in flight; more are refused.
WAITING_PER_PLACE = 4
# The request budget refills evenly over the minute; a third of it may be used at once
# (a page and its assets, a few pages in a row).
BURST_SHARE = 1 / 3
RETRY_BUSY = 5
# Admissions remembered here; past this, those with nothing in flight are forgotten
# (Redis still knows their networks).
MEMORY = 100_000
# Refused networks remembered per admission before those already asked again are dropped.
REFUSED_MEMORY = 64

SHARED_PAGE = calm_page(
    "Already in use elsewhere", "This admission is being used from other places at the "
    "same time. Continue on the device where you were let in: it is still valid there.")
BUSY_PAGE = calm_page(
    "One moment", "Very many requests at once from this visit. This page tries again by "
    "itself in a few seconds.")


@dataclass(frozen=True, slots=True)
class Limits:
    """0 turns a limit off."""

    networks: int = 3  # client networks per admission within window_seconds
    window_seconds: int = 600
    inflight: int = 8  # requests of one admission forwarded at once (per process)
    per_minute: int = 600  # requests of one admission per minute (per process)

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(settings.networks_per_admission, settings.networks_window_seconds,
                   settings.inflight_per_admission, settings.requests_per_admission_per_minute)


class Use:
    """One admission's use of this process."""

    __slots__ = ("inflight", "nets", "refused", "stamp", "tokens", "waiters")

    def __init__(self, tokens: float, now: float) -> None:
        self.inflight = 0
        self.tokens = tokens  # requests it may still make at once
        self.stamp = now
        # network -> when (monotonic) Redis is asked about it again; refused ones apart.
        self.nets: dict[str, float] = {}
        self.refused: dict[str, float] = {}
        self.waiters: collections.deque[asyncio.Future[bool]] | None = None


class Sharing:
    def __init__(self, store: Store, limits: Limits, networks: Networks,
                 trusted: Sequence[Network] = ()) -> None:
        self.store = store
        self.limits = limits
        self.networks = networks
        self.trusted = trusted
        self.per_second = limits.per_minute / 60
        self.burst = max(1.0, limits.per_minute * BURST_SHARE)
        self._uses: dict[tuple[str, str], Use] = {}
        self._confirming: set[asyncio.Future[int]] = set()

    @classmethod
    def for_settings(cls, store: Store, settings: Settings, trusted: Sequence[Network]
                     ) -> Sharing | None:
        """None when every limit is off."""
        limits = Limits.of(settings)
        if not (limits.networks or limits.inflight or limits.per_minute):
            return None
        return cls(store, limits, store.networks, trusted)

    def network(self, scope: Scope) -> str:
        if self.trusted:
            address = client_address(scope.get("client"), scope["headers"], self.trusted)
        else:
            client = scope.get("client")
            address = client[0] if client else None
        return self.networks.of(address) if address else ""

    # -- the request's way in and out ----------------------------------------------

    def enter(self, room: str, visitor: str, scope: Scope) -> Use | None:
        """The usual case, without a coroutine: an admission known here, on a network
        allowed, within its budget, with a place in flight free. None: ask `settle`."""
        use = self._uses.get((room, visitor))
        if use is None:
            return None
        now = time.monotonic()
        limits = self.limits
        if limits.networks:
            if self.trusted:
                net = self.network(scope)
            else:
                client = scope.get("client")
                net = self.networks.of(client[0]) if client else ""
            due = use.nets.get(net)
            if due is None or due <= now:
                return None
        if use.waiters or (limits.inflight and use.inflight >= limits.inflight):
            return None
        if self.per_second:
            tokens = use.tokens + (now - use.stamp) * self.per_second
            if tokens < 1:
                return None
            use.tokens = (tokens if tokens < self.burst else self.burst) - 1
            use.stamp = now
        use.inflight += 1
        return use

    async def settle(self, scope: Scope, send: Send, room: str, visitor: str) -> Use | None:
        """Whatever `enter` left open: an admission or a network new here, a request over
        the budget or waiting for a place in flight. None: refused, and answered."""
        key = (room, visitor)
        use = self._uses.get(key)
        if use is None:
            if len(self._uses) >= MEMORY:
                self._uses = {k: u for k, u in self._uses.items() if u.inflight or u.waiters}
            use = self._uses[key] = Use(self.burst, time.monotonic())
        limits = self.limits
        if limits.networks and not await self._allowed(use, room, visitor,
                                                       self.network(scope)):
            await _refuse(scope, send, room, 403, "admission_in_use_elsewhere", 0,
                          SHARED_PAGE)
            return None
        if self.per_second:
            now = time.monotonic()
            tokens = min(self.burst, use.tokens + (now - use.stamp) * self.per_second)
            use.stamp = now
            if tokens < 1:
                use.tokens = tokens
                retry = math.ceil((1 - tokens) / self.per_second)
                await _refuse(scope, send, room, 429, "too_many_requests", retry, BUSY_PAGE)
                return None
            use.tokens = tokens - 1
        if not limits.inflight or (use.inflight < limits.inflight and not use.waiters):
            use.inflight += 1
            return use
        if await self._wait_turn(use):
            return use  # handed over by a request that ended: the count stays
        await _refuse(scope, send, room, 429, "too_many_requests", RETRY_BUSY, BUSY_PAGE)
        return None

    def leave(self, use: Use) -> None:
        # The place goes straight to the longest waiter, so that newcomers cannot overtake.
        waiters = use.waiters
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(True)
                return
        use.inflight -= 1

    async def _wait_turn(self, use: Use) -> bool:
        waiters = use.waiters
        if waiters is None:
            waiters = use.waiters = collections.deque()
        while waiters and waiters[0].done():
            waiters.popleft()  # gave up waiting
        if len(waiters) >= self.limits.inflight * WAITING_PER_PLACE:
            return False
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[bool] = loop.create_future()
        waiters.append(fut)
        timer = loop.call_later(WAIT_SECONDS, _settle, fut, False)
        try:
            return await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled() and fut.result():
                self.leave(use)  # handed a place just as the visitor went away
            raise
        finally:
            timer.cancel()

    # -- client networks -------------------------------------------------------------

    async def _allowed(self, use: Use, room: str, visitor: str, net: str) -> bool:
        now = time.monotonic()
        due = use.nets.get(net)
        if due is not None:
            if due <= now:
                # Allowed before: stamped again in Redis without holding the request.
                use.nets[net] = now + RECHECK_SECONDS
                self._confirm(use, room, visitor, net)
            return True
        if use.refused.get(net, 0.0) > now:
            return False
        cap, window = self.limits.networks, self.limits.window_seconds
        try:
            n = await self.store.use_from(room, visitor, net, cap, window)
        except StoreUnavailable:
            metrics.REDIS_ERRORS.inc()
            # Redis is away: the networks allowed here within the window decide.
            here = sum(1 for d in use.nets.values() if d > now - window)
            n = here + 1 if here < cap else -here
        if n < 0:
            self._refused(use, room, visitor, net, -n)
            return False
        use.nets[net] = time.monotonic() + RECHECK_SECONDS
        return True

    def _confirm(self, use: Use, room: str, visitor: str, net: str) -> None:
        cap, window = self.limits.networks, self.limits.window_seconds
        fut = self.store.use_from(room, visitor, net, cap, window)
        self._confirming.add(fut)
        fut.add_done_callback(functools.partial(self._confirmed, use, room, visitor, net))

    def _confirmed(self, use: Use, room: str, visitor: str, net: str,
                   fut: asyncio.Future[int]) -> None:
        self._confirming.discard(fut)
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is not None:
            if not isinstance(exc, StoreUnavailable):
                log.error("network check failed", exc_info=exc, extra={"room": room})
            return
        if fut.result() < 0:
            # Gone from Redis's window (a restart, a long pause) while others took its place.
            use.nets.pop(net, None)
            self._refused(use, room, visitor, net, -fut.result())

    def _refused(self, use: Use, room: str, visitor: str, net: str, count: int) -> None:
        now = time.monotonic()
        if len(use.refused) >= REFUSED_MEMORY:
            use.refused = {n: t for n, t in use.refused.items() if t > now}
        use.refused[net] = now + RECHECK_SECONDS
        log.warning("admission refused on one more client network", extra={
            "room": room, "visitor": visitor, "networks": count,
            "cap": self.limits.networks, "window_seconds": self.limits.window_seconds})


def _settle(fut: asyncio.Future[bool], value: bool) -> None:
    if not fut.done():
        fut.set_result(value)


async def _refuse(scope: Scope, send: Send, room: str, status: int, error: str, retry: int,
                  page: bytes) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    headers = [*NO_STORE, *security_headers(scope.get("scheme") == "https",
                                            beside_no_store=True)]
    if retry:
        headers.append((b"retry-after", str(retry).encode()))
    if wants_json(scope["headers"]):
        body = orjson.dumps({"room": room, "error": error,
                             "retry_after_seconds": retry or None})
        headers.insert(0, JSON_TYPE)
    else:
        body = page
        if retry and scope["method"] == "GET":  # a form post is never resent by itself
            body = body.replace(b"<title>", f"<meta http-equiv=refresh content={retry}>"
                                "<title>".encode(), 1)
        headers.insert(0, HTML_TYPE)
    await respond(send, status, body, headers, scope["method"] == "HEAD")
