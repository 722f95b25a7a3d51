"""A room's backend behind a cap on requests in flight, with every answer counted.

Overflow waits in arrival order for a short while, then gets a calm "busy, try
again" page with Retry-After, never a raw error. The cap is per gateway process:
with N gateway processes the backend sees at most N times `max_inflight`.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable

from backends.base import Backend, Receive, Relay, Scope, Send, is_forwarding
from backends.outcomes import Outcomes
from backends.proxy import calm_page

BUSY_PAGE = calm_page(
    "It is very busy", "Very many people are registering at this moment. You keep your "
    "place: this page tries again by itself in a few seconds.")
RETRY_AFTER_BUSY = 5


class Guarded:
    def __init__(self, room: str, backend: Backend, *, max_inflight: int, wait_seconds: float,
                 outcomes: Outcomes | None = None,
                 on_busy: Callable[[str], None] | None = None) -> None:
        self.room = room
        self.backend = backend
        self.limit = max_inflight
        self.wait_seconds = wait_seconds
        self.outcomes = outcomes
        self.on_busy = on_busy
        self.inflight = 0
        self.busy_total = 0
        self._waiters: collections.deque[asyncio.Future[bool]] = collections.deque()

    async def startup(self) -> None:
        await self.backend.startup()

    async def shutdown(self) -> None:
        await self.backend.shutdown()

    async def _acquire(self) -> bool:
        if self.inflight < self.limit and not self._waiters:
            self.inflight += 1
            return True
        if self.wait_seconds <= 0:
            return False
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[bool] = loop.create_future()
        self._waiters.append(fut)
        timer = loop.call_later(self.wait_seconds, _settle, fut, False)
        try:
            return await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled() and fut.result():
                self._release()  # handed a place just as the visitor went away
            raise
        finally:
            timer.cancel()

    def _release(self) -> None:
        # A place goes straight to the longest waiter, so that newcomers cannot overtake.
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(True)
                return
        self.inflight -= 1

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.backend(scope, receive, send)
            return
        if self.inflight < self.limit and not self._waiters:
            self.inflight += 1  # the usual case, without a coroutine for _acquire
        elif not await self._acquire():
            self.busy_total += 1
            if self.on_busy is not None:
                self.on_busy(self.room)
            await _busy(scope, send)
            return
        # The status for the breaker's count: from the caller's send when it keeps one
        # (a ForwardingSend, as the gate's is), so that the answer goes through one
        # layer, not two.
        relay = send if is_forwarding(send) else Relay(send)
        started = time.perf_counter()
        try:
            await self.backend(scope, receive, relay)
        finally:
            self._release()
            if self.outcomes is not None:
                self.outcomes.record(self.room, relay.status, time.perf_counter() - started)


def _settle(fut: asyncio.Future[bool], value: bool) -> None:
    if not fut.done():
        fut.set_result(value)


async def _busy(scope: Scope, send: Send) -> None:
    headers = [(b"content-type", b"text/html; charset=utf-8"),
               (b"retry-after", str(RETRY_AFTER_BUSY).encode()),
               (b"cache-control", b"no-store")]
    page = BUSY_PAGE
    if scope.get("method") == "GET":  # a form post is never resent by itself
        page = page.replace(b"<title>", f"<meta http-equiv=refresh content={RETRY_AFTER_BUSY}>"
                            "<title>".encode(), 1)
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": page})
