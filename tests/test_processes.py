"""Sluis as it runs: real uvicorn gateway, real worker processes, real Redis, real upstream."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import redis

from gateway import lottery
from gateway.rooms import LiveSettings, RoomConfig
from gateway.store import Store
from gateway.store.connect import client_from_url
from gateway.store.keys import room_keys
from harness.processes import stop
from harness.sluis import gateway, sluis_env, worker
from tests.processes import upstream_site

ROOM_TOML = """
[rooms.zomerkampen]
title = "Zomerkampen 2027"
rate_per_minute = 0
max_active = 0
session_seconds = 900
"""


def test_join_wait_admitted_forwarded_through_uvicorn_and_a_worker(redis_url: str,
                                                                   tmp_path: Path) -> None:
    config = tmp_path / "rooms.toml"
    config.write_text(ROOM_TOML)
    with upstream_site(tmp_path) as upstream:
        env = sluis_env(redis_url, tmp_path, SLUIS_BACKEND=upstream, SLUIS_CONFIG=str(config),
                        SLUIS_WORKER_TICK_MS="100")
        w = worker(env, tmp_path, "worker")
        try:
            with gateway(env, tmp_path) as url, httpx.Client(base_url=url) as parent:
                first = parent.get("/kampen/inschrijven")  # the cookie, no place yet
                assert first.status_code == 200 and "Een ogenblik" in first.text
                page = parent.get("/kampen/inschrijven")
                assert page.status_code == 200 and "nummer <strong>1</strong>" in page.text
                assert parent.get("/_sluis/status?room=zomerkampen").json()["state"] == "queued"
                admin = {"authorization": "Bearer process-test-admin-token"}
                patched = parent.patch("/_sluis/admin/api/rooms/zomerkampen", headers=admin,
                                       json={"rate_per_minute": 600, "max_active": 10})
                assert patched.status_code == 200, patched.text
                deadline = time.monotonic() + 5
                state = "queued"
                while state != "admitted" and time.monotonic() < deadline:
                    time.sleep(0.1)
                    state = parent.get("/_sluis/status?room=zomerkampen").json()["state"]
                assert state == "admitted"
                r = parent.get("/kampen/inschrijven")
                assert r.json()["reached"] == "upstream" and r.json()["admission"]
        finally:
            stop(w)
    assert w.returncode == 0  # SIGTERM: finished its tick and released the lease


def test_the_leader_killed_another_admits_within_seconds_nobody_twice(redis_url: str,
                                                                      tmp_path: Path) -> None:
    room = RoomConfig(name="default", initial=LiveSettings(rate_per_minute=600,
                                                           max_active=100_000))

    async def fill() -> None:
        store = Store(client_from_url(redis_url))
        await store.define_room(room, lottery.new_seed())
        await asyncio.gather(*(store.join("default", f"visitor-{i:08d}", may_pass=False)
                               for i in range(400)))
        await store.close()

    asyncio.run(fill())
    env = sluis_env(redis_url, tmp_path, SLUIS_WORKER_TICK_MS="100")
    workers = [worker(env, tmp_path, f"worker{i}") for i in range(2)]
    r = redis.Redis.from_url(redis_url)
    k = room_keys("default")
    try:
        deadline = time.monotonic() + 10
        while not r.get(k.leader) and time.monotonic() < deadline:
            time.sleep(0.05)
        leader = r.get(k.leader).decode()
        pid = int(leader.split(":")[1])
        victim = next(w for w in workers if w.pid == pid)
        survivor = next(w for w in workers if w.pid != pid)
        time.sleep(1.0)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        killed_at = time.monotonic()
        before = int(r.hget(k.state, "admitted_total") or 0)
        while int(r.hget(k.state, "admitted_total") or 0) == before:
            assert time.monotonic() - killed_at < 8, "no worker took over"
            time.sleep(0.05)
        took_over = time.monotonic() - killed_at
        assert took_over < 5
        assert str(survivor.pid) in r.get(k.leader).decode()
        time.sleep(1.0)
    finally:
        for w in workers:
            stop(w)
    admitted = int(r.hget(k.state, "admitted_total"))
    # Admission moves a visitor from the line to the live sessions in one script:
    # one admission per visitor means the counts agree exactly.
    assert admitted == r.zcard(k.active)
    assert admitted + r.zcard(k.queue) == 400
    r.close()


def test_several_gateway_processes_report_the_same_counts(redis_url: str,
                                                          tmp_path: Path) -> None:
    """With --workers 2 any process answers a scrape with the counts of both."""
    config = tmp_path / "rooms.toml"
    config.write_text(ROOM_TOML)
    env = sluis_env(redis_url, tmp_path, SLUIS_BACKEND="http://127.0.0.1:9",
                    SLUIS_CONFIG=str(config))
    with gateway(env, tmp_path, workers=2) as url:
        joins = 40
        for _ in range(joins):  # a new connection each: uvicorn spreads them over both
            # The first answer hands out the cookie; bringing it back takes the place.
            first = httpx.get(url + "/", headers={"accept": "application/json"})
            assert first.status_code == 200
            assert httpx.get(url + "/", headers={"accept": "application/json"},
                             cookies=first.cookies).status_code == 200
        for _ in range(6):
            text = httpx.get(url + "/_sluis/metrics").text
            counted = {line.split("result=")[1].split(",")[0].strip('"'):
                       float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                       if line.startswith("sluis_joins_total{")}
            assert counted == {"arriving": joins, "queued": joins}
            assert 'sluis_queue_length{room="zomerkampen"} 40.0' in text
    # Both processes counted into the shared folder (each writes its build info there).
    assert len(list((tmp_path / "metrics").glob("gauge_max_*.db"))) == 2
