"""The queue page in headless Chromium against real processes: gateway (uvicorn), worker,
Redis and an upstream site. The browser side is `scenarios.mjs` (playwright-core with the
system's Chromium, axe-core); screenshots land in artifacts/screenshots/."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.common.net import free_port
from harness.processes import ROOT, stop
from harness.sluis import gateway, sluis_env, worker
from tests.processes import upstream_site

HERE = Path(__file__).resolve().parent
SHOTS = ROOT / "artifacts" / "screenshots"
ROOM = "zomerkampen"
ADMIN_TOKEN = "process-test-admin-token"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

ROOM_TOML = """
[rooms.zomerkampen]
title = { nl = "Zomerkampen 2027", fr = "Camps d'été 2027", en = "Summer camps 2027", de = "Sommerlager 2027" }
logo_url = "/_sluis/static/sluis.svg"
logo_alt = "Stad"
intro = { nl = "Inschrijven voor de **zomerkampen** van de stad. [Meer info](https://example.org/kampen)", fr = "Inscriptions aux **camps d'été** de la ville." }
rate_per_minute = 0
max_active = 0
session_seconds = 900

[rooms.bewijs]
paths = ["/bewijs"]
join_proof_bits = 12
rate_per_minute = 0
max_active = 0
"""  # noqa: E501 - TOML tables stay on one line


def _missing(what: str, how: str) -> None:
    message = f"{what} is missing: {how}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def _apt_install(package: str) -> None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, capture_output=True,
                   timeout=300)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
                   env=env, check=False, capture_output=True, timeout=600)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium (installed with apt-get when missing and allowed); never a download."""
    def find() -> str | None:
        for candidate in (os.environ.get("SLUIS_CHROMIUM"), "chromium", "chromium-browser"):
            found = candidate and shutil.which(candidate)
            if found:
                return found
        return None

    path = find()
    if path is None:
        _apt_install("chromium")
        path = find()
    if path is None:
        _missing("Chromium", "apt-get install -y chromium (or set SLUIS_CHROMIUM)")
    return str(path)


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """npm ci into tests/browser/node_modules, once per package-lock.json."""
    if not shutil.which("node") or not shutil.which("npm"):
        _apt_install("nodejs")
        if not shutil.which("node") or not shutil.which("npm"):
            _missing("node and npm", "install Node.js 20 or later")
    lock = (HERE / "package-lock.json").read_bytes()
    stamp = HERE / "node_modules" / ".sluis-lock-sha256"
    digest = hashlib.sha256(lock).hexdigest()
    if not stamp.exists() or stamp.read_text().strip() != digest:
        run = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                             cwd=HERE, capture_output=True, text=True, timeout=600,
                             env=dict(os.environ, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1"))
        assert run.returncode == 0, f"npm ci failed:\n{run.stdout}\n{run.stderr}"
        stamp.write_text(digest)
    return HERE / "node_modules"


@pytest.fixture
def sluis(redis_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A gateway and a worker (real processes, real Redis) in front of an upstream site."""
    config = tmp_path / "rooms.toml"
    config.write_text(ROOM_TOML, encoding="utf-8")
    with upstream_site(tmp_path) as upstream:
        env = sluis_env(redis_url, tmp_path, SLUIS_BACKEND=upstream, SLUIS_CONFIG=str(config),
                        SLUIS_WORKER_TICK_MS="100", SLUIS_ADMIN_TOKEN=ADMIN_TOKEN)
        w = worker(env, tmp_path, "worker")
        try:
            with gateway(env, tmp_path) as url:
                yield {"url": url, "env": json.dumps(env)}
        finally:
            stop(w)


def run_scenario(name: str, url: str, chromium: str, node_modules: Path) -> dict[str, object]:
    env = dict(os.environ, SLUIS_URL=url, SLUIS_ROOM=ROOM, SLUIS_ADMIN_TOKEN=ADMIN_TOKEN,
               SLUIS_SHOTS=str(SHOTS), SLUIS_CHROMIUM=chromium)
    run = subprocess.run(["node", str(HERE / "scenarios.mjs"), name], cwd=HERE, env=env,
                         capture_output=True, text=True, timeout=110)
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    assert run.returncode == 0 and lines, f"{name} failed:\n{run.stdout}\n{run.stderr}"
    result: dict[str, object] = json.loads(lines[-1])
    return result


pytestmark = pytest.mark.slow


def test_a_parent_waits_sees_the_place_fall_and_is_taken_in(
        sluis: dict[str, str], chromium: str, node_modules: Path) -> None:
    result = run_scenario("journey", sluis["url"], chromium, node_modules)
    assert result["positions"][0] == 4  # type: ignore[index]


def test_without_javascript_the_page_refreshes_until_stopped(
        sluis: dict[str, str], chromium: str, node_modules: Path) -> None:
    run_scenario("nojs", sluis["url"], chromium, node_modules)


def test_the_language_choice_sticks(sluis: dict[str, str], chromium: str,
                                    node_modules: Path) -> None:
    run_scenario("language", sluis["url"], chromium, node_modules)


def test_every_state_passes_axe_and_is_photographed(sluis: dict[str, str], chromium: str,
                                                    node_modules: Path) -> None:
    result = run_scenario("states", sluis["url"], chromium, node_modules)
    assert len(result["screenshots"]) == 8  # type: ignore[arg-type]


def test_the_calm_503_while_redis_is_away(tmp_path: Path, chromium: str,
                                          node_modules: Path) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    config = tmp_path / "rooms.toml"
    config.write_text(ROOM_TOML, encoding="utf-8")
    env = sluis_env(dead, tmp_path, SLUIS_BACKEND="http://127.0.0.1:9", SLUIS_CONFIG=str(config),
                    SLUIS_ADMIN_TOKEN=ADMIN_TOKEN)
    with gateway(env, tmp_path) as url:
        run_scenario("unavailable", url, chromium, node_modules)


def test_a_room_with_proof_of_work_places_a_browser_that_solves_it(
        sluis: dict[str, str], chromium: str, node_modules: Path) -> None:
    result = run_scenario("proof", sluis["url"], chromium, node_modules)
    assert result["proof_position"] == 1  # type: ignore[index]
