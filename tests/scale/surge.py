"""A surge of visitors: each joins, polls its status, goes in when admitted, ends its
session at the backend, and then keeps watching that it is not let in twice.

Every visitor has its own cookie jar; all share one connection pool. Errors are
retried the way the queue page does (ask again shortly) and counted. The run lasts
while the line moves, not for a fixed time: a busy machine only makes it slower.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

JSON = {"accept": "application/json"}


@dataclass
class Visitor:
    index: int
    joined_at: float | None = None
    admitted: int = 0          # times this visitor saw itself let in (must be 1)
    forwarded: bool = False    # the backend answered the admitted visitor
    ended: bool = False
    lost: int = 0              # times the store no longer knew a place it had acknowledged
    requeued: int = 0          # back in line after being let in (a lost admission)
    went_in_at: float | None = None  # when it last saw itself let in (monotonic)
    outlived: int = 0          # back in line once its session had run past its cap
    outlived_waiting: bool = False
    end_lost: bool = False     # still let in after the backend ended the session
    join_failures: int = 0     # join attempts answered with an error (retried)
    errors: int = 0            # every other failed request (retried)


@dataclass
class Surge:
    visitors: list[Visitor]
    seconds: float
    requests: int
    error_times: list[float] = field(default_factory=list)  # monotonic, each failed request
    latencies: list[float] = field(default_factory=list)   # seconds, each answered request
    ended_by: str = "everyone went in"  # or why the run stopped before that

    @property
    def joined(self) -> int:
        return sum(v.joined_at is not None for v in self.visitors)

    @property
    def admitted(self) -> int:
        return sum(v.admitted > 0 for v in self.visitors)

    @property
    def double_admissions(self) -> int:
        return sum(v.admitted > 1 for v in self.visitors)

    @property
    def ends_lost(self) -> int:
        return sum(v.end_lost for v in self.visitors)

    @property
    def outlived(self) -> int:
        """New places taken by visitors whose session had run past its cap."""
        return sum(v.outlived for v in self.visitors)

    @property
    def lost_places(self) -> int:
        return sum(v.lost for v in self.visitors)

    @property
    def never_admitted(self) -> int:
        return sum(v.joined_at is not None and not v.admitted for v in self.visitors)

    @property
    def errors(self) -> int:
        return sum(v.errors + v.join_failures for v in self.visitors)

    def summary(self) -> str:
        return (f"{len(self.visitors)} visitors in {self.seconds:.1f} s: joined {self.joined}, "
                f"admitted {self.admitted}, forwarded {sum(v.forwarded for v in self.visitors)}"
                f", double admissions {self.double_admissions}, lost places "
                f"{self.lost_places}, never admitted {self.never_admitted}, sessions "
                f"that outlived their cap {self.outlived}, session ends "
                f"lost {self.ends_lost}, failed requests "
                f"{self.errors} of {self.requests}; latency p50 {self.latency(0.5):.3f} s, "
                f"p99 {self.latency(0.99):.3f} s; ended: {self.ended_by}")

    def latency(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def run_surge(base_url: str, count: int, *, room: str, path: str,
                    stall_s: float = 90.0, limit_s: float = 300.0,
                    poll_s: float = 0.4, ramp_s: float = 2.0, watch_s: float = 1.0,
                    hold_s: float = 0.0, request_timeout_s: float = 30.0,
                    session_s: float = 0.0,
                    local_address: str | None = None,
                    during: Callable[[], Awaitable[None]] | None = None) -> Surge:
    """`count` visitors arriving over `ramp_s`; returns when all ended, or when nobody
    joined, was let in or ended for `stall_s` (the line stopped), or after `limit_s` at
    most. Each admitted visitor stays `hold_s` on the site (filling in the form) before
    ending the session. `during` runs beside them (to kill processes mid-run).

    `stall_s` should outlast the room's `session_seconds`, so that slots held by
    sessions whose end was lost come back before the run gives up on the line. A
    request counts as failed when it errs or gets no answer within `request_timeout_s`
    (a browser waits that long too), not when a busy machine answers it slowly.

    `session_s`: the room's session_seconds. A visitor back in line once that long
    after it saw itself let in was let out by the cap (on a busy machine its last
    requests took that long), not admitted twice: counted as `outlived`. The time is
    taken when the visitor saw the admission, after the worker made it, so the count
    errs towards calling it a second admission."""
    transport = httpx.AsyncHTTPTransport(
        local_address=local_address,
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=200))
    visitors = [Visitor(i) for i in range(count)]
    started = time.monotonic()
    requests = 0
    error_times: list[float] = []
    latencies: list[float] = []
    done = asyncio.Event()
    status_url = f"/_sluis/status?room={room}"

    async def get(client: httpx.AsyncClient, url: str) -> httpx.Response | None:
        nonlocal requests
        requests += 1
        sent = time.monotonic()
        try:
            r = await client.get(url, headers=JSON)
        except httpx.HTTPError:
            error_times.append(time.monotonic())
            return None
        latencies.append(time.monotonic() - sent)
        if r.status_code >= 500:
            error_times.append(time.monotonic())
            return None
        return r

    async def one(v: Visitor) -> None:
        await asyncio.sleep(ramp_s * v.index / count)
        client = httpx.AsyncClient(base_url=base_url, transport=transport,
                                   timeout=request_timeout_s)
        state = "none"
        while not done.is_set() and not v.ended:
            if state == "none":
                # The queue page in place: the first answer gives the cookie, the
                # request that brings it back takes the place.
                r = await get(client, path)
                if r is None or r.status_code != 200:
                    v.join_failures += 1
                    await asyncio.sleep(0.2)
                    continue
                body = r.json()
                if body.get("reached") == "upstream":  # a free slot: let straight through
                    v.joined_at = v.joined_at or time.monotonic()
                    v.admitted += 1
                    v.went_in_at = time.monotonic()
                    v.forwarded = True
                    await go_in(client, v)
                    state = "ended"
                    continue
                state = body.get("state", "none")
                if state == "none":
                    continue
                if v.joined_at is None:
                    v.joined_at = time.monotonic()
            else:
                await asyncio.sleep(poll_s)
                r = await get(client, status_url)
                if r is None:
                    v.errors += 1
                    continue
                new = r.json()["state"]
                if new == "none":
                    v.lost += 1  # acknowledged place gone: take one again
                state = new
            if state == "admitted":
                v.admitted += 1
                v.went_in_at = time.monotonic()
                await go_in(client, v)
                state = "ended"
        # Watch for a second admission of the same visitor until the run ends: a place
        # back in line after going in, then let in again. Still "admitted" without
        # being back in line is the same session, whose end did not reach Redis.
        while v.ended and not done.is_set():
            await asyncio.sleep(watch_s)
            r = await get(client, status_url)
            if r is None:
                continue
            state = r.json()["state"]
            if state in ("queued", "prequeue"):
                if v.requeued or v.outlived_waiting:
                    continue  # the same stay back in line, seen again
                went_in = v.went_in_at or 0.0
                if session_s and time.monotonic() - went_in >= session_s:
                    v.outlived += 1  # its session ran out first: a new place is fair
                    v.outlived_waiting = True
                else:
                    v.requeued += 1
            elif state == "admitted" and (v.requeued or v.outlived_waiting):
                if v.requeued:
                    v.admitted += 1
                v.requeued = 0
                v.outlived_waiting = False
                v.went_in_at = time.monotonic()
                await go_in(client, v)
            elif state == "admitted":
                v.end_lost = True

    async def go_in(client: httpx.AsyncClient, v: Visitor) -> None:
        for _ in range(0 if v.forwarded else 20):
            r = await get(client, path)
            if r is not None and r.status_code == 200 and r.json().get("reached") == "upstream":
                v.forwarded = True
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(hold_s)
        for _ in range(20):
            r = await get(client, "/checkout/done")
            if r is not None and r.status_code == 200:
                v.ended = True
                return
            await asyncio.sleep(0.1)
        v.ended = True  # the session runs out by itself

    side = asyncio.create_task(during()) if during else None
    tasks = [asyncio.create_task(one(v)) for v in visitors]

    def progress() -> int:
        return sum((v.joined_at is not None) + (v.admitted > 0) + v.ended + 2 * v.outlived
                   - v.outlived_waiting for v in visitors)

    async def until_all_ended() -> str:
        moved_at, seen = time.monotonic(), -1
        while True:
            now = time.monotonic()
            if all(v.ended and not v.outlived_waiting for v in visitors):
                # A short watch after the last one went in, for late second admissions.
                await asyncio.sleep(2 * watch_s)
                return "everyone went in"
            if (reached := progress()) != seen:
                moved_at, seen = now, reached
            if now - moved_at > stall_s:
                return f"the line stopped: no visitor moved for {stall_s:.0f} s"
            if now - started > limit_s:
                return f"the {limit_s:.0f} s bound, the line still moving"
            await asyncio.sleep(0.1)

    ended_by = await until_all_ended()
    done.set()
    await asyncio.gather(*tasks)
    if side is not None:
        await side
    await transport.aclose()
    return Surge(visitors, time.monotonic() - started, requests, error_times, latencies,
                 ended_by)
