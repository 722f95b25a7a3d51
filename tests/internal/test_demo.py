"""`sluis demo` as a person starts it, as real processes: its banner (the dashboard, the
settings live in Redis after a restart), the waiting room named as the booking site, the
booking form in Chromium (browser side: tests/browser/demo.mjs); and `make demo`, which
installs the runtime without the test extras."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from gateway.common.net import free_port
from harness.processes import ROOT, start, stop
from harness.sluis import sluis_env
from tests.browser.test_queue_page import (  # noqa: F401 - fixtures
    ADMIN_TOKEN,
    HERE,
    SHOTS,
    chromium,
    node_modules,
)

pytestmark = pytest.mark.slow


@contextmanager
def demo(env: dict[str, str], log: Path) -> Iterator[tuple[str, str]]:
    """The demo on a free port: (its address, the banner it printed once listening)."""
    port = free_port()
    proc = start(["-m", "gateway.cli", "demo", "--port", str(port)], env, log)
    try:
        deadline = time.monotonic() + 40
        while "Stop with Ctrl-C." not in (text := log.read_text(encoding="utf-8")):
            assert proc.poll() is None, f"the demo ended:\n{text}"
            assert time.monotonic() < deadline, f"no banner:\n{text}"
            time.sleep(0.2)
        banner = "\n".join(line for line in text.splitlines() if line.startswith("  "))
        yield f"http://127.0.0.1:{port}", banner
    finally:
        stop(proc)


@pytest.fixture
def demo_env(redis_url: str, tmp_path: Path) -> dict[str, str]:
    return sluis_env(redis_url, tmp_path, SLUIS_ADMIN_TOKEN=ADMIN_TOKEN)


def test_the_banner_shows_the_dashboard_and_the_settings_live_after_a_restart(
        demo_env: dict[str, str], tmp_path: Path) -> None:
    with demo(demo_env, tmp_path / "first.log") as (base, banner):
        assert f"  Dashboard:      {base}/_sluis/admin/   (sign in with the admin token)" in banner
        assert f"  Admin token:    {ADMIN_TOKEN}" in banner
        assert ("  Room zomerkampen now: at most 3 inside at once, 6 a minute, sessions up to "
                "5 min.") in banner
        assert "rate_per_minute=30" in banner  # what to try
        changed = httpx.patch(f"{base}/_sluis/admin/api/rooms/zomerkampen",
                              json={"rate_per_minute": 30, "paused": True},
                              headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
        assert changed.status_code == 200, changed.text
    # The rooms file says 6; the operator's 30 survives the restart, and the banner says so.
    with demo(demo_env, tmp_path / "second.log") as (_, banner):
        assert ("  Room zomerkampen now: at most 3 inside at once, 30 a minute, sessions up to "
                "5 min, PAUSED.") in banner
        assert "6 a minute" not in banner
        assert "rate_per_minute=60" in banner


def test_the_waiting_room_and_the_booking_form_in_chromium(
        demo_env: dict[str, str], tmp_path: Path, chromium: str,  # noqa: F811
        node_modules: Path) -> None:  # noqa: F811
    with demo(demo_env, tmp_path / "demo.log") as (base, _):
        env = dict(os.environ, SLUIS_URL=base, SLUIS_SHOTS=str(SHOTS), SLUIS_CHROMIUM=chromium)
        run = subprocess.run(["node", str(HERE / "demo.mjs")], cwd=HERE, env=env,
                             capture_output=True, text=True, timeout=110)
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    assert run.returncode == 0 and lines, f"demo failed:\n{run.stdout}\n{run.stderr}"
    result = json.loads(lines[-1])
    assert result["ok"] and len(result["errors"]) == 4
    assert result["titles"]["nl-BE"][1] == "Activiteiten · Zomerkampen en zwemmen"


def make_dry_run(target: str, venv: Path) -> list[str]:
    # Under `make test` this make is a child of another: without MAKELEVEL and MAKEFLAGS it
    # prints no "Entering/Leaving directory" lines and inherits no options.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    run = subprocess.run(["make", "--no-print-directory", "-n", target, f"VENV={venv}"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=30, check=True)
    return run.stdout.splitlines()


def test_make_demo_installs_the_runtime_and_make_test_the_test_extras(tmp_path: Path) -> None:
    venv = tmp_path / "fresh"  # no stamp yet: what a fresh machine would run
    demo_steps = make_dry_run("demo", venv)
    assert f"{venv}/bin/python -m pip install --quiet -e ." in demo_steps
    assert not any("[test]" in step for step in demo_steps), demo_steps
    assert demo_steps[-1] == f"{venv}/bin/sluis demo"
    test_steps = make_dry_run("test", venv)
    assert f"{venv}/bin/python -m pip install --quiet -e '.[test]'" in test_steps
    # Once the test extras are in, the demo needs nothing more.
    venv.mkdir()
    for stamp in (".installed", ".runtime"):
        (venv / stamp).touch()
    assert make_dry_run("demo", venv) == [f"{venv}/bin/sluis demo"]
