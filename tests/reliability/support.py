"""Shared pieces of the reliability suite: upstreams that count what reached them."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, Self

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

JSON = {"accept": "application/json"}
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]


def jar_header(jar: dict[str, str]) -> dict[str, bytes]:
    raw = "; ".join(f"{k}={v}" for k, v in jar.items())
    return {"cookie": raw.encode()} if jar else {}


class CountingUpstream:
    """An in-process upstream that counts requests, and those in flight at once."""

    def __init__(self, delay: float = 0.0, status: int = 200) -> None:
        self.delay = delay
        self.status = status
        self.hits: list[dict[str, Any]] = []
        self.inflight = 0
        self.max_inflight = 0

    def app(self) -> Starlette:
        async def any_path(request: Request) -> Response:
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
            try:
                self.hits.append({"method": request.method, "path": request.url.path,
                                  "admission": request.headers.get("sluis-admission")})
                if self.delay:
                    await asyncio.sleep(self.delay)
                return JSONResponse({"reached": "upstream", "path": request.url.path},
                                    status_code=self.status)
            finally:
                self.inflight -= 1

        return Starlette(routes=[Route("/{p:path}", any_path, methods=METHODS)])


class SocketUpstream:
    """A TCP listener on 127.0.0.1 that counts every connection made to it, whatever
    it carries, and answers 200. For gateways that run as real processes."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            with conn:
                conn.settimeout(self.read_timeout)
                try:
                    conn.recv(65536)
                    conn.sendall(self.answer())
                except OSError:
                    pass

    read_timeout = 0.5

    def answer(self) -> bytes:
        """The whole answer to any request (subclasses answer otherwise)."""
        return b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\nconnection: close\r\n\r\nupstream"

    @contextmanager
    def running(self) -> Iterator[Self]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(2)
            self.sock.close()


async def while_moving(work: Awaitable[object], progress: Callable[[], int], *,
                       stall_s: float = 60.0, limit_s: float = 240.0) -> None:
    """Awaits `work` for as long as `progress()` keeps changing: it fails once the count
    stood still for `stall_s`, or after `limit_s` at most. A busy machine makes a surge
    slower, not wrong; the test judges what happened, not how fast."""
    task = asyncio.ensure_future(work)
    started = moved = time.monotonic()
    seen = progress()
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=0.2)
            now = time.monotonic()
            if (count := progress()) != seen:
                seen, moved = count, now
            if task.done():
                break
            if now - moved > stall_s:
                raise AssertionError(f"no progress for {stall_s:.0f} s (stuck at {seen})")
            if now - started > limit_s:
                raise AssertionError(f"still moving after {limit_s:.0f} s (at {seen})")
    finally:
        if not task.done():
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
    task.result()


def raw_request(port: int, head: bytes, body: bytes = b"") -> bytes:
    """Send bytes as they are (no client tidies them) and read the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head + body)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)
