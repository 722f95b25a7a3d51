"""The operators' dashboard in headless Chromium against real processes: sign in, read
why the line does not move (max_active, not the rate, sets the pace), change the rate,
see it in the audit trail (browser side: dashboard.mjs)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.browser.test_queue_page import (  # noqa: F401 - fixtures
    ADMIN_TOKEN,
    HERE,
    SHOTS,
    chromium,
    node_modules,
)
from tests.processes import gateway, sluis_env, stop, upstream_site, worker

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
adaptive = true
adaptive_min_rate = 20
adaptive_max_rate = 240
"""

pytestmark = pytest.mark.slow


@pytest.fixture
def sluis(redis_url: str, tmp_path: Path) -> Iterator[str]:
    config = tmp_path / "rooms.toml"
    config.write_text(ROOMS_TOML, encoding="utf-8")
    with upstream_site(tmp_path) as upstream:
        env = sluis_env(redis_url, tmp_path, SLUIS_BACKEND=upstream, SLUIS_CONFIG=str(config),
                        SLUIS_WORKER_TICK_MS="200", SLUIS_ADMIN_TOKEN=ADMIN_TOKEN)
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
               SLUIS_SHOTS=str(SHOTS), SLUIS_CHROMIUM=chromium)
    run = subprocess.run(["node", str(HERE / "dashboard.mjs")], cwd=HERE, env=env,
                         capture_output=True, text=True, timeout=110)
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    assert run.returncode == 0 and lines, f"dashboard failed:\n{run.stdout}\n{run.stderr}"
    result = json.loads(lines[-1])
    assert result["ok"] and result["csp_violations"] == 0
