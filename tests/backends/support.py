"""Real processes for the backend tests: the fake platform and a gateway with a rooms file."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gateway.store.embedded import free_port
from gateway.tickets import Tickets
from tests.processes import ROOT, sluis_env, start, stop, wait_http

KEY = "process-test-key-0123456789"  # what tests.processes.sluis_env gives the gateway


@contextmanager
def platform(tmp: Path, **env: str) -> Iterator[str]:
    """The fake hosted platform (tests/fakeplatform) under uvicorn, on 127.0.0.1."""
    port = free_port()
    proc = start(["-m", "uvicorn", "--factory", "tests.fakeplatform.app:create_app",
                  "--port", str(port), "--log-level", "warning", "--no-access-log"],
                 dict(os.environ, PYTHONPATH=str(ROOT), **env), tmp / "platform.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/_fake/stats")
        yield url
    finally:
        stop(proc)


@contextmanager
def gateway(redis_url: str, tmp: Path, rooms: str, **extra: str
            ) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A gateway process serving the rooms of the TOML text `rooms`."""
    config = tmp / "rooms.toml"
    config.write_text(rooms)
    env = sluis_env(redis_url, tmp, SLUIS_CONFIG=str(config), **extra)
    port = free_port()
    proc = start(["-m", "gateway.cli", "gateway", "--port", str(port)], env, tmp / "gateway.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/_sluis/livez")
        yield url, proc
    finally:
        stop(proc)


@contextmanager
def worker(redis_url: str, tmp: Path, rooms: str) -> Iterator[subprocess.Popen[bytes]]:
    config = tmp / "rooms.toml"
    config.write_text(rooms)
    env = sluis_env(redis_url, tmp, SLUIS_CONFIG=str(config), SLUIS_WORKER_TICK_MS="100")
    proc = start(["-m", "gateway.cli", "worker"], env, tmp / "worker.log")
    try:
        yield proc
    finally:
        stop(proc)


def admitted_cookies(room: str, visitor: str, ttl: int = 3600) -> dict[str, str]:
    """The cookies of a visitor the queue has let in (signed with the gateway's key)."""
    tickets = Tickets([KEY])
    return {"sluis_visitor": tickets.visitor_cookie(visitor),
            "sluis_admission": tickets.admission.issue(room, visitor, ttl)}


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def cookie_header(room: str, visitor: str) -> dict[str, str]:
    """The same, as a Cookie header (per-request cookies in httpx are deprecated)."""
    jar = admitted_cookies(room, visitor)
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())}
