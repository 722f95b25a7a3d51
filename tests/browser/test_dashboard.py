"""The operators' dashboard in headless Chromium against real processes: sign in, read
why the line does not move (max_active, not the rate, sets the pace), read the charts'
times and scales, change the rate and pause, and find each change in the audit trail in
the words the confirm step used, at the room's own time (browser side: dashboard.mjs)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from gateway.rooms import RoomConfig
from gateway.routes.dashboard import audit_rows
from gateway.store import Store
from gateway.store.connect import client_from_url
from harness.processes import stop
from harness.sluis import gateway, sluis_env, worker
from tests.browser.test_queue_page import (  # noqa: F401 - fixtures
    ADMIN_TOKEN,
    HERE,
    SHOTS,
    chromium,
    node_modules,
)
from tests.processes import upstream_site

ROOM = "zomerkampen"
ROOMS_TOML = """
[rooms.zomerkampen]
title = "Zomerkampen 2027"
paths = ["/kampen"]
rate_per_minute = 30
max_active = 3
session_seconds = 900

[rooms.zwemmen]
title = "Zwemmen"
paths = ["/zwemmen"]
timezone = "Europe/Brussels"
adaptive = true
adaptive_min_rate = 20
adaptive_max_rate = 240
"""

BRUSSELS = ZoneInfo("Europe/Brussels")
TRIP_REASON = "error rate 50.0 % over 20 answers"

pytestmark = pytest.mark.slow


async def breaker_and_sold_out(redis_url: str) -> None:
    """What the worker and the gateway write to the audit trail on their own: the breaker
    opening and closing, and the shop's sold-out marker (the same store calls)."""
    store = Store(client_from_url(redis_url), joins_per_ip_per_minute=0)
    try:
        assert await store.lead("zwemmen", "rehearsal-leader", 30_000)
        assert await store.set_breaker("zwemmen", "rehearsal-leader", True, TRIP_REASON)
        assert await store.set_breaker("zwemmen", "rehearsal-leader", False, "recovered")
        await store.lead("zwemmen", "rehearsal-leader", 0)
        assert await store.set_inventory("zwemmen", 0, "marker", hold_ms=600_000)
    finally:
        await store.close()


@pytest.fixture
def sluis(redis_url: str, tmp_path: Path) -> Iterator[str]:
    config = tmp_path / "rooms.toml"
    config.write_text(ROOMS_TOML, encoding="utf-8")
    asyncio.run(breaker_and_sold_out(redis_url))
    with upstream_site(tmp_path) as upstream:
        # The processes keep UTC; the dashboard shows times in each room's zone.
        env = sluis_env(redis_url, tmp_path, SLUIS_BACKEND=upstream, SLUIS_CONFIG=str(config),
                        SLUIS_WORKER_TICK_MS="200", SLUIS_ADMIN_TOKEN=ADMIN_TOKEN, TZ="UTC")
        w = worker(env, tmp_path, "worker")
        try:
            with gateway(env, tmp_path) as url:
                yield url
        finally:
            stop(w)


def fill_the_room(base: str, visitors: int) -> None:
    """Visitors take places the way a browser does (the cookie comes back), until the
    worker has filled every slot and the rest wait."""
    for _ in range(visitors):
        with httpx.Client(base_url=base, timeout=5) as client:
            for _ in range(2):
                assert client.get("/kampen").status_code == 200
    deadline = time.monotonic() + 20
    room: dict[str, int] = {}
    while time.monotonic() < deadline:
        room = httpx.get(f"{base}/_sluis/admin/api/rooms/{ROOM}",
                         headers={"authorization": f"Bearer {ADMIN_TOKEN}"}).json()
        if room["active"] == 3 and room["queued"] == visitors - 3:
            return
        time.sleep(0.2)
    raise AssertionError(f"the room did not fill: {room}")


def test_an_operator_signs_in_changes_the_rate_and_finds_it_in_the_audit(
        sluis: str, chromium: str, node_modules: Path) -> None:  # noqa: F811
    # Three slots held up to 900 s each: 3 × 60 / 900 = 0.2 a minute, whatever the rate.
    fill_the_room(sluis, 6)
    env = dict(os.environ, SLUIS_URL=sluis, SLUIS_ROOM=ROOM, SLUIS_ADMIN_TOKEN=ADMIN_TOKEN,
               SLUIS_SHOTS=str(SHOTS), SLUIS_CHROMIUM=chromium,
               SLUIS_ZONE=datetime.now(BRUSSELS).strftime("%Z"), SLUIS_TRIP=TRIP_REASON)
    run = subprocess.run(["node", str(HERE / "dashboard.mjs")], cwd=HERE, env=env,
                         capture_output=True, text=True, timeout=110)
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    assert run.returncode == 0 and lines, f"dashboard failed:\n{run.stdout}\n{run.stderr}"
    result = json.loads(lines[-1])
    assert result["ok"] and result["csp_violations"] == 0


def test_audit_entries_of_every_writer_read_in_the_same_words() -> None:
    room = RoomConfig(name="zwemmen", timezone="Europe/Brussels")
    entries = [
        {"room": "zwemmen", "at": "2027-03-01T08:00:05+00:00", "actor": "breaker",
         "mode": "trip", "reason": TRIP_REASON, "changes": [["breaker_open", False, True]]},
        {"room": "zwemmen", "at": "2027-07-01T08:00:05+00:00", "actor": "inventory",
         "mode": "inventory", "source": "url", "places_left": 0,
         "changes": [["sold_out", "false", "true"]]},
        {"room": "zwemmen", "at": "2027-03-01T09:00:00+01:00", "actor": "Anna", "mode": "change",
         "changes": [["paused", "0", "1"], ["opens_at", "0", "1803888000000"],
                     ["idle_seconds", "0", "120"], ["rate_per_minute", "6", "30"]]},
        {"room": "zwemmen", "at": "2027-03-01T09:00:00+01:00", "actor": "config",
         "mode": "define", "changes": [["paused", False, "0"], ["max_active", False, "3"]]},
        {"room": "zwemmen", "at": "2027-03-01T09:00:00+01:00", "actor": "Anna", "mode": "drain",
         "changes": [["active", "3", "0"]]},
    ]
    trip, sold, change, define, drain = audit_rows(entries, (room,))
    assert trip["at_local"] == "2027-03-01 09:00:05 CET"
    assert trip["what"] == f"breaker opened: {TRIP_REASON}"
    assert trip["changes"] == [("Breaker", "closed", "open")]
    assert sold["at_local"] == "2027-07-01 10:00:05 CEST"
    assert sold["what"] == "inventory source (url): 0 places left"
    assert sold["changes"] == [("Sold out", "no", "yes")]
    assert change["changes"] == [("Paused", "no", "yes"),
                                 ("Opening", "none", "2027-03-01 09:00 CET"),
                                 ("Idle limit", "off", "2 min"),
                                 ("Rate", "6 a minute", "30 a minute")]
    assert define["what"] == "set from the rooms file"
    assert define["changes"] == [("Paused", "—", "no"), ("Max active", "—", "3")]
    assert drain["changes"] == [("Active sessions", "3", "0")]
