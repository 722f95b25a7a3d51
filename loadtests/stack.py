"""A local Sluis to rehearse against, and the eyes on it during a run: Redis, the
booking engine, the worker and the gateway as real processes on 127.0.0.1; a sampler
of the admin API and metrics; and the engine's own account of its places at the end."""

from __future__ import annotations

import csv
import io
import logging
import secrets
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from gateway.common.net import free_port
from gateway.passes import ADMISSION_COOKIE, VISITOR_COOKIE, Passes, new_visitor_id
from gateway.store.embedded import EmbeddedRedis
from harness.cpu import cpu_by_role, parse_cpus, pin
from harness.processes import ROOT, serve, stop, wait_until
from harness.sluis import GATEWAY, sluis_env, worker

# What loadtests.run takes from here: the processes' CPUs and CPU time (harness.cpu),
# and the repository's root.
__all__ = ["ROOT", "RoomPlan", "Sampler", "Stack", "cpu_by_role", "engine_places",
           "local_stack", "metrics_text", "parse_cpus", "pin"]

log = logging.getLogger("sluis.loadtest")


@dataclass(frozen=True, slots=True)
class RoomPlan:
    room: str = "zomerkampen"
    rate_per_minute: int = 600
    max_active: int = 300
    session_seconds: int = 60
    grace_seconds: int = 90
    opens_at: float = 0.0  # epoch seconds; 0: open

    def toml(self) -> str:
        opens = ""
        if self.opens_at:
            opens = 'opens_at = "' + datetime.fromtimestamp(
                self.opens_at, UTC).isoformat(timespec="seconds") + '"\n'
        return (f"[rooms.{self.room}]\ntitle = \"Zomerkampen (rehearsal)\"\n"
                f"rate_per_minute = {self.rate_per_minute}\nmax_active = {self.max_active}\n"
                f"session_seconds = {self.session_seconds}\n"
                f"grace_seconds = {self.grace_seconds}\n{opens}")


@dataclass
class Stack:
    url: str
    admin_token: str
    secret_keys: tuple[str, ...]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    # What each process is, by pid: "redis", "engine", "worker", "gateway".
    roles: dict[int, str] = field(default_factory=dict)


@contextmanager
def local_stack(folder: Path, plan: RoomPlan, gateway_workers: int = 2,
                port: int | None = None, engine: str = "separate") -> Iterator[Stack]:
    """Redis, `sluis backend` (demo programme, SQLite), `sluis worker` and
    `sluis gateway --workers N`, all fresh in `folder`, stopped on exit.

    engine="inprocess": no `sluis backend`; one gateway process serves the booking
    engine itself, as `sluis demo` does (one process, since SQLite has one writer)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rooms.toml").write_text(plan.toml(), encoding="utf-8")
    keys = (secrets.token_urlsafe(32),)
    token = secrets.token_urlsafe(24)
    with EmbeddedRedis(folder / "redis") as redis, ExitStack() as running:
        env = sluis_env(
            redis.url, folder, SLUIS_SECRET_KEYS=",".join(keys), SLUIS_ADMIN_TOKEN=token,
            SLUIS_CONFIG=str(folder / "rooms.toml"),
            SLUIS_DATABASE_URL=f"sqlite+aiosqlite:///{folder / 'booking.sqlite3'}",
            SLUIS_INTERNAL_DEMO_DATA="true",
            # Locust sends each parent's own address; the per-address limits then apply
            # to the bots that share a few.
            SLUIS_JOINS_PER_IP_PER_MINUTE=None, SLUIS_TRUSTED_PROXIES="127.0.0.1",
            SLUIS_LOG_LEVEL="WARNING")
        roles = {redis.process.pid: "redis"} if redis.process is not None else {}
        processes: list[subprocess.Popen[bytes]] = []
        if engine == "separate":
            engine_port = free_port()
            env["SLUIS_INTERNAL_URL"] = f"http://127.0.0.1:{engine_port}"
            booking = running.enter_context(serve(
                ["-m", "gateway.cli", "backend"], env, folder / "engine.log", "/healthz",
                port=engine_port))
            processes.append(booking.proc)
            roles[booking.pid] = "engine"
        else:
            gateway_workers = 1
        admitting = worker(env, folder)
        running.callback(stop, admitting)
        processes.append(admitting)
        roles[admitting.pid] = "worker"
        gw = running.enter_context(serve(
            [*GATEWAY, "--workers", str(gateway_workers)], env,
            folder / "gateway.log", "/_sluis/readyz", port=port))
        processes.append(gw.proc)
        roles[gw.pid] = "gateway"
        stack = Stack(gw.url, token, keys, processes, roles)
        _wait_room(stack, plan.room)
        yield stack


def _wait_room(stack: Stack, room: str, timeout: float = 20.0) -> None:
    """Until the worker has written the room's settings to Redis."""
    headers = {"authorization": f"Bearer {stack.admin_token}"}

    def led() -> bool:
        r = httpx.get(f"{stack.url}/_sluis/admin/api/rooms/{room}", headers=headers,
                      trust_env=False)
        return r.status_code == 200 and bool(r.json().get("leader"))

    wait_until(led, timeout, "the worker taking up the room", every=0.2)


class Sampler(threading.Thread):
    """The room's figures every `every` seconds from the admin API and the metrics."""

    def __init__(self, url: str, admin_token: str, room: str, every: float = 1.0) -> None:
        super().__init__(daemon=True, name="sampler")
        self.url, self.room, self.every = url, room, every
        self.headers = {"authorization": f"Bearer {admin_token}"}
        self.samples: list[dict[str, Any]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=5,
                          trust_env=False) as client:
            while not self.halt.is_set():
                started = time.time()
                try:
                    self.samples.append(self.sample(client, started))
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    log.warning("sample failed", extra={"error": str(exc)})
                self.halt.wait(max(0.0, self.every - (time.time() - started)))

    def sample(self, client: httpx.Client, t: float) -> dict[str, Any]:
        room = client.get(f"/_sluis/admin/api/rooms/{self.room}").json()
        metrics = client.get("/_sluis/metrics").text
        return {
            "t": t,
            "admitted_total": room["admitted_total"], "joined_total": room["joined_total"],
            "active": room["active"], "queued": room["queued"],
            "prequeued": room["prequeued"], "rate_per_minute": room["rate_per_minute"],
            "max_active": room["max_active"],
            "backend_inflight": _gauge(metrics, "sluis_backend_inflight", self.room),
            "active_sessions": _gauge(metrics, "sluis_active_sessions", self.room),
        }


def metrics_text(url: str) -> str:
    """One scrape of the gateway's /_sluis/metrics ("" when it does not answer)."""
    try:
        r = httpx.get(f"{url}/_sluis/metrics", timeout=10, trust_env=False)
    except httpx.HTTPError:
        return ""
    return r.text if r.status_code == 200 else ""


def _gauge(text: str, name: str, room: str) -> float | None:
    prefix = f'{name}{{room="{room}"}} '
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix):])
    return None


def engine_places(url: str, room: str, secret_keys: tuple[str, ...], admin_token: str
                  ) -> dict[str, Any]:
    """The booking engine's account of its places, read through the gateway with an
    admission minted from the signing keys (only who holds the keys can do this):
    capacity and `booked` per session from its API, and every registration of each
    session from its CSV export."""
    passes = Passes(secret_keys)
    visitor = new_visitor_id()
    jar = {VISITOR_COOKIE: passes.visitor_cookie(visitor),
           ADMISSION_COOKIE: passes.admission.issue(room, visitor, 600)}
    headers = {"accept": "application/json", "authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=url, cookies=jar, headers=headers, timeout=30,
                      trust_env=False) as client:
        activities = client.get("/api/activities").json()["activities"]
        capacity: dict[str, int] = {}
        booked: dict[str, int] = {}
        rows: list[dict[str, str]] = []
        for activity in activities:
            for session in activity["sessions"]:
                key = str(session["id"])
                capacity[key] = session["capacity"]
                booked[key] = session["booked"]
                r = client.get("/admin/export.csv", params={"session": key})
                r.raise_for_status()
                reader = csv.DictReader(io.StringIO(r.text.lstrip("\ufeff")), delimiter=";")
                rows.extend({**row, "session_key": key} for row in reader)
    return {"capacity": capacity, "booked": booked, "rows": rows}
