"""Several gateways behind HAProxy share one queue: a surge survives losing a gateway
and the leading worker, nobody is let in twice, and the site is never oversold."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
import redis

from gateway.store.keys import room_keys
from harness.processes import stop
from harness.sluis import start_gateway, worker
from tests.scale.engines import balanced
from tests.scale.surge import run_surge

ROOM = "zomerkampen"
MAX_ACTIVE = 25
SESSION_SECONDS = 60
SURGE_TOML = f"""
[rooms.{ROOM}]
title = "Zomerkampen"
rate_per_minute = 3000
max_active = {MAX_ACTIVE}
session_seconds = {SESSION_SECONDS}
"""
# The surge ends when everyone went in or the line stops moving (tests/scale/surge.py),
# within its own 300 s bound; this leaves room to start and stop the processes.
SURGE_TIMEOUT = pytest.mark.timeout(480)
class ActiveWatch:
    """Samples the room's live sessions straight from Redis, every few milliseconds."""

    def __init__(self, redis_url: str, room: str) -> None:
        self.client = redis.Redis.from_url(redis_url)
        self.key = room_keys(room).active
        self.most = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.most = max(self.most, int(self.client.zcard(self.key)))
            self.samples += 1
            time.sleep(0.005)

    def __enter__(self) -> ActiveWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.client.close()


@SURGE_TIMEOUT
def test_surge_through_haproxy_survives_a_killed_gateway_and_leader(
        redis_url: str, tmp_path: Path) -> None:
    with ExitStack() as stack:
        balancer = stack.enter_context(balanced(redis_url, tmp_path, SURGE_TOML))
        url, gws, workers = balancer.url, balancer.gateways, balancer.workers
        watch = stack.enter_context(ActiveWatch(redis_url, ROOM))
        r = redis.Redis.from_url(redis_url)
        stack.callback(r.close)
        killed: dict[str, float] = {}

        async def chaos() -> None:
            await asyncio.sleep(2.0)
            gws[0].proc.send_signal(signal.SIGKILL)
            killed["gateway"] = time.monotonic()
            await asyncio.sleep(1.5)
            leader = (r.get(room_keys(ROOM).leader) or b"").decode()
            pid = int(leader.split(":")[1])
            victim = next(w for w in workers if w.pid == pid)
            victim.send_signal(signal.SIGKILL)
            killed["worker"] = time.monotonic()

        surge = asyncio.run(run_surge(url, 300, room=ROOM, path="/kampen/inschrijven",
                                      ramp_s=3.0, poll_s=0.4, watch_s=2.0,
                                      hold_s=1.0, session_s=SESSION_SECONDS,
                                      local_address="127.0.0.3", during=chaos))
        print(f"\n[balancer] {surge.summary()}; most live sessions {watch.most} "
              f"of {MAX_ACTIVE} ({watch.samples} samples)")
        view = r.hgetall(room_keys(ROOM).state)

    assert set(killed) == {"gateway", "worker"}
    assert surge.joined == 300
    assert surge.lost_places == 0
    assert surge.never_admitted == 0
    assert surge.double_admissions == 0
    assert all(v.forwarded for v in surge.visitors)
    assert watch.most == MAX_ACTIVE  # the cap was reached, and never passed
    # Redis's own count. HAProxy replays a request the killed gateway had taken
    # (`retry-on empty-response`); every request that can make a place carries the
    # visitor's cookie (the first answer only hands it out), so a replay finds the
    # place it made: exactly one place per visitor (and one more for each visitor whose
    # session ran past its cap before it was done, on a machine busy enough for that).
    joined, admitted = int(view[b"joined_total"]), int(view[b"admitted_total"])
    print(f"[balancer] places {joined}, admissions {admitted}")
    assert joined == 300 + surge.outlived and admitted == 300 + surge.outlived


LIMIT_TOML = f"""
[rooms.{ROOM}]
title = "Zomerkampen"
rate_per_minute = 0
max_active = 0
"""


def test_the_visitor_address_comes_from_the_balancer_only_when_it_is_trusted(
        redis_url: str, tmp_path: Path) -> None:
    with balanced(redis_url, tmp_path, LIMIT_TOML, workers=0,
                  SLUIS_JOINS_PER_IP_PER_MINUTE="3") as balancer:
        url, gws = balancer.url, balancer.gateways

        def joins(base: str, source: str, count: int) -> list[int]:
            codes = []
            transport = httpx.HTTPTransport(local_address=source)
            with httpx.Client(base_url=base, transport=transport) as c:
                for i in range(count):
                    c.cookies.clear()  # a new visitor each time, from the same address
                    forged = {"x-forwarded-for": f"198.51.100.{i}",
                              "accept": "application/json"}
                    assert c.get("/kampen", headers=forged).status_code == 200  # the cookie
                    codes.append(c.get("/kampen", headers=forged).status_code)  # the place
            return codes

        # Through the balancer: the forged header is ignored, the address HAProxy saw
        # counts, and the limit is shared by both gateways.
        assert joins(url, "127.0.0.3", 5) == [200, 200, 200, 429, 429]
        assert joins(url, "127.0.0.4", 4) == [200, 200, 200, 429]
        # Straight to a gateway from an untrusted peer: its header is not believed either.
        assert joins(gws[0].url, "127.0.0.5", 4) == [200, 200, 200, 429]


@SURGE_TIMEOUT
def test_a_rolling_restart_of_gateways_and_workers_loses_no_request_and_no_place(
        redis_url: str, tmp_path: Path) -> None:
    with balanced(redis_url, tmp_path, SURGE_TOML) as balancer:
        url, env, gws, workers = balancer.url, balancer.env, balancer.gateways, balancer.workers
        restarted: list[str] = []

        async def roll() -> None:
            await asyncio.sleep(1.5)
            for i, old in enumerate(list(gws)):
                # SIGTERM: requests in flight finish, new connections go to the other one.
                await asyncio.to_thread(stop, old.proc)
                restarted.append(f"gateway{i}:{old.proc.returncode}")
                gws[i] = start_gateway(env, tmp_path / f"gateway{i}.log", port=old.port)
                await asyncio.to_thread(gws[i].wait, "/_sluis/readyz")
                await asyncio.sleep(1.0)  # HAProxy sees it up again (rise 2 × 500 ms)
            for i, w in enumerate(list(workers)):
                await asyncio.to_thread(stop, w)
                restarted.append(f"worker{i}:{w.returncode}")
                workers[i] = worker(env, tmp_path, f"worker{i}b")

        surge = asyncio.run(run_surge(url, 200, room=ROOM, path="/kampen/inschrijven",
                                      ramp_s=4.0, poll_s=0.4, watch_s=2.0,
                                      hold_s=0.5, session_s=SESSION_SECONDS,
                                      local_address="127.0.0.3", during=roll))
        print(f"\n[rolling restart] {surge.summary()}; restarted {restarted}")

    # uvicorn ends by re-raising SIGTERM once its graceful shutdown is complete.
    assert restarted == [f"gateway0:{-signal.SIGTERM}", f"gateway1:{-signal.SIGTERM}",
                         "worker0:0", "worker1:0"]
    for i in range(2):
        log = (tmp_path / f"gateway{i}.log").read_text()
        assert "Application shutdown complete" in log
    for i in range(2):
        assert "worker stopped" in (tmp_path / f"worker{i}.log").read_text()
    assert surge.joined == 200 and surge.never_admitted == 0
    assert surge.lost_places == 0 and surge.double_admissions == 0
    assert surge.errors == 0 and not surge.error_times
