"""A parent who books and confirms sees the confirmation, and still sees it on a reload a
minute later, without a place and without holding the slot: Chromium against a gateway
with the internal booking engine (real processes, real Redis)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from harness.processes import stop
from harness.sluis import gateway, sluis_env, worker
from tests.browser.test_queue_page import (  # noqa: F401 - fixtures
    HERE,
    SHOTS,
    chromium,
    node_modules,
)

ROOMS_TOML = """
[rooms.zomerkampen]
title = "Zomerkampen 2027"
rate_per_minute = 600
max_active = 1
session_seconds = 900
"""

pytestmark = pytest.mark.slow


def test_a_parent_who_confirms_sees_the_confirmation_and_can_reload_it(
        redis_url: str, tmp_path: Path, chromium: str,  # noqa: F811
        node_modules: Path) -> None:  # noqa: F811
    config = tmp_path / "rooms.toml"
    config.write_text(ROOMS_TOML, encoding="utf-8")
    env = sluis_env(redis_url, tmp_path, SLUIS_BACKEND="internal", SLUIS_CONFIG=str(config),
                    SLUIS_WORKER_TICK_MS="100", SLUIS_INTERNAL_DEMO_DATA="true")
    SHOTS.mkdir(parents=True, exist_ok=True)
    w = worker(env, tmp_path, "worker")
    try:
        with gateway(env, tmp_path) as url:
            run = subprocess.run(
                ["node", str(HERE / "booking.mjs")], cwd=HERE, capture_output=True, text=True,
                timeout=180, env=dict(os.environ, SLUIS_URL=url, SLUIS_CHROMIUM=chromium,
                                      SLUIS_SHOTS=str(SHOTS), SLUIS_RELOAD_AFTER_MS="60000"))
    finally:
        stop(w)
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no result:\n{run.stdout}\n{run.stderr}"
    result = json.loads(lines[-1])
    print(f"\n[exit] {result}")
    assert result["ok"], result
    assert result["reload_status"] == 200
    assert result["after_reload"] == result["confirmation"]
