"""Real processes for the backend tests: the fake platform and a gateway with a rooms file."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gateway.passes import Passes
from harness.processes import python_env, serve, stop
from harness.sluis import SECRET_KEY, sluis_env
from harness.sluis import worker as worker_process

KEY = SECRET_KEY  # what harness.sluis.sluis_env gives the gateway


@contextmanager
def platform(tmp: Path, **env: str) -> Iterator[str]:
    """The fake hosted platform (tests/fakeplatform) under uvicorn, on 127.0.0.1."""
    with serve(["-m", "uvicorn", "--factory", "tests.fakeplatform.app:create_app",
                "--log-level", "warning", "--no-access-log"], python_env(**env),
               tmp / "platform.log", "/_fake/stats") as served:
        yield served.url


def rooms_env(redis_url: str, tmp: Path, rooms: str, **extra: str) -> dict[str, str]:
    """sluis_env with the rooms of the TOML text `rooms`, written to tmp/rooms.toml."""
    config = tmp / "rooms.toml"
    config.write_text(rooms)
    return sluis_env(redis_url, tmp, SLUIS_CONFIG=str(config), **extra)


@contextmanager
def gateway(redis_url: str, tmp: Path, rooms: str, **extra: str
            ) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A gateway process serving the rooms of the TOML text `rooms`."""
    with serve(["-m", "gateway.cli", "gateway"], rooms_env(redis_url, tmp, rooms, **extra),
               tmp / "gateway.log", "/_sluis/livez") as served:
        yield served.url, served.proc


@contextmanager
def worker(redis_url: str, tmp: Path, rooms: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = worker_process(rooms_env(redis_url, tmp, rooms, SLUIS_WORKER_TICK_MS="100"), tmp)
    try:
        yield proc
    finally:
        stop(proc)


def admitted_cookies(room: str, visitor: str, ttl: int = 3600) -> dict[str, str]:
    """The cookies of a visitor the queue has let in (signed with the gateway's key)."""
    passes = Passes([KEY])
    return {"sluis_visitor": passes.visitor_cookie(visitor),
            "sluis_admission": passes.admission.issue(room, visitor, ttl)}


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def cookie_header(room: str, visitor: str) -> dict[str, str]:
    """The same, as a Cookie header (per-request cookies in httpx are deprecated)."""
    jar = admitted_cookies(room, visitor)
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())}
