"""A keep-alive HTTP/1.1 connection pool to one upstream origin, built for the proxy path.

httpx's pool asked every pooled connection whether it had expired on every request
(through anyio, a few µs each) and built Request/Response objects the proxy only
took apart again: a few hundred requests a second on one core. Here a connection is
an asyncio Protocol with llhttp (httptools) parsing, headers stay the ASGI byte pairs
they arrive as, and a closed connection marks itself, so taking one from the pool is
a pop from a deque. Bodies stream both ways with flow control, so memory stays flat.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httptools

Headers = list[tuple[bytes, bytes]]

# Upstream bytes held per response before reading from the socket pauses.
HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024
# How often waits on the upstream are checked against their deadline: a timeout fires
# up to this much late.
WATCHDOG_SECONDS = 0.25


class UpstreamError(Exception):
    """The upstream could not be reached or broke off the answer."""


class UpstreamTimeout(UpstreamError):
    """The upstream took longer than the room's timeout."""


class _Stale(UpstreamError):
    """A pooled connection the upstream had closed before it answered: safe to retry."""


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str
    port: int
    netloc: bytes = b""  # host[:port] as in a Host header, filled in by `of`

    @classmethod
    def of(cls, scheme: str, host: str, port: int) -> Origin:
        default = 443 if scheme == "https" else 80
        netloc = (host if port == default else f"{host}:{port}").encode()
        return cls(scheme, host, port, netloc)


class Connection(asyncio.Protocol):
    """One upstream connection: one request at a time, reused while both sides agree."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.used = 0
        self.idle_since = 0.0
        self._parser: httptools.HttpResponseParser | None = None
        self._head: asyncio.Future[None] | None = None  # None while idle in the pool
        self._waiter: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None
        self._error: BaseException | None = None
        self._head_only = False
        self._received = False
        self.status = 0
        self.headers: Headers = []
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._reading_paused = False
        self.done = False
        self.keep_alive = False
        self.deadline = float("inf")

    # -- asyncio.Protocol ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.done and self._head is not None:
            self._fail(exc or UpstreamError("upstream closed the connection"))
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if parser is None or self._head is None or self.done:
            # Bytes nobody asked for: this connection cannot be trusted.
            self.close()
            return
        self._received = True
        try:
            parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamError(f"bad answer from upstream: {exc}"))
            self.close()

    def pause_writing(self) -> None:
        if self._drain is None or self._drain.done():
            self._drain = self.loop.create_future()

    def resume_writing(self) -> None:
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    # -- httptools callbacks ------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (100 Continue): the real one follows
            self.headers = []
            return
        self.status = status
        if self._head_only:
            self.keep_alive = self._parser.should_keep_alive()
            self.done = True
        if self._head is not None and not self._head.done():
            self._head.set_result(None)

    def on_body(self, body: bytes) -> None:
        if self._head_only:
            return
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > HIGH_WATER and not self._reading_paused and self.transport:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self.status == 0:
            return  # the end of an interim answer
        # Asked here: llhttp forgets the message's flags once this callback returns.
        assert self._parser is not None
        self.keep_alive = self._parser.should_keep_alive()
        self.done = True
        self._wake()

    # -- used by the pool and the proxy -------------------------------------------------

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        self._error = exc
        if self._head is not None and not self._head.done():
            stale = self.used > 0 and not self._received
            self._head.set_exception(_Stale(str(exc)) if stale else UpstreamError(str(exc)))
        self._wake()

    def expire(self, now: float) -> None:
        """Called by the pool's watchdog: fail a wait that ran past its deadline."""
        for fut in (self._head, self._waiter):
            if fut is not None and not fut.done() and now > self.deadline:
                fut.set_exception(UpstreamTimeout("upstream did not answer in time"))

    def _until(self, fut: asyncio.Future[None], wait_s: float) -> asyncio.Future[None]:
        """`fut`, to be awaited, failed by the pool's watchdog after `wait_s` (one watchdog
        per pool checks deadlines, instead of a timer per wait)."""
        self.deadline = self.loop.time() + wait_s
        return fut

    def start(self, head_only: bool) -> None:
        if self._parser is None:
            # llhttp starts over by itself after each answer on a kept-alive connection.
            self._parser = httptools.HttpResponseParser(self)
        self._head = self.loop.create_future()
        self._head_only = head_only
        self._received = False
        self._error = None
        self.status = 0
        self.headers = []
        self.done = False
        self.keep_alive = False

    def put(self, data: bytes) -> None:
        """Writes without waiting for the transport's buffer to drain (see `write`)."""
        if self.closed or self.transport is None:
            stale = self.used > 0 and not self._received
            raise (_Stale if stale else UpstreamError)("upstream closed the connection")
        self.transport.write(data)

    async def write(self, data: bytes) -> None:
        self.put(data)
        if self._drain is not None and not self._drain.done():
            await self._drain

    def response_head(self, wait_s: float) -> asyncio.Future[None]:
        """Awaited: the answer's status and headers are here."""
        assert self._head is not None
        return self._until(self._head, wait_s)

    async def chunk(self, wait_s: float) -> bytes | None:
        """The next piece of the body, or None when the answer is complete."""
        while True:
            if self._chunks:
                data = self._chunks.popleft()
                self._buffered -= len(data)
                if self._reading_paused and self._buffered < LOW_WATER and self.transport:
                    self._reading_paused = False
                    self.transport.resume_reading()
                return data
            if self.done:
                return None
            if self._error is not None:
                raise UpstreamError(str(self._error))
            self._waiter = self.loop.create_future()
            await self._until(self._waiter, wait_s)
            self._waiter = None

    def whole_body(self) -> bytes | None:
        """The rest of the body in one piece when the answer is complete and all of it is
        here (the common small answer; never more than about HIGH_WATER bytes), else None."""
        if not self.done:
            return None
        chunks = self._chunks
        if not chunks:
            return b""
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._buffered = 0
        if self._reading_paused and self.transport:
            self._reading_paused = False
            self.transport.resume_reading()
        return body

    def reusable(self) -> bool:
        # After a HEAD the parser still expects the body the headers announced: not reused.
        return (self.done and self.keep_alive and not self.closed and not self._chunks
                and not self._head_only)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Pool:
    """Idle keep-alive connections to one origin, the most recently used first."""

    def __init__(self, origin: Origin, *, connect_timeout: float, max_idle: int,
                 idle_seconds: float = 4.0, ssl_context: ssl.SSLContext | None = None) -> None:
        self.origin = origin
        self.connect_timeout = connect_timeout
        self.max_idle = max_idle
        # Below the 5 s keep-alive of uvicorn, nginx's 75 s and most others: a connection
        # the upstream is about to drop is not picked.
        self.idle_seconds = idle_seconds
        self.ssl = ssl_context if origin.scheme == "https" else None
        if origin.scheme == "https" and self.ssl is None:
            self.ssl = ssl.create_default_context()
        self._idle: collections.deque[Connection] = collections.deque()
        self._busy: set[Connection] = set()
        self._watchdog: asyncio.Task[None] | None = None
        self.opened = 0

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(WATCHDOG_SECONDS)
            now = loop.time()
            for conn in list(self._busy):
                conn.expire(now)

    async def acquire(self) -> Connection:
        return self.take() or await self.connect()

    def take(self) -> Connection | None:
        """An idle connection that is still fresh, or None."""
        idle = self._idle
        if not idle:
            return None
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < self.idle_seconds:
                self._busy.add(conn)
                return conn
            conn.close()
        return None

    async def connect(self) -> Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(
                    lambda: Connection(loop), self.origin.host, self.origin.port, ssl=self.ssl,
                    server_hostname=self.origin.host if self.ssl else None)
        except TimeoutError:
            raise UpstreamTimeout("connecting to the upstream timed out") from None
        except OSError as exc:
            raise UpstreamError(f"cannot connect to the upstream: {exc}") from exc
        self.opened += 1
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.create_task(self._watch())
        self._busy.add(conn)
        return conn

    def release(self, conn: Connection) -> None:
        self._busy.discard(conn)
        if conn.reusable() and len(self._idle) < self.max_idle:
            conn.used += 1
            conn.idle_since = time.monotonic()
            conn._head = None
            self._idle.append(conn)
        else:
            conn.close()

    def discard(self, conn: Connection) -> None:
        self._busy.discard(conn)
        conn.close()

    def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        while self._idle:
            self._idle.pop().close()


async def send_request(pool: Pool, head: bytes, body: AsyncIterator[bytes] | None, *,
                       chunked: bool, head_only: bool, read_timeout: float) -> Connection:
    """Send one request and wait for the answer's head; the body is read from the
    connection. A pooled connection that turns out closed is retried once on a new
    one, but only for a request without a body (a streamed body cannot be replayed)."""
    conn = pool.take()
    for attempt in range(2):
        if conn is None:
            conn = await pool.connect()
        conn.start(head_only)
        try:
            if body is None:
                conn.put(head)
            else:
                await conn.write(head)
                async for piece in body:
                    if piece:
                        await conn.write(b"%x\r\n%b\r\n" % (len(piece), piece)
                                         if chunked else piece)
                if chunked:
                    await conn.write(b"0\r\n\r\n")
            await conn.response_head(read_timeout)
            return conn
        except _Stale:
            pool.discard(conn)
            if body is not None or attempt == 1:
                raise
            conn = None
        except BaseException:
            pool.discard(conn)
            raise
    raise AssertionError("unreachable")
