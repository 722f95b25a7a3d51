"""A local Sluis to rehearse against, and the eyes on it during a run: Redis, the
booking engine, the worker and the gateway as real processes on 127.0.0.1; a sampler
of the admin API and metrics; and the engine's own account of its places at the end."""

from __future__ import annotations

import csv
import io
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from gateway.store.embedded import EmbeddedRedis, free_port
from gateway.tickets import ADMISSION_COOKIE, VISITOR_COOKIE, Tickets, new_visitor_id

log = logging.getLogger("sluis.loadtest")

ROOT = Path(__file__).resolve().parent.parent


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


# -- processes: which CPUs they may use, and how much CPU they used --------------------


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (a gateway's uvicorn workers), from /proc."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return out


def pin(pids: list[int], cpus: set[int], children: bool = True) -> None:
    """Every thread of these processes (and of their children) onto `cpus` only."""
    for pid in pids:
        for p in (descendants(pid) if children else [pid]):
            try:
                threads = [int(t.name) for t in Path(f"/proc/{p}/task").iterdir()]
            except OSError:
                continue
            for tid in threads:
                try:
                    os.sched_setaffinity(tid, cpus)
                except OSError:
                    pass


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of `pid` and its children so far (0 once gone)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in descendants(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # utime, stime and the reaped children's cutime, cstime (fields 14-17).
        total += sum(int(v) for v in fields[11:15]) / ticks
    return total


def cpu_by_role(roles: dict[int, str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for pid, role in roles.items():
        out[role] = out.get(role, 0.0) + cpu_seconds(pid)
    return out


def parse_cpus(text: str) -> set[int]:
    """"0", "1", "0-1", "0,2-3" → the CPU numbers."""
    cpus: set[int] = set()
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus


def _start(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    fh = open(log_path, "ab")
    return subprocess.Popen([sys.executable, "-m", "gateway.cli", *args], env=env, cwd=ROOT,
                            stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1, trust_env=False).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")
        time.sleep(0.1)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
    with EmbeddedRedis(folder / "redis") as redis:
        engine_port = free_port()
        gateway_port = port or free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLUIS_")}
        env.update({
            "SLUIS_REDIS_URL": redis.url,
            "SLUIS_DATA_DIR": str(folder),
            "SLUIS_SECRET_KEYS": ",".join(keys),
            "SLUIS_ADMIN_TOKEN": token,
            "SLUIS_CONFIG": str(folder / "rooms.toml"),
            "SLUIS_DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'booking.sqlite3'}",
            "SLUIS_INTERNAL_DEMO_DATA": "true",
            # Locust sends each parent's own address; the per-address limit then applies
            # to the bots that share a few.
            "SLUIS_TRUSTED_PROXIES": "127.0.0.1",
            "SLUIS_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        })
        stack = Stack(url=f"http://127.0.0.1:{gateway_port}", admin_token=token,
                      secret_keys=keys)
        if engine == "separate":
            env["SLUIS_INTERNAL_URL"] = f"http://127.0.0.1:{engine_port}"
        else:
            gateway_workers = 1
        try:
            if engine == "separate":
                stack.processes.append(_start(["backend", "--port", str(engine_port)], env,
                                              folder / "engine.log"))
                _wait_http(f"http://127.0.0.1:{engine_port}/healthz")
            stack.processes.append(_start(["worker"], env, folder / "worker.log"))
            stack.processes.append(_start(["gateway", "--port", str(gateway_port),
                                           "--workers", str(gateway_workers)], env,
                                          folder / "gateway.log"))
            _wait_http(stack.url + "/_sluis/readyz")
            _wait_room(stack, plan.room)
            if redis.process is not None:
                stack.roles[redis.process.pid] = "redis"
            for proc, role in zip(stack.processes, (["engine"] if engine == "separate" else [])
                                  + ["worker", "gateway"], strict=True):
                stack.roles[proc.pid] = role
            yield stack
        finally:
            for proc in reversed(stack.processes):
                _stop(proc)


def _wait_room(stack: Stack, room: str, timeout: float = 20.0) -> None:
    """Until the worker has written the room's settings to Redis."""
    deadline = time.monotonic() + timeout
    headers = {"authorization": f"Bearer {stack.admin_token}"}
    while time.monotonic() < deadline:
        r = httpx.get(f"{stack.url}/_sluis/admin/api/rooms/{room}", headers=headers,
                      trust_env=False)
        if r.status_code == 200 and r.json().get("leader"):
            return
        time.sleep(0.2)
    raise TimeoutError("the worker did not take up the room")


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
    tickets = Tickets(secret_keys)
    visitor = new_visitor_id()
    jar = {VISITOR_COOKIE: tickets.visitor_cookie(visitor),
           ADMISSION_COOKIE: tickets.admission.issue(room, visitor, 600)}
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
