"""The lean load generator: the visitors of `loadtests/locustfile.py` as asyncio
coroutines, thousands in one process, over a small pool of kept-alive HTTP/1.1
connections to 127.0.0.1.

Run through `python -m loadtests.run --generator lean` (one process per generator
CPU), which merges what the processes write into Locust's own CSV files so that the
report reads both generators alike. Each process plays the visitors whose index
modulo `--of` is its `--index`, along the same arrival curve (`loadtests.opening`)
and with the same kinds in the same proportions as the locustfile (parents 80,
abandoners 5, refreshers 6, tab hoarders 4, bots 5; one operator in process 0), or
parents alone with `--mix parents`.

What a visitor does, and the JSON line it writes, are the locustfile's: a parent
arrives (the first answer hands out the visitor cookie), joins with the cookie, asks
`/_sluis/status` again after `poll_after_seconds`, and once admitted registers one
child through the engine's JSON API, with its own address in `X-Forwarded-For`.

Its own errors are counted by kind (`connect`, `timeout`, `disconnected`, `HTTP 5xx`,
`HTTP 4xx`, `bad answer`), beside how late it started visitors against the curve and
how long requests waited for a pooled connection: the time a request waits in the
generator is in the client's latency, so the two say whether the generator kept up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import string
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from gateway.lottery import ticket
from harness.processes import kill_all, log_lines
from loadtests.opening import Opening, add_curve_options

STATUS = "/_sluis/status?room={room}"
JOIN_PATH = "/api/activities"
JSON = "application/json"
HTML = "text/html"
WAITING = ("prequeue", "queued", "paused")
# The locustfile's weights, in its classes' order.
KINDS = (("parent", 80), ("abandoner", 5), ("refresher", 6), ("tabhoarder", 4), ("bot", 5))
REQUEST_TIMEOUT = 30.0  # as the locustfile's network_timeout
IDLE_REUSE_SECONDS = 4.0  # the gateway closes a connection idle for 5 s
FORGED = "eyJyIjoiem9tZXJrYW1wZW4ifQ.forged.signature"


# -- the plan: who arrives when ---------------------------------------------------------


def kinds(n: int, mix: str = "all") -> Iterator[str]:
    """The kind of each of `n` visitors, interleaved so that every prefix keeps the
    proportions (largest deficit first)."""
    if mix == "parents":
        for _ in range(n):
            yield "parent"
        return
    total = sum(w for _, w in KINDS)
    given = dict.fromkeys((k for k, _ in KINDS), 0)
    for i in range(n):
        kind = max(KINDS, key=lambda kw: kw[1] * (i + 1) / total - given[kw[0]])[0]
        given[kind] += 1
        yield kind


def arrivals(opening: Opening) -> list[float]:
    """Seconds from the start at which each visitor arrives: visitor i when the curve's
    count reaches i + 1, as the locustfile's shape starts its users."""
    out: list[float] = []
    start = 0.0
    for seg in opening.segments():
        out += [start + (j + 1) * seg.seconds / seg.count for j in range(seg.count)]
        start += seg.seconds
    return out[: opening.visitors]


# -- a minimal HTTP/1.1 client ------------------------------------------------------------


class Failed(Exception):
    """A request without an answer; `kind` is how it failed."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


class Answer:
    __slots__ = ("body", "cookies", "status")

    def __init__(self, status: int, cookies: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.cookies = cookies  # (name, value) from Set-Cookie; value "" clears
        self.body = body

    def json(self) -> dict[str, Any] | None:
        try:
            data = orjson.loads(self.body or b"null")
        except orjson.JSONDecodeError:
            return None
        return data if isinstance(data, dict) else None


class Connection(asyncio.Protocol):
    """One kept-alive connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[Answer] | None = None
        self.closed = False
        self.used_at = 0.0
        self.served = 0
        self._reset()

    def _reset(self) -> None:
        self.head_end = -1
        self.status = 0
        self.length: int | None = None
        self.chunked = False
        self.close_after = False
        self.cookies: list[tuple[str, str]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            if self.head_end >= 0 and self.length is None and not self.chunked:
                # An answer delimited by the end of the connection.
                waiter.set_result(Answer(self.status, self.cookies,
                                         bytes(self.buf[self.head_end:])))
            else:
                waiter.set_exception(Failed("disconnected", "before a whole answer"
                                            if self.buf else "before any answer"))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.waiter is not None:
            self._parse()

    def send(self, data: bytes) -> asyncio.Future[Answer]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _parse(self) -> None:
        buf = self.buf
        if self.head_end < 0:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
            try:
                self.status = int(lines[0][9:12])
            except ValueError:
                self._fail("bad answer", lines[0][:60])
                return
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.lower()
                if name == "content-length":
                    self.length = int(value)
                elif name == "transfer-encoding":
                    self.chunked = "chunked" in value.lower()
                elif name == "connection":
                    self.close_after = "close" in value.lower()
                elif name == "set-cookie":
                    pair = value.strip().split(";", 1)[0]
                    key, _, val = pair.partition("=")
                    self.cookies.append((key.strip(), val.strip()))
            self.head_end = end + 4
            if self.length is None and not self.chunked and self.status in (204, 304):
                self.length = 0
        if self.length is not None:
            stop = self.head_end + self.length
            if len(buf) < stop:
                return
            body = bytes(buf[self.head_end:stop])
        elif self.chunked:
            parsed = _chunks(buf, self.head_end)
            if parsed is None:
                return
            body, stop = parsed
        else:
            return  # until the connection closes
        del buf[:stop]
        answer = Answer(self.status, self.cookies, body)
        close_after = self.close_after
        waiter = self.waiter
        self.waiter = None
        self._reset()
        self.served += 1
        if close_after:
            self.close()
        if waiter is not None and not waiter.done():
            waiter.set_result(answer)

    def _fail(self, kind: str, detail: str) -> None:
        waiter = self.waiter
        self.waiter = None
        self.close()
        if waiter is not None and not waiter.done():
            waiter.set_exception(Failed(kind, detail))


def _chunks(buf: bytearray, at: int) -> tuple[bytes, int] | None:
    """A whole chunked body from `at`: (body, the index after it), or None if not yet."""
    parts: list[bytes] = []
    while True:
        eol = buf.find(b"\r\n", at)
        if eol < 0:
            return None
        size = int(bytes(buf[at:eol]).split(b";", 1)[0], 16)
        if size == 0:
            end = buf.find(b"\r\n\r\n", eol)  # no trailers from these servers
            if end < 0:
                return None
            return b"".join(parts), end + 4
        start = eol + 2
        if len(buf) < start + size + 2:
            return None
        parts.append(bytes(buf[start:start + size]))
        at = start + size + 2


class Pool:
    """At most `size` connections to one address, the most recently used first; a
    connection idle for longer than the server keeps it is not reused. `size` 0: a new
    connection for every request, closed after it (as a browser that polls every 5 s
    or more finds the gateway has closed the last one)."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self.host, self.port, self.size = host, port, size
        self.idle: list[Connection] = []
        self.open = 0
        self.waiters: deque[asyncio.Future[Connection | None]] = deque()

    async def acquire(self) -> Connection:
        loop = asyncio.get_running_loop()
        if self.size:
            now = loop.time()
            while self.idle:
                conn = self.idle.pop()
                if not conn.closed and now - conn.used_at < IDLE_REUSE_SECONDS:
                    return conn
                conn.close()
                self.open -= 1
            if self.open >= self.size:
                fut: asyncio.Future[Connection | None] = loop.create_future()
                self.waiters.append(fut)
                try:
                    given = await fut
                except asyncio.CancelledError:
                    if fut.done() and not fut.cancelled():
                        given = fut.result()
                        if given is None:
                            self._slot_freed()
                        else:
                            self.release(given, True)
                    raise
                if given is not None:
                    return given
                # A slot freed by a closed connection: open one in its place.
            else:
                self.open += 1
        try:
            _, conn = await loop.create_connection(Connection, self.host, self.port)
        except OSError as exc:
            self._slot_freed()
            raise Failed("connect", type(exc).__name__) from None
        except BaseException:  # cancelled (a timeout) while connecting
            self._slot_freed()
            raise
        return conn

    def release(self, conn: Connection | None, reusable: bool) -> None:
        """Gives a connection back (None: none was taken, nothing to give)."""
        if conn is None:
            return
        if not self.size:
            conn.close()
            return
        if reusable and not conn.closed:
            conn.used_at = asyncio.get_running_loop().time()
            while self.waiters:
                w = self.waiters.popleft()
                if not w.done():
                    w.set_result(conn)
                    return
            self.idle.append(conn)
            return
        conn.close()
        self._slot_freed()

    def _slot_freed(self) -> None:
        if not self.size:
            return
        while self.waiters:
            w = self.waiters.popleft()
            if not w.done():
                w.set_result(None)  # the waiter opens a connection in this slot
                return
        self.open -= 1

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


# -- what the process counts ----------------------------------------------------------------


def bucket(ms: float) -> int:
    """Locust's rounding of response times: exact under 100 ms, then 2 significant
    digits, so percentiles come from a small table."""
    if ms < 100:
        return round(ms)
    if ms < 1000:
        return int(round(ms, -1))
    if ms < 10000:
        return int(round(ms, -2))
    return int(round(ms, -3))


class Stat:
    __slots__ = ("bytes", "failures", "hist", "max_ms", "method", "min_ms", "requests",
                 "total_ms")

    def __init__(self, method: str) -> None:
        self.method = method
        self.requests = self.failures = self.bytes = 0
        self.total_ms = 0.0
        self.min_ms = float("inf")
        self.max_ms = 0.0
        self.hist: dict[int, int] = {}

    def as_json(self) -> dict[str, Any]:
        return {"method": self.method, "requests": self.requests, "failures": self.failures,
                "bytes": self.bytes, "total_ms": round(self.total_ms, 1),
                "min_ms": None if self.requests == 0 else round(self.min_ms, 1),
                "max_ms": round(self.max_ms, 1), "hist": self.hist}


class Stats:
    """Per request name: counts and a histogram of response times; per second: the
    history Locust's CSV files keep; failures by name and error; errors by kind."""

    def __init__(self) -> None:
        self.names: dict[str, Stat] = {}
        self.failures: dict[tuple[str, str, str], int] = {}
        self.errors: dict[str, int] = {}
        self.users = 0
        self.history: list[dict[str, Any]] = []
        # Response times of the last seconds, for the "current" percentiles of history.
        self.second: dict[str, dict[int, int]] = {}
        self.window: deque[dict[str, dict[int, int]]] = deque(maxlen=10)
        self.pool_wait: dict[int, int] = {}
        self.lag_max = 0.0
        self.retried = 0

    def record(self, name: str, method: str, ms: float, size: int,
               failure: tuple[str, str] | None = None) -> None:
        stat = self.names.get(name)
        if stat is None:
            stat = self.names[name] = Stat(method)
        stat.requests += 1
        stat.bytes += size
        stat.total_ms += ms
        if ms < stat.min_ms:
            stat.min_ms = ms
        if ms > stat.max_ms:
            stat.max_ms = ms
        b = bucket(ms)
        stat.hist[b] = stat.hist.get(b, 0) + 1
        for key in (name, "Aggregated"):
            h = self.second.get(key)
            if h is None:
                h = self.second[key] = {}
            h[b] = h.get(b, 0) + 1
        if failure is not None:
            kind, error = failure
            stat.failures += 1
            k = (method, name, error)
            self.failures[k] = self.failures.get(k, 0) + 1
            self.errors[kind] = self.errors.get(kind, 0) + 1

    def tick(self, now: float) -> None:
        """One history row a second: cumulative counts and the last 10 s's times."""
        self.window.append(self.second)
        self.second = {}
        row: dict[str, Any] = {"t": round(now, 3), "users": self.users}
        totals = {"requests": 0, "failures": 0}
        for name, stat in self.names.items():
            totals["requests"] += stat.requests
            totals["failures"] += stat.failures
            if name == "status":
                row["status"] = [stat.requests, stat.failures]
        row["total"] = [totals["requests"], totals["failures"]]
        for key in ("status", "Aggregated"):
            merged: dict[int, int] = {}
            for sec in self.window:
                for b, n in sec.get(key, {}).items():
                    merged[b] = merged.get(b, 0) + n
            row[f"window_{key}"] = merged
        self.history.append(row)

    def as_json(self) -> dict[str, Any]:
        return {"users": self.users,
                "names": {n: s.as_json() for n, s in self.names.items()},
                "failures": [[m, n, e, c] for (m, n, e), c in self.failures.items()],
                "errors": self.errors, "history": self.history,
                "pool_wait_ms": self.pool_wait, "lag_max_seconds": round(self.lag_max, 3),
                "stale_connection_retries": self.retried}


# -- the generator ------------------------------------------------------------------------


def _address() -> str:
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def _name() -> str:
    return random.choice(string.ascii_uppercase) + "".join(
        random.choices(string.ascii_lowercase, k=random.randint(5, 9)))


class Generator:
    def __init__(self, options: argparse.Namespace) -> None:
        self.o = options
        host, _, port = options.host.removeprefix("http://").rstrip("/").partition(":")
        if host not in ("127.0.0.1", "localhost"):
            raise SystemExit("the lean generator loads 127.0.0.1 only")
        self.host_header = f"{host}:{port or 80}"
        self.pool = Pool("127.0.0.1", int(port or 80), options.connections)
        self.room = options.room
        self.register_after = options.register != "false"
        self.scarce = options.scarce == "true"
        self.stats = Stats()
        self.records: list[dict[str, Any]] = []
        self.breaches: list[str] = []
        self.tokens: list[str] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.stop = asyncio.Event()
        self.status_path = STATUS.format(room=self.room)

    # -- one request --------------------------------------------------------------------

    async def call(self, name: str, method: str, path: str, accept: str, address: str | None,
                   cookie: str = "", extra: str = "", body: bytes = b"",
                   judge: Callable[[Answer], str | None] | None = None) -> Answer | None:
        """Sends one request and records it under `name`. A failure is a request without
        an answer, a status of 400 or more, or what `judge` says; None without an answer."""
        head = f"{method} {path} HTTP/1.1\r\nhost: {self.host_header}\r\naccept: {accept}\r\n"
        if address:
            head += f"x-forwarded-for: {address}\r\n"
        if cookie:
            head += f"cookie: {cookie}\r\n"
        if extra:
            head += extra
        if body or method in ("POST", "PATCH"):
            head += f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
        if not self.pool.size:
            head += "connection: close\r\n"
        data = head.encode("latin-1") + b"\r\n" + body
        loop = asyncio.get_running_loop()
        started = loop.time()
        answer: Answer | None = None
        failure: tuple[str, str] | None = None
        for attempt in (1, 2):
            conn: Connection | None = None
            reused = False
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    conn = await self.pool.acquire()
                    got = loop.time()
                    if attempt == 1:
                        w = bucket((got - started) * 1000)
                        self.stats.pool_wait[w] = self.stats.pool_wait.get(w, 0) + 1
                    reused = conn.served > 0
                    answer = await conn.send(data)
                self.pool.release(conn, True)
                break
            except Failed as exc:
                self.pool.release(conn, False)
                # A kept-alive connection the server closed as it was taken: once more on
                # a fresh one, for a question that is safe to ask again.
                if (attempt == 1 and exc.kind == "disconnected" and conn is not None and reused
                        and method == "GET"):
                    self.stats.retried += 1
                    continue
                failure = (exc.kind, str(exc))
            except TimeoutError:
                self.pool.release(conn, False)
                failure = ("timeout", f"no answer within {REQUEST_TIMEOUT:g} s")
            except OSError as exc:
                self.pool.release(conn, False)
                failure = ("disconnected", type(exc).__name__)
            except asyncio.CancelledError:
                self.pool.release(conn, False)
                raise
            break
        ms = (loop.time() - started) * 1000
        if answer is None:
            self.stats.record(name, method, ms, 0, failure)
            return None
        why = judge(answer) if judge is not None else (
            f"HTTP {answer.status}" if answer.status >= 400 else None)
        if why is not None:
            kind = (f"HTTP {answer.status // 100}xx" if why.startswith("HTTP ")
                    or answer.status >= 400 else "bad answer")
            failure = (kind, why)
        self.stats.record(name, method, ms, len(answer.body), failure)
        return answer

    # -- running ------------------------------------------------------------------------

    async def run(self) -> None:
        o = self.o
        opening = Opening(visitors=o.visitors, prequeue_seconds=o.prequeue_seconds,
                          prequeue_share=o.prequeue_share, spike_seconds=o.spike_seconds,
                          spike_share=o.spike_share, tail_seconds=o.tail_seconds,
                          drain_seconds=o.drain_seconds)
        start = o.start_at or time.time()
        end = start + opening.duration
        if o.stop_at:
            end = min(end, o.stop_at)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop.set)
        plan = [(at, kind) for i, (at, kind) in enumerate(zip(arrivals(opening),
                                                                 kinds(o.visitors, o.mix),
                                                                 strict=True))
                if i % o.of == o.index]
        writer = loop.create_task(self.keep_writing())
        if o.index == 0:
            self.spawn(Operator(self, start).play())
        spawner = loop.create_task(self.spawn_along(plan, start))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), max(0.0, end - time.time()))
        spawner.cancel()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(spawner, *self.tasks, return_exceptions=True)
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
        self.stats.tick(time.time())
        self.pool.close()
        self.write_records()
        self.write_stats(done=True)

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(self.guarded(coro))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        self.stats.users += 1

    async def guarded(self, coro: Any) -> None:
        """A visitor's play; a mistake of the generator's own is counted and told once."""
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            kind = "generator exception"
            if kind not in self.stats.errors:
                import traceback

                traceback.print_exc()
            self.stats.errors[kind] = self.stats.errors.get(kind, 0) + 1

    async def spawn_along(self, plan: list[tuple[float, str]], start: float) -> None:
        plays: dict[str, type[Visitor] | type[Bot]] = {
            "parent": Parent, "abandoner": Abandoner, "refresher": Refresher,
            "tabhoarder": TabHoarder, "bot": Bot}
        for at, kind in plan:
            delay = start + at - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif -delay > self.stats.lag_max:
                self.stats.lag_max = -delay
            self.spawn(plays[kind](self).play())

    async def keep_writing(self) -> None:
        while True:
            await asyncio.sleep(1.0 - time.time() % 1.0)
            self.stats.tick(time.time())
            self.write_stats(done=False)

    def write_stats(self, done: bool) -> None:
        path = Path(self.o.stats)
        data = {"index": self.o.index, "of": self.o.of, "pid": os.getpid(), "done": done,
                "written_at": time.time(), **self.stats.as_json()}
        aside = path.with_suffix(".partial")
        aside.write_bytes(orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS))
        aside.replace(path)

    def write_records(self) -> None:
        if not self.o.records_dir:
            return
        path = Path(self.o.records_dir) / f"visitors-{os.getpid()}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")  # whole or not at all, as the locustfile
        with partial.open("wb") as fh:
            for record in self.records:
                fh.write(orjson.dumps(record) + b"\n")
            for breach in self.breaches:
                fh.write(orjson.dumps({"kind": "breach", "what": breach}) + b"\n")
        partial.replace(path)


class Visitor:
    """A parent, as the locustfile's Visitor: its own address and cookie jar."""

    kind = "parent"

    async def play(self) -> None:
        raise NotImplementedError

    def __init__(self, gen: Generator) -> None:
        self.gen = gen
        self.address = _address()
        self.jar: dict[str, str] = {}
        self.rec: dict[str, Any] = {"kind": self.kind, "polls": 0}
        gen.records.append(self.rec)
        self.registering = asyncio.Lock()

    def cookie(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.jar.items())

    def keep(self, answer: Answer) -> None:
        for name, value in answer.cookies:
            if value:
                self.jar[name] = value
            else:
                self.jar.pop(name, None)

    async def get(self, name: str, path: str, accept: str = JSON,
                  judge: Callable[[Answer], str | None] | None = None) -> Answer | None:
        answer = await self.gen.call(name, "GET", path, accept, self.address, self.cookie(),
                                     judge=judge)
        if answer is not None:
            self.keep(answer)
        return answer

    async def arrive(self) -> bool:
        def judge(a: Answer) -> str | None:
            body = a.json()
            if a.status != 200 or body is None or body.get("state") != "none":
                return f"arrival answered {a.status}"
            return None

        answer = await self.get("arrive", JOIN_PATH, judge=judge)
        if answer is None or judge(answer) is not None:
            self.rec["join_error"] = answer.status if answer is not None else 0
            return False
        return True

    async def join(self) -> dict[str, Any] | None:
        if not await self.arrive():
            return None
        rec = self.rec
        rec["join_sent"] = time.time()
        answer = await self.get("join", JOIN_PATH, judge=lambda a: (
            f"join answered {a.status}" if a.status != 200 or a.json() is None else None))
        rec["join_done"] = time.time()
        visitor = self.jar.get("sluis_visitor")
        if visitor:
            rec["ticket"] = ticket(visitor.rsplit(".", 1)[0])
        body = answer.json() if answer is not None else None
        if answer is None or answer.status != 200 or body is None:
            rec["join_error"] = answer.status if answer is not None else 0
            return None
        if "state" not in body:  # forwarded: admitted at once
            rec.update(join_state="admitted", admitted_at=rec["join_done"])
            self.keep_token()
            return body
        rec.update(join_state=body["state"], join_position=body.get("position"),
                   eta=body.get("eta_seconds"), eta_low=body.get("eta_low_seconds"),
                   eta_high=body.get("eta_high_seconds"))
        rec["last_waiting_at"] = rec["join_sent"]
        return body

    async def status(self) -> dict[str, Any] | None:
        sent = time.time()

        def judge(a: Answer) -> str | None:
            body = a.json()
            if a.status != 200 or body is None or "state" not in body:
                return f"status answered {a.status}"
            return None

        answer = await self.get("status", self.gen.status_path, judge=judge)
        seen = time.time()
        body = answer.json() if answer is not None else None
        if answer is None or answer.status != 200 or body is None or "state" not in body:
            return None
        self.observe(body, sent, seen)
        return body

    def observe(self, body: dict[str, Any], sent: float, seen: float) -> None:
        rec = self.rec
        rec["polls"] += 1
        state = body["state"]
        if state in WAITING:
            rec["last_waiting_at"] = max(sent, rec.get("last_waiting_at", 0.0))
            if state == "queued" and rec.get("drawn_position") is None and \
                    rec.get("join_state") == "prequeue":
                rec["drawn_position"] = body.get("position")
                rec["drawn_seen_at"] = seen
        elif state == "admitted" and "admitted_at" not in rec:
            rec["admitted_at"] = seen
            self.keep_token()

    def keep_token(self) -> None:
        token = self.jar.get("sluis_admission")
        if token and len(self.gen.tokens) < 200:
            self.gen.tokens.append(token)

    async def wait_for_turn(self, body: dict[str, Any] | None) -> bool:
        while "admitted_at" not in self.rec:
            await asyncio.sleep(float((body or {}).get("poll_after_seconds") or 5))
            body = await self.status()
            if body is not None and body["state"] in ("none", "closed"):
                self.rec["lost_place_at"] = time.time()
                return False
        return True

    async def register(self) -> None:
        if not self.gen.register_after:
            return
        async with self.registering:
            rec = self.rec
            if "registration_status" in rec:
                return
            rec["registration_status"] = "started"
            answer = await self.get("api/activities", JOIN_PATH)
            body = answer.json() if answer is not None else None
            if body is None or "activities" not in body:
                rec["registration_status"] = \
                    f"no_activities_{answer.status if answer is not None else 0}"
                return
            options = [(a, s) for a in body["activities"] for s in a["sessions"]
                       if s["available"] > 0]
            random.shuffle(options)
            if self.gen.scarce:
                options = sorted(options, key=lambda o: o[1]["available"])[:3]
                random.shuffle(options)
            if not options:
                rec["registration_status"] = "sold_out"
                return
            for activity, session in options[:5]:
                rule = activity["age_rule"]
                year = random.randint(rule["born_from_year"], rule["born_to_year"])
                born = f"{year}-0{random.randint(1, 9)}-1{random.randint(0, 9)}"
                payload = orjson.dumps({
                    "session_id": session["id"],
                    "child": {"first_name": _name(), "last_name": _name(), "birth_date": born},
                    "household": {"email": f"{_name().lower()}{random.randint(0, 10**9)}"
                                  "@example.be", "postcode": "9990"},
                    "confirm": True,
                })
                reg = await self.gen.call(
                    "api/registrations", "POST", "/api/registrations", JSON, self.address,
                    self.cookie(), body=payload, judge=lambda a: (
                        None if a.status in (201, 409) else
                        f"registration answered {a.status}"))
                if reg is None:
                    rec["registration_status"] = "error_0"
                    return
                self.keep(reg)
                if reg.status == 201:
                    answer_body = reg.json() or {}
                    rec.update(registration_status=answer_body.get("status"),
                               registration_id=answer_body.get("id"),
                               session_id=session["id"], registered_at=time.time())
                    return
                if reg.status == 409:  # full: a parent tries another session
                    rec["full_tries"] = rec.get("full_tries", 0) + 1
                    continue
                rec["registration_status"] = f"error_{reg.status}"
                return
            rec["registration_status"] = "full"


class Parent(Visitor):
    async def play(self) -> None:
        body = await self.join()
        if body is not None and ("admitted_at" in self.rec or await self.wait_for_turn(body)):
            await self.register()


class Abandoner(Visitor):
    kind = "abandoner"

    async def play(self) -> None:
        patience = random.uniform(20, 120)
        body = await self.join()
        deadline = time.time() + patience
        while body is not None and "admitted_at" not in self.rec and time.time() < deadline:
            await asyncio.sleep(float(body.get("poll_after_seconds") or 5))
            body = await self.status() or body
        if "admitted_at" in self.rec:
            await self.register()
        else:
            self.rec["abandoned_at"] = time.time()


class Refresher(Visitor):
    kind = "refresher"

    async def play(self) -> None:
        if await self.join() is None:
            return
        while "admitted_at" not in self.rec:
            await asyncio.sleep(random.uniform(2, 5))
            sent = time.time()
            answer = await self.get("reload", "/", HTML, judge=lambda a: (
                f"reload answered {a.status}" if a.status != 200 else None))
            seen = time.time()
            if answer is None or answer.status != 200:
                continue
            self.rec["polls"] += 1
            if "sluis_admission" in self.jar:
                self.rec["admitted_at"] = seen
            else:
                self.rec["last_waiting_at"] = sent
        await self.register()


class TabHoarder(Visitor):
    kind = "tabhoarder"

    async def play(self) -> None:
        body = await self.join()
        if body is None:
            return
        tabs = random.randint(3, 8)
        self.rec["tabs"] = tabs

        async def tab() -> None:
            if await self.wait_for_turn(body):
                await self.register()

        await asyncio.gather(*(tab() for _ in range(tabs)))


class Bot:
    """No cookies: mass joins from a few addresses, forged and replayed admission
    tokens. Nothing it sends may reach the booking engine."""

    def __init__(self, gen: Generator) -> None:
        self.gen = gen
        self.address = f"192.0.2.{random.randint(1, 4)}"
        gen.records.append({"kind": "bot"})

    def note_place(self, answer: Answer) -> dict[str, Any] | None:
        body = answer.json()
        if body is not None and body.get("state") in WAITING:
            self.gen.records.append({"kind": "silent", "join_sent": time.time(),
                                     "join_state": body["state"]})
        return body

    async def play(self) -> None:
        while True:
            task = random.choices((self.mass_join, self.forged_token, self.replayed_token),
                                  (6, 2, 2))[0]
            await task()
            await asyncio.sleep(0.5)

    async def mass_join(self) -> None:
        answer = await self.gen.call("bot join", "GET", JOIN_PATH, JSON, self.address,
                                     judge=_ok_or_limited)
        if answer is not None:
            self.note_place(answer)

    async def forged_token(self) -> None:
        await self.forged(FORGED, "bot forged token")

    async def replayed_token(self) -> None:
        if self.gen.tokens:
            await self.forged(random.choice(self.gen.tokens), "bot replayed token")

    async def forged(self, token: str, name: str) -> None:
        breach: list[bool] = []

        def judge(a: Answer) -> str | None:
            body = self.note_place(a)
            # Reaching the engine is fine only on an admission the gateway just issued
            # (an idle room lets a newcomer pass); never on the token itself.
            issued = any(k == "sluis_admission" and v for k, v in a.cookies)
            if body is not None and "activities" in body and not issued:
                breach.append(True)
                return "a forged or replayed token reached the booking engine"
            return _ok_or_limited(a)

        await self.gen.call(name, "GET", JOIN_PATH, JSON, self.address,
                            cookie=f"sluis_admission={token}", judge=judge)
        if breach:
            self.gen.breaches.append(f"{name} reached the booking engine")


def _ok_or_limited(a: Answer) -> str | None:
    return None if a.status in (200, 429) else f"HTTP {a.status}"


class Operator:
    """Watches the room every 5 s and changes the rate once, through the admin API."""

    def __init__(self, gen: Generator, started: float) -> None:
        self.gen = gen
        gen.records.append({"kind": "operator"})
        self.started = started
        token = os.environ.get("SLUIS_ADMIN_TOKEN", "")
        self.auth = f"authorization: Bearer {token}\r\n"
        at, _, rate = gen.o.rate_change.partition(":")
        self.change = (float(at), int(rate)) if rate else None

    async def play(self) -> None:
        path = f"/_sluis/admin/api/rooms/{self.gen.room}"
        while True:
            await self.gen.call("admin room", "GET", path, JSON, None, extra=self.auth)
            if self.change and time.time() - self.started >= self.change[0]:
                rate = self.change[1]
                self.change = None
                await self.gen.call("admin PATCH rate", "PATCH", path, JSON, None,
                                    extra=self.auth,
                                    body=orjson.dumps({"rate_per_minute": rate}))
            await asyncio.sleep(5)


# -- merging the processes' figures into Locust's CSV files -----------------------------


PERCENTILES = ("50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%",
               "100%")
STATS_COLUMNS = ["Type", "Name", "Request Count", "Failure Count", "Median Response Time",
                 "Average Response Time", "Min Response Time", "Max Response Time",
                 "Average Content Size", "Requests/s", "Failures/s", *PERCENTILES]
HISTORY_COLUMNS = ["Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s",
                   *PERCENTILES, "Total Request Count", "Total Failure Count"]


def hist_percentile(hist: dict[Any, int], p: float) -> float | None:
    """Locust's way: the smallest recorded time with at least p of the requests at or
    under it."""
    total = sum(hist.values())
    if not total:
        return None
    need = total * p
    seen = 0
    for ms in sorted(hist, key=float):
        seen += hist[ms]
        if seen >= need:
            return float(ms)
    return float(max(hist, key=float))


def read_snapshots(folder: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted(folder.glob("lean-*.json")):
        with contextlib.suppress(OSError, orjson.JSONDecodeError):
            out.append(orjson.loads(path.read_bytes()))
    return out


def merged(snapshots: list[dict[str, Any]]) -> dict[str, Any]:
    """The processes' figures as one: per name, failures, errors by kind, history by
    second (a process without a row for a second counts with its last)."""
    names: dict[str, dict[str, Any]] = {}
    failures: dict[tuple[str, str, str], int] = {}
    errors: dict[str, int] = {}
    pool_wait: dict[int, int] = {}
    for snap in snapshots:
        for name, s in snap["names"].items():
            m = names.setdefault(name, {"method": s["method"], "requests": 0, "failures": 0,
                                        "bytes": 0, "total_ms": 0.0, "min_ms": None,
                                        "max_ms": 0.0, "hist": {}})
            for k in ("requests", "failures", "bytes", "total_ms"):
                m[k] += s[k]
            if s["min_ms"] is not None:
                m["min_ms"] = s["min_ms"] if m["min_ms"] is None else min(m["min_ms"],
                                                                          s["min_ms"])
            m["max_ms"] = max(m["max_ms"], s["max_ms"])
            for b, n in s["hist"].items():
                m["hist"][int(b)] = m["hist"].get(int(b), 0) + n
        for method, name, error, count in snap["failures"]:
            failures[(method, name, error)] = failures.get((method, name, error), 0) + count
        for kind, n in snap["errors"].items():
            errors[kind] = errors.get(kind, 0) + n
        for b, n in snap.get("pool_wait_ms", {}).items():
            pool_wait[int(b)] = pool_wait.get(int(b), 0) + n
    seconds = sorted({round(r["t"]) for snap in snapshots for r in snap["history"]})
    history = []
    lasts: list[dict[str, Any] | None] = [None] * len(snapshots)
    by_second = [{round(r["t"]): r for r in snap["history"]} for snap in snapshots]
    for sec in seconds:
        rows = []
        for i, rows_of in enumerate(by_second):
            row = rows_of.get(sec)
            if row is not None:
                lasts[i] = row
                rows.append(row)
            elif (last := lasts[i]) is not None:
                rows.append({**last, "window_status": {}, "window_Aggregated": {}})
        windows: dict[str, dict[int, int]] = {"status": {}, "Aggregated": {}}
        for row in rows:
            for key, w in windows.items():
                for b, n in row[f"window_{key}"].items():
                    w[int(b)] = w.get(int(b), 0) + n
        history.append({
            "t": sec, "users": sum(r["users"] for r in rows),
            "total": [sum(r["total"][0] for r in rows), sum(r["total"][1] for r in rows)],
            "status": [sum(r.get("status", [0, 0])[0] for r in rows),
                       sum(r.get("status", [0, 0])[1] for r in rows)],
            "window": windows})
    return {"names": names, "failures": failures, "errors": errors, "history": history,
            "users": sum(s["users"] for s in snapshots), "pool_wait_ms": pool_wait,
            "lag_max_seconds": max((s["lag_max_seconds"] for s in snapshots), default=0.0),
            "stale_connection_retries": sum(s.get("stale_connection_retries", 0)
                                            for s in snapshots),
            "done": bool(snapshots) and all(s["done"] for s in snapshots)}


def latest(m: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The last history row as `loadtests.swarm.latest` gives Locust's, for the progress
    line."""
    if not m["history"]:
        return {}
    row = m["history"][-1]
    p99 = hist_percentile(row["window"]["status"], 0.99)
    return {"Aggregated": {"User Count": row["users"], "Total Request Count": row["total"][0],
                           "Total Failure Count": row["total"][1]},
            "status": {"99%": "N/A" if p99 is None else f"{p99:g}"}}


def write_locust_csv(m: dict[str, Any], prefix: Path, seconds: float) -> None:
    """`{prefix}_stats.csv`, `_stats_history.csv` and `_failures.csv` in Locust's
    columns, so that the report reads them as Locust's."""
    import csv

    def cells(hist: dict[Any, int]) -> list[Any]:
        return ["N/A" if (v := hist_percentile(hist, float(p[:-1]) / 100)) is None else v
                for p in PERCENTILES]

    with Path(f"{prefix}_stats.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(STATS_COLUMNS)
        total: dict[str, Any] = {"requests": 0, "failures": 0, "bytes": 0, "total_ms": 0.0,
                                 "hist": {}, "min_ms": None, "max_ms": 0.0}
        for name in sorted(m["names"]):
            s = m["names"][name]
            w.writerow(_stats_row(s["method"], name, s, seconds, cells))
            for k in ("requests", "failures", "bytes", "total_ms"):
                total[k] += s[k]
            for b, n in s["hist"].items():
                total["hist"][b] = total["hist"].get(b, 0) + n
            if s["min_ms"] is not None:
                total["min_ms"] = s["min_ms"] if total["min_ms"] is None else min(
                    total["min_ms"], s["min_ms"])
            total["max_ms"] = max(total["max_ms"], s["max_ms"])
        w.writerow(_stats_row("", "Aggregated", total, seconds, cells))
    with Path(f"{prefix}_stats_history.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HISTORY_COLUMNS)
        previous: dict[str, list[int]] = {}
        for row in m["history"]:
            for name, key in (("status", "status"), ("Aggregated", "total")):
                now = row[key]
                before = previous.get(name, [0, 0])
                previous[name] = now
                w.writerow([row["t"], row["users"], "GET" if name == "status" else "", name,
                            now[0] - before[0], now[1] - before[1],
                            *cells(row["window"][name]), now[0], now[1]])
    with Path(f"{prefix}_failures.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Method", "Name", "Error", "Occurrences"])
        for (method, name, error), count in sorted(m["failures"].items()):
            w.writerow([method, name, error, count])


def _stats_row(method: str, name: str, s: dict[str, Any], seconds: float,
               cells: Callable[[dict[Any, int]], list[Any]]) -> list[Any]:
    n = s["requests"]
    median = hist_percentile(s["hist"], 0.5)
    return [method, name, n, s["failures"], "N/A" if median is None else median,
            round(s["total_ms"] / n, 2) if n else 0, s["min_ms"] or 0, s["max_ms"],
            round(s["bytes"] / n, 1) if n else 0, round(n / seconds, 2) if seconds else 0,
            round(s["failures"] / seconds, 2) if seconds else 0, *cells(s["hist"])]


# -- the processes, as the rehearsal starts and waits for them ------------------------------


class Processes:
    """The lean generator's processes of one run, one a generator CPU, each writing its
    figures to `folder/lean-N.json` and its visitors to the records folder."""

    def __init__(self, url: str, options: list[str], folder: Path, processes: int,
                 connections: int, mix: str, log_path: Path, env: dict[str, str],
                 cwd: Path) -> None:
        import subprocess

        self.folder = folder
        for old in folder.glob("lean-*.json"):
            old.unlink()
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.procs = [subprocess.Popen(
            [sys.executable, "-m", "loadtests.lean", "--host", url, "--index", str(i),
             "--of", str(processes), "--connections", str(connections), "--mix", mix,
             "--stats", str(folder / f"lean-{i}.json"), *options],
            cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL) for i in range(processes)]

    @property
    def processes(self) -> int:
        return len(self.procs)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def running(self) -> bool:
        return any(p.poll() is None for p in self.procs)

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)

    def wait(self, seconds: float) -> bool:
        """Until every process has exited, or `seconds`; True when they all have."""
        deadline = time.monotonic() + seconds
        while self.running() and time.monotonic() < deadline:
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        return not self.running()

    def wait_for_records(self, bound: float) -> list[int | None]:
        """Every process until it exits, `bound` seconds at most (then killed: its
        records count as missing). The exit codes."""
        if not self.wait(bound):
            for p in self.procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        return [p.returncode for p in self.procs]

    def figures(self) -> dict[str, Any]:
        return merged(read_snapshots(self.folder))

    def close(self) -> None:
        kill_all(self.procs)
        self._log.close()

    def notes(self) -> list[str]:
        """The processes' own words when one failed."""
        return log_lines(self.log_path, _error_line)[-5:]


def _error_line(line: str) -> str | None:
    line = line.strip()
    return line if "Error" in line or "Traceback" in line else None


# -- the command ----------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m loadtests.lean", description=__doc__)
    p.add_argument("--host", required=True, help="http://127.0.0.1:PORT")
    p.add_argument("--index", type=int, default=0, help="this process's number")
    p.add_argument("--of", type=int, default=1, help="how many processes share the visitors")
    p.add_argument("--connections", type=int, default=256,
                   help="kept-alive connections of this process (0: one per request)")
    p.add_argument("--mix", choices=("all", "parents"), default="all",
                   help="every kind in the locustfile's proportions, or parents only")
    p.add_argument("--stats", required=True, help="where this process writes its figures")
    p.add_argument("--visitors", type=int, default=Opening().visitors)
    add_curve_options(p)
    p.add_argument("--room", default="zomerkampen")
    p.add_argument("--start-at", type=float, default=0.0)
    p.add_argument("--stop-at", type=float, default=0.0)
    p.add_argument("--records-dir", default="")
    p.add_argument("--rate-change", default="")
    p.add_argument("--scarce", default="false")
    p.add_argument("--register", default="true")
    return p


def main(argv: list[str] | None = None) -> int:
    options = parser().parse_args(argv)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with the gateway's extras
        asyncio.run(Generator(options).run())
    else:
        uvloop.run(Generator(options).run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
