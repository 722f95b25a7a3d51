"""The gateway's HTTP server limits, so that it holds up with no balancer in front: how
long a request head may take, how long a request body may stall, how many connections
one process holds, and how large a request head may grow.

uvicorn's httptools protocol has none of these: a connection that never finishes its
head is held for ever, and httptools keeps an unterminated header line in memory,
however long it grows. GuardedHttpTools adds them to that protocol; `uvicorn_options`
gives uvicorn the settings that use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import time
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from gateway.settings import Settings

log = logging.getLogger("sluis.server")

# Twice what the gateway itself accepts in headers (gateway.http.MAX_HEADER_BYTES, 32 KB,
# plus a 16 KB target), so that a large but ordinary head still gets the gateway's own
# JSON 431; beyond it the connection is answered 431 here and closed.
MAX_HEAD_BYTES = 64 * 1024
# File descriptors kept free of visitors' connections: Redis and upstream pools, the
# listening socket, logs, Prometheus's files.
FD_RESERVE = 256
DEFAULT_MAX_CONNECTIONS = 10_000
# Seconds between two log lines that count the connections closed by these limits.
_TELL_EVERY = 60.0


def fd_limit() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def default_max_connections() -> int:
    """What one process can hold without running out of file descriptors."""
    return max(64, min(DEFAULT_MAX_CONNECTIONS, fd_limit() - FD_RESERVE))


@dataclass(frozen=True, slots=True)
class Limits:
    header_timeout_seconds: float = 10.0  # a whole request head; a gap in a body
    idle_timeout_seconds: int = 5         # between requests on a kept-alive connection
    max_connections: int = 0              # 0: default_max_connections()
    max_head_bytes: int = MAX_HEAD_BYTES

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(header_timeout_seconds=settings.header_timeout_seconds,
                   idle_timeout_seconds=settings.idle_timeout_seconds,
                   max_connections=settings.max_connections)

    @property
    def connections(self) -> int:
        return self.max_connections or default_max_connections()


@dataclass(frozen=True, slots=True)
class GuardedHttpTools:
    """uvicorn's `http` protocol factory: picklable, so that `--workers` processes get
    the same limits."""

    limits: Limits

    def __call__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> GuardedProtocol:
        return GuardedProtocol(config, server_state, app_state, _loop, limits=self.limits)


def uvicorn_options(limits: Limits) -> dict[str, Any]:
    """uvicorn.Config / uvicorn.run keyword arguments that apply `limits`."""
    fds = fd_limit()
    if limits.connections > fds - FD_RESERVE:
        log.warning("max connections near the file descriptor limit",
                    extra={"max_connections": limits.connections, "fd_limit": fds})
    return {"http": GuardedHttpTools(limits), "timeout_keep_alive": limits.idle_timeout_seconds}


def options_for(app: Any) -> dict[str, Any]:
    """The same for an app built by gateway.app.create_app, which keeps its Settings in
    its state; other apps (the booking engine) get the default limits."""
    settings = getattr(getattr(app, "state", None), "settings", None)
    return uvicorn_options(Limits.of(settings) if isinstance(settings, Settings) else Limits())


class Guard:
    """One server's shared view: the connections waiting on their visitor (for the rest
    of a head, or of a body), oldest first."""

    def __init__(self, limits: Limits, loop: asyncio.AbstractEventLoop) -> None:
        self.limits = limits
        self.max_connections = limits.connections
        self.timeout = limits.header_timeout_seconds
        self.loop = loop
        # Every deadline is "last heard of + timeout": insertion order is deadline order.
        self.waiting: dict[GuardedProtocol, float] = {}
        self._timer: asyncio.TimerHandle | None = None
        self.closed: dict[str, int] = {}
        self._told = float("-inf")

    def wait(self, conn: GuardedProtocol) -> None:
        """`conn` waits on its visitor from now on (again: to the back of the line)."""
        self.waiting.pop(conn, None)
        deadline = self.loop.time() + self.timeout
        self.waiting[conn] = deadline
        conn.in_line = True
        if self._timer is None:
            self._timer = self.loop.call_at(deadline, self._sweep)

    def done(self, conn: GuardedProtocol) -> None:
        self.waiting.pop(conn, None)
        conn.in_line = False

    def _sweep(self) -> None:
        self._timer = None
        now = self.loop.time()
        while self.waiting:
            conn, deadline = next(iter(self.waiting.items()))
            if deadline > now:
                self._timer = self.loop.call_at(deadline, self._sweep)
                break
            self.done(conn)
            conn.too_slow()
        self._tell()

    def make_room(self, connections: Iterable[object]) -> bool:
        """At the cap: close the connection that has waited longest on its visitor, else
        an idle kept-alive one. False when every connection is busy with a request."""
        if self.waiting:
            conn = next(iter(self.waiting))
            self.done(conn)
            self.count("evicted_waiting")
            conn.close_now()
            return True
        # Only at the cap, and only when nobody is waiting on a visitor: a scan is cheaper
        # than keeping a line of idle connections on every request's path.
        for other in connections:
            if isinstance(other, GuardedProtocol) and other.idle():
                self.count("evicted_idle")
                other.close_now()
                return True
        return False

    def count(self, reason: str) -> None:
        self.closed[reason] = self.closed.get(reason, 0) + 1

    def _tell(self) -> None:
        """Once a minute at most, a count of what the limits closed (never a line each:
        an attack would flood the log)."""
        if self.closed and time.monotonic() - self._told >= _TELL_EVERY:
            log.warning("connections closed by the server limits", extra={
                "closed": dict(self.closed), "waiting": len(self.waiting)})
            self.closed.clear()
            self._told = time.monotonic()


_guards: weakref.WeakKeyDictionary[ServerState, Guard] = weakref.WeakKeyDictionary()


def _guard(server_state: ServerState, limits: Limits, loop: asyncio.AbstractEventLoop
           ) -> Guard:
    guard = _guards.get(server_state)
    if guard is None:
        guard = _guards[server_state] = Guard(limits, loop)
    return guard


def _answer(status: bytes) -> bytes:
    return (b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: 0\r\nconnection: close\r\n\r\n")


TOO_MANY = _answer(b"503 Service Unavailable\r\nretry-after: 1")
TOO_LARGE = _answer(b"431 Request Header Fields Too Large")
TOO_SLOW = _answer(b"408 Request Timeout")


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a deadline for each request head, a limit to a
    body's silences, a head-size cap and a connection cap.

    On the hot path (a whole request in one read) it adds one method and a few attribute
    reads: what the parser has finished is read from uvicorn's own state after each read
    (a head in progress has a scope that no request cycle has taken yet; a body still
    due leaves its cycle's `more_body` set), and a connection enters the guard's line
    only while it owes the gateway part of a request."""

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None, *,
                 limits: Limits = Limits()) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.guard = _guard(server_state, limits, self.loop)
        self.in_line = False
        self.head_bytes = 0
        self.upgraded = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        guard = self.guard
        if len(self.connections) > guard.max_connections and not guard.make_room(
                self.connections):
            guard.count("refused")
            transport.write(TOO_MANY)
            transport.close()
            return
        guard.wait(self)  # the first head is due within the timeout of connecting

    def connection_lost(self, exc: Exception | None) -> None:
        if self.in_line:
            self.guard.done(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        cycle = self.cycle
        if cycle is None or cycle.scope is not self.scope:  # a head not yet complete
            if self.upgraded:
                return
            self.head_bytes += len(data)
            if self.head_bytes > self.guard.limits.max_head_bytes:
                self.guard.count("head_too_large")
                self.refuse(TOO_LARGE)
            elif not self.in_line:
                self.guard.wait(self)
            return
        self.head_bytes = 0
        if cycle.more_body:
            self.guard.wait(self)  # a body is due to keep coming: the timeout starts again
        elif self.in_line:
            self.guard.done(self)

    def handle_websocket_upgrade(self) -> None:
        # The connection becomes a websocket's, with its own pings and timeouts.
        self.upgraded = True
        if self.in_line:
            self.guard.done(self)
        super().handle_websocket_upgrade()

    def idle(self) -> bool:
        """Kept alive, between requests."""
        return self.timeout_keep_alive_task is not None and not self.in_line

    def too_slow(self) -> None:
        """The deadline passed with the visitor still owing part of a request."""
        if self.transport.is_closing():
            return
        cycle = self.cycle
        head_due = cycle is None or cycle.scope is not self.scope
        if not head_due and (self.flow.read_paused or cycle.waiting_for_100_continue):
            self.guard.wait(self)  # the gateway, not the visitor, holds the body back
            return
        self.guard.count("head_too_slow" if head_due else "body_stalled")
        if head_due and self.head_bytes and (cycle is None or cycle.response_complete):
            self.refuse(TOO_SLOW)
        else:
            self.close_now()

    def refuse(self, answer: bytes) -> None:
        if self.in_line:
            self.guard.done(self)
        if not self.transport.is_closing():
            self.transport.write(answer)
            self.transport.close()

    def close_now(self) -> None:
        if self.in_line:
            self.guard.done(self)
        if not self.transport.is_closing():
            self.transport.close()


@contextlib.contextmanager
def redis_for(settings: Settings) -> Iterator[Settings]:
    """Settings with a Redis URL: the configured one, a running embedded one, or a new one."""
    if settings.redis_url:
        yield settings
        return
    from dataclasses import replace

    from gateway.store.embedded import EmbeddedRedis, running_url

    url = running_url(settings.data_dir / "redis")
    if url:
        yield replace(settings, redis_url=url)
        return
    with EmbeddedRedis(settings.data_dir / "redis") as server:
        yield replace(settings, redis_url=server.url)


def uvicorn_config(app: Any, host: str, port: int, **kw: Any) -> Any:
    """uvicorn's settings for any of Sluis's servers (gateway, booking engine, demo)."""
    import uvicorn

    # httptools with the gateway's own limits (header and idle timeouts, connection and
    # head-size caps): gateway/server.py.
    return uvicorn.Config(app, host=host, port=port, loop="uvloop", access_log=False,
                          log_config=None, lifespan="on", proxy_headers=False,
                          server_header=False, timeout_graceful_shutdown=10,
                          **{**options_for(app), **kw})
